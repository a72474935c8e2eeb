//! The view data the page draws, computed by the core so that the page,
//! the CLI (`apd views`) and the tests share one implementation, for any
//! decomposition method.

use crate::decomp::evaluation::{evaluation, Evaluation};
use crate::decomp::probes::{ablation, one_hot_importances, response_curve, response_with, samples, Sample};
use crate::decomp::scale::ScaleSummary;
use crate::decomp::Decomposer;
use crate::error::ApdError;
use crate::metrics::{metrics, neuron_contributions, Metrics};
use crate::models::resid::resid_label;
use crate::models::Target;
use serde::Serialize;

/// What the page draws of a decomposition.
#[derive(Serialize, Default)]
pub struct Views {
    /// Target matrices (name, d_in, d_out, values).
    pub target: Vec<(String, usize, usize, Vec<f32>)>,
    /// Per decomposed matrix, every component as a row-major matrix.
    pub components: Vec<Vec<Vec<f32>>>,
    /// `n x C` importances (APD: attributions) of one-hot inputs.
    pub attributions: Vec<f32>,
    /// The recovery figures.
    pub metrics: Option<Metrics>,
    /// Histogram over 0..=C of active components per sample in the last batch.
    pub active_histogram: Vec<u32>,
    /// The residual MLP's views (its matrices are too large to send whole).
    pub resid: Option<ResidView>,
    /// The scale the decomposition works at.
    pub scale: Option<ScaleSummary>,
    /// TMS: per feature i and component c (`n x C`, row-major), |cos|
    /// between the feature's row of `W` and the component's, times the
    /// component row's length as a fraction of the feature's (capped at 1):
    /// a tiny row points anywhere, and would otherwise read as a match.
    pub cos_matrix: Vec<f32>,
    /// TMS: per decomposed matrix, what the components miss, `W - sum_c P_c`.
    pub residual: Vec<Vec<f32>>,
    /// TMS: per decomposed matrix and component, the singular values of
    /// `P_c`, largest first (how many ranks the component uses).
    pub singular: Vec<Vec<Vec<f32>>>,
    /// Inputs to look at one at a time ([`crate::decomp::probes::samples`]).
    pub samples: Vec<Sample>,
    /// `C x n`: how much each feature's output breaks when one component is
    /// dropped ([`crate::decomp::probes::ablation`]).
    pub ablation: Vec<f32>,
    /// The field's evaluation ([`crate::decomp::evaluation`]).
    pub evaluation: Option<Evaluation>,
    /// The method's own views, under its name (SPD's: `spd`; none for APD),
    /// beside the shared ones.
    #[serde(flatten)]
    pub own: serde_json::Map<String, serde_json::Value>,
}

/// What the residual MLP views draw besides the metrics.
#[derive(Serialize)]
pub struct ResidView {
    /// Features (rows of the neuron maps).
    pub n: usize,
    /// Neurons of all layers side by side (columns of the neuron maps).
    pub neurons: usize,
    /// `n x neurons`: each neuron's direct contribution to feature i's output, target.
    pub neurons_target: Vec<f32>,
    /// The same through feature i's dedicated component.
    pub neurons_component: Vec<f32>,
    /// The response curve of one feature.
    pub curve: Curve,
}

/// Output `feature` of the target and of the sparse model as that feature
/// alone sweeps `xs`, with the labels `x + relu(x)`.
#[derive(Serialize)]
pub struct Curve {
    /// The feature swept.
    pub feature: usize,
    /// Its values.
    pub xs: Vec<f32>,
    /// The target's output.
    pub target: Vec<f32>,
    /// The sparse (APD: top-k) model's output.
    pub topk: Vec<f32>,
    /// The labels.
    pub labels: Vec<f32>,
    /// The output with only the feature's dedicated component.
    pub dedicated: Vec<f32>,
}

