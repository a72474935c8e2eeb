//! The target network on a device, frozen, and its forward passes: with
//! full weights (the target's, or the sum of components) and with each use
//! of a decomposed matrix replaced by a method's masked product. Biases and
//! the residual MLP's embedding are copied from the target and never change.

use crate::config::{ChainLayer, ModelConfig};
use crate::data::matrix;
use crate::models::Target;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// The fixed parts of a target network, on the device.
#[derive(Clone)]
pub enum Arch {
    /// TMS: a chain of (possibly tied) matrices and an output bias.
    Tms {
        /// The linear layers, input to output.
        chain: Vec<ChainLayer>,
        /// The output bias.
        bias: Tensor<1>,
    },
    /// Residual MLP: the embedding `W_E` (`n x d_resid`).
    Resid {
        /// `W_E`; the unembedding is its transpose.
        embed: Tensor<2>,
    },
}

/// A forward pass, keeping what attributions and losses need.
pub struct Forward {
    /// Input of every use of a decomposed matrix: for TMS one per chain
    /// entry; for the residual MLP one per matrix (`r_l` for `W_in^l`,
    /// `relu(pre_l)` for `W_out^l`).
    pub inputs: Vec<Tensor<2>>,
    /// Pre-activations: for TMS the output before its ReLU (one entry); for
    /// the residual MLP each layer's MLP pre-activation.
    pub pre: Vec<Tensor<2>>,
    /// Network output.
    pub out: Tensor<2>,
}

impl Forward {
    /// The residual MLP's activations `relu(pre_l)`, one per layer (the
    /// inputs of the `W_out` matrices); empty for TMS.
    pub fn mlp_acts(&self, model: &ModelConfig) -> Vec<Tensor<2>> {
        match model {
            ModelConfig::ResidMlp(_) => self.inputs.iter().skip(1).step_by(2).cloned().collect(),
            ModelConfig::Tms(_) => Vec::new(),
        }
    }
}

/// The target, frozen on a device: what every decomposition method runs.
#[derive(Clone)]
pub struct Network {
    /// The architecture.
    pub model: ModelConfig,
    /// Its fixed parts.
    pub arch: Arch,
    /// The target's decomposed matrices, in the order of [`ModelConfig::layer_shapes`].
    pub weights: Vec<Tensor<2>>,
    /// How often the network uses each matrix (twice for the tied TMS `W`).
    pub uses: Vec<usize>,
    /// Entries of all decomposed matrices, each use counted.
    pub n_params: usize,
    /// The matrices' names.
    pub names: Vec<String>,
    device: Device,
}

impl Network {
    /// The network a decomposition of `config` works on: `target`, checked
    /// against the configuration's model and brought to the configured
    /// scale (`scale::Rescale`), on `device`; with the rescaling, to move
    /// components back.
    pub fn working(
        config: &crate::config::ExperimentConfig,
        target: &Target,
        device: &Device,
    ) -> Result<(Network, super::scale::Rescale), crate::error::ApdError> {
        config.validate()?;
        if target.model != config.model {
            return Err(crate::error::ApdError::Mismatch(format!(
                "the target is a {:?} but the configuration asks for {:?}",
                target.model, config.model
            )));
        }
        let (working, rescale) = super::scale::Rescale::of(target, &config.scale);
        Ok((Network::new(&working, device), rescale))
    }

    /// Uploads `target` to `device` (without autodiff).
    pub fn new(target: &Target, device: &Device) -> Self {
        let inner = device.clone().inner();
        let uses = target.model.layer_uses();
        let n_params = target.layers.iter().zip(&uses).map(|(w, t)| w.d_in * w.d_out * t).sum();
        let weights = target.layers.iter().map(|w| matrix(w.values.clone(), w.d_in, w.d_out, &inner)).collect();
        let arch = match &target.model {
            ModelConfig::Tms(_) => Arch::Tms {
                chain: target.model.chain(),
                bias: Tensor::<1>::from_floats(target.bias.as_slice(), &inner),
            },
            ModelConfig::ResidMlp(r) => Arch::Resid { embed: matrix(target.embed.clone(), r.n_features, r.d_resid, &inner) },
        };
        Network {
            model: target.model.clone(),
            arch,
            weights,
            uses,
            n_params,
            names: target.layers.iter().map(|w| w.name.clone()).collect(),
            device: inner,
        }
    }

