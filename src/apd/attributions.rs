//! Gradient attributions (the APD paper, section 2.2), computed in forward mode.
//!
//! We take the paper's attribution less its sqrt and mean over outputs
//! (monotone, so top-k is unchanged):
//! `attr_{b,c} = sum_o (sum_l <g_o^l[b], s_c^l[b]>)^2` with
//! `g_o^l = d y_o / d h^l` and `s_c^l = a^l P_c^l`. The inner sum over layers
//! is exactly the directional derivative of output o when every layer's
//! weights move along component c, i.e. a Jacobian-vector product. So rather
//! than one backward pass per output (the reference), we push the `C`
//! component directions forward through the network at once: a tangent
//! tensor `t` of shape `C x B x width`, updated layer by layer as
//! `t <- t @ W^l + a^l @ P_c^l`, then multiplied by the ReLU derivative at
//! the output. The cost is a few batched matmuls, independent of the number
//! of outputs. Attributions are not differentiated through: callers pass
//! tensors without autodiff.
//!
//! Every tensor has a leading instance dimension N (models decomposed side
//! by side); the tangents are kept as `N*C x B x width`, so each instance's
//! products are the ones it would compute alone.

use crate::config::ChainLayer;
use crate::decomp::network::chain_weight;
use crate::decomp::{Forward, Stream};
use burn::tensor::Tensor;

/// `s_c = x @ P_c` for every component at once: `N*C x B x d_out`.
///
/// The products batch over instances and components as `N x C` (4-D), so
/// that each operand keeps the strides it has as a view: flex picks its
/// matrix kernel by the operands' layout, and these are the layouts one
/// instance always had (a contiguous copy of the transposed A would round
/// differently).
pub fn component_acts(x: &Stream<3>, layer: ChainLayer, a: &[Tensor<3>], b: &[Tensor<3>], n_components: usize, rank: usize) -> Tensor<3> {
    let (c, m) = (n_components, rank);
    let (inner, right, d_out) = match layer {
        ChainLayer::Own(l) => {
            let d_out = b[l].dims()[2];
            let n = b[l].dims()[0];
            (x.matmul(a[l].clone()), b[l].clone().reshape([n, c, m, d_out]), d_out)
        }
        ChainLayer::Tied(l) => {
            // P_c^T = B_c^T A_c^T.
            let [n, d_out, _] = a[l].dims();
            let at = a[l].clone().reshape([n, d_out, c, m]).permute([0, 2, 3, 1]);
            (x.matmul(b[l].clone().transpose()), at, d_out)
        }
    };
    let [n, batch, _] = inner.dims();
    let inner = inner.reshape([n, batch, c, m]).swap_dims(1, 2);
    inner.matmul(right).reshape([n * c, batch, d_out])
}

/// Tangents `N*C x B x d_in` through `w` (`N x d_in x d_out`).
fn through(t: Tensor<3>, w: Tensor<3>, c: usize) -> Tensor<3> {
    let [nc, batch, d_in] = t.dims();
    let n = nc / c;
    let d_out = w.dims()[2];
    t.reshape([n, c * batch, d_in]).matmul(w).reshape([nc, batch, d_out])
}

/// The `N x B x C` attributions from the output tangents `N*C x B x n_out`
/// and the output pre-activation `pre` (`N x B x n_out`; the ReLU's derivative).
fn squared_norms(dy: Tensor<3>, pre: Option<Tensor<3>>, c: usize) -> Tensor<3> {
    let [nc, batch, n_out] = dy.dims();
    let n = nc / c;
    let mut dy = dy.reshape([n, c, batch, n_out]);
    if let Some(pre) = pre {
        dy = dy * pre.greater_elem(0.0).float().reshape([n, 1, batch, n_out]);
    }
    dy.powi_scalar(2).sum_dim(3).reshape([n, c, batch]).swap_dims(1, 2)
}

