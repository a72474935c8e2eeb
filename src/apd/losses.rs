//! The APD losses (the APD paper, section 2.2, normalised as its reference code does), one function per term.
//!
//! Notation: decomposed matrix l is stored factorised as `A_l` (`d_in x C*m`)
//! and `B_l` (`C*m x d_out`); component c of layer l is
//! `P_c^l = A_l[:, c*m..(c+1)*m] @ B_l[c*m..(c+1)*m, :]`, so `A_l @ B_l`
//! is the sum of all components. `times[l]` says how often matrix l appears
//! in the network: twice for the TMS `W`, whose transpose is the tied
//! decoder, once otherwise. `n_params` counts every appearance.
//!
//! Every tensor has a leading instance dimension (N models decomposed side
//! by side) and every loss is per instance, `[N]`: an instance's terms are
//! reduced alone, in the order one instance alone would be, so a seed's
//! losses do not depend on what runs beside it.

use burn::tensor::Tensor;

/// Each instance's sum of the `N x ...` tensor `t`'s entries, `[N]`.
fn per_instance_sum(t: Tensor<3>) -> Tensor<1> {
    let [n, r, c] = t.dims();
    t.reshape([n, r * c]).sum_dim(1).reshape([n])
}

/// The sum of per-layer terms.
fn total(terms: impl Iterator<Item = Tensor<1>>) -> Tensor<1> {
    terms.reduce(|s, t| s + t).expect("at least one layer")
}

/// Faithfulness:
/// `L_f = sum_l ||W^l - sum_c P_c^l||_F^2 / n_params`.
pub fn faithfulness_loss(target: &[Tensor<3>], a: &[Tensor<3>], b: &[Tensor<3>], times: &[usize], n_params: usize) -> Tensor<1> {
    let terms = (0..target.len()).map(|l| {
        let diff = target[l].clone() - a[l].clone().matmul(b[l].clone());
        per_instance_sum(diff.powi_scalar(2)).mul_scalar(times[l] as f64)
    });
    total(terms).div_scalar(n_params as f64)
}

/// Minimality: `L_m = MSE(y_topk, y*)`, the mean over batch and outputs.
pub fn minimality_loss(y_topk: Tensor<3>, y_target: Tensor<3>) -> Tensor<1> {
    crate::models::per_instance_mse(y_topk - y_target)
}

/// Simplicity (Schatten-p):
/// `S_{c,j} = (sum_i A_c[i,j]^2) (sum_k B_c[j,k]^2)` and
/// `L_s = sum_b sum_l sum_{c,j} mask_{b,c} (S_{c,j} + 1e-16)^(p/2) / n_params / B`.
///
/// `mask` is the `N x B x C` batch top-k mask; it only enters through its
/// column sums (how many samples use component c).
#[allow(clippy::too_many_arguments)]
pub fn simplicity_loss(
    a: &[Tensor<3>],
    b: &[Tensor<3>],
    times: &[usize],
    mask: Tensor<3>,
    n_components: usize,
    rank: usize,
    p: f64,
    n_params: usize,
) -> Tensor<1> {
    let [n, batch, _] = mask.dims();
    let (c, m) = (n_components, rank);
    let uses = mask.sum_dim(1); // [N, 1, C]
    let terms = (0..a.len()).map(|l| {
        let col = a[l].clone().powi_scalar(2).sum_dim(1); // [N, 1, C*m]
        let row = b[l].clone().powi_scalar(2).sum_dim(2).reshape([n, 1, c * m]);
        let schatten = (col * row).add_scalar(1e-16).powf_scalar(p / 2.0);
        let per_component = schatten.reshape([n, c, m]).sum_dim(2).reshape([n, 1, c]);
        per_instance_sum(per_component * uses.clone()).mul_scalar(times[l] as f64)
    });
    total(terms).div_scalar((n_params * batch) as f64)
}

/// Activation reconstruction (residual MLPs): each layer's MLP activations
/// `relu(pre_l)` of the top-k model against the target's,
/// `L_a = mean_b sum_l ||act_topk^l[b] - act^l[b]||^2 / sum_l d_mlp^l`.
pub fn activation_loss(topk: &[Tensor<3>], target: &[Tensor<3>]) -> Tensor<1> {
    let batch = topk[0].dims()[1];
    let width: usize = topk.iter().map(|t| t.dims()[2]).sum();
    let terms = topk.iter().zip(target).map(|(a, t)| per_instance_sum((a.clone() - t.clone()).powi_scalar(2)));
    total(terms).div_scalar((batch * width) as f64)
}
