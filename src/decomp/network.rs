//! The target network on a device, frozen, and its forward passes: with
//! full weights (the target's, or the sum of components) and with each use
//! of a decomposed matrix replaced by a method's masked product. Biases and
//! the residual MLP's embedding are copied from the target and never change.
//!
//! `D` is the rank of the tensors: 2 for one target (`B x width`
//! activations, `d_in x d_out` weights), 3 for N targets side by side with
//! a leading instance dimension (`N x B x width`, `N x d_in x d_out`: the
//! matrix products batch over it), as APD trains several seeds at once.

use super::stream::Stream;
use crate::config::{ChainLayer, ModelConfig};
use crate::data::matrix;
use crate::models::Target;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// The fixed parts of a target network, on the device.
#[derive(Clone)]
pub enum Arch<const D: usize = 2> {
    /// TMS: a chain of (possibly tied) matrices and an output bias.
    Tms {
        /// The linear layers, input to output.
        chain: Vec<ChainLayer>,
        /// The output bias, shaped to broadcast over a batch (`1 x n`, or `N x 1 x n`).
        bias: Tensor<D>,
    },
    /// Residual MLP: the embedding `W_E` (`n x d_resid`).
    Resid {
        /// `W_E`; the unembedding is its transpose.
        embed: Tensor<D>,
    },
}

/// A forward pass, keeping what attributions and losses need.
pub struct Forward<const D: usize = 2> {
    /// Input of every use of a decomposed matrix: for TMS one per chain
    /// entry; for the residual MLP one per matrix (`r_l` for `W_in^l`,
    /// `relu(pre_l)` for `W_out^l`).
    pub inputs: Vec<Stream<D>>,
    /// Pre-activations: for TMS the output before its ReLU (one entry); for
    /// the residual MLP each layer's MLP pre-activation.
    pub pre: Vec<Tensor<D>>,
    /// Network output.
    pub out: Tensor<D>,
}

impl<const D: usize> Forward<D> {
    /// The residual MLP's activations `relu(pre_l)`, one per layer (the
    /// inputs of the `W_out` matrices); empty for TMS.
    pub fn mlp_acts(&self, model: &ModelConfig) -> Vec<Tensor<D>> {
        match model {
            ModelConfig::ResidMlp(_) => self.inputs.iter().skip(1).step_by(2).map(Stream::value).collect(),
            ModelConfig::Tms(_) => Vec::new(),
        }
    }
}

/// The target, frozen on a device: what every decomposition method runs.
#[derive(Clone)]
pub struct Network<const D: usize = 2> {
    /// The architecture.
    pub model: ModelConfig,
    /// Its fixed parts.
    pub arch: Arch<D>,
    /// The target's decomposed matrices, in the order of [`ModelConfig::layer_shapes`].
    pub weights: Vec<Tensor<D>>,
    /// How often the network uses each matrix (twice for the tied TMS `W`).
    pub uses: Vec<usize>,
    /// Entries of all decomposed matrices, each use counted.
    pub n_params: usize,
    /// The matrices' names.
    pub names: Vec<String>,
    device: Device,
}

impl Network<2> {
    /// The network a decomposition of `config` works on: `target`, checked
    /// against the configuration's model and brought to the configured
    /// scale (`scale::Rescale`), on `device`; with the rescaling, to move
    /// components back.
    pub fn working(
        config: &crate::config::ExperimentConfig,
        target: &Target,
        device: &Device,
    ) -> Result<(Network, super::scale::Rescale), crate::error::ApdError> {
        let (net, mut rescales) = Network::working_all(config, std::slice::from_ref(target), device)?;
        Ok((net, rescales.remove(0)))
    }

    /// Uploads `target` to `device` (without autodiff).
    pub fn new(target: &Target, device: &Device) -> Self {
        Network::stacked(std::slice::from_ref(target), device)
    }
}

impl<const D: usize> Network<D> {
    /// [`Network::working`] for several targets of one model, side by side
    /// (`D = 3`; `D = 2` takes exactly one), each at its own scale.
    pub fn working_all(
        config: &crate::config::ExperimentConfig,
        targets: &[Target],
        device: &Device,
    ) -> Result<(Network<D>, Vec<super::scale::Rescale>), crate::error::ApdError> {
        config.validate()?;
        let mut working = Vec::with_capacity(targets.len());
        let mut rescales = Vec::with_capacity(targets.len());
        for target in targets {
            if target.model != config.model {
                return Err(crate::error::ApdError::Mismatch(format!(
                    "the target is a {:?} but the configuration asks for {:?}",
                    target.model, config.model
                )));
            }
            let (w, r) = super::scale::Rescale::of(target, &config.scale);
            working.push(w);
            rescales.push(r);
        }
        Ok((Network::stacked(&working, device), rescales))
    }

