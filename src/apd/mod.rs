//! Attribution-based Parameter Decomposition (spec section 2).
//!
//! - [`losses`]: the loss terms, one function each.
//! - [`attributions`]: gradient attributions in forward mode.
//! - [`topk`]: the batch top-k mask.
//! - this module: the component model, the forward passes and one training step.

pub mod attributions;
pub mod losses;
pub mod topk;

use crate::config::{lr_at, AttributionSource, ExperimentConfig, ModelConfig};
use crate::data::{matrix, resid_batch, tms_batch};
use crate::metrics::{dedicated_components, layer_mass, ResidMetrics};
use crate::models::tms::read_vec;
use crate::models::{chain_of, layer_shapes, layer_uses, ChainLayer, Target};
use crate::rng::Rng;
use crate::ApdError;
use attributions::{attributions, chain_weight, resid_attributions};
use burn::module::{Module, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The components: per decomposed matrix l, factors `A_l` (`d_in x C*m`)
/// and `B_l` (`C*m x d_out`). Column block c of `A_l` and row block c of
/// `B_l` make component c, so `A_l @ B_l` is the sum of all components.
#[derive(Module, Debug)]
pub struct ApdModel {
    /// Left factors, one per decomposed matrix.
    pub a: Vec<Param<Tensor<2>>>,
    /// Right factors, one per decomposed matrix.
    pub b: Vec<Param<Tensor<2>>>,
}

/// A forward pass with full weights, keeping what attributions and losses need.
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

/// TMS: `relu(x @ W_chain... + bias)`, keeping every layer's input.
pub fn forward_full(x: Tensor<2>, ws: &[Tensor<2>], chain: &[ChainLayer], bias: &Tensor<1>) -> Forward {
    let mut inputs = Vec::with_capacity(chain.len());
    let mut h = x;
    for &layer in chain {
        inputs.push(h.clone());
        h = h.matmul(chain_weight(ws, layer));
    }
    let pre = h + bias.clone().unsqueeze::<2>();
    Forward { inputs, out: relu(pre.clone()), pre: vec![pre] }
}

/// Residual MLP: `r = x W_E`, `r <- r + relu(r W_in^l) W_out^l`, `y = r W_E^T`,
/// with `ws` interleaved as `W_in1, W_out1, W_in2, ...`.
pub fn resid_forward_full(x: Tensor<2>, ws: &[Tensor<2>], embed: &Tensor<2>) -> Forward {
    let (mut inputs, mut pre) = (Vec::with_capacity(ws.len()), Vec::with_capacity(ws.len() / 2));
    let mut r = x.matmul(embed.clone());
    for pair in ws.chunks(2) {
        inputs.push(r.clone());
        let p = r.clone().matmul(pair[0].clone());
        let h = relu(p.clone());
        pre.push(p);
        inputs.push(h.clone());
        r = r + h.matmul(pair[1].clone());
    }
    Forward { inputs, pre, out: r.matmul(embed.clone().transpose()) }
}

/// The top-k forward (spec 2.4): every layer uses only the components its
/// sample has in `mask_m`, the `B x C` mask repeated over the rank, `B x C*m`.
pub fn forward_masked(
    x: Tensor<2>,
    a: &[Tensor<2>],
    b: &[Tensor<2>],
    chain: &[ChainLayer],
    bias: &Tensor<1>,
    mask_m: Tensor<2>,
) -> Tensor<2> {
    let mut h = x;
    for &layer in chain {
        h = match layer {
            ChainLayer::Own(l) => (h.matmul(a[l].clone()) * mask_m.clone()).matmul(b[l].clone()),
            ChainLayer::Tied(l) => {
                (h.matmul(b[l].clone().transpose()) * mask_m.clone()).matmul(a[l].clone().transpose())
            }
        };
    }
    relu(h + bias.clone().unsqueeze::<2>())
}

/// The residual MLP's top-k forward: the output and each layer's MLP
/// activations `relu(pre_l)` (for the activation reconstruction loss).
pub fn resid_forward_masked(
    x: Tensor<2>,
    a: &[Tensor<2>],
    b: &[Tensor<2>],
    embed: &Tensor<2>,
    mask_m: Tensor<2>,
) -> (Tensor<2>, Vec<Tensor<2>>) {
    let mut r = x.matmul(embed.clone());
    let mut acts = Vec::with_capacity(a.len() / 2);
    for l in (0..a.len()).step_by(2) {
        let h = relu((r.clone().matmul(a[l].clone()) * mask_m.clone()).matmul(b[l].clone()));
        acts.push(h.clone());
        r = r + (h.matmul(a[l + 1].clone()) * mask_m.clone()).matmul(b[l + 1].clone());
    }
    (r.matmul(embed.clone().transpose()), acts)
}

/// The `B x C` top-k mask repeated over each component's rank, `B x C*m`,
/// the layout of the factors' inner dimension.
fn over_rank(mask: Tensor<2>, rank: usize) -> Tensor<2> {
    let [bsz, c] = mask.dims();
    mask.reshape([bsz, c, 1]).repeat_dim(2, rank).reshape([bsz, c * rank])
}

/// The fixed parts of a target network, on the device.
#[derive(Clone)]
enum Arch {
    /// TMS: a chain of (possibly tied) matrices and an output bias.
    Tms { chain: Vec<ChainLayer>, bias: Tensor<1> },
    /// Residual MLP: the embedding `W_E` (`n x d_resid`).
    Resid { embed: Tensor<2> },
}

/// Loss values and state after one APD step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StepStats {
    /// Index of the step these losses belong to (0-based).
    pub step: usize,
    /// Learning rate used (f32 like every figure of a report: serde_json's
    /// default float parser can be one ulp off on long f64s, so f64s would
    /// not survive a JSON round trip exactly).
    pub lr: f32,
    /// L_f.
    pub faithfulness: f32,
    /// L_m.
    pub minimality: f32,
    /// L_s.
    pub simplicity: f32,
    /// L_a, for residual MLPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<f32>,
    /// Weighted sum.
    pub total: f32,
    /// Mean number of active components per sample in this batch.
    pub mean_active: f32,
}

