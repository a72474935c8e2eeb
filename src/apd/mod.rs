//! Attribution-based Parameter Decomposition (spec section 2): the paper's
//! algorithm, one training step at a time.
//!
//! - [`losses`]: the loss terms, one function each.
//! - [`attributions`]: gradient attributions in forward mode.
//! - [`topk`]: the batch top-k mask.
//! - [`components`]: the factors as parameters, their initialisation, Adam.
//! - [`additions`]: this project's additions (restarts, spare components),
//!   kept apart from the paper's algorithm.
//! - `decomposer`: APD as a [`crate::decomp::Decomposer`].
//! - this module: one training step.

pub mod additions;
pub mod attributions;
pub mod components;
mod decomposer;
pub mod losses;
pub mod topk;

use crate::config::{lr_at, AttributionSource, ExperimentConfig, ModelConfig};
use crate::data::{matrix, read_vec, resid_batch, tms_batch};
use crate::decomp::factors::over_rank;
use crate::decomp::network::masked_product;
use crate::decomp::scale::Rescale;
use crate::decomp::{Decomposition, Forward, Network};
use crate::error::ApdError;
use crate::models::Target;
use crate::rng::Rng;
use additions::{fresh_start, update_usage, Restarts};
use attributions::{attributions, resid_attributions};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use components::ApdModel;
use serde::{Deserialize, Serialize};

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

/// A loss term above this counts as divergence, like a non-finite one. With
/// Adam the parameters rarely overflow outright: a too-high learning rate
/// makes them huge and the losses stall around 1e30 instead. Sensible runs
/// stay below 10.
pub const EXPLODED_LOSS: f32 = 1e10;

/// Checks that `d` can be the components of an APD run of `config`: the
/// number of components (before or after the prune), the rank, and every
/// layer's name and shape.
pub fn check_fits(d: &Decomposition, config: &ExperimentConfig) -> Result<(), String> {
    let a = &config.apd;
    // A run stopped before its prune still holds the extra components.
    d.check_shapes(&config.model.layer_shapes(), &[a.n_components, a.n_components + a.extra_components], a.rank)
}

/// One APD run: the target (frozen), the components, the optimiser.
pub struct ApdTrainer {
    config: ExperimentConfig,
    /// The target at the working scale (`decomp::scale`): what the
    /// components are trained against.
    network: Network,
    /// How the target was brought to the working scale.
    rescale: Rescale,
    model: ApdModel,
    optim: ModuleOptimizer,
    rng: Rng,
    /// The autodiff device the components live on.
    device: Device,
    step: usize,
    last_active: Vec<u16>,
    /// Components now, `n_components + extra_components` until the prune.
    n_now: usize,
    /// Per component, a moving average of how many samples of a batch select it.
    usage: Vec<f64>,
    restarts: Restarts,
    seed: u64,
}

impl ApdTrainer {
    /// Sets up APD on `target` from fresh components.
    pub fn new(config: &ExperimentConfig, target: &Target, seed: u64, device: &Device) -> Result<Self, ApdError> {
        let (network, rescale) = Network::working(config, target, device)?;
        let ad = device.clone().autodiff();
        // A placeholder until the first start is drawn below.
        let mut t = Self {
            config: config.clone(),
            network,
            rescale,
            model: ApdModel { a: Vec::new(), b: Vec::new() },
            optim: components::adam(),
            rng: Rng::stream(seed, "apd-data"),
            device: ad,
            step: 0,
            last_active: Vec::new(),
            n_now: 0,
            usage: Vec::new(),
            restarts: Restarts::default(),
            seed,
        };
        let start = fresh_start(&t, 0);
        t.swap_start(start);
        Ok(t)
    }

    /// APD on `target` holding the factors `d` (a saved report's, at the
    /// target's own scale), ready to be looked at; [`ApdTrainer::resume`]
    /// also sets where training goes on.
    pub fn with_components(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        d: &Decomposition,
    ) -> Result<Self, ApdError> {
        let mut t = Self::new(config, target, seed, device)?;
        check_fits(d, config).map_err(ApdError::Mismatch)?;
        t.model = ApdModel::upload(&t.rescale.to_working(d), &t.device);
        t.n_now = d.n_components;
        t.usage = vec![0.0; d.n_components];
        Ok(t)
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
        let mut t = Self::with_components(config, target, seed, device, d)?;
        let a = &config.apd;
        if step > a.total_steps() {
            return Err(ApdError::Mismatch(format!("the checkpoint is at step {step}, past the run's {}", a.total_steps())));
        }
        if step < a.selection_step() {
            return Err(ApdError::Mismatch(format!(
                "the checkpoint is at step {step}, before the starts were compared (step {})",
                a.selection_step()
            )));
        }
        t.rng = Rng::stream(seed, &format!("apd-data-resumed-at-{step}"));
        Ok(t.at_step(step))
    }

    /// The same components, counted as `step` steps into the run (a saved
    /// report's place; the starts are over once it is past their comparison).
    pub fn at_step(mut self, step: usize) -> Self {
        self.step = step;
        if step >= self.config.apd.selection_step() {
            self.restarts.start = self.config.apd.restarts;
        }
        self
    }

    /// The configuration this run uses.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Whether all configured steps are done.
    pub fn done(&self) -> bool {
        self.step >= self.config.apd.total_steps()
    }

    /// Components the model has now (more than `n_components` before the prune).
    pub fn n_components_now(&self) -> usize {
        self.n_now
    }

