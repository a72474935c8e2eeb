//! Causal importance (the SPD paper, section 2 and appendix): per subcomponent, a tiny MLP reads
//! the subcomponent's inner activation `h_c = a V[:, c]` and says how much
//! this input needs it; two hard sigmoids turn that into the mask's
//! importance and the penalised one. (The reference code's later "revive"
//! mask sigmoid needs the gradient's sign, so `SpdTrainer::step` builds it.)

use burn::module::{Module, Param};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use crate::data::read_vec;
use crate::decomp::network::stacked;
use crate::error::ApdError;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// One matrix's gates as numbers (row-major), as a report keeps them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GateValues {
    /// `C x d_gate`.
    pub w1: Vec<f32>,
    /// `C x d_gate`.
    pub b1: Vec<f32>,
    /// `C x d_gate`.
    pub w2: Vec<f32>,
    /// `C`.
    pub b2: Vec<f32>,
}

/// The leak of both hard sigmoids outside [0, 1].
pub const LEAK: f32 = 0.01;

/// The lower-leaky hard sigmoid, for the masks: `0.01 z` for z <= 0, `z` on
/// [0, 1], 1 above (gradient 0.01, 1 and 0 there).
pub fn lower_leaky<const D: usize>(z: Tensor<D>) -> Tensor<D> {
    hard_sigmoid(z, LEAK, 0.0)
}

/// The upper-leaky hard sigmoid, for the penalty: 0 for z <= 0, `z` on
/// [0, 1], `1 + 0.01 (z - 1)` above (gradient 0, 1 and 0.01 there).
pub fn upper_leaky<const D: usize>(z: Tensor<D>) -> Tensor<D> {
    hard_sigmoid(z, 0.0, LEAK)
}

/// `clamp(z, 0, 1)`: the revive sigmoid's value.
pub fn clamped<const D: usize>(z: Tensor<D>) -> Tensor<D> {
    hard_sigmoid(z, 0.0, 0.0)
}

/// `clamp(z, 0, 1)` with slope `low` below 0 or `high` above 1 (at most
/// one of them not 0). On the CPU backend one pass over `z` forward and
/// one backward (`fused`, the same numbers), where the tensor operations
/// take five or six kernels each way.
fn hard_sigmoid<const D: usize>(z: Tensor<D>, low: f32, high: f32) -> Tensor<D> {
    #[cfg(feature = "cpu")]
    if super::fused::applies(&z) {
        return super::fused::hard_sigmoid(z, low, high);
    }
    hard_sigmoid_ops(z, low, high)
}

/// The same from burn's tensor operations, for every backend.
pub fn hard_sigmoid_ops<const D: usize>(z: Tensor<D>, low: f32, high: f32) -> Tensor<D> {
    let clamped = z.clone().clamp(0.0, 1.0);
    if low != 0.0 {
        clamped + z.clamp_max(0.0).mul_scalar(low)
    } else if high != 0.0 {
        clamped + z.sub_scalar(1.0).clamp_min(0.0).mul_scalar(high)
    } else {
        clamped
    }
}

/// A scalar whose gradient with respect to `z` (tracked) is what the
/// revive sigmoid passes back from `dg` (without autodiff), the gradient
/// arriving at its output: `dg` on [0, 1], below 0 `0.01 dg` where that
/// raises the importance (`dg < 0`) and 0 where it would lower it.
pub fn revive_term(z: &Tensor<3>, dg: Tensor<3>) -> Tensor<1> {
    #[cfg(feature = "cpu")]
    if super::fused::applies(&dg) {
        let dz = super::fused::revive_grad(z.clone().inner(), dg, LEAK);
        return (z.clone() * dz.autodiff()).sum();
    }
    revive_term_ops(z, dg)
}

/// The same from burn's tensor operations, for every backend.
pub fn revive_term_ops(z: &Tensor<3>, dg: Tensor<3>) -> Tensor<1> {
    let raise = dg.clone().lower_elem(0.0).float().autodiff();
    let g = z.clone().clamp(0.0, 1.0) + z.clone().clamp_max(0.0).mul_scalar(LEAK) * raise;
    (g * dg.autodiff()).sum()
}