/// The learned factors, read back to the host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Decomposition {
    /// C.
    pub n_components: usize,
    /// m.
    pub rank: usize,
    /// One entry per decomposed matrix.
    pub layers: Vec<FactorPair>,
}

/// The factors of one decomposed matrix, row-major.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FactorPair {
    /// Matrix name (`W`, `H1`, ...).
    pub name: String,
    /// Rows of the matrix.
    pub d_in: usize,
    /// Columns of the matrix.
    pub d_out: usize,
    /// `d_in x C*m`, row-major.
    pub a: Vec<f32>,
    /// `C*m x d_out`, row-major.
    pub b: Vec<f32>,
}

impl Decomposition {
    /// Checks that these factors can be the components of a run of `config`:
    /// the number of components (before or after the prune), the rank, and
    /// every layer's name and shape. The error says what does not fit.
    pub fn check_fits(&self, config: &ExperimentConfig) -> Result<(), String> {
        let apd = &config.apd;
        let (c, m) = (self.n_components, apd.rank);
        // A run stopped before its prune still holds the extra components.
        if (c != apd.n_components && c != apd.n_components + apd.extra_components) || self.rank != m {
            return Err("`components` do not match the configuration's n_components and rank".into());
        }
        let shapes = layer_shapes(&config.model);
        if self.layers.len() != shapes.len() {
            return Err(format!("`components` has {} layers, the model {}", self.layers.len(), shapes.len()));
        }
        for (f, (name, d_in, d_out)) in self.layers.iter().zip(shapes) {
            if f.name != name || f.d_in != d_in || f.d_out != d_out || f.a.len() != d_in * c * m || f.b.len() != c * m * d_out {
                return Err(format!("factors of layer `{name}` have the wrong shape"));
            }
        }
        Ok(())
    }
}

impl FactorPair {
    /// Component c as a row-major `d_in x d_out` matrix.
    pub fn component(&self, c: usize, n_components: usize, rank: usize) -> Vec<f32> {
        let cm = n_components * rank;
        let mut p = vec![0.0f32; self.d_in * self.d_out];
        for i in 0..self.d_in {
            for j in 0..rank {
                let aij = self.a[i * cm + c * rank + j];
                let brow = &self.b[(c * rank + j) * self.d_out..(c * rank + j + 1) * self.d_out];
                for (k, bv) in brow.iter().enumerate() {
                    p[i * self.d_out + k] += aij * bv;
                }
            }
        }
        p
    }
}