    /// The chain entries a method with per-matrix subcomponents (SPD, VPD)
    /// decomposes, in the order the network uses them: TMS `W`, its
    /// identity layers, then `W^T` (untied); the residual MLP's `W_in`,
    /// `W_out` per layer.
    pub fn decomposed(&self) -> Vec<crate::config::ChainLayer> {
        match &self.arch {
            Arch::Tms { chain, .. } => chain.clone(),
            Arch::Resid { .. } => (0..self.weights.len()).map(crate::config::ChainLayer::Own).collect(),
        }
    }

    /// Uploads `targets` (of one model) to `device` (without autodiff), one
    /// instance each; with `D = 2` there must be exactly one.
    pub fn stacked(targets: &[Target], device: &Device) -> Self {
        assert!(D == 3 || targets.len() == 1, "a rank-{D} network holds one target, not {}", targets.len());
        let first = &targets[0];
        let inner = device.clone().inner();
        let n = targets.len();
        let uses = first.model.layer_uses();
        let n_params = first.layers.iter().zip(&uses).map(|(w, t)| w.d_in * w.d_out * t).sum();
        let weights = (0..first.layers.len())
            .map(|l| {
                let (d_in, d_out) = (first.layers[l].d_in, first.layers[l].d_out);
                stacked(targets.iter().flat_map(|t| t.layers[l].values.iter().copied()).collect(), n, d_in, d_out, &inner)
            })
            .collect();
        let arch = match &first.model {
            ModelConfig::Tms(_) => Arch::Tms {
                chain: first.model.chain(),
                bias: stacked(targets.iter().flat_map(|t| t.bias.iter().copied()).collect(), n, 1, first.bias.len(), &inner),
            },
            ModelConfig::ResidMlp(r) => Arch::Resid {
                embed: stacked(targets.iter().flat_map(|t| t.embed.iter().copied()).collect(), n, r.n_features, r.d_resid, &inner),
            },
        };
        Network {
            model: first.model.clone(),
            arch,
            weights,
            uses,
            n_params,
            names: first.layers.iter().map(|w| w.name.clone()).collect(),
            device: inner,
        }
    }

    /// How many targets the network holds side by side.
    pub fn instances(&self) -> usize {
        if D == 2 {
            1
        } else {
            self.weights[0].dims()[0]
        }
    }

    /// The device the network lives on (without autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Shapes `(d_in, d_out)` of the decomposed matrices.
    pub fn shapes(&self) -> Vec<(usize, usize)> {
        self.weights.iter().map(|w| (w.dims()[D - 2], w.dims()[D - 1])).collect()
    }

    /// The forward pass with full weights `ws`.
    pub fn forward(&self, x: Tensor<D>, ws: &[Tensor<D>]) -> Forward<D> {
        self.forward_by(x, false, |layer, h| h.times(chain_weight(ws, layer)))
    }

    /// The target's own forward pass.
    pub fn target_forward(&self, x: Tensor<D>) -> Forward<D> {
        self.forward(x, &self.weights)
    }