    /// The device the network lives on (without autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Shapes `(d_in, d_out)` of the decomposed matrices.
    pub fn shapes(&self) -> Vec<(usize, usize)> {
        self.weights.iter().map(|w| (w.dims()[0], w.dims()[1])).collect()
    }

    /// The forward pass with full weights `ws`.
    pub fn forward(&self, x: Tensor<2>, ws: &[Tensor<2>]) -> Forward {
        self.forward_by(x, false, |layer, h| h.matmul(chain_weight(ws, layer)))
    }

    /// The target's own forward pass.
    pub fn target_forward(&self, x: Tensor<2>) -> Forward {
        self.forward(x, &self.weights)
    }

    /// The forward pass where each use of a decomposed matrix maps its
    /// input `h` to `linear(layer, h)` (`Own(l)`: matrix l; `Tied(l)`: its
    /// transpose). With `autodiff`, the frozen parts are lifted onto the
    /// autodiff device, for a forward pass that is differentiated.
    pub fn forward_by(&self, x: Tensor<2>, autodiff: bool, linear: impl Fn(ChainLayer, Tensor<2>) -> Tensor<2>) -> Forward {
        let lift = |t: Tensor<2>| if autodiff { t.autodiff() } else { t };
        match &self.arch {
            Arch::Tms { chain, bias } => {
                let mut inputs = Vec::with_capacity(chain.len());
                let mut h = x;
                for &layer in chain {
                    inputs.push(h.clone());
                    h = linear(layer, h);
                }
                let bias = if autodiff { bias.clone().autodiff() } else { bias.clone() };
                let pre = h + bias.unsqueeze::<2>();
                Forward { inputs, out: relu(pre.clone()), pre: vec![pre] }
            }
            Arch::Resid { embed } => {
                let embed = lift(embed.clone());
                let n = self.weights.len();
                let (mut inputs, mut pre) = (Vec::with_capacity(n), Vec::with_capacity(n / 2));
                let mut r = x.matmul(embed.clone());
                for l in (0..n).step_by(2) {
                    inputs.push(r.clone());
                    let p = linear(ChainLayer::Own(l), r.clone());
                    let h = relu(p.clone());
                    pre.push(p);
                    inputs.push(h.clone());
                    r = r + linear(ChainLayer::Own(l + 1), h);
                }
                Forward { inputs, pre, out: r.matmul(embed.transpose()) }
            }
        }
    }
}

/// Weight of one chain entry: `W_l`, or `W_l^T` for the tied decoder.
pub fn chain_weight(ws: &[Tensor<2>], layer: ChainLayer) -> Tensor<2> {
    match layer {
        ChainLayer::Own(l) => ws[l].clone(),
        ChainLayer::Tied(l) => ws[l].clone().transpose(),
    }
}

/// The product of one use of a decomposed matrix with only some components,
/// from factors `a`, `b` (`A_l`: `d_in x C*m`, `B_l`: `C*m x d_out`) and the
/// per-sample mask over components repeated over the rank (`B x C*m`):
/// `sum_c mask[b, c] (h A_c) B_c`, or its transpose for a tied use.
pub fn masked_product(h: Tensor<2>, layer: ChainLayer, a: &[Tensor<2>], b: &[Tensor<2>], mask_m: &Tensor<2>) -> Tensor<2> {
    match layer {
        ChainLayer::Own(l) => (h.matmul(a[l].clone()) * mask_m.clone()).matmul(b[l].clone()),
        ChainLayer::Tied(l) => (h.matmul(b[l].clone().transpose()) * mask_m.clone()).matmul(a[l].clone().transpose()),
    }
}
