//! Target networks and their training.

pub mod resid;
pub mod tms;

use crate::config::ModelConfig;
use crate::data::read_vec;
use crate::error::ApdError;

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

/// The value [`Target::reproduced_features`] feeds each feature at, and how
/// close its output must come (the SPD reference's `train_tms` values).
pub const WELL_TRAINED_PROBE: f32 = 0.75;
/// See [`WELL_TRAINED_PROBE`].
pub const WELL_TRAINED_TOLERANCE: f32 = 0.1;

/// A trained target network, held on the host: the matrices APD decomposes
/// and the frozen parts it copies.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Architecture.
    pub model: ModelConfig,
    /// Decomposed matrices, in the order of [`ModelConfig::layer_shapes`].
    pub layers: Vec<Matrix>,
    /// Output bias (frozen, not decomposed); TMS only, empty otherwise.
    pub bias: Vec<f32>,
    /// The fixed embedding `W_E` (`n x d_resid`, row-major; the unembedding
    /// is its transpose); residual MLPs only, empty otherwise.
    pub embed: Vec<f32>,
}

impl Target {
    /// The same network with its weights scaled by `k`, as another trainer
    /// might have left them: for TMS, `W` times k (the bias and identity
    /// layers as they are, so what it computes changes); for the residual
    /// MLP, every `W_in` times k and `W_out` divided by k (which computes
    /// the same: its ReLUs are positively homogeneous).
    pub fn scaled(&self, k: f32) -> Target {
        let mut t = self.clone();
        for (l, m) in t.layers.iter_mut().enumerate() {
            let f = match (&self.model, l) {
                (ModelConfig::Tms(_), 0) => k,
                (ModelConfig::Tms(_), _) => 1.0,
                (ModelConfig::ResidMlp(_), l) if l % 2 == 0 => k,
                (ModelConfig::ResidMlp(_), _) => 1.0 / k,
            };
            m.values.iter_mut().for_each(|v| *v *= f);
        }
        t
    }

    /// TMS: which features the target represents: those whose vector is
    /// at least a tenth as long as the longest (a trainer can leave a
    /// feature dead, with a vector near zero and no direction to recover).
    /// Empty for the residual MLP.
    pub fn represented_features(&self) -> Vec<bool> {
        let norms = self.feature_norms();
        let longest = norms.iter().fold(0.0f32, |m, &n| m.max(n));
        norms.iter().map(|&n| n > 0.0 && n >= 0.1 * longest).collect()
    }

    /// TMS: which features the target reproduces on its own: fed alone at
    /// [`WELL_TRAINED_PROBE`], the feature comes back within
    /// [`WELL_TRAINED_TOLERANCE`] of it. This is the check the SPD
    /// reference's `train_tms` prints after training ("well preserved"); a
    /// trainer that left a feature dead, or learned nothing, fails it. Empty
    /// for the residual MLP.
    pub fn reproduced_features(&self) -> Vec<bool> {
        let ModelConfig::Tms(t) = &self.model else { return Vec::new() };
        let w = &self.layers[0];
        (0..t.n_features)
            .map(|i| {
                let mut h: Vec<f32> = w.row(i).iter().map(|v| v * WELL_TRAINED_PROBE).collect();
                for hl in &self.layers[1..] {
                    h = (0..hl.d_out).map(|c| (0..hl.d_in).map(|r| h[r] * hl.values[r * hl.d_out + c]).sum()).collect();
                }
                let y = (h.iter().zip(w.row(i)).map(|(a, b)| a * b).sum::<f32>() + self.bias[i]).max(0.0);
                (y - WELL_TRAINED_PROBE).abs() < WELL_TRAINED_TOLERANCE
            })
            .collect()
    }

    /// How many features the target reproduces alone
    /// ([`Target::reproduced_features`]), of how many; `(0, 0)` for the
    /// residual MLP.
    pub fn reproduced_count(&self) -> (usize, usize) {
        let r = self.reproduced_features();
        (r.iter().filter(|&&k| k).count(), r.len())
    }

    /// TMS: the norm of each feature's vector, the rows of `W` (what APD's
    /// components must reproduce); empty for the residual MLP.
    pub fn feature_norms(&self) -> Vec<f32> {
        if self.model.is_resid() {
            return Vec::new();
        }
        let w = &self.layers[0];
        (0..w.d_in).map(|i| w.row(i).iter().map(|v| v * v).sum::<f32>().sqrt()).collect()
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
) -> Result<f32, ApdError> {
    let value = read_vec(loss.clone()).await?[0];
    if !value.is_finite() {
        return Err(ApdError::Diverged {
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
    pub fn new(config: &crate::config::ExperimentConfig, seed: u64, device: &burn::tensor::Device) -> Result<Self, ApdError> {
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
    pub async fn step(&mut self) -> Result<f32, ApdError> {
        match self {
            TargetTrainer::Tms(t) => t.step().await,
            TargetTrainer::Resid(t) => t.step().await,
        }
    }

    /// The current weights.
    pub async fn target(&self) -> Result<Target, ApdError> {
        match self {
            TargetTrainer::Tms(t) => t.target().await,
            TargetTrainer::Resid(t) => t.target().await,
        }
    }
}