/// The `N x B x C` attributions of a network whose chain entries have inputs
/// `inputs[k]`, weights `ws` and output pre-activation `pre` (before the
/// final ReLU), along the components given by factors `a`, `b`.
#[allow(clippy::too_many_arguments)]
pub fn attributions(
    inputs: &[Stream<3>],
    pre: Tensor<3>,
    ws: &[Tensor<3>],
    chain: &[ChainLayer],
    a: &[Tensor<3>],
    b: &[Tensor<3>],
    n_components: usize,
    rank: usize,
) -> Tensor<3> {
    let mut tangent: Option<Tensor<3>> = None;
    for (k, &layer) in chain.iter().enumerate() {
        let s = component_acts(&inputs[k], layer, a, b, n_components, rank);
        tangent = Some(match tangent {
            None => s,
            Some(t) => through(t, chain_weight(ws, layer), n_components) + s,
        });
    }
    squared_norms(tangent.expect("non-empty chain"), Some(pre), n_components)
}

/// The `N x B x C` attributions of a residual MLP (`ws` interleaved
/// `W_in1, W_out1, ...`, forward pass `fwd` with those weights).
///
/// The same JVP as [`attributions`], but the residual stream is wide (1000)
/// and C large (130+), so a `C x B x d_resid` tangent would be the biggest
/// tensor of the step. The stream's tangent is only ever read through a
/// later `W_in` or through the unembedding `W_E^T`, so we carry it
/// projected onto each of those readers instead: `C x B x d_mlp` per later
/// layer and `C x B x n` for the output. With `t_h` the tangent of the MLP
/// activations and `u = relu(pre) @ A_out` (per component), layer l adds
/// `t_h @ (W_out R) + u_c @ (B_out,c R)` to the projection onto reader R.
pub fn resid_attributions(
    fwd: &Forward<3>,
    ws: &[Tensor<3>],
    embed: &Tensor<3>,
    a: &[Tensor<3>],
    b: &[Tensor<3>],
    n_components: usize,
    rank: usize,
) -> Tensor<3> {
    let n_layers = ws.len() / 2;
    let [n, batch, _] = fwd.out.dims();
    let (c, m) = (n_components, rank);
    let readers: Vec<Tensor<3>> = (0..n_layers).map(|l| ws[2 * l].clone()).chain([embed.clone().transpose()]).collect();
    let mut proj: Vec<Option<Tensor<3>>> = vec![None; n_layers + 1];
    for l in 0..n_layers {
        let (li, lo) = (2 * l, 2 * l + 1);
        let s_in = component_acts(&fwd.inputs[li], ChainLayer::Own(li), a, b, c, m);
        let t_pre = match proj[l].take() {
            Some(p) => p + s_in,
            None => s_in,
        };
        let d_mlp = t_pre.dims()[2];
        let relu_grad = fwd.pre[l].clone().greater_elem(0.0).float().reshape([n, 1, batch, d_mlp]);
        let t_h = (t_pre.reshape([n, c, batch, d_mlp]) * relu_grad).reshape([n * c, batch, d_mlp]);
        // As in component_acts: batched over N x C, u a strided view.
        let u = fwd.inputs[lo].matmul(a[lo].clone()).reshape([n, batch, c, m]).swap_dims(1, 2);
        for (k, reader) in readers.iter().enumerate().skip(l + 1) {
            let cols = reader.dims()[2];
            let through_w = through(t_h.clone(), ws[lo].clone().matmul(reader.clone()), c);
            let p_r = b[lo].clone().matmul(reader.clone()).reshape([n, c, m, cols]);
            let through_p = u.clone().matmul(p_r).reshape([n * c, batch, cols]);
            let add = through_w + through_p;
            proj[k] = Some(match proj[k].take() {
                Some(p) => p + add,
                None => add,
            });
        }
    }
    squared_norms(proj[n_layers].take().expect("at least one layer"), None, c)
}
