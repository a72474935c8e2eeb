//! What every decomposition method shares: how components are stored
//! ([`factors`]), the target network and its forward passes ([`network`]),
//! the evaluation probes that the metrics and the page's views run on any
//! method ([`probes`]), the restarts' bookkeeping ([`restarts`]) and Adam
//! ([`adam`]), both sliceable per instance. A method (APD in `crate::apd`, SPD in `crate::spd`) owns its losses and
//! its step, and implements [`Decomposer`] so that everything above it
//! works unchanged.
pub mod adam;
pub mod factors;
pub mod network;
pub mod probes;
pub mod restarts;
pub mod scale;

pub use factors::{Decomposition, FactorPair};
pub use network::{Forward, Network};

use crate::error::ApdError;
use burn::tensor::Tensor;

/// What the probes, metrics and views need from a decomposition method.
#[allow(async_fn_in_trait)] // used through generics only, on one thread (the browser has one)
pub trait Decomposer {
    /// The target being decomposed, at the scale the method works at
    /// ([`scale`]): probes run there.
    fn network(&self) -> &Network;

    /// Components the decomposition holds now.
    fn n_components(&self) -> usize;

    /// The current factors, read back to the host, at the target's own scale.
    async fn decomposition(&self) -> Result<Decomposition, ApdError>;

    /// How much each sample of `x` needs each component, `B x C` row-major
    /// (APD: gradient attributions).
    async fn importances(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError>;

    /// The output of the sparse model on `x`: each sample run with only the
    /// components the method keeps for it (APD: batch top-k over `x`).
    async fn sparse_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError>;

    /// For each sample of `x`, the components the method would keep for it
    /// in training (`B x C` row-major, 0 or 1), judged one sample at a time
    /// (APD: those whose attribution reaches the threshold that batch top-k
    /// sets on a training batch).
    async fn selection(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError>;

    /// The output on `x` with only the components `mask` names for each
    /// sample (`B x C` row-major, 0 or 1): one-sample probes and ablations.
    async fn masked_output(&self, x: Tensor<2>, mask: Vec<f32>) -> Result<Tensor<2>, ApdError>;

    /// Per sample of the last training batch, how many components were active.
    fn last_active_counts(&self) -> &[u16];

    /// The scale the decomposition works at.
    fn scale(&self) -> &scale::ScaleSummary;

    /// Whether the recovery figures match each feature to the component its
    /// one-hot input finds most important (SPD, whose many rank-one
    /// subcomponents include dead ones) rather than by max |cos| (APD).
    fn matches_by_importance(&self) -> bool {
        false
    }
}