/// The view data of `method`'s decomposition of `target` as it is now;
/// `mean_active` is the last step's, `curve_feature` picks the residual
/// MLP's response curve (clamped to the features that exist).
pub async fn views(method: &impl Decomposer, target: &Target, mean_active: f32, curve_feature: usize) -> Result<Views, ApdError> {
    let d = method.decomposition().await?;
    let mut hist = vec![0u32; d.n_components + 1];
    for &k in method.last_active_counts() {
        hist[(k as usize).min(d.n_components)] += 1;
    }
    let metrics = metrics(method, target, &d, mean_active).await?;
    if let Some(rm) = &metrics.resid {
        let n = target.model.n_features();
        let (neurons_target, neurons_component) = neuron_contributions(target, &d, &rm.dedicated);
        let feature = curve_feature.min(n - 1);
        let xs: Vec<f32> = (0..41).map(|k| -1.0 + k as f32 / 20.0).collect();
        let (ty, ky) = response_curve(method, feature, &xs).await?;
        let dedicated = response_with(method, feature, &xs, &[rm.dedicated[feature]]).await?;
        let labels = xs.iter().map(|&x| resid_label(x)).collect();
        return Ok(Views {
            samples: samples(method).await?,
            ablation: ablation(method).await?,
            active_histogram: hist,
            resid: Some(ResidView {
                n,
                neurons: neurons_target.len() / n,
                neurons_target,
                neurons_component,
                curve: Curve { feature, xs, target: ty, topk: ky, labels, dedicated },
            }),
            metrics: Some(metrics),
            scale: Some(method.scale().clone()),
            evaluation: Some(evaluation(method, &target.model).await?),
            ..Views::default()
        });
    }
    let components = d.components();
    let mats = decomposed_matrices(target, &d);
    let residual = mats
        .iter()
        .zip(&components)
        .map(|((_, _, _, w), ps)| w.iter().enumerate().map(|(k, &v)| v - ps.iter().map(|p| p[k]).sum::<f32>()).collect())
        .collect();
    let singular = mats
        .iter()
        .zip(&components)
        .map(|((_, d_in, d_out, _), ps)| ps.iter().map(|p| singular_values(p, *d_in, *d_out)).collect())
        .collect();
    Ok(Views {
        target: mats,
        cos_matrix: cos_matrix(&target.layers[0].values, &components[0], target.layers[0].d_out),
        residual,
        singular,
        components,
        attributions: one_hot_importances(method, 1.0).await?,
        metrics: Some(metrics),
        active_histogram: hist,
        resid: None,
        scale: Some(method.scale().clone()),
        samples: samples(method).await?,
        ablation: ablation(method).await?,
        evaluation: Some(evaluation(method, &target.model).await?),
        own: serde_json::Map::new(),
    })
}

/// The target's matrix behind each decomposed one, as `(name, d_in, d_out,
/// values)`: the target's own, or (`W^T`, SPD's untied TMS decoder) the
/// transpose of the one it is named after.
fn decomposed_matrices(target: &Target, d: &crate::decomp::Decomposition) -> Vec<(String, usize, usize, Vec<f32>)> {
    d.layers
        .iter()
        .filter_map(|f| {
            let (base, transposed) = match f.name.strip_suffix("^T") {
                Some(b) => (b, true),
                None => (f.name.as_str(), false),
            };
            let m = target.layers.iter().find(|m| m.name == base)?;
            let values = if transposed {
                (0..m.d_out).flat_map(|j| (0..m.d_in).map(move |i| m.values[i * m.d_out + j])).collect()
            } else {
                m.values.clone()
            };
            Some((f.name.clone(), f.d_in, f.d_out, values))
        })
        .collect()
}

/// `|cos|` between row i of `w` (`n x d`) and row i of each component,
/// times `min(1, |P_c[i]| / |W[i]|)` (`n x C`, row-major); 0 where a row is zero.
pub fn cos_matrix(w: &[f32], components: &[Vec<f32>], d: usize) -> Vec<f32> {
    let n = w.len() / d;
    let norm = |r: &[f32]| r.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
    let mut out = Vec::with_capacity(n * components.len());
    for i in 0..n {
        let wi = &w[i * d..(i + 1) * d];
        for p in components {
            let pi = &p[i * d..(i + 1) * d];
            let (a, b) = (norm(wi), norm(pi));
            let dot: f64 = wi.iter().zip(pi).map(|(&x, &y)| x as f64 * y as f64).sum();
            out.push(if a > 0.0 && b > 0.0 { ((dot / (a * b)).abs() * (b / a).min(1.0)) as f32 } else { 0.0 });
        }
    }
    out
}

