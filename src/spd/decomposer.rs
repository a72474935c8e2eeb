//! SPD as a [`Decomposer`]. The probes see one set of C subcomponents: the
//! first decomposed matrix's (TMS: the encoder `W`, whose rows are the
//! features; residual MLP: the first `W_in`). Its causal importances are
//! SPD's importances; masking them leaves the other matrices whole.

use super::{SpdTrainer, ALIVE_CI};
use crate::data::{matrix, read_vec};
use crate::decomp::scale::ScaleSummary;
use crate::decomp::{Decomposer, Decomposition, Network};
use crate::error::ApdError;
use burn::tensor::Tensor;

impl SpdTrainer {
    /// Masks for every matrix: `first` for the first, all ones for the others.
    fn masks_with_first(&self, first: Tensor<2>) -> Vec<Tensor<3>> {
        let [bsz, c] = first.dims();
        let mut masks = vec![first.unsqueeze()];
        for _ in 1..self.matrices.len() {
            masks.push(Tensor::ones([1, bsz, c], self.network.device()));
        }
        masks
    }

    /// The masked forward pass of the one instance on `x` (`B x n`), without autodiff.
    fn masked_one(&self, x: Tensor<2>, masks: &[Tensor<3>]) -> Tensor<2> {
        self.only_one();
        let [b, _] = x.dims();
        let (v, u) = self.model.factors();
        let out = self.masked_forward(x.unsqueeze(), &v, &u, masks, None, None, false);
        let width = out.dims()[2];
        out.reshape([b, width])
    }
}

impl Decomposer for SpdTrainer {
    fn network(&self) -> &Network {
        self.only_one();
        &self.single
    }

    fn n_components(&self) -> usize {
        self.spd.n_components
    }

    /// The subcomponents at the target's own scale.
    async fn decomposition(&self) -> Result<Decomposition, ApdError> {
        self.only_one();
        Ok(self.decompositions().await?.swap_remove(0))
    }

    /// The first matrix's causal importances (lower sigmoid) on `x`.
    async fn importances(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        read_vec(self.importances_all(x).swap_remove(0)).await
    }

    /// Every matrix masked by its causal importances, without noise (the
    /// model SPD trains towards when the masks do not matter).
    async fn sparse_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError> {
        let masks: Vec<Tensor<3>> = self.importances_all(x.clone()).into_iter().map(|m| m.unsqueeze()).collect();
        Ok(self.masked_one(x, &masks))
    }

    /// The first matrix's subcomponents with importance above [`ALIVE_CI`].
    async fn selection(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        let ci = self.importances(x).await?;
        Ok(ci.iter().map(|&g| if g > ALIVE_CI { 1.0 } else { 0.0 }).collect())
    }

    async fn masked_output(&self, x: Tensor<2>, mask: Vec<f32>) -> Result<Tensor<2>, ApdError> {
        let bsz = x.dims()[0];
        let first = matrix(mask, bsz, self.spd.n_components, self.network.device());
        Ok(self.masked_one(x, &self.masks_with_first(first)))
    }

    async fn eval_importances(&self, x: Tensor<2>) -> Result<Vec<Tensor<2>>, ApdError> {
        Ok(self.importances_all(x))
    }

    fn eval_output(&self, x: Tensor<2>, masks: &[Tensor<2>], autodiff: bool) -> Tensor<2> {
        self.only_one();
        let [b, _] = x.dims();
        let lift = |t: Tensor<3>| if autodiff { t.autodiff() } else { t };
        let (v, u) = self.model.factors();
        let (v, u): (Vec<Tensor<3>>, Vec<Tensor<3>>) = (v.into_iter().map(lift).collect(), u.into_iter().map(lift).collect());
        let masks: Vec<Tensor<3>> = masks.iter().map(|m| m.clone().unsqueeze()).collect();
        let out = self.masked_forward(x.unsqueeze(), &v, &u, &masks, None, None, autodiff);
        let width = out.dims()[2];
        out.reshape([b, width])
    }

    fn last_active_counts(&self) -> &[u16] {
        self.only_one();
        &self.last_active[0]
    }

    fn scale(&self) -> &ScaleSummary {
        self.only_one();
        &self.rescales[0].summary
    }

    fn matches_by_importance(&self) -> bool {
        true
    }
}