    /// The forward pass where each use of a decomposed matrix maps its
    /// input `h` to `linear(layer, h)` (`Own(l)`: matrix l; `Tied(l)`: its
    /// transpose). With `autodiff`, the frozen parts are lifted onto the
    /// autodiff device, for a forward pass that is differentiated. The
    /// residual MLP's stream is folded ([`Stream`]); TMS's is not.
    pub fn forward_by(&self, x: Tensor<D>, autodiff: bool, linear: impl Fn(ChainLayer, &Stream<D>) -> Stream<D>) -> Forward<D> {
        let lift = |t: Tensor<D>| if autodiff { t.autodiff() } else { t };
        match &self.arch {
            Arch::Tms { chain, bias } => {
                let mut inputs = Vec::with_capacity(chain.len());
                let mut h = Stream::dense(x);
                for &layer in chain {
                    inputs.push(h.clone());
                    h = Stream::dense(linear(layer, &h).value());
                }
                let pre = h.value() + lift(bias.clone());
                Forward { inputs, out: relu(pre.clone()), pre: vec![pre] }
            }
            Arch::Resid { embed } => {
                let embed = lift(embed.clone());
                let n = self.weights.len();
                let (mut inputs, mut pre) = (Vec::with_capacity(n), Vec::with_capacity(n / 2));
                // Folding recomputes `W_E M` for each matrix M that reads the
                // stream, in each pass and its backward: `features x d_resid`
                // rows of work where the full width does `rows x d_resid`,
                // and each later layer's reader folds every term before it.
                // So it pays from a batch of the features times the layers
                // (APD's 256 against 100 features: resid-mlp-1 at rank 50
                // went from 680 to 522 ms a step, resid-mlp-2 from 92 to 86;
                // resid-mlp-3 was slower folded, 231 against 215;
                // docs/performance.md).
                let [rows, features] = [x.dims()[D - 2], x.dims()[D - 1]];
                let fold = crate::models::resid::folding() && rows >= features * (n / 2);
                let stream = if fold { Stream::folded } else { Stream::dense };
                let mut r = stream(x).times(embed.clone());
                for l in (0..n).step_by(2) {
                    inputs.push(r.clone());
                    let p = linear(ChainLayer::Own(l), &r).value();
                    let h = stream(relu(p.clone()));
                    pre.push(p);
                    inputs.push(h.clone());
                    r = r.plus(linear(ChainLayer::Own(l + 1), &h));
                }
                Forward { inputs, pre, out: r.matmul(embed.transpose()) }
            }
        }
    }
}

impl Network<3> {
    /// Instance `i` alone, still with its instance dimension.
    pub fn instance(&self, i: usize) -> Network<3> {
        self.map_tensors(|t| t.clone().narrow(0, i, 1))
    }

    /// Instance `i` alone, as a network of one target (`D = 2`).
    pub fn single(&self, i: usize) -> Network<2> {
        self.map_tensors(|t| {
            let [_, r, c] = t.dims();
            t.clone().narrow(0, i, 1).reshape([r, c])
        })
    }

    /// The same network with `f` applied to every tensor it holds.
    fn map_tensors<const E: usize>(&self, f: impl Fn(&Tensor<3>) -> Tensor<E>) -> Network<E> {
        Network {
            model: self.model.clone(),
            arch: match &self.arch {
                Arch::Tms { chain, bias } => Arch::Tms { chain: chain.clone(), bias: f(bias) },
                Arch::Resid { embed } => Arch::Resid { embed: f(embed) },
            },
            weights: self.weights.iter().map(&f).collect(),
            uses: self.uses.clone(),
            n_params: self.n_params,
            names: self.names.clone(),
            device: self.device.clone(),
        }
    }
}

/// Weight of one chain entry: `W_l`, or `W_l^T` for the tied decoder.
pub fn chain_weight<const D: usize>(ws: &[Tensor<D>], layer: ChainLayer) -> Tensor<D> {
    match layer {
        ChainLayer::Own(l) => ws[l].clone(),
        ChainLayer::Tied(l) => ws[l].clone().transpose(),
    }
}

/// The product of one use of a decomposed matrix with only some components,
/// from factors `a`, `b` (`A_l`: `d_in x C*m`, `B_l`: `C*m x d_out`) and the
/// per-sample mask over components repeated over the rank (`B x C*m`):
/// `sum_c mask[b, c] (h A_c) B_c`, or its transpose for a tied use (each
/// with a leading instance dimension when `D = 3`).
pub fn masked_product<const D: usize>(h: &Stream<D>, layer: ChainLayer, a: &[Tensor<D>], b: &[Tensor<D>], mask_m: &Tensor<D>) -> Stream<D> {
    match layer {
        ChainLayer::Own(l) => h.like(h.matmul(a[l].clone()) * mask_m.clone(), b[l].clone()),
        ChainLayer::Tied(l) => h.like(h.matmul(b[l].clone().transpose()) * mask_m.clone(), a[l].clone().transpose()),
    }
}

/// `n` row-major `rows x cols` blocks as one tensor: `rows x cols` when
/// `D = 2` (then `n` is 1), `n x rows x cols` when `D = 3`.
pub(crate) fn stacked<const D: usize>(values: Vec<f32>, n: usize, rows: usize, cols: usize, device: &Device) -> Tensor<D> {
    let mut shape = [1; D];
    shape[D - 1] = cols;
    shape[D - 2] = rows;
    if D > 2 {
        shape[0] = n;
    }
    matrix(values, n * rows, cols, device).reshape(shape)
}