/// A loss term above this counts as divergence, like a non-finite one. With
/// Adam the parameters rarely overflow outright: a too-high learning rate
/// makes them huge and the losses stall around 1e30 instead. Sensible runs
/// stay below 10.
pub const EXPLODED_LOSS: f32 = 1e10;

/// Adam as the reference uses it (AdamW with no weight decay, torch's epsilon).
fn adam() -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(0.0).with_epsilon(1e-8).init()
}

/// Decay of the moving average of component usage (about the last 200 steps).
const USAGE_DECAY: f64 = 0.995;

/// One APD run: the target (frozen), the components, the optimiser.
pub struct ApdTrainer {
    config: ExperimentConfig,
    arch: Arch,
    times: Vec<usize>,
    n_params: usize,
    names: Vec<String>,
    target_ws: Vec<Tensor<2>>,
    model: ApdModel,
    optim: ModuleOptimizer,
    rng: Rng,
    device: Device,
    step: usize,
    last_active: Vec<u16>,
    /// Components now, `n_components + extra_components` until the prune.
    n_now: usize,
    /// Per component, a moving average of how many samples of a batch select it.
    usage: Vec<f64>,
    /// Which start is training (`apd.restarts`); stays at the last one
    /// once they have been compared.
    start: usize,
    /// Sum and count of the minimality losses over the last quarter of this start.
    start_minimality: (f64, usize),
    /// The best start so far, kept whole (Adam's moments too) until the comparison.
    best: Option<SavedStart>,
    /// Each finished start's score (mean minimality loss over its last quarter).
    start_scores: Vec<f64>,
    /// The start that won the comparison.
    chosen: Option<usize>,
    seed: u64,
}

/// What a start is made of beyond the step count.
struct StartState {
    model: ApdModel,
    optim: ModuleOptimizer,
    usage: Vec<f64>,
    n_now: usize,
}

/// A start set aside while the next ones train.
struct SavedStart {
    index: usize,
    score: f64,
    state: StartState,
}