    /// The `B x C` attributions of batch `x` under the configured source,
    /// along the components of `model` (`c` of them); `target` is the
    /// target's forward pass on `x`.
    fn attributions_of(&self, model: &ApdModel, c: usize, x: Tensor<2>, target: &Forward) -> Tensor<2> {
        let (a, b) = model.factors();
        let m = self.config.apd.rank;
        let apd_ws: Vec<Tensor<2>>;
        let apd_fwd: Forward;
        let (fwd, ws) = match self.config.apd.attribution_source {
            AttributionSource::Target => (target, &self.network.weights),
            AttributionSource::Apd => {
                apd_ws = a.iter().zip(&b).map(|(a, b)| a.clone().matmul(b.clone())).collect();
                apd_fwd = self.network.forward(x, &apd_ws);
                (&apd_fwd, &apd_ws)
            }
        };
        match &self.network.arch {
            crate::decomp::network::Arch::Tms { chain, .. } => {
                attributions(&fwd.inputs, fwd.pre[0].clone(), ws, chain, &a, &b, c, m)
            }
            crate::decomp::network::Arch::Resid { embed } => resid_attributions(fwd, ws, embed, &a, &b, c, m),
        }
    }

    /// A fresh training batch drawn from `rng`.
    fn batch(&self, rng: &mut Rng) -> Tensor<2> {
        let bsz = self.config.apd.batch_size;
        let (n, p) = (self.config.model.n_features(), self.config.model.feature_prob());
        let x = match &self.config.model {
            ModelConfig::Tms(_) => tms_batch(rng, bsz, n, p),
            ModelConfig::ResidMlp(_) => resid_batch(rng, bsz, n, p),
        };
        matrix(x, bsz, n, self.network.device())
    }

    /// One APD step (spec section 2): attributions, batch top-k, losses, Adam.
    /// Everything is computed beside the current state, which changes only
    /// once the losses are known to be finite: a step that diverges leaves
    /// the components, the optimiser, the data stream and the bookkeeping
    /// (pruning, usage, normalisation) as they were, and
    /// [`ApdError::Diverged`] says why.
    pub async fn step(&mut self) -> Result<StepStats, ApdError> {
        let cfg = self.config.apd.clone();
        let pruned = if self.prune_due() { Some(self.pruned().await?) } else { None };
        let (model, c) = match &pruned {
            Some(p) => (p.model.clone(), p.n_now),
            None => (self.model.clone(), self.n_now),
        };
        let model = if cfg.unit_norm_a { model.unit_norm_a() } else { model };
        let lr = lr_at(self.schedule_step(), cfg.steps, cfg.lr, cfg.lr_warmup_pct, cfg.lr_schedule);
        let (m, bsz) = (cfg.rank, cfg.batch_size);
        let mut rng = self.rng.clone();
        let x = self.batch(&mut rng);
        let target = self.network.target_forward(x.clone());

        let attr = read_vec(self.attributions_of(&model, c, x.clone(), &target)).await?;
        if let Some(bad) = attr.iter().find(|v| !v.is_finite()) {
            return Err(self.diverged(format!("an attribution became {bad}")));
        }
        let mask_host = topk::batch_topk_mask(&attr, topk::batch_k(cfg.topk, bsz));
        let mean_active = mask_host.iter().sum::<f32>() / bsz as f32;
        let mask = matrix(mask_host.clone(), bsz, c, &self.device);
        let mask_m = over_rank(mask.clone(), m);

        let (a, b) = model.tracked();
        let target_ws: Vec<Tensor<2>> = self.network.weights.iter().map(|w| w.clone().autodiff()).collect();
        let y_topk = self.network.forward_by(x.autodiff(), true, |layer, h| masked_product(h, layer, &a, &b, &mask_m));
        let net = &self.network;
        let l_f = losses::faithfulness_loss(&target_ws, &a, &b, &net.uses, net.n_params);
        let l_m = losses::minimality_loss(y_topk.out.clone(), target.out.clone().autodiff());
        let l_s = losses::simplicity_loss(&a, &b, &net.uses, mask, c, m, cfg.schatten_p, net.n_params);
        let mut total = l_f.clone().mul_scalar(cfg.coeff_faithfulness)
            + l_m.clone().mul_scalar(cfg.coeff_minimality)
            + l_s.clone().mul_scalar(cfg.coeff_simplicity);
        let mut parts = vec![l_f.inner(), l_m.inner(), l_s.inner()];
        if net.model.is_resid() {
            let target_acts: Vec<Tensor<2>> = target.mlp_acts(&net.model).into_iter().map(|t| t.autodiff()).collect();
            let l_a = losses::activation_loss(&y_topk.mlp_acts(&net.model), &target_acts);
            total = total + l_a.clone().mul_scalar(cfg.coeff_activation);
            parts.push(l_a.inner());
        }
        parts.push(total.clone().inner());
        let v = read_vec(Tensor::cat(parts, 0)).await?;
        if let Some(bad) = v.iter().find(|x| !x.is_finite() || x.abs() > EXPLODED_LOSS) {
            return Err(self.diverged(format!("a loss term became {bad}")));
        }

        // The step is good: apply it.
        let grads = GradientsParams::from_grads(total.backward(), &model);
        if let Some(p) = pruned {
            self.optim = p.optim;
            self.usage = p.usage;
            self.n_now = p.n_now;
        }
        self.model = self.optim.step(lr, model, grads);
        self.rng = rng;
        update_usage(&mut self.usage, &mask_host);
        self.last_active = mask_host.chunks(c).map(|row| row.iter().sum::<f32>() as u16).collect();
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

    /// The current factors at the working scale, read back.
    async fn decomposition_now(&self) -> Result<Decomposition, ApdError> {
        self.model.read(&self.network.names, self.n_now, self.config.apd.rank).await
    }
}