/// The singular values of a row-major `rows x cols` matrix, largest first:
/// the square roots of the eigenvalues of `P^T P` (`cols x cols`, small
/// here), found by cyclic Jacobi rotations.
pub fn singular_values(p: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut g = vec![0.0f64; cols * cols];
    for i in 0..cols {
        for j in 0..cols {
            g[i * cols + j] = (0..rows).map(|r| p[r * cols + i] as f64 * p[r * cols + j] as f64).sum();
        }
    }
    for _sweep in 0..60 {
        let off: f64 =
            (0..cols).flat_map(|i| (0..cols).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| g[i * cols + j].powi(2)).sum();
        if off < 1e-24 {
            break;
        }
        for a in 0..cols {
            for b in a + 1..cols {
                let gab = g[a * cols + b];
                if gab.abs() < 1e-30 {
                    continue;
                }
                let theta = 0.5 * (g[b * cols + b] - g[a * cols + a]) / gab;
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..cols {
                    let (gka, gkb) = (g[k * cols + a], g[k * cols + b]);
                    g[k * cols + a] = c * gka - s * gkb;
                    g[k * cols + b] = s * gka + c * gkb;
                }
                for k in 0..cols {
                    let (gak, gbk) = (g[a * cols + k], g[b * cols + k]);
                    g[a * cols + k] = c * gak - s * gbk;
                    g[b * cols + k] = s * gak + c * gbk;
                }
            }
        }
    }
    let mut sv: Vec<f32> = (0..cols).map(|i| g[i * cols + i].max(0.0).sqrt() as f32).collect();
    sv.sort_by(|x, y| y.total_cmp(x));
    sv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_values_by_hand() {
        // diag(3, 1) rotated: P = [[0, 3], [1, 0]] has singular values 3 and 1.
        let sv = singular_values(&[0.0, 3.0, 1.0, 0.0], 2, 2);
        assert!((sv[0] - 3.0).abs() < 1e-5 && (sv[1] - 1.0).abs() < 1e-5, "{sv:?}");
        // A rank-one 3 x 2 matrix u v^T with |u| = 3, |v| = 5: one value 15, one 0.
        let (u, v) = ([1.0f32, 2.0, 2.0], [3.0f32, 4.0]);
        let p: Vec<f32> = u.iter().flat_map(|a| v.iter().map(move |b| a * b)).collect();
        let sv = singular_values(&p, 3, 2);
        assert!((sv[0] - 15.0).abs() < 1e-4 && sv[1].abs() < 1e-3, "{sv:?}");
        // A 2 x 2 with singular values sqrt(2 +- sqrt(2))... [[1, 1], [0, 1]]: (1 + sqrt 5) / 2 and its inverse.
        let sv = singular_values(&[1.0, 1.0, 0.0, 1.0], 2, 2);
        let phi = (1.0 + 5f32.sqrt()) / 2.0;
        assert!((sv[0] - phi).abs() < 1e-5 && (sv[1] - 1.0 / phi).abs() < 1e-5, "{sv:?}");
    }

    #[test]
    fn cos_matrix_by_hand() {
        // W rows (1, 0) and (0, 2); component 0 rows (2, 0), (1, 1); component 1 zero.
        // Row 0: cos 1, length ratio 2 (capped at 1). Row 1: cos sqrt(1/2), ratio sqrt(2)/2: 1/2.
        let m = cos_matrix(&[1.0, 0.0, 0.0, 2.0], &[vec![2.0, 0.0, 1.0, 1.0], vec![0.0; 4]], 2);
        assert_eq!(m.len(), 4);
        assert!((m[0] - 1.0).abs() < 1e-6 && m[1] == 0.0 && (m[2] - 0.5).abs() < 1e-6 && m[3] == 0.0, "{m:?}");
    }
}
