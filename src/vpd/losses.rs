//! VPD's loss terms (docs/vpd.md), one function each, as param-decomp's
//! `losses.py` computes them. The forward passes that make the
//! reconstruction live in `vpd/mod.rs`.
//!
//! Every tensor has a leading instance dimension (N decompositions side by
//! side) and every loss is per instance, `[N]`.

use burn::tensor::Tensor;

/// Relative faithfulness: the mean over the decomposed matrices of
/// `||W - V U||_F^2 / ||W||_F^2` (`ws` the target's matrices).
pub fn relative_faithfulness(ws: &[Tensor<3>], v: &[Tensor<3>], u: &[Tensor<3>]) -> Tensor<1> {
    let sites = ws.len();
    let terms = ws.iter().zip(v).zip(u).map(|((w, v), u)| {
        let [n, r, c] = w.dims();
        let miss = (w.clone() - v.clone().matmul(u.clone())).powi_scalar(2).reshape([n, r * c]).sum_dim(1).reshape([n]);
        let norm = w.clone().powi_scalar(2).reshape([n, r * c]).sum_dim(1).reshape([n]);
        miss / norm
    });
    terms.reduce(|s, t| s + t).expect("at least one matrix").div_scalar(sites as f32)
}

/// The mean squared error over every output element.
pub fn reconstruction(out: Tensor<3>, target: Tensor<3>) -> Tensor<1> {
    crate::models::per_instance_mse(out - target)
}

/// The smooth L0 of each upper causal importance, `g^2 / (g^2 + gamma^2)`,
/// averaged over the batch: per matrix, each subcomponent's firing
/// frequency `f` (`N x 1 x C`).
pub fn frequencies(g_up: &[Tensor<3>], gamma: f64) -> Vec<Tensor<3>> {
    let g2 = (gamma * gamma) as f32;
    g_up.iter()
        .map(|g| {
            let sq = g.clone().powi_scalar(2);
            (sq.clone() / sq.add_scalar(g2)).mean_dim(1)
        })
        .collect()
}

/// The importance penalty `A = sum over matrices and subcomponents of f`.
pub fn importance(f: &[Tensor<3>]) -> Tensor<1> {
    f.iter().map(|f| sum_per_instance(f.clone())).reduce(|s, t| s + t).expect("at least one matrix")
}

/// The frequency penalty `F = sum f log2(1 + a f)`: subcomponents that many
/// inputs need cost more than their share of `A`.
pub fn frequency(f: &[Tensor<3>], a: f64) -> Tensor<1> {
    f.iter()
        .map(|f| sum_per_instance(f.clone() * f.clone().mul_scalar(a as f32).add_scalar(1.0).log().div_scalar(std::f32::consts::LN_2)))
        .reduce(|s, t| s + t)
        .expect("at least one matrix")
}

/// The smooth L0's gamma at `step` of `steps`: linear from 1 to `last`.
pub fn gamma_at(step: usize, steps: usize, last: f64) -> f64 {
    let t = (step as f64 / steps.max(1) as f64).min(1.0);
    1.0 - (1.0 - last) * t
}

/// `N x ...` summed to `[N]`.
fn sum_per_instance(t: Tensor<3>) -> Tensor<1> {
    let [n, a, b] = t.dims();
    t.reshape([n, a * b]).sum_dim(1).reshape([n])
}
