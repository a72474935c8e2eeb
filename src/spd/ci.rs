//! Causal importance (spec section 5): per subcomponent, a tiny MLP reads
//! the subcomponent's inner activation `h_c = a V[:, c]` and says how much
//! this input needs it; two hard sigmoids turn that into the mask's
//! importance and the penalised one. (The reference code's later "revive"
//! mask sigmoid needs the gradient's sign, so `SpdTrainer::step` builds it.)

use burn::module::{Module, Param};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use crate::data::{matrix, read_vec};
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
pub fn lower_leaky(z: Tensor<2>) -> Tensor<2> {
    z.clone().clamp(0.0, 1.0) + z.clamp_max(0.0).mul_scalar(LEAK)
}

/// The upper-leaky hard sigmoid, for the penalty: 0 for z <= 0, `z` on
/// [0, 1], `1 + 0.01 (z - 1)` above (gradient 0, 1 and 0.01 there).
pub fn upper_leaky(z: Tensor<2>) -> Tensor<2> {
    z.clone().clamp(0.0, 1.0) + z.sub_scalar(1.0).clamp_min(0.0).mul_scalar(LEAK)
}

/// The causal-importance MLPs of one matrix's C subcomponents ("mlp"
/// variant): `z_c = sum_j w2[c, j] gelu(h_c w1[c, j] + b1[c, j]) + b2[c]`,
/// all C at once.
#[derive(Module, Debug)]
pub struct Gates {
    /// `C x d_gate`.
    pub w1: Param<Tensor<2>>,
    /// `C x d_gate`.
    pub b1: Param<Tensor<2>>,
    /// `C x d_gate`.
    pub w2: Param<Tensor<2>>,
    /// `1 x C`.
    pub b2: Param<Tensor<2>>,
}

impl Gates {
    /// As the reference initialises them: `w1` normal with the ReLU gain
    /// (std sqrt 2, fan-in 1), `w2` normal with std `1 / sqrt(d_gate)`,
    /// biases 0.
    pub fn init(c: usize, d_gate: usize, rng: &mut Rng, device: &Device) -> Self {
        let w1 = rng.normal_vec(c * d_gate, 2f32.sqrt());
        let w2 = rng.normal_vec(c * d_gate, 1.0 / (d_gate as f32).sqrt());
        Gates::from_values(c, d_gate, w1, vec![0.0; c * d_gate], w2, vec![0.0; c], device)
    }

    /// Gates with the given values (row-major), on `device` with gradients.
    pub fn from_values(c: usize, g: usize, w1: Vec<f32>, b1: Vec<f32>, w2: Vec<f32>, b2: Vec<f32>, device: &Device) -> Self {
        let p = |v: Vec<f32>, r: usize, k: usize| Param::from_tensor(matrix(v, r, k, device).require_grad());
        Gates { w1: p(w1, c, g), b1: p(b1, c, g), w2: p(w2, c, g), b2: p(b2, 1, c) }
    }

    /// The gates of `values` (C subcomponents, `d_gate` wide), on `device`.
    pub fn of_values(values: &GateValues, c: usize, d_gate: usize, device: &Device) -> Self {
        let v = values.clone();
        Gates::from_values(c, d_gate, v.w1, v.b1, v.w2, v.b2, device)
    }

    /// Read back to the host.
    pub async fn values(&self) -> Result<GateValues, ApdError> {
        Ok(GateValues {
            w1: read_vec(self.w1.val().inner()).await?,
            b1: read_vec(self.b1.val().inner()).await?,
            w2: read_vec(self.w2.val().inner()).await?,
            b2: read_vec(self.b2.val().inner()).await?,
        })
    }

    /// `z` (`B x C`) from the inner activations `h` (`B x C`), tracked for
    /// gradients.
    pub fn forward(&self, h: Tensor<2>) -> Tensor<2> {
        gate_mlp(h, [self.w1.val(), self.b1.val(), self.w2.val(), self.b2.val()])
    }

    /// The same without autodiff (probes and views).
    pub fn forward_inner(&self, h: Tensor<2>) -> Tensor<2> {
        gate_mlp(h, [self.w1.val().inner(), self.b1.val().inner(), self.w2.val().inner(), self.b2.val().inner()])
    }
}

fn gate_mlp(h: Tensor<2>, [w1, b1, w2, b2]: [Tensor<2>; 4]) -> Tensor<2> {
    let [bsz, c] = h.dims();
    let hidden = h.reshape([bsz, c, 1]) * w1.unsqueeze::<3>() + b1.unsqueeze::<3>();
    let z = (gelu(hidden) * w2.unsqueeze::<3>()).sum_dim(2).reshape([bsz, c]);
    z + b2
}
