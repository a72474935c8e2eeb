//! VPD's causal importance (param-decomp's `ci_fn/`; docs/vpd.md): one MLP per decomposed matrix
//! reading the matrix's whole input ("layerwise"), GELU hidden layer, C
//! outputs `z`; the lower CI `clamp(z, 0, 1)` for the masks, the upper one
//! (leaky above 1) for the penalties.

use burn::tensor::activation::gelu;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// The leak of both hard sigmoids outside [0, 1].
pub const LEAK: f32 = 0.01;

/// One matrix's importance MLP as numbers (row-major), as a report keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CiValues {
    /// `d_in x hidden`.
    pub w1: Vec<f32>,
    /// `hidden`.
    pub b1: Vec<f32>,
    /// `hidden x C`.
    pub w2: Vec<f32>,
    /// `C`.
    pub b2: Vec<f32>,
}

impl CiValues {
    /// Fresh weights: normal with std `1 / sqrt(fan_in)`, biases 0.
    pub fn init(d_in: usize, hidden: usize, c: usize, rng: &mut crate::rng::Rng) -> Self {
        CiValues {
            w1: rng.normal_vec(d_in * hidden, 1.0 / (d_in as f32).sqrt()),
            b1: vec![0.0; hidden],
            w2: rng.normal_vec(hidden * c, 1.0 / (hidden as f32).sqrt()),
            b2: vec![0.0; c],
        }
    }

    /// Whether the values fit a matrix with `d_in` inputs, `hidden` units and `c` subcomponents.
    pub fn fits(&self, d_in: usize, hidden: usize, c: usize) -> bool {
        (self.w1.len(), self.b1.len(), self.w2.len(), self.b2.len()) == (d_in * hidden, hidden, hidden * c, c)
    }
}

/// `z = gelu(a w1 + b1) w2 + b2` for N instances side by side: `a` is
/// `N x B x d_in`, `w1` `N x d_in x H`, `b1` `N x 1 x H`, `w2` `N x H x C`,
/// `b2` `N x 1 x C`.
pub fn logits(a: &crate::decomp::Stream<3>, [w1, b1, w2, b2]: [Tensor<3>; 4]) -> Tensor<3> {
    gelu(a.matmul(w1) + b1).matmul(w2) + b2
}

/// A scalar whose gradient with respect to `z` (tracked) is what the lower
/// CI `clamp(z, 0, 1)` passes back from `dg` (without autodiff), the
/// gradient arriving at its value: `dg` on [0, 1], 0 above; below 0,
/// `0.01 dg`, with `one_sided` (param-decomp's) only where that raises `z`
/// (`dg < 0`), so that a subcomponent no input needs is never pushed
/// further down and comes back when an input does. The sign of `dg` is
/// known only after the reconstruction's backward pass: the step takes two.
pub fn leak_term(z: &Tensor<3>, dg: Tensor<3>, one_sided: bool) -> Tensor<1> {
    let below = z.clone().clamp_max(0.0).mul_scalar(LEAK);
    let below = if one_sided { below * dg.clone().lower_elem(0.0).float().autodiff() } else { below };
    ((z.clone().clamp(0.0, 1.0) + below) * dg.autodiff()).sum()
}

/// The lower CI's value, `clamp(z, 0, 1)`.
pub fn lower_value(z: Tensor<3>) -> Tensor<3> {
    z.clamp(0.0, 1.0)
}

/// The upper CI: `clamp(z, 0, 1)` below 1 and `1 + 0.01 (z - 1)` above.
pub fn upper(z: Tensor<3>) -> Tensor<3> {
    z.clone().clamp(0.0, 1.0) + z.sub_scalar(1.0).clamp_min(0.0).mul_scalar(LEAK)
}
