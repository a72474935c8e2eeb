//! APD as a [`Decomposer`]: what the probes, metrics and views ask of it.

use super::{topk, ApdTrainer};
use crate::data::{matrix, read_vec};
use crate::decomp::factors::over_rank;
use crate::decomp::network::masked_product;
use crate::decomp::scale::ScaleSummary;
use crate::decomp::{Decomposer, Decomposition, Network};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::tensor::Tensor;

/// Where the training batch that sets the one-sample top-k threshold comes
/// from: a fixed stream, so that a view is a function of the components.
const THRESHOLD_STREAM: &str = "apd-threshold-batch";

impl Decomposer for ApdTrainer {
    fn network(&self) -> &Network {
        &self.single
    }

    fn n_components(&self) -> usize {
        self.n_now
    }

    /// The components at the target's own scale.
    async fn decomposition(&self) -> Result<Decomposition, ApdError> {
        self.only_one();
        Ok(self.rescales[0].to_target(&self.decompositions_now().await?.remove(0)))
    }

    /// The attributions of `x` (under the configured source).
    async fn importances(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        let x = self.one_instance(x);
        let target = self.network.target_forward(x.clone());
        read_vec(self.attributions_of(&self.model, self.n_now, x, &target)).await
    }

    /// The top-k model's output: attributions, batch top-k over `x`'s rows
    /// with the configured `topk`, masked forward.
    async fn sparse_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError> {
        let bsz = x.dims()[0];
        let attr = self.importances(x.clone()).await?;
        let mask = topk::batch_topk_mask(&attr, topk::batch_k(self.config.apd.topk, bsz));
        self.masked_output(x, mask).await
    }

    /// Batch top-k needs a batch: a sample alone would get `floor(topk)`
    /// components, none on tms-5-2. So each sample keeps the components whose
    /// attribution is at least the K-th largest of a training batch (the
    /// one that batch top-k would have kept last), and above zero.
    async fn selection(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        let cfg = &self.config.apd;
        let batch = self.draw(&mut Rng::stream(0, THRESHOLD_STREAM));
        let reference = self.importances(matrix(batch, cfg.batch_size, self.config.model.n_features(), self.single.device())).await?;
        let k = topk::batch_k(cfg.topk, cfg.batch_size).clamp(1, reference.len());
        let mut sorted = reference;
        sorted.sort_by(|a, b| b.total_cmp(a));
        let threshold = sorted[k - 1];
        let attr = self.importances(x).await?;
        Ok(attr.iter().map(|&a| if a > 0.0 && a >= threshold { 1.0 } else { 0.0 }).collect())
    }

    async fn masked_output(&self, x: Tensor<2>, mask: Vec<f32>) -> Result<Tensor<2>, ApdError> {
        let bsz = x.dims()[0];
        let m = self.config.apd.rank;
        let mask_m = matrix(over_rank(&mask, m), bsz, self.n_now * m, self.network.device()).unsqueeze::<3>();
        let (a, b) = self.model.factors();
        let out = self.network.forward_by(self.one_instance(x), false, |layer, h| masked_product(h, layer, &a, &b, &mask_m)).out;
        let [_, _, n_out] = out.dims();
        Ok(out.reshape([bsz, n_out]))
    }

    /// One set of components for every matrix: 1 where batch top-k over `x` keeps one.
    async fn eval_importances(&self, x: Tensor<2>) -> Result<Vec<Tensor<2>>, ApdError> {
        let bsz = x.dims()[0];
        let attr = self.importances(x).await?;
        let mask = topk::batch_topk_mask(&attr, topk::batch_k(self.config.apd.topk, bsz));
        Ok(vec![matrix(mask, bsz, self.n_now, self.network.device())])
    }

    fn eval_output(&self, x: Tensor<2>, masks: &[Tensor<2>], autodiff: bool) -> Tensor<2> {
        let [bsz, _] = x.dims();
        let [rows, c] = masks[0].dims();
        let m = self.config.apd.rank;
        let lift = |t: Tensor<3>| if autodiff { t.autodiff() } else { t };
        let mask_m = masks[0].clone().unsqueeze_dim::<3>(2).repeat_dim(2, m).reshape([1, rows, c * m]);
        let (a, b) = self.model.factors();
        let (a, b): (Vec<Tensor<3>>, Vec<Tensor<3>>) = (a.into_iter().map(lift).collect(), b.into_iter().map(lift).collect());
        let out = self.network.forward_by(lift(self.one_instance(x)), autodiff, |layer, h| masked_product(h, layer, &a, &b, &mask_m)).out;
        let [_, _, n_out] = out.dims();
        out.reshape([bsz, n_out])
    }

    fn last_active_counts(&self) -> &[u16] {
        self.only_one();
        &self.last_active[0]
    }

    fn scale(&self) -> &ScaleSummary {
        self.only_one();
        &self.rescales[0].summary
    }
}

impl ApdTrainer {
    /// `x` (`B x n`) as the batch of the only instance: a decomposition
    /// looked at is one instance ([`ApdTrainer::into_instances`]).
    fn one_instance(&self, x: Tensor<2>) -> Tensor<3> {
        self.only_one();
        x.unsqueeze::<3>()
    }

    /// A decomposition looked at is one instance.
    pub(super) fn only_one(&self) {
        assert_eq!(self.instances(), 1, "this looks at one decomposition; split a batch with into_instances");
    }
}
