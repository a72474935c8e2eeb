//! Target networks and their training.

pub mod resid;
pub mod tms;

use crate::config::ModelConfig;

/// One weight matrix of a target, row-major `d_in x d_out` (row-vector
/// convention: `out = x @ W`).
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Name used in the JSON formats (`W`, `H1`, ...).
    pub name: String,
    /// Rows.
    pub d_in: usize,
    /// Columns.
    pub d_out: usize,
    /// Row-major values.
    pub values: Vec<f32>,
}

impl Matrix {
    /// Row i.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.d_out..(i + 1) * self.d_out]
    }
}

/// A trained target network, held on the host: the matrices APD decomposes
/// and the frozen parts it copies.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Architecture.
    pub model: ModelConfig,
    /// Decomposed matrices, in the order of [`Target::chain`]'s `Own` entries.
    pub layers: Vec<Matrix>,
    /// Output bias (frozen, not decomposed); TMS only, empty otherwise.
    pub bias: Vec<f32>,
    /// The fixed embedding `W_E` (`n x d_resid`, row-major; the unembedding
    /// is its transpose); residual MLPs only, empty otherwise.
    pub embed: Vec<f32>,
}

/// One step of a linear chain: a decomposed matrix used as is, or transposed
/// (the tied TMS decoder, which shares its components with `W`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainLayer {
    /// `x @ W_l`.
    Own(usize),
    /// `x @ W_l^T`.
    Tied(usize),
}

impl Target {
    /// The linear layers between input and output bias, in order.
    pub fn chain(&self) -> Vec<ChainLayer> {
        chain_of(&self.model)
    }
}

/// The chain of linear layers of a TMS architecture (empty for the residual
/// MLP, which is not a chain).
pub fn chain_of(model: &ModelConfig) -> Vec<ChainLayer> {
    match model {
        ModelConfig::Tms(t) => {
            let mut chain: Vec<ChainLayer> = (0..=t.n_hidden_layers).map(ChainLayer::Own).collect();
            chain.push(ChainLayer::Tied(0));
            chain
        }
        ModelConfig::ResidMlp(_) => Vec::new(),
    }
}

/// How often each decomposed matrix is used by the network: twice for the
/// TMS `W` (its transpose is the tied decoder), once otherwise.
pub fn layer_uses(model: &ModelConfig) -> Vec<usize> {
    let mut times = vec![1usize; layer_shapes(model).len()];
    if let ModelConfig::Tms(_) = model {
        times[0] = 2;
    }
    times
}

/// Shapes `(name, d_in, d_out)` of the decomposed matrices of an architecture.
pub fn layer_shapes(model: &ModelConfig) -> Vec<(String, usize, usize)> {
    match model {
        ModelConfig::Tms(t) => {
            let mut v = vec![("W".to_string(), t.n_features, t.n_hidden)];
            for h in 0..t.n_hidden_layers {
                v.push((format!("H{}", h + 1), t.n_hidden, t.n_hidden));
            }
            v
        }
        // Interleaved per layer: W_in1, W_out1, W_in2, W_out2, ...
        ModelConfig::ResidMlp(r) => (1..=r.n_layers)
            .flat_map(|l| [(format!("W_in{l}"), r.d_resid, r.d_mlp), (format!("W_out{l}"), r.d_mlp, r.d_resid)])
            .collect(),
    }
}

/// One AdamW step of target training on `loss`: reads the loss back
/// (asynchronously), refuses a non-finite one as divergence without touching
/// the weights, and otherwise updates `net`. Returns the loss before the step.
pub(crate) async fn optimiser_step<M: burn::module::Module + Clone>(
    loss: burn::tensor::Tensor<1>,
    net: &mut M,
    optim: &mut burn::optim::ModuleOptimizer,
    lr: f64,
    step: usize,
) -> Result<f32, crate::ApdError> {
    let value = tms::read_vec(loss.clone()).await?[0];
    if !value.is_finite() {
        return Err(crate::ApdError::Diverged {
            step,
            message: format!("target loss became {value} at step {step}; lower target.lr"),
        });
    }
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &*net);
    *net = optim.step(lr, net.clone(), grads);
    Ok(value)
}

/// Trains whichever target the configuration describes, step by step.
pub enum TargetTrainer {
    /// A toy model of superposition.
    Tms(tms::TmsTrainer),
    /// A residual MLP.
    Resid(resid::ResidTrainer),
}

impl TargetTrainer {
    /// A fresh target for `config`, seeded.
    pub fn new(config: &crate::config::ExperimentConfig, seed: u64, device: &burn::tensor::Device) -> Result<Self, crate::ApdError> {
        Ok(match &config.model {
            ModelConfig::Tms(_) => TargetTrainer::Tms(tms::TmsTrainer::new(config, seed, device)?),
            ModelConfig::ResidMlp(_) => TargetTrainer::Resid(resid::ResidTrainer::new(config, seed, device)?),
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        match self {
            TargetTrainer::Tms(t) => t.step_count(),
            TargetTrainer::Resid(t) => t.step_count(),
        }
    }

    /// Whether all configured steps are done.
    pub fn done(&self) -> bool {
        match self {
            TargetTrainer::Tms(t) => t.done(),
            TargetTrainer::Resid(t) => t.done(),
        }
    }

    /// One optimiser step; returns the loss before it.
    pub async fn step(&mut self) -> Result<f32, crate::ApdError> {
        match self {
            TargetTrainer::Tms(t) => t.step().await,
            TargetTrainer::Resid(t) => t.step().await,
        }
    }

    /// The current weights.
    pub async fn target(&self) -> Result<Target, crate::ApdError> {
        match self {
            TargetTrainer::Tms(t) => t.target().await,
            TargetTrainer::Resid(t) => t.target().await,
        }
    }
}
