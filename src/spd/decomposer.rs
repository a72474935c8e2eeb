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
    fn masks_with_first(&self, first: Tensor<2>) -> Vec<Tensor<2>> {
        let [bsz, c] = first.dims();
        let mut masks = vec![first];
        for _ in 1..self.matrices.len() {
            masks.push(Tensor::ones([bsz, c], self.network.device()));
        }
        masks
    }
}

impl Decomposer for SpdTrainer {
    fn network(&self) -> &Network {
        &self.network
    }

    fn n_components(&self) -> usize {
        self.spd.n_components
    }

    /// The subcomponents at the target's own scale.
    async fn decomposition(&self) -> Result<Decomposition, ApdError> {
        Ok(self.rescale.to_target_of(&self.decomposition_now().await?, &self.matrices))
    }

    /// The first matrix's causal importances (lower sigmoid) on `x`.
    async fn importances(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        read_vec(self.importances_all(x).swap_remove(0)).await
    }

    /// Every matrix masked by its causal importances, without noise (the
    /// model SPD trains towards when the masks do not matter).
    async fn sparse_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError> {
        let masks = self.importances_all(x.clone());
        let (v, u) = self.model.factors();
        Ok(self.masked_forward(x, &v, &u, &masks, None, None, false))
    }

    /// The first matrix's subcomponents with importance above [`ALIVE_CI`].
    async fn selection(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        let ci = self.importances(x).await?;
        Ok(ci.iter().map(|&g| if g > ALIVE_CI { 1.0 } else { 0.0 }).collect())
    }

    async fn masked_output(&self, x: Tensor<2>, mask: Vec<f32>) -> Result<Tensor<2>, ApdError> {
        let bsz = x.dims()[0];
        let first = matrix(mask, bsz, self.spd.n_components, self.network.device());
        let (v, u) = self.model.factors();
        Ok(self.masked_forward(x, &v, &u, &self.masks_with_first(first), None, None, false))
    }

    fn last_active_counts(&self) -> &[u16] {
        &self.last_active
    }

    fn scale(&self) -> &ScaleSummary {
        &self.rescale.summary
    }

    fn matches_by_importance(&self) -> bool {
        true
    }
}
