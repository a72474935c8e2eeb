//! How the field now evaluates a decomposition (param-decomp's handbook,
//! its `docs/handbook.md`; here docs/how-it-works.md), the same way for
//! every method: the active subcomponents per matrix (CI-L0) beside the
//! true number of active features, the output's error under named masks and
//! under the worst masks the causal importances allow, and for TMS how far
//! the importances of each feature alone are from the identity. Monitored,
//! never optimised.
//! For APD, "active" means kept by batch top-k.

use super::importance::match_columns;
use super::{Decomposer, ACTIVE_CI};
use crate::config::ModelConfig;
use crate::data::{matrix, read_vec, training_batch};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Inputs the evaluation runs on (drawn from a fixed stream, so that it is
/// a function of the decomposition).
pub const EVAL_BATCH: usize = 512;

/// Sign-ascent steps of the worst-case masks, and their step size.
pub const PGD_STEPS: usize = 20;
/// See [`PGD_STEPS`].
pub const PGD_STEP: f32 = 0.1;

/// Masked importances below this count against the identity's diagonal.
pub const IDENTITY_ON: f32 = 0.9;

/// The output's mean squared error against the target's under each named mask.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Recon {
    /// `m = g`: the importances themselves.
    pub ci: f32,
    /// `m = 1`: every component on (the decomposition's sum; the target's
    /// function where it is faithful).
    pub unmasked: f32,
    /// `m = 1` where `g > 0.1`, else 0.
    pub rounded: f32,
    /// `m = g + (1 - g) u`, `u` uniform.
    pub stochastic: f32,
    /// `m = 0`: nothing on.
    pub zero: f32,
    /// `m = u`, uniform.
    pub random: f32,
    /// `m = g + (1 - g) s` with `s` shared by the batch, pushed by sign
    /// ascent to where the output breaks most.
    pub pgd: f32,
}

/// TMS: the importances of each feature alone (at 0.75) in the first
/// matrix, columns matched to features (greedily, largest first, as the
/// page draws them; the handbook's Hungarian matching differs only where
/// two features want one column).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IdentityCiError {
    /// Entries off the matched diagonal above 0.1.
    pub off_diagonal: usize,
    /// Diagonal entries below 0.9.
    pub diagonal: usize,
}

/// The field's evaluation of a decomposition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// Per decomposed matrix (APD: one, its components span them all), the
    /// mean over the batch of the active components per input.
    pub l0: Vec<f32>,
    /// The true mean number of active features per input (`n p`).
    pub true_l0: f32,
    /// The reconstruction errors.
    pub recon: Recon,
    /// TMS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_ci_error: Option<IdentityCiError>,
    /// The first matrix's mean importance per component over the batch,
    /// largest first.
    pub mean_ci: Vec<f32>,
}

/// Mean squared error of `out` against `target` (`B x n` each), read back.
async fn mse(out: Tensor<2>, target: Tensor<2>) -> Result<f32, ApdError> {
    Ok(read_vec((out - target).powi_scalar(2).mean()).await?[0])
}

/// Uniform values for masks shaped as `like`, from `rng`.
fn uniform_like(like: &[Tensor<2>], rng: &mut Rng) -> Vec<Tensor<2>> {
    like.iter()
        .map(|g| {
            let [b, c] = g.dims();
            matrix((0..b * c).map(|_| rng.uniform()).collect(), b, c, &g.device())
        })
        .collect()
}

/// `g + (1 - g) s` per matrix.
fn within(g: &[Tensor<2>], s: &[Tensor<2>]) -> Vec<Tensor<2>> {
    g.iter().zip(s).map(|(g, s)| g.clone() + g.clone().neg().add_scalar(1.0) * s.clone()).collect()
}

