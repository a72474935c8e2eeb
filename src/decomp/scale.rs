//! Decomposing a target at the scale a method's settings were measured at
//! (this project's addition; docs/scale.md).
//!
//! APD's losses do not scale alike: faithfulness grows with the square of
//! the weights, the top-k reconstruction with the square of the outputs,
//! the Schatten term with the p-th power of the components. A preset's
//! coefficients therefore hold their balance only near the weights they
//! were measured on, and a target of another scale (another trainer's, say)
//! can be decomposed wrongly. So, before decomposing, the target is moved to
//! the scale its settings were measured at, the components are found there,
//! and they are scaled back:
//!
//! - **TMS**, `y = relu(x W H.. W^T + b)`: `W' = k W` with
//!   `k = n / ||W||_rms` (`n` the configured feature norm, `||W||_rms` the
//!   root mean square of the norms of the features the target represents),
//!   the bias and identity layers as they are. Components come back as
//!   `P = P' / k`, so they sum to the target's own `W`. The bias stays
//!   because it sets where each output's ReLU opens relative to the
//!   features: with it, the moved target is the kind of network the preset
//!   was measured on (a feature norm of 1.13 and a bias near -0.24 for
//!   tms-5-2). We measured the alternative that keeps what the network
//!   computes (`b' = k^2 b`, so `y' = k^2 y`): on targets at norm 1.00 it
//!   recovered 2 of 8 seeds, this 4 of 4 (docs/scale.md). The top-k
//!   reconstruction is therefore that of the moved target.
//! - **Residual MLP**, no biases: each neuron's input and output weights
//!   are balanced, `W_in'[:, j] = d_j W_in[:, j]` and
//!   `W_out'[j, :] = W_out[j, :] / d_j` with `d_j = sqrt(|W_out[j, :]| / |W_in[:, j]|)`,
//!   which keeps `y` exactly (its ReLUs are positively homogeneous). Scaling
//!   both by one factor would change the function: the residual stream does
//!   not scale with them.
//!
//! In the target's own units, TMS decomposition thus weighs faithfulness by
//! `k^2` and the Schatten term by `k^p` against the paper's losses.

use super::factors::Decomposition;
use crate::config::{ChainLayer, ScaleConfig};
use crate::models::{Matrix, Target};
use serde::{Deserialize, Serialize};

/// How a target was brought to the working scale: each decomposed matrix
/// `W_l` became `diag(rows[l]) W_l diag(cols[l])`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rescale {
    rows: Vec<Vec<f32>>,
    cols: Vec<Vec<f32>>,
    /// The summary the report and the page show.
    pub summary: ScaleSummary,
}

/// What a report says about the scale a decomposition worked at.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ScaleSummary {
    /// TMS: the root mean square of the target's feature norms (rows of W);
    /// 0 for the residual MLP.
    pub feature_norm: f32,
    /// TMS: the feature norm the decomposition worked at (`feature_norm`
    /// when the target was not rescaled).
    pub working_norm: f32,
    /// Whether the target was rescaled (TMS) or its neurons balanced
    /// (residual MLP) before decomposing.
    pub rescaled: bool,
}

/// The root mean square of the norms of the features the target
/// represents (rows of W at least a tenth as long as the longest: a
/// feature a trainer left dead says nothing about the scale).
pub fn rms_feature_norm(target: &Target) -> f32 {
    let live: Vec<f32> =
        target.feature_norms().into_iter().zip(target.represented_features()).filter(|(_, r)| *r).map(|(n, _)| n).collect();
    if live.is_empty() {
        return 0.0;
    }
    (live.iter().map(|n| n * n).sum::<f32>() / live.len() as f32).sqrt()
}

fn scaled(m: &Matrix, rows: &[f32], cols: &[f32]) -> Matrix {
    let mut values = m.values.clone();
    for (i, row) in values.chunks_mut(m.d_out).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v *= rows[i] * cols[j];
        }
    }
    Matrix { values, ..m.clone() }
}

impl Rescale {
    /// The working target for `target` under `config`, and how it was made.
    pub fn of(target: &Target, config: &ScaleConfig) -> (Target, Rescale) {
        let ones = |n: usize| vec![1.0f32; n];
        let mut rows: Vec<Vec<f32>> = target.layers.iter().map(|m| ones(m.d_in)).collect();
        let mut cols: Vec<Vec<f32>> = target.layers.iter().map(|m| ones(m.d_out)).collect();
        let norm = rms_feature_norm(target);
        let mut working = target.clone();
        let mut working_norm = norm;
        if config.rescale {
            if target.model.is_resid() {
                for l in (0..target.layers.len()).step_by(2) {
                    let (w_in, w_out) = (&target.layers[l], &target.layers[l + 1]);
                    for j in 0..w_in.d_out {
                        let a = (0..w_in.d_in).map(|i| w_in.values[i * w_in.d_out + j].powi(2)).sum::<f32>().sqrt();
                        let c = w_out.row(j).iter().map(|v| v * v).sum::<f32>().sqrt();
                        let d = if a > 0.0 && c > 0.0 { (c / a).sqrt() } else { 1.0 };
                        cols[l][j] = d;
                        rows[l + 1][j] = 1.0 / d;
                    }
                }
            } else if norm > 0.0 {
                let k = config.feature_norm as f32 / norm;
                rows[0] = ones(target.layers[0].d_in).iter().map(|_| k).collect();
                working_norm = config.feature_norm as f32;
            }
            working.layers = target.layers.iter().enumerate().map(|(l, m)| scaled(m, &rows[l], &cols[l])).collect();
        }
        let summary = ScaleSummary { feature_norm: norm, working_norm, rescaled: config.rescale };
        (working, Rescale { rows, cols, summary })
    }