/// The causal-importance MLPs of one matrix's C subcomponents ("mlp"
/// variant): `z_c = sum_j w2[c, j] gelu(h_c w1[c, j] + b1[c, j]) + b2[c]`,
/// all C at once, for N instances side by side.
#[derive(Module, Debug)]
pub struct Gates {
    /// `N x C x d_gate`.
    pub w1: Param<Tensor<3>>,
    /// `N x C x d_gate`.
    pub b1: Param<Tensor<3>>,
    /// `N x C x d_gate`.
    pub w2: Param<Tensor<3>>,
    /// `N x 1 x C`.
    pub b2: Param<Tensor<3>>,
}

impl GateValues {
    /// As the reference initialises them: `w1` normal with the ReLU gain
    /// (std sqrt 2, fan-in 1), `w2` normal with std `1 / sqrt(d_gate)`,
    /// biases 0.
    pub fn init(c: usize, d_gate: usize, rng: &mut Rng) -> Self {
        let w1 = rng.normal_vec(c * d_gate, 2f32.sqrt());
        let w2 = rng.normal_vec(c * d_gate, 1.0 / (d_gate as f32).sqrt());
        GateValues { w1, b1: vec![0.0; c * d_gate], w2, b2: vec![0.0; c] }
    }
}

impl Gates {
    /// Gates with the given values (row-major) for one instance, on `device` with gradients.
    pub fn from_values(c: usize, g: usize, w1: Vec<f32>, b1: Vec<f32>, w2: Vec<f32>, b2: Vec<f32>, device: &Device) -> Self {
        Gates::stacked(&[GateValues { w1, b1, w2, b2 }], c, g, device)
    }

    /// The gates of `values`, one instance each (C subcomponents, `d_gate`
    /// wide), side by side on `device` with gradients.
    pub fn stacked(values: &[GateValues], c: usize, g: usize, device: &Device) -> Self {
        let n = values.len();
        let p = |get: fn(&GateValues) -> &Vec<f32>, r: usize, k: usize| {
            Param::from_tensor(stacked(values.iter().flat_map(|v| get(v).iter().copied()).collect(), n, r, k, device).require_grad())
        };
        Gates { w1: p(|v| &v.w1, c, g), b1: p(|v| &v.b1, c, g), w2: p(|v| &v.w2, c, g), b2: p(|v| &v.b2, 1, c) }
    }

    /// The four parameters, in the order w1, b1, w2, b2.
    pub(super) fn params(&self) -> [&Param<Tensor<3>>; 4] {
        [&self.w1, &self.b1, &self.w2, &self.b2]
    }

    /// Read back to the host, one set per instance.
    pub async fn values(&self) -> Result<Vec<GateValues>, ApdError> {
        let n = self.w1.val().dims()[0];
        let mut read = Vec::new();
        for p in self.params() {
            read.push(read_vec(p.val().inner()).await?);
        }
        let part = |k: usize, i: usize| {
            let each = read[k].len() / n;
            read[k][i * each..(i + 1) * each].to_vec()
        };
        Ok((0..n).map(|i| GateValues { w1: part(0, i), b1: part(1, i), w2: part(2, i), b2: part(3, i) }).collect())
    }

    /// `z` (`N x B x C`) from the inner activations `h` (`N x B x C`),
    /// tracked for gradients.
    pub fn forward(&self, h: Tensor<3>) -> Tensor<3> {
        gate_mlp(h, [self.w1.val(), self.b1.val(), self.w2.val(), self.b2.val()])
    }

    /// The same without autodiff (probes and views).
    pub fn forward_inner(&self, h: Tensor<3>) -> Tensor<3> {
        gate_mlp(h, [self.w1.val().inner(), self.b1.val().inner(), self.w2.val().inner(), self.b2.val().inner()])
    }
}

fn gate_mlp(h: Tensor<3>, [w1, b1, w2, b2]: [Tensor<3>; 4]) -> Tensor<3> {
    #[cfg(feature = "cpu")]
    if super::fused::applies(&h) {
        return super::fused::gate_mlp(h, w1, b1, w2) + b2;
    }
    gate_mlp_ops(h, [w1, b1, w2, b2])
}

/// The same from burn's tensor operations, for every backend (the CPU one
/// takes `fused`: the same numbers, summed in another order).
pub fn gate_mlp_ops(h: Tensor<3>, [w1, b1, w2, b2]: [Tensor<3>; 4]) -> Tensor<3> {
    let [n, bsz, c] = h.dims();
    let hidden = h.reshape([n, bsz, c, 1]) * w1.unsqueeze_dim::<4>(1) + b1.unsqueeze_dim::<4>(1);
    let z = (gelu(hidden) * w2.unsqueeze_dim::<4>(1)).sum_dim(3).reshape([n, bsz, c]);
    z + b2
}