/// The evaluation of `method`'s decomposition (one instance) of a target of `model`.
pub async fn evaluation(method: &impl Decomposer, model: &ModelConfig) -> Result<Evaluation, ApdError> {
    let n = model.n_features();
    let device = method.network().device().clone();
    let x = matrix(training_batch(model, &mut Rng::stream(0, "evaluation"), EVAL_BATCH), EVAL_BATCH, n, &device);
    let target = method.network().target_forward(x.clone()).out;
    let g = method.eval_importances(x.clone()).await?;
    let c = g[0].dims()[1];
    let mut l0 = Vec::with_capacity(g.len());
    for m in &g {
        l0.push(read_vec(m.clone().greater_elem(ACTIVE_CI).float().sum_dim(1).mean()).await?[0]);
    }
    let err = |masks: Vec<Tensor<2>>| mse(method.eval_output(x.clone(), &masks, false), target.clone());
    let ones: Vec<Tensor<2>> = g.iter().map(|m| m.ones_like()).collect();
    let mut noise = Rng::stream(0, "evaluation-masks");
    let recon = Recon {
        ci: err(g.clone()).await?,
        unmasked: err(ones.clone()).await?,
        rounded: err(g.iter().map(|m| m.clone().greater_elem(ACTIVE_CI).float()).collect()).await?,
        stochastic: err(within(&g, &uniform_like(&g, &mut noise))).await?,
        zero: err(g.iter().map(|m| m.zeros_like()).collect()).await?,
        random: err(uniform_like(&g, &mut noise)).await?,
        pgd: worst_case(method, &x, &target, &g, &mut noise).await?,
    };
    let mut mean_ci = read_vec(g[0].clone().mean_dim(0)).await?;
    mean_ci.sort_by(|a, b| b.total_cmp(a));
    let identity_ci_error = match model {
        ModelConfig::Tms(_) => {
            let one_hot = matrix(crate::data::one_feature_rows(n, 0..n, &[0.75]), n, n, &device);
            let ci = read_vec(method.eval_importances(one_hot).await?.swap_remove(0)).await?;
            let order = match_columns(&ci, n, c);
            let (mut off_diagonal, mut diagonal) = (0, 0);
            for i in 0..n {
                for k in 0..c {
                    let v = ci[i * c + k];
                    if order.get(i) == Some(&k) {
                        diagonal += usize::from(v < IDENTITY_ON);
                    } else {
                        off_diagonal += usize::from(v > ACTIVE_CI);
                    }
                }
            }
            Some(IdentityCiError { off_diagonal, diagonal })
        }
        ModelConfig::ResidMlp(_) => None,
    };
    Ok(Evaluation { l0, true_l0: (n as f64 * model.feature_prob()) as f32, recon, identity_ci_error, mean_ci })
}

/// The worst-case reconstruction: sources `s` (`1 x C` per matrix, shared
/// by the batch) start uniform and take [`PGD_STEPS`] sign-ascent steps of
/// [`PGD_STEP`] on the error under `g + (1 - g) s`, clamped to [0, 1].
async fn worst_case(
    method: &impl Decomposer,
    x: &Tensor<2>,
    target: &Tensor<2>,
    g: &[Tensor<2>],
    noise: &mut Rng,
) -> Result<f32, ApdError> {
    let mut s: Vec<Tensor<2>> = g
        .iter()
        .map(|m| {
            let c = m.dims()[1];
            matrix((0..c).map(|_| noise.uniform()).collect(), 1, c, &m.device())
        })
        .collect();
    let g_ad: Vec<Tensor<2>> = g.iter().map(|m| m.clone().autodiff()).collect();
    for _ in 0..PGD_STEPS {
        let leaves: Vec<Tensor<2>> = s.iter().map(|t| t.clone().autodiff().require_grad()).collect();
        let out = method.eval_output(x.clone(), &within(&g_ad, &leaves), true);
        let grads = (out - target.clone().autodiff()).powi_scalar(2).mean().backward();
        s = leaves
            .iter()
            .zip(&s)
            .map(|(l, old)| match l.grad(&grads) {
                Some(d) => (old.clone() + d.sign().mul_scalar(PGD_STEP)).clamp(0.0, 1.0),
                None => old.clone(),
            })
            .collect();
    }
    mse(method.eval_output(x.clone(), &within(g, &s), false), target.clone()).await
}