    /// Factors of the target's own scale, moved to the working scale.
    pub fn to_working(&self, d: &Decomposition) -> Decomposition {
        self.map(d, false)
    }

    /// Factors found at the working scale, moved back to the target's own.
    pub fn to_target(&self, d: &Decomposition) -> Decomposition {
        self.map(d, true)
    }

    /// As [`Rescale::to_target`], for a method whose matrix k is the target's
    /// `sources[k]` (SPD decomposes the tied TMS decoder `W^T` as a matrix
    /// of its own: `Tied(l)` takes `W_l`'s scales swapped).
    pub fn to_target_of(&self, d: &Decomposition, sources: &[ChainLayer]) -> Decomposition {
        self.of_sources(sources).map(d, true)
    }

    /// As [`Rescale::to_working`] for the matrices `sources` (see [`Rescale::to_target_of`]).
    pub fn to_working_of(&self, d: &Decomposition, sources: &[ChainLayer]) -> Decomposition {
        self.of_sources(sources).map(d, false)
    }

    fn of_sources(&self, sources: &[ChainLayer]) -> Rescale {
        let (rows, cols) = sources
            .iter()
            .map(|s| match *s {
                ChainLayer::Own(l) => (self.rows[l].clone(), self.cols[l].clone()),
                ChainLayer::Tied(l) => (self.cols[l].clone(), self.rows[l].clone()),
            })
            .unzip();
        Rescale { rows, cols, summary: self.summary.clone() }
    }

    /// `A_l <- diag(rows) A_l`, `B_l <- B_l diag(cols)` (or the inverse):
    /// then every component `A_c B_c` is scaled as its matrix was.
    fn map(&self, d: &Decomposition, inverse: bool) -> Decomposition {
        let f = |s: f32| if inverse { 1.0 / s } else { s };
        let mut out = d.clone();
        for (l, pair) in out.layers.iter_mut().enumerate() {
            let cm = pair.a.len() / pair.d_in;
            for (i, row) in pair.a.chunks_mut(cm).enumerate() {
                let s = f(self.rows[l][i]);
                row.iter_mut().for_each(|v| *v *= s);
            }
            for row in pair.b.chunks_mut(pair.d_out) {
                for (j, v) in row.iter_mut().enumerate() {
                    *v *= f(self.cols[l][j]);
                }
            }
        }
        out
    }
}

/// Targets were measured from this many times to this many times the
/// working scale (docs/scale.md: this project's targets scaled by 0.8 and
/// by 1.4, and the reference recipe's); far outside it, results are unknown.
pub const MEASURED_RATIO: (f32, f32) = (0.8, 1.4);

/// What a user sees about a target before decomposing it.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct TargetScaleNote {
    /// TMS: each feature's norm (rows of W); empty for the residual MLP.
    pub feature_norms: Vec<f32>,
    /// How the decomposition will treat the target's scale.
    pub scale: ScaleSummary,
    /// A warning when the target is far from what the settings were
    /// measured on, or when, decomposed as it is, its scale differs from
    /// the one the preset was measured at.
    pub warning: Option<String>,
}

/// The note on `target` under `config`.
pub fn note(target: &Target, config: &ScaleConfig) -> TargetScaleNote {
    let (_, r) = Rescale::of(target, config);
    let s = r.summary;
    let mut warning = None;
    if !target.model.is_resid() && s.feature_norm > 0.0 {
        let ratio = s.feature_norm / config.feature_norm as f32;
        if !config.rescale && (ratio - 1.0).abs() > 0.05 {
            warning = Some(format!(
                "this target's feature norm is {:.2}, the settings were measured at {:.2}: APD as published is sensitive \
                 to the target's scale, and may fail here. Set scale.rescale to true to decompose it at {:.2}.",
                s.feature_norm, config.feature_norm, config.feature_norm
            ));
        } else if config.rescale && !(MEASURED_RATIO.0 * 0.9..=MEASURED_RATIO.1 * 1.1).contains(&ratio) {
            warning = Some(format!(
                "this target's feature norm is {:.2}, {ratio:.2} times the {:.2} the settings were measured at; it will be \
                 rescaled, but targets were tried from {} to {} times only.",
                s.feature_norm, config.feature_norm, MEASURED_RATIO.0, MEASURED_RATIO.1
            ));
        }
    }
    let (kept, n) = target.reproduced_count();
    if kept < n {
        // Not a matter of scale: the trainer left features dead or unlearned (docs/scale.md).
        let whole = format!(
            "this target reproduces only {kept} of its {n} features on their own (each fed alone at 0.75 should come \
             back within 0.1): its trainer left the others dead or unlearned. There is nothing to recover for those, and two \
             opposite features on one line come out as one component."
        );
        warning = Some(match warning {
            Some(w) => format!("{w} Also, {whole}"),
            None => whole,
        });
    }
    TargetScaleNote { feature_norms: target.feature_norms(), scale: s, warning }
}
