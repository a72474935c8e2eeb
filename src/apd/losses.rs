//! The APD losses (spec section 2.5), one function per term.
//!
//! Notation: decomposed matrix l is stored factorised as `A_l` (`d_in x C*m`)
//! and `B_l` (`C*m x d_out`); component c of layer l is
//! `P_c^l = A_l[:, c*m..(c+1)*m] @ B_l[c*m..(c+1)*m, :]`, so `A_l @ B_l`
//! is the sum of all components. `times[l]` says how often matrix l appears
//! in the network: twice for the TMS `W`, whose transpose is the tied
//! decoder, once otherwise. `n_params` counts every appearance.

use burn::tensor::Tensor;

/// Faithfulness:
/// `L_f = sum_l ||W^l - sum_c P_c^l||_F^2 / n_params`.
pub fn faithfulness_loss(
    target: &[Tensor<2>],
    a: &[Tensor<2>],
    b: &[Tensor<2>],
    times: &[usize],
    n_params: usize,
) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    for l in 0..target.len() {
        let diff = target[l].clone() - a[l].clone().matmul(b[l].clone());
        let term = diff.powi_scalar(2).sum().mul_scalar(times[l] as f64);
        total = Some(match total {
            None => term,
            Some(t) => t + term,
        });
    }
    total.expect("at least one layer").div_scalar(n_params as f64)
}

/// Minimality: `L_m = MSE(y_topk, y*)`, the mean over batch and outputs.
pub fn minimality_loss(y_topk: Tensor<2>, y_target: Tensor<2>) -> Tensor<1> {
    (y_topk - y_target).powi_scalar(2).mean()
}

/// Simplicity (Schatten-p):
/// `S_{c,j} = (sum_i A_c[i,j]^2) (sum_k B_c[j,k]^2)` and
/// `L_s = sum_b sum_l sum_{c,j} mask_{b,c} (S_{c,j} + 1e-16)^(p/2) / n_params / B`.
///
/// `mask` is the `B x C` batch top-k mask; it only enters through its column
/// sums (how many samples use component c).
#[allow(clippy::too_many_arguments)]
pub fn simplicity_loss(
    a: &[Tensor<2>],
    b: &[Tensor<2>],
    times: &[usize],
    mask: Tensor<2>,
    n_components: usize,
    rank: usize,
    p: f64,
    n_params: usize,
) -> Tensor<1> {
    let batch = mask.dims()[0];
    let uses = mask.sum_dim(0); // [1, C]
    let mut total: Option<Tensor<1>> = None;
    for l in 0..a.len() {
        let col = a[l].clone().powi_scalar(2).sum_dim(0); // [1, C*m]
        let row = b[l].clone().powi_scalar(2).sum_dim(1).reshape([1, n_components * rank]);
        let schatten = (col * row).add_scalar(1e-16).powf_scalar(p / 2.0);
        let per_component = schatten.reshape([n_components, rank]).sum_dim(1).reshape([1, n_components]);
        let term = (per_component * uses.clone()).sum().mul_scalar(times[l] as f64);
        total = Some(match total {
            None => term,
            Some(t) => t + term,
        });
    }
    total.expect("at least one layer").div_scalar((n_params * batch) as f64)
}

/// Activation reconstruction (residual MLPs): each layer's MLP activations
/// `relu(pre_l)` of the top-k model against the target's,
/// `L_a = mean_b sum_l ||act_topk^l[b] - act^l[b]||^2 / sum_l d_mlp^l`.
pub fn activation_loss(topk: &[Tensor<2>], target: &[Tensor<2>]) -> Tensor<1> {
    let batch = topk[0].dims()[0];
    let width: usize = topk.iter().map(|t| t.dims()[1]).sum();
    let mut total: Option<Tensor<1>> = None;
    for (a, t) in topk.iter().zip(target) {
        let term = (a.clone() - t.clone()).powi_scalar(2).sum();
        total = Some(match total {
            None => term,
            Some(s) => s + term,
        });
    }
    total.expect("at least one layer").div_scalar((batch * width) as f64)
}
