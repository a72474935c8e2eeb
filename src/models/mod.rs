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

/// Each instance's mean squared error, `[N]`, from the `N x B x n` errors:
/// the same reduction as one instance's `mean()` (each row summed alone).
pub(crate) fn per_instance_mse(diff: burn::tensor::Tensor<3>) -> burn::tensor::Tensor<1> {
    let [inst, b, n] = diff.dims();
    diff.powi_scalar(2).reshape([inst, b * n]).mean_dim(1).reshape([inst])
}

/// What training any target keeps beside its network: the schedule, AdamW,
/// each instance's data stream (its seed's), the step.
pub(crate) struct Training {
    train: crate::config::TargetTrainConfig,
    optim: burn::optim::ModuleOptimizer,
    rngs: Vec<crate::rng::Rng>,
    /// Each instance's seed, to name it.
    seeds: Vec<u64>,
    /// The autodiff device the network lives on.
    device: burn::tensor::Device,
    step: usize,
}

impl Training {
    pub(crate) fn new(config: &crate::config::ExperimentConfig, seeds: &[u64], device: &burn::tensor::Device) -> Self {
        let optim = burn::optim::AdamWConfig::new().with_weight_decay(config.target.weight_decay as f32).with_epsilon(1e-8).init();
        Training {
            train: config.target.clone(),
            optim,
            rngs: seeds.iter().map(|&s| crate::rng::Rng::stream(s, "target-data")).collect(),
            seeds: seeds.to_vec(),
            device: device.clone().autodiff(),
            step: 0,
        }
    }

    /// The autodiff device.
    pub(crate) fn device(&self) -> &burn::tensor::Device {
        &self.device
    }

    /// How many instances train.
    pub(crate) fn instances(&self) -> usize {
        self.rngs.len()
    }

    /// This step's learning rate and every instance's batch of `n`
    /// features, `N x B x n`, each drawn by `draw` from its own stream.
    pub(crate) fn batch(
        &mut self,
        n: usize,
        p: f64,
        draw: fn(&mut crate::rng::Rng, usize, usize, f64) -> Vec<f32>,
    ) -> (f64, burn::tensor::Tensor<3>) {
        let t = &self.train;
        let lr = crate::config::lr_at(self.step, t.steps, t.lr, t.lr_warmup_pct, t.lr_schedule);
        let (b, inst) = (t.batch_size, self.rngs.len());
        let x: Vec<f32> = self.rngs.iter_mut().flat_map(|r| draw(r, b, n, p)).collect();
        (lr, crate::data::matrix(x, inst * b, n, &self.device).reshape([inst, b, n]))
    }

    /// One AdamW step on the instances' `losses` (`[N]`): reads them back
    /// (asynchronously, together), refuses a non-finite one as divergence
    /// without touching any instance's weights, and otherwise updates `net`
    /// on their sum (each instance's parameters get only their own loss's
    /// gradient). Returns the losses before the step.
    pub(crate) async fn apply<M: burn::module::Module + Clone>(
        &mut self,
        losses: burn::tensor::Tensor<1>,
        net: &mut M,
        lr: f64,
    ) -> Result<Vec<f32>, ApdError> {
        let (values, step) = (read_vec(losses.clone()).await?, self.step);
        if let Some((i, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            // Several seeds train together: say whose loss it was.
            let which = if values.len() > 1 { format!(" of seed {}", self.seeds[i]) } else { String::new() };
            return Err(ApdError::Diverged { step, message: format!("target loss{which} became {value} at step {step}; lower target.lr") });
        }
        let grads = burn::optim::GradientsParams::from_grads(losses.sum().backward(), &*net);
        *net = self.optim.step(lr, net.clone(), grads);
        self.step += 1;
        Ok(values)
    }

    /// Steps taken so far.
    pub(crate) fn step_count(&self) -> usize {
        self.step
    }

    /// Whether all configured steps are done.
    pub(crate) fn done(&self) -> bool {
        self.step >= self.train.steps
    }
}

/// Trains whichever target the configuration describes, step by step: one
/// per seed, all seeds in one batched step (the instance dimension; one
/// seed trains exactly as it does alone, and so does each of several).
// One per run, held for its target phase: boxing the larger variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum TargetTrainer {
    /// Toy models of superposition.
    Tms(tms::TmsTrainer),
    /// Residual MLPs.
    Resid(resid::ResidTrainer),
}

impl TargetTrainer {
    /// A fresh target for `config`, seeded.
    pub fn new(config: &crate::config::ExperimentConfig, seed: u64, device: &burn::tensor::Device) -> Result<Self, ApdError> {
        Self::with_seeds(config, &[seed], device)
    }

    /// Fresh targets for `config`, one per seed, trained together.
    pub fn with_seeds(config: &crate::config::ExperimentConfig, seeds: &[u64], device: &burn::tensor::Device) -> Result<Self, ApdError> {
        if seeds.is_empty() {
            return Err(ApdError::Mismatch("a target trainer needs at least one seed".into()));
        }
        Ok(match &config.model {
            ModelConfig::Tms(_) => TargetTrainer::Tms(tms::TmsTrainer::new(config, seeds, device)?),
            ModelConfig::ResidMlp(_) => TargetTrainer::Resid(resid::ResidTrainer::new(config, seeds, device)?),
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.training().step_count()
    }

    /// Whether all configured steps are done.
    pub fn done(&self) -> bool {
        self.training().done()
    }

    fn training(&self) -> &Training {
        match self {
            TargetTrainer::Tms(t) => &t.training,
            TargetTrainer::Resid(t) => &t.training,
        }
    }

    /// One optimiser step of every instance; returns the losses before it.
    pub async fn step_all(&mut self) -> Result<Vec<f32>, ApdError> {
        match self {
            TargetTrainer::Tms(t) => t.step().await,
            TargetTrainer::Resid(t) => t.step().await,
        }
    }

    /// One optimiser step; returns the (first) instance's loss before it.
    pub async fn step(&mut self) -> Result<f32, ApdError> {
        Ok(self.step_all().await?[0])
    }

    /// The current weights of every instance, in the order of the seeds.
    pub async fn targets(&self) -> Result<Vec<Target>, ApdError> {
        match self {
            TargetTrainer::Tms(t) => t.targets().await,
            TargetTrainer::Resid(t) => t.targets().await,
        }
    }

    /// The current weights (of the first instance).
    pub async fn target(&self) -> Result<Target, ApdError> {
        Ok(self.targets().await?.swap_remove(0))
    }
}
