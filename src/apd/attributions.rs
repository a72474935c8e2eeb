//! Gradient attributions (spec section 2.2), computed in forward mode.
//!
//! The spec defines `attr_{b,c} = sum_o (sum_l <g_o^l[b], s_c^l[b]>)^2` with
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

use crate::config::ChainLayer;
use crate::decomp::network::chain_weight;
use crate::decomp::Forward;
use burn::tensor::Tensor;

/// `s_c = x @ P_c` for every component at once: `C x B x d_out`.
pub fn component_acts(
    x: Tensor<2>,
    layer: ChainLayer,
    a: &[Tensor<2>],
    b: &[Tensor<2>],
    n_components: usize,
    rank: usize,
) -> Tensor<3> {
    let batch = x.dims()[0];
    let (inner, right) = match layer {
        ChainLayer::Own(l) => {
            let d_out = b[l].dims()[1];
            (x.matmul(a[l].clone()), b[l].clone().reshape([n_components, rank, d_out]))
        }
        ChainLayer::Tied(l) => {
            // P_c^T = B_c^T A_c^T.
            let d_out = a[l].dims()[0];
            let at = a[l].clone().reshape([d_out, n_components, rank]).permute([1, 2, 0]);
            (x.matmul(b[l].clone().transpose()), at)
        }
    };
    let inner = inner.reshape([batch, n_components, rank]).swap_dims(0, 1);
    inner.matmul(right)
}

/// The `B x C` attributions of a network whose chain entries have inputs
/// `inputs[k]`, weights `ws` and output pre-activation `pre` (before the
/// final ReLU), along the components given by factors `a`, `b`.
pub fn attributions(
    inputs: &[Tensor<2>],
    pre: Tensor<2>,
    ws: &[Tensor<2>],
    chain: &[ChainLayer],
    a: &[Tensor<2>],
    b: &[Tensor<2>],
    n_components: usize,
    rank: usize,
) -> Tensor<2> {
    let [batch, n_out] = pre.dims();
    let mut tangent: Option<Tensor<3>> = None;
    for (k, &layer) in chain.iter().enumerate() {
        let s = component_acts(inputs[k].clone(), layer, a, b, n_components, rank);
        tangent = Some(match tangent {
            None => s,
            Some(t) => {
                let w = chain_weight(ws, layer);
                let [d_in, d_out] = w.dims();
                t.reshape([n_components * batch, d_in]).matmul(w).reshape([n_components, batch, d_out]) + s
            }
        });
    }
    let relu_grad = pre.greater_elem(0.0).float().reshape([1, batch, n_out]);
    let dy = tangent.expect("non-empty chain") * relu_grad;
    dy.powi_scalar(2).sum_dim(2).reshape([n_components, batch]).transpose()
}

/// The `B x C` attributions of a residual MLP (`ws` interleaved
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
    fwd: &Forward,
    ws: &[Tensor<2>],
    embed: &Tensor<2>,
    a: &[Tensor<2>],
    b: &[Tensor<2>],
    n_components: usize,
    rank: usize,
) -> Tensor<2> {
    let n_layers = ws.len() / 2;
    let batch = fwd.out.dims()[0];
    let (c, m) = (n_components, rank);
    let readers: Vec<Tensor<2>> =
        (0..n_layers).map(|l| ws[2 * l].clone()).chain([embed.clone().transpose()]).collect();
    let mut proj: Vec<Option<Tensor<3>>> = vec![None; n_layers + 1];
    for l in 0..n_layers {
        let (li, lo) = (2 * l, 2 * l + 1);
        let s_in = component_acts(fwd.inputs[li].clone(), ChainLayer::Own(li), a, b, c, m);
        let t_pre = match proj[l].take() {
            Some(p) => p + s_in,
            None => s_in,
        };
        let d_mlp = t_pre.dims()[2];
        let relu_grad = fwd.pre[l].clone().greater_elem(0.0).float().reshape([1, batch, d_mlp]);
        let t_h = (t_pre * relu_grad).reshape([c * batch, d_mlp]);
        let u = fwd.inputs[lo].clone().matmul(a[lo].clone()).reshape([batch, c, m]).swap_dims(0, 1);
        for (k, reader) in readers.iter().enumerate().skip(l + 1) {
            let cols = reader.dims()[1];
            let through_w = t_h.clone().matmul(ws[lo].clone().matmul(reader.clone())).reshape([c, batch, cols]);
            let through_p = u.clone().matmul(b[lo].clone().matmul(reader.clone()).reshape([c, m, cols]));
            let add = through_w + through_p;
            proj[k] = Some(match proj[k].take() {
                Some(p) => p + add,
                None => add,
            });
        }
    }
    let dy = proj[n_layers].take().expect("at least one layer");
    dy.powi_scalar(2).sum_dim(2).reshape([c, batch]).transpose()
}
