//! SPD's loss terms (spec section 5), one function each. Reconstruction
//! losses compare outputs; the forward passes that make them live in
//! `spd/mod.rs`.

use burn::tensor::Tensor;

/// Added to the penalised importances before the power, so that p < 1 has
/// a finite gradient at 0.
pub const IMPORTANCE_EPS: f32 = 1e-12;

/// `sum_l ||W_l - V_l U_l||_F^2 / sum_l numel(W_l)`: `ws` the target's
/// matrices (the tied TMS decoder counted as a matrix of its own).
pub fn faithfulness_loss(ws: &[Tensor<2>], v: &[Tensor<2>], u: &[Tensor<2>]) -> Tensor<1> {
    let numel: usize = ws.iter().map(|w| w.dims()[0] * w.dims()[1]).sum();
    let mut total: Option<Tensor<1>> = None;
    for ((w, v), u) in ws.iter().zip(v).zip(u) {
        let sq = (w.clone() - v.clone().matmul(u.clone())).powi_scalar(2).sum();
        total = Some(match total {
            Some(t) => t + sq,
            None => sq,
        });
    }
    total.expect("at least one matrix").div_scalar(numel as f32)
}

/// The mean squared error over every output element.
pub fn reconstruction_loss(out: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    (out - target).powi_scalar(2).mean()
}

/// `mean_b sum_l sum_c (g_up[l][b, c] + eps)^p`: how much importance the
/// inputs claim, over every matrix.
pub fn importance_minimality_loss(g_up: &[Tensor<2>], p: f64) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    for g in g_up {
        let term = g.clone().add_scalar(IMPORTANCE_EPS).powf_scalar(p as f32).sum_dim(1).mean();
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    total.expect("at least one matrix")
}
