//! SPD's loss terms (the SPD paper, section 2), one function each, and the
//! stochastic masks they are taken under. Reconstruction losses compare
//! outputs; the forward passes that make them live in `spd/mod.rs`.
//!
//! Every tensor has a leading instance dimension (N decompositions side by
//! side) and every loss is per instance, `[N]`, each reduced alone in the
//! order one instance alone would be.

use burn::tensor::Tensor;

/// Added to the penalised importances before the power, so that p < 1 has
/// a finite gradient at 0.
pub const IMPORTANCE_EPS: f32 = 1e-12;

/// The stochastic mask `m = g + (1 - g) u` of importances `g` and uniform
/// noise `u`: an important subcomponent is kept, an unimportant one kept at
/// a random strength.
pub fn stochastic_mask(g: Tensor<3>, u: Tensor<3>) -> Tensor<3> {
    g.clone() + g.neg().add_scalar(1.0) * u
}

/// `sum_l ||W_l - V_l U_l||_F^2 / sum_l numel(W_l)`: `ws` the target's
/// matrices (the tied TMS decoder counted as a matrix of its own).
pub fn faithfulness_loss(ws: &[Tensor<3>], v: &[Tensor<3>], u: &[Tensor<3>]) -> Tensor<1> {
    let numel: usize = ws.iter().map(|w| w.dims()[1] * w.dims()[2]).sum();
    let terms = ws.iter().zip(v).zip(u).map(|((w, v), u)| {
        let [n, r, c] = w.dims();
        (w.clone() - v.clone().matmul(u.clone())).powi_scalar(2).reshape([n, r * c]).sum_dim(1).reshape([n])
    });
    terms.reduce(|s, t| s + t).expect("at least one matrix").div_scalar(numel as f32)
}

/// The mean squared error over every output element.
pub fn reconstruction_loss(out: Tensor<3>, target: Tensor<3>) -> Tensor<1> {
    crate::models::per_instance_mse(out - target)
}

/// `mean_b sum_l sum_c (g_up[l][b, c] + eps)^p`: how much importance the
/// inputs claim, over every matrix.
pub fn importance_minimality_loss(g_up: &[Tensor<3>], p: f64) -> Tensor<1> {
    let terms = g_up.iter().map(|g| {
        let [n, b, _] = g.dims();
        g.clone().add_scalar(IMPORTANCE_EPS).powf_scalar(p as f32).sum_dim(2).reshape([n, b]).mean_dim(1).reshape([n])
    });
    terms.reduce(|s, t| s + t).expect("at least one matrix")
}