/// A start as it begins: all `n_components + extra_components` components,
/// fresh Adam. Factors are initialised as the reference's xavier-normal on
/// its stacked `[instances=12, C, d_in, m]` tensors, i.e. std
/// `sqrt(2 / (d_in m (C + 12)))` for A and `sqrt(2 / (m d_out (C + 12)))` for
/// B (0.089 and 0.14 on tms-5-2), for matrices of `shapes` (`d_in, d_out`).
/// Start 0 draws from the stream runs without restarts use.
fn fresh_start(config: &ExperimentConfig, shapes: &[(usize, usize)], seed: u64, start: usize, ad: &Device) -> StartState {
    let (c, m) = (config.apd.n_components + config.apd.extra_components, config.apd.rank);
    let mut init = match start {
        0 => Rng::stream(seed, "apd-init"),
        s => Rng::stream(seed, &format!("apd-init-start-{s}")),
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &(d_in, d_out) in shapes {
        let std_a = (2.0 / (d_in * m * (c + 12)) as f32).sqrt();
        let std_b = (2.0 / (m * d_out * (c + 12)) as f32).sqrt();
        // Draw per component so that the layout matches [C, d_in, m] draws.
        let mut av = vec![0.0f32; d_in * c * m];
        for ci in 0..c {
            for i in 0..d_in {
                for j in 0..m {
                    av[i * c * m + ci * m + j] = init.normal() * std_a;
                }
            }
        }
        let bv = init.normal_vec(c * m * d_out, std_b);
        a.push(Param::from_tensor(matrix(av, d_in, c * m, ad).require_grad()));
        b.push(Param::from_tensor(matrix(bv, c * m, d_out, ad).require_grad()));
    }
    StartState { model: ApdModel { a, b }, optim: adam(), usage: vec![0.0; c], n_now: c }
}

impl ApdTrainer {
    /// Sets up APD on `target`, as [`fresh_start`] begins it.
    pub fn new(config: &ExperimentConfig, target: &Target, seed: u64, device: &Device) -> Result<Self, ApdError> {
        config.validate()?;
        if target.model != config.model {
            return Err(ApdError::Mismatch(format!(
                "the target is a {:?} but the configuration asks for {:?}",
                target.model, config.model
            )));
        }
        let ad = device.clone().autodiff();
        let inner = device.clone().inner();
        let shapes: Vec<(usize, usize)> = target.layers.iter().map(|w| (w.d_in, w.d_out)).collect();
        let start = fresh_start(config, &shapes, seed, 0, &ad);
        let times = layer_uses(&config.model);
        let n_params = target.layers.iter().zip(&times).map(|(w, t)| w.d_in * w.d_out * t).sum();
        let target_ws = target.layers.iter().map(|w| matrix(w.values.clone(), w.d_in, w.d_out, &inner)).collect();
        let arch = match &config.model {
            ModelConfig::Tms(_) => Arch::Tms {
                chain: chain_of(&config.model),
                bias: Tensor::<1>::from_floats(target.bias.as_slice(), &inner),
            },
            ModelConfig::ResidMlp(r) => {
                Arch::Resid { embed: matrix(target.embed.clone(), r.n_features, r.d_resid, &inner) }
            }
        };
        Ok(Self {
            config: config.clone(),
            arch,
            times,
            n_params,
            names: target.layers.iter().map(|w| w.name.clone()).collect(),
            target_ws,
            model: start.model,
            optim: start.optim,
            rng: Rng::stream(seed, "apd-data"),
            device: ad,
            step: 0,
            last_active: Vec::new(),
            n_now: start.n_now,
            usage: start.usage,
            start: 0,
            start_minimality: (0.0, 0),
            best: None,
            start_scores: Vec::new(),
            chosen: None,
            seed,
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Whether all configured steps are done.
    pub fn done(&self) -> bool {
        self.step >= self.config.apd.total_steps()
    }

    /// Which start is training and how many there are, while the starts
    /// are still to be compared (`apd.restarts`); `None` after, or without restarts.
    pub fn start(&self) -> Option<(usize, usize)> {
        let a = &self.config.apd;
        (a.restarts > 0 && self.step < a.selection_step()).then_some((self.start, a.restarts + 1))
    }

    /// The step within the schedule (warmup, decay, prune) of the current
    /// start: the losing starts' steps do not count.
    fn schedule_step(&self) -> usize {
        self.step - self.start * self.config.apd.restart_len()
    }

    /// Called after each step while starts are compared: keeps score of
    /// this start and, at its end, sets it aside if it is the best so far,
    /// then begins the next start or, after the last, continues the best.
    fn track_start(&mut self, minimality: f32) {
        let a = &self.config.apd;
        let len = a.restart_len();
        let s = self.schedule_step();
        if s > len - (len / 4).max(1) {
            self.start_minimality.0 += minimality as f64;
            self.start_minimality.1 += 1;
        }
        if s < len {
            return;
        }
        let score = self.start_minimality.0 / self.start_minimality.1.max(1) as f64;
        self.start_minimality = (0.0, 0);
        self.start_scores.push(score);
        // Ties go to the earlier start, so the choice is deterministic.
        let better = self.best.as_ref().is_none_or(|b| score < b.score);
        if self.start == self.config.apd.restarts {
            self.chosen = Some(if better { self.start } else { self.best.as_ref().expect("kept").index });
            if let Some(best) = self.best.take().filter(|_| !better) {
                self.swap_start(best.state);
            }
            return;
        }
        let shapes: Vec<(usize, usize)> = self.target_ws.iter().map(|w| (w.dims()[0], w.dims()[1])).collect();
        let fresh = fresh_start(&self.config, &shapes, self.seed, self.start + 1, &self.device);
        let finished = self.swap_start(fresh);
        if better {
            self.best = Some(SavedStart { index: self.start, score, state: finished });
        }
        self.start += 1;
    }

    /// The scores of the starts finished so far (`apd.restarts`): the mean
    /// minimality loss over the last quarter of each; the lowest goes on.
    pub fn start_scores(&self) -> &[f64] {
        &self.start_scores
    }

    /// The start that won the comparison, once it has been made.
    pub fn chosen_start(&self) -> Option<usize> {
        self.chosen
    }

    /// Makes `s` the current start and returns the one it replaces.
    fn swap_start(&mut self, s: StartState) -> StartState {
        StartState {
            model: std::mem::replace(&mut self.model, s.model),
            optim: std::mem::replace(&mut self.optim, s.optim),
            usage: std::mem::replace(&mut self.usage, s.usage),
            n_now: std::mem::replace(&mut self.n_now, s.n_now),
        }
    }

    /// Continues a decomposition from saved factors `d` after `step` steps
    /// (a checkpoint, e.g. on another device after a GPU was lost). Adam's
    /// moments are not saved, so they restart, and the data stream is a new
    /// one keyed by the step: a resumed run is sound but not bit-identical
    /// to an uninterrupted one.
    pub fn resume(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        d: &Decomposition,
        step: usize,
    ) -> Result<Self, ApdError> {
        let mut t = Self::new(config, target, seed, device)?;
        d.check_fits(config).map_err(ApdError::Mismatch)?;
        let a = &config.apd;
        if step > a.total_steps() {
            return Err(ApdError::Mismatch(format!("the checkpoint is at step {step}, past the run's {}", a.total_steps())));
        }
        if step < a.selection_step() {
            return Err(ApdError::Mismatch(format!(
                "the checkpoint is at step {step}, before the starts were compared (step {})", a.selection_step()
            )));
        }
        let (c, cm) = (d.n_components, d.n_components * d.rank);
        for (l, f) in d.layers.iter().enumerate() {
            t.model.a[l] = Param::from_tensor(matrix(f.a.clone(), f.d_in, cm, &t.device).require_grad());
            t.model.b[l] = Param::from_tensor(matrix(f.b.clone(), cm, f.d_out, &t.device).require_grad());
        }
        t.n_now = c;
        t.usage = vec![0.0; c];
        t.step = step;
        t.start = a.restarts;
        t.rng = Rng::stream(seed, &format!("apd-data-resumed-at-{step}"));
        Ok(t)
    }

    /// The configuration this run uses.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    fn batch(&mut self) -> Tensor<2> {
        let bsz = self.config.apd.batch_size;
        let (n, p) = (self.config.model.n_features(), self.config.model.feature_prob());
        let x = match &self.config.model {
            ModelConfig::Tms(_) => tms_batch(&mut self.rng, bsz, n, p),
            ModelConfig::ResidMlp(_) => resid_batch(&mut self.rng, bsz, n, p),
        };
        matrix(x, bsz, n, &self.device.clone().inner())
    }

    fn factors_without_grad(&self) -> (Vec<Tensor<2>>, Vec<Tensor<2>>) {
        let a = self.model.a.iter().map(|p| p.val().inner()).collect();
        let b = self.model.b.iter().map(|p| p.val().inner()).collect();
        (a, b)
    }

    /// The `B x C` attributions of batch `x` under the configured source.
    pub fn attributions(&self, x: Tensor<2>, target: &Forward) -> Tensor<2> {
        let (a, b) = self.factors_without_grad();
        let (c, m) = (self.n_now, self.config.apd.rank);
        let apd_ws: Vec<Tensor<2>>;
        let apd_fwd: Forward;
        let (fwd, ws) = match self.config.apd.attribution_source {
            AttributionSource::Target => (target, &self.target_ws),
            AttributionSource::Apd => {
                apd_ws = a.iter().zip(&b).map(|(a, b)| a.clone().matmul(b.clone())).collect();
                apd_fwd = self.forward_with(x, &apd_ws);
                (&apd_fwd, &apd_ws)
            }
        };
        match &self.arch {
            Arch::Tms { chain, .. } => attributions(&fwd.inputs, fwd.pre[0].clone(), ws, chain, &a, &b, c, m),
            Arch::Resid { embed } => resid_attributions(fwd, ws, embed, &a, &b, c, m),
        }
    }

    /// The forward pass of the target's architecture with weights `ws`.
    fn forward_with(&self, x: Tensor<2>, ws: &[Tensor<2>]) -> Forward {
        match &self.arch {
            Arch::Tms { chain, bias } => forward_full(x, ws, chain, bias),
            Arch::Resid { embed } => resid_forward_full(x, ws, embed),
        }
    }

    /// The target's forward pass on `x`.
    pub fn target_forward(&self, x: Tensor<2>) -> Forward {
        self.forward_with(x, &self.target_ws)
    }

    /// One APD step (spec section 2): attributions, batch top-k, losses, Adam.
    /// A step whose losses are not finite is not applied: the components stay
    /// as they were and [`ApdError::Diverged`] says why.
    pub async fn step(&mut self) -> Result<StepStats, ApdError> {
        let cfg = self.config.apd.clone();
        if self.n_now > cfg.n_components && self.schedule_step() >= (cfg.prune_at_pct * cfg.steps as f64) as usize {
            self.prune().await?;
        }
        if cfg.unit_norm_a {
            self.normalise_a();
        }
        let lr = lr_at(self.schedule_step(), cfg.steps, cfg.lr, cfg.lr_warmup_pct, cfg.lr_schedule);
        let (c, m, bsz) = (self.n_now, cfg.rank, cfg.batch_size);
        let x = self.batch();
        let target = self.target_forward(x.clone());

        let attr = read_vec(self.attributions(x.clone(), &target)).await?;
        if let Some(bad) = attr.iter().find(|v| !v.is_finite()) {
            return Err(self.diverged(format!("an attribution became {bad}")));
        }
        let k = topk::batch_k(cfg.topk, bsz);
        let mask_host = topk::batch_topk_mask(&attr, k);
        let mean_active = mask_host.iter().sum::<f32>() / bsz as f32;
        let mut counts = vec![0.0f64; c];
        self.last_active.clear();
        for row in mask_host.chunks(c) {
            self.last_active.push(row.iter().sum::<f32>() as u16);
            for (u, &v) in counts.iter_mut().zip(row) {
                *u += v as f64;
            }
        }
        for (u, n) in self.usage.iter_mut().zip(counts) {
            *u = USAGE_DECAY * *u + (1.0 - USAGE_DECAY) * n;
        }
        let mask = matrix(mask_host, bsz, c, &self.device);
        let mask_m = over_rank(mask.clone(), m);

        let a: Vec<Tensor<2>> = self.model.a.iter().map(|p| p.val()).collect();
        let b: Vec<Tensor<2>> = self.model.b.iter().map(|p| p.val()).collect();
        let target_ws: Vec<Tensor<2>> = self.target_ws.iter().map(|w| w.clone().autodiff()).collect();
        let (y_topk, l_a) = match &self.arch {
            Arch::Tms { chain, bias } => {
                (forward_masked(x.autodiff(), &a, &b, chain, &bias.clone().autodiff(), mask_m), None)
            }
            Arch::Resid { embed } => {
                let (y, acts) = resid_forward_masked(x.autodiff(), &a, &b, &embed.clone().autodiff(), mask_m);
                let target_acts: Vec<Tensor<2>> = target.pre.iter().map(|p| relu(p.clone()).autodiff()).collect();
                (y, Some(losses::activation_loss(&acts, &target_acts)))
            }
        };
        let l_f = losses::faithfulness_loss(&target_ws, &a, &b, &self.times, self.n_params);
        let l_m = losses::minimality_loss(y_topk, target.out.autodiff());
        let l_s = losses::simplicity_loss(&a, &b, &self.times, mask, c, m, cfg.schatten_p, self.n_params);
        let mut total = l_f.clone().mul_scalar(cfg.coeff_faithfulness)
            + l_m.clone().mul_scalar(cfg.coeff_minimality)
            + l_s.clone().mul_scalar(cfg.coeff_simplicity);
        let mut parts = vec![l_f.inner(), l_m.inner(), l_s.inner()];
        if let Some(l_a) = l_a {
            total = total + l_a.clone().mul_scalar(cfg.coeff_activation);
            parts.push(l_a.inner());
        }
        parts.push(total.clone().inner());
        let values = Tensor::cat(parts, 0);
        let v = read_vec(values).await?;
        if let Some(bad) = v.iter().find(|x| !x.is_finite() || x.abs() > EXPLODED_LOSS) {
            return Err(self.diverged(format!("a loss term became {bad}")));
        }
        let grads = GradientsParams::from_grads(total.backward(), &self.model);
        let model = self.model.clone();
        self.model = self.optim.step(lr, model, grads);
        let stats = StepStats {
            step: self.step,
            lr: lr as f32,
            faithfulness: v[0],
            minimality: v[1],
            simplicity: v[2],
            activation: if v.len() == 5 { Some(v[3]) } else { None },
            total: v[v.len() - 1],
            mean_active,
        };
        self.step += 1;
        if cfg.restarts > 0 && self.step <= cfg.selection_step() {
            self.track_start(v[1]);
        }
        Ok(stats)
    }

    /// The reference's `unit_norm_matrices`: every column of every A
    /// rescaled to unit norm. `Param::map` keeps the parameter ids, so Adam's
    /// moments carry over.
    fn normalise_a(&mut self) {
        let a = std::mem::take(&mut self.model.a);
        self.model.a = a
            .into_iter()
            .map(|p| {
                p.map(|t| {
                    let v = t.inner();
                    let norm = v.clone().powi_scalar(2).sum_dim(0).sqrt().clamp_min(1e-12);
                    (v / norm).autodiff().require_grad()
                })
            })
            .collect();
    }

    fn diverged(&self, what: String) -> ApdError {
        ApdError::Diverged {
            step: self.step,
            message: format!(
                "{what} at APD step {}; the components were kept as they were before it. \
                 Try a lower apd.lr (now {}).",
                self.step, self.config.apd.lr
            ),
        }
    }

    /// Per sample of the last batch, how many components were active.
    pub fn last_active_counts(&self) -> &[u16] {
        &self.last_active
    }

    /// The `n x C` attributions (row-major) of the inputs with exactly one
    /// feature on, at `value`: which components each feature uses.
    pub async fn one_hot_attributions(&self, value: f32) -> Result<Vec<f32>, ApdError> {
        let x = self.one_feature_inputs(0..self.config.model.n_features(), &[value]);
        let target = self.target_forward(x.clone());
        read_vec(self.attributions(x, &target)).await
    }

    /// The output of the top-k model on `x` (no gradients): attributions,
    /// batch top-k over `x`'s rows with the configured `topk`, masked forward.
    pub async fn topk_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError> {
        let bsz = x.dims()[0];
        let (c, m) = (self.n_now, self.config.apd.rank);
        let target = self.target_forward(x.clone());
        let attr = read_vec(self.attributions(x.clone(), &target)).await?;
        let mask = topk::batch_topk_mask(&attr, topk::batch_k(self.config.apd.topk, bsz));
        let mask_m = over_rank(matrix(mask, bsz, c, &self.device.clone().inner()), m);
        let (a, b) = self.factors_without_grad();
        Ok(match &self.arch {
            Arch::Tms { chain, bias } => forward_masked(x, &a, &b, chain, bias, mask_m),
            Arch::Resid { embed } => resid_forward_masked(x, &a, &b, embed, mask_m).0,
        })
    }

    /// Inputs with exactly one feature on: for each feature of `features`
    /// in turn, one row per entry of `values` (`len(features) * len(values) x n`).
    fn one_feature_inputs(&self, features: std::ops::Range<usize>, values: &[f32]) -> Tensor<2> {
        let n = self.config.model.n_features();
        let rows = features.len() * values.len();
        let mut x = vec![0.0f32; rows * n];
        for (f, feature) in features.enumerate() {
            for (k, &v) in values.iter().enumerate() {
                x[(f * values.len() + k) * n + feature] = v;
            }
        }
        matrix(x, rows, n, &self.device.clone().inner())
    }

    /// Output `feature` of the target and of the top-k model as that feature
    /// alone sweeps `values` (the page's response curve).
    pub async fn response_curve(&self, feature: usize, values: &[f32]) -> Result<(Vec<f32>, Vec<f32>), ApdError> {
        let n = self.config.model.n_features();
        if feature >= n {
            return Err(ApdError::Format(format!("feature {feature} does not exist; the model has {n}")));
        }
        let x = self.one_feature_inputs(feature..feature + 1, values);
        let pick = |y: Tensor<2>| y.slice([0..values.len(), feature..feature + 1]).reshape([values.len()]);
        let target = read_vec(pick(self.target_forward(x.clone()).out)).await?;
        let topk = read_vec(pick(self.topk_output(x).await?)).await?;
        Ok((target, topk))
    }

    /// The residual MLP figures of spec section 4 (see [`ResidMetrics`]) for
    /// the current components, `d` (as [`ApdTrainer::decomposition`] read them).
    pub async fn resid_metrics(&self, d: &Decomposition) -> Result<ResidMetrics, ApdError> {
        let n = self.config.model.n_features();
        let c = self.n_now;
        let plus = self.one_hot_attributions(0.75).await?;
        let minus = self.one_hot_attributions(-0.75).await?;
        let attr: Vec<f32> = plus.iter().zip(&minus).map(|(a, b)| a + b).collect();
        let (dedicated, shares, n_dedicated, mean_share) = dedicated_components(&attr, c);
        // One feature on at a time, at 8 values spread over [-1, 1].
        let grid: Vec<f32> = (0..8).map(|k| -1.0 + 2.0 * (k as f32 + 0.5) / 8.0).collect();
        let x = self.one_feature_inputs(0..n, &grid);
        let labels = crate::models::resid::resid_labels(x.clone());
        let mse = |y: Tensor<2>| (y - labels.clone()).powi_scalar(2).mean();
        let target_loss = read_vec(mse(self.target_forward(x.clone()).out)).await?[0];
        let topk_loss = read_vec(mse(self.topk_output(x).await?)).await?[0];
        Ok(ResidMetrics {
            n_components: c,
            layer_mass: layer_mass(d, &dedicated),
            attributions: attr,
            dedicated,
            shares,
            n_dedicated,
            mean_share,
            topk_loss,
            target_loss,
        })
    }

    /// The current factors, read back to the host.
    pub async fn decomposition(&self) -> Result<Decomposition, ApdError> {
        let mut layers = Vec::new();
        for (l, name) in self.names.iter().enumerate() {
            let [d_in, _] = self.model.a[l].val().dims();
            let [_, d_out] = self.model.b[l].val().dims();
            layers.push(FactorPair {
                name: name.clone(),
                d_in,
                d_out,
                a: read_vec(self.model.a[l].val().inner()).await?,
                b: read_vec(self.model.b[l].val().inner()).await?,
            });
        }
        Ok(Decomposition { n_components: self.n_now, rank: self.config.apd.rank, layers })
    }

    /// Components the model has now (more than `n_components` before the prune).
    pub fn n_components_now(&self) -> usize {
        self.n_now
    }

    /// Drops the extra components that top-k selected least often lately
    /// (by the moving average in `usage`), keeping `n_components`, and restarts Adam's moments for the rest.
    /// Faithfulness then makes the kept components take up what the dropped
    /// ones held.
    async fn prune(&mut self) -> Result<(), ApdError> {
        let keep_n = self.config.apd.n_components;
        let m = self.config.apd.rank;
        let mut order: Vec<usize> = (0..self.n_now).collect();
        // Most used first; ties to the lower index, so the choice is deterministic.
        order.sort_by(|&i, &j| self.usage[j].total_cmp(&self.usage[i]).then(i.cmp(&j)));
        let mut keep: Vec<usize> = order[..keep_n].to_vec();
        keep.sort();
        let d = self.decomposition().await?;
        let cm_old = self.n_now * m;
        let cm = keep_n * m;
        for (l, f) in d.layers.iter().enumerate() {
            let mut a = Vec::with_capacity(f.d_in * cm);
            for i in 0..f.d_in {
                for &c in &keep {
                    a.extend_from_slice(&f.a[i * cm_old + c * m..i * cm_old + (c + 1) * m]);
                }
            }
            let mut b = Vec::with_capacity(cm * f.d_out);
            for &c in &keep {
                b.extend_from_slice(&f.b[c * m * f.d_out..(c + 1) * m * f.d_out]);
            }
            self.model.a[l] = Param::from_tensor(matrix(a, f.d_in, cm, &self.device).require_grad());
            self.model.b[l] = Param::from_tensor(matrix(b, cm, f.d_out, &self.device).require_grad());
        }
        self.optim = adam();
        self.n_now = keep_n;
        self.usage = vec![0.0; keep_n];
        Ok(())
    }
}
