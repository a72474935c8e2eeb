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

/// One input, looked at on its own: which components it uses, which the
/// method keeps for it, and what the network gives with only those.
#[derive(serde::Serialize, Clone, Debug, PartialEq)]
pub struct Sample {
    /// The features that are on, with their values (the rest are 0).
    pub input: Vec<(usize, f32)>,
    /// Per component, how much this input needs it (APD: its attribution).
    pub importances: Vec<f32>,
    /// The components the method keeps for this input ([`Decomposer::selection`]).
    pub kept: Vec<usize>,
    /// The target's output, per feature.
    pub target: Vec<f32>,
    /// The output with only the kept components.
    pub sparse: Vec<f32>,
}

/// How many one-hot inputs [`samples`] looks at, at most (the first features).
pub const SAMPLE_ONE_HOT: usize = 24;
/// How many inputs with two features on [`samples`] adds.
pub const SAMPLE_PAIRS: usize = 6;

/// The inputs the page lets a reader look at one at a time: each of the
/// first [`SAMPLE_ONE_HOT`] features alone at 1, then [`SAMPLE_PAIRS`]
/// inputs with two features on (drawn from a fixed stream, values of
/// magnitude 0.3 to 1, negative half the time for the residual MLP, whose
/// inputs are signed).
pub async fn samples(d: &impl Decomposer) -> Result<Vec<Sample>, ApdError> {
    let net = d.network();
    let n = net.model.n_features();
    let mut inputs: Vec<Vec<(usize, f32)>> = (0..n.min(SAMPLE_ONE_HOT)).map(|i| vec![(i, 1.0)]).collect();
    let mut rng = crate::rng::Rng::stream(0, "probe-samples");
    while n >= 2 && inputs.len() < n.min(SAMPLE_ONE_HOT) + SAMPLE_PAIRS {
        let i = (rng.next_u64() % n as u64) as usize;
        let j = (rng.next_u64() % n as u64) as usize;
        if i == j {
            continue;
        }
        let mut value = || {
            let v = rng.uniform_range(0.3, 1.0);
            if net.model.is_resid() && rng.uniform() < 0.5 {
                -v
            } else {
                v
            }
        };
        let (vi, vj) = (value(), value());
        let (i, j, vi, vj) = if i < j { (i, j, vi, vj) } else { (j, i, vj, vi) };
        // Each pair once, where there are enough of them.
        if n * (n - 1) / 2 >= SAMPLE_PAIRS && inputs.iter().any(|s| s.len() == 2 && s[0].0 == i && s[1].0 == j) {
            continue;
        }
        inputs.push(vec![(i, vi), (j, vj)]);
    }
    let rows = inputs.len();
    let mut x = vec![0.0f32; rows * n];
    for (r, input) in inputs.iter().enumerate() {
        for &(i, v) in input {
            x[r * n + i] = v;
        }
    }
    let x = matrix(x, rows, n, net.device());
    let c = d.n_components();
    let importances = d.importances(x.clone()).await?;
    let kept = d.selection(x.clone()).await?;
    let target = read_vec(net.target_forward(x.clone()).out).await?;
    let sparse = read_vec(d.masked_output(x, kept.clone()).await?).await?;
    Ok(inputs
        .into_iter()
        .enumerate()
        .map(|(r, input)| Sample {
            input,
            importances: importances[r * c..(r + 1) * c].to_vec(),
            kept: (0..c).filter(|&k| kept[r * c + k] == 1.0).collect(),
            target: target[r * n..(r + 1) * n].to_vec(),
            sparse: sparse[r * n..(r + 1) * n].to_vec(),
        })
        .collect())
}

/// Dropping one component: per component c and feature i (`C x n`,
/// row-major), how far the output on feature i alone (at 1) moves from the
/// target's when every component but c is kept,
/// `||y_{-c}(e_i) - y(e_i)||^2 / ||y(e_i)||^2` (0 where the target's output
/// is 0). A component that holds feature i's mechanism and nothing else
/// breaks column i only.
pub async fn ablation(d: &impl Decomposer) -> Result<Vec<f32>, ApdError> {
    let net = d.network();
    let (n, c) = (net.model.n_features(), d.n_components());
    let eye = one_feature_inputs(d, 0..n, &[1.0]);
    let target = read_vec(net.target_forward(eye).out).await?;
    let target_sq: Vec<f64> = target.chunks(n).map(|r| r.iter().map(|&v| (v as f64).powi(2)).sum()).collect();
    // A few thousand rows at a time: C copies of the n one-hot inputs.
    let per_chunk = (4096 / n).clamp(1, c);
    let mut out = Vec::with_capacity(c * n);
    for first in (0..c).step_by(per_chunk) {
        let comps: Vec<usize> = (first..(first + per_chunk).min(c)).collect();
        let rows = comps.len() * n;
        let x = matrix(comps.iter().flat_map(|_| one_feature_rows(n, 0..n, &[1.0])).collect(), rows, n, net.device());
        let mut mask = vec![1.0f32; rows * c];
        for (k, &dropped) in comps.iter().enumerate() {
            for i in 0..n {
                mask[(k * n + i) * c + dropped] = 0.0;
            }
        }
        let y = read_vec(d.masked_output(x, mask).await?).await?;
        for (r, row) in y.chunks(n).enumerate() {
            let i = r % n;
            let err: f64 = row.iter().zip(&target[i * n..(i + 1) * n]).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            out.push(if target_sq[i] > 0.0 { (err / target_sq[i]) as f32 } else { 0.0 });
        }
    }
    Ok(out)
}

/// Output `feature` as that feature alone sweeps `values`, with only the
/// components `components` (the residual MLP's "dedicated component only" line).
pub async fn response_with(d: &impl Decomposer, feature: usize, values: &[f32], components: &[usize]) -> Result<Vec<f32>, ApdError> {
    let c = d.n_components();
    let x = one_feature_inputs(d, feature..feature + 1, values);
    let mut mask = vec![0.0f32; values.len() * c];
    for r in 0..values.len() {
        for &k in components {
            mask[r * c + k] = 1.0;
        }
    }
    read_vec(d.masked_output(x, mask).await?.slice([0..values.len(), feature..feature + 1]).reshape([values.len()])).await
}
