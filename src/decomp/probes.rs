//! Evaluation probes, the same for every method: inputs with one feature
//! on, which components they use, and how the sparse model's output
//! compares with the target's.

use super::Decomposer;
use crate::data::{matrix, one_feature_rows, read_vec};
use crate::error::ApdError;
use crate::models::resid::resid_labels;
use burn::tensor::Tensor;

/// Inputs with exactly one feature on, on the network's device: for each
/// feature of `features` in turn, one row per entry of `values`.
pub fn one_feature_inputs(d: &impl Decomposer, features: std::ops::Range<usize>, values: &[f32]) -> Tensor<2> {
    let net = d.network();
    let n = net.model.n_features();
    let rows = features.len() * values.len();
    matrix(one_feature_rows(n, features, values), rows, n, net.device())
}

/// The `n x C` importances (row-major) of the inputs with exactly one
/// feature on, at `value`: which components each feature uses.
pub async fn one_hot_importances(d: &impl Decomposer, value: f32) -> Result<Vec<f32>, ApdError> {
    let n = d.network().model.n_features();
    d.importances(one_feature_inputs(d, 0..n, &[value])).await
}

/// Output `feature` of the target and of the sparse model as that feature
/// alone sweeps `values` (the page's response curve).
pub async fn response_curve(d: &impl Decomposer, feature: usize, values: &[f32]) -> Result<(Vec<f32>, Vec<f32>), ApdError> {
    let n = d.network().model.n_features();
    if feature >= n {
        return Err(ApdError::Format(format!("feature {feature} does not exist; the model has {n}")));
    }
    let x = one_feature_inputs(d, feature..feature + 1, values);
    let pick = |y: Tensor<2>| y.slice([0..values.len(), feature..feature + 1]).reshape([values.len()]);
    let target = read_vec(pick(d.network().target_forward(x.clone()).out)).await?;
    let sparse = read_vec(pick(d.sparse_output(x).await?)).await?;
    Ok((target, sparse))
}

/// The residual MLP's MSE against the labels `x + relu(x)` on inputs with
/// exactly one feature on (8 values spread over [-1, 1] each): of the
/// sparse model and of the target, in that order.
pub async fn one_active_losses(d: &impl Decomposer) -> Result<(f32, f32), ApdError> {
    let n = d.network().model.n_features();
    let grid: Vec<f32> = (0..8).map(|k| -1.0 + 2.0 * (k as f32 + 0.5) / 8.0).collect();
    let x = one_feature_inputs(d, 0..n, &grid);
    let labels = resid_labels(x.clone());
    let mse = |y: Tensor<2>| (y - labels.clone()).powi_scalar(2).mean();
    let target = read_vec(mse(d.network().target_forward(x.clone()).out)).await?[0];
    let sparse = read_vec(mse(d.sparse_output(x).await?)).await?[0];
    Ok((sparse, target))
}
