//! Attribution-based Parameter Decomposition (Braun et al. 2025, section 2): the paper's
//! algorithm, one training step at a time.
//!
//! - [`losses`]: the loss terms, one function each.
//! - [`attributions`]: gradient attributions in forward mode.
//! - [`topk`]: the batch top-k mask.
//! - [`components`]: the factors as parameters, their initialisation, Adam.
//! - [`additions`]: this project's additions (restarts, spare components),
//!   kept apart from the paper's algorithm.
//! - `decomposer`: APD as a [`crate::decomp::Decomposer`].
//! - `instances`: a batch of seeds split into runs of their own.
//! - `method`: APD as a [`crate::decomp::Method`], what runs and reports drive.
//! - this module: one training step.
//!
//! A trainer decomposes N targets side by side (issue 14's instances: one
//! seed each, batched matrix products, one readback for all top-k
//! selections); each instance computes exactly what it would alone, and
//! one instance is the ordinary run.

pub mod additions;
pub mod attributions;
pub mod components;
mod decomposer;
pub mod host;
mod instances;
pub mod losses;
mod method;
pub mod topk;

use crate::config::{lr_at, AttributionSource, ExperimentConfig};
use crate::data::{matrix, read_vec, training_batch};
use crate::decomp::factors::over_rank;
use crate::decomp::network::masked_product;
use crate::decomp::scale::Rescale;
use crate::decomp::{Decomposition, Forward, Network};
use crate::error::ApdError;
use crate::models::Target;
use crate::rng::Rng;
use additions::{fresh_start, update_usage, Restarts};
use attributions::{attributions, resid_attributions};
use burn::tensor::{Device, Tensor};
use components::{Adam, ApdModel};
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

/// One APD run, or N side by side: the targets (frozen), the components,
/// the optimiser.
pub struct ApdTrainer {
    config: ExperimentConfig,
    /// The targets at the working scale (`decomp::scale`), side by side:
    /// what the components are trained against.
    network: Network<3>,
    /// The first instance's alone, for the probes (a [`crate::decomp::Decomposer`]
    /// is one decomposition: [`ApdTrainer::into_instances`] splits a batch).
    single: Network,
    /// How each target was brought to the working scale.
    rescales: Vec<Rescale>,
    model: ApdModel,
    optim: Adam,
    /// Each instance's data stream.
    rngs: Vec<Rng>,
    /// The autodiff device the components live on.
    device: Device,
    step: usize,
    /// Per instance, per sample of the last batch, the active components.
    last_active: Vec<Vec<u16>>,
    /// Components now, `n_components + extra_components` until the prune.
    n_now: usize,
    /// Per instance and component, a moving average of how many samples of
    /// a batch select it.
    usage: Vec<Vec<f64>>,
    /// Each instance's comparison of the starts (they run in step, so each
    /// instance may keep a different one).
    restarts: Restarts,
    seeds: Vec<u64>,
    /// The targets' matrices (each with every instance's) and output bias
    /// on the host, read once, for [`host`]'s attributions.
    host_target: Option<(Vec<Vec<f32>>, Vec<f32>)>,
}

impl ApdTrainer {
    /// Sets up APD on `target` from fresh components.
    pub fn new(config: &ExperimentConfig, target: &Target, seed: u64, device: &Device) -> Result<Self, ApdError> {
        Self::with_seeds(config, std::slice::from_ref(target), &[seed], device)
    }

    /// Sets up APD on several targets side by side, `targets[i]` with
    /// `seeds[i]` (its initial components, data and restarts are those of
    /// that seed alone).
    pub fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        if targets.is_empty() || targets.len() != seeds.len() {
            return Err(ApdError::Mismatch(format!("{} targets for {} seeds: APD needs one per seed", targets.len(), seeds.len())));
        }
        let (network, rescales) = Network::<3>::working_all(config, targets, device)?;
        let single = network.single(0);
        let ad = device.clone().autodiff();
        // A placeholder until the first start is drawn below.
        let mut t = Self {
            config: config.clone(),
            network,
            single,
            rescales,
            model: ApdModel::empty(),
            optim: Adam::new(),
            rngs: seeds.iter().map(|&s| Rng::stream(s, "apd-data")).collect(),
            device: ad,
            step: 0,
            last_active: vec![Vec::new(); seeds.len()],
            n_now: 0,
            usage: Vec::new(),
            restarts: Restarts::new(seeds.len()),
            seeds: seeds.to_vec(),
            host_target: None,
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
        t.model = ApdModel::upload(&[t.rescales[0].to_working(d)], &t.device);
        t.n_now = d.n_components;
        t.usage = vec![vec![0.0; d.n_components]];
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
        t.rngs = vec![Rng::stream(seed, &format!("apd-data-resumed-at-{step}"))];
        Ok(t.at_step(step))
    }

    /// The same components, counted as `step` steps into the run (a saved
    /// report's place; the starts are over once it is past their comparison).
    pub fn at_step(mut self, step: usize) -> Self {
        self.step = step;
        if step >= self.config.apd.selection_step() {
            for r in &mut self.restarts.each {
                r.start = self.config.apd.restarts;
            }
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

    /// How many decompositions run side by side.
    pub fn instances(&self) -> usize {
        self.seeds.len()
    }

    /// The `N x B x C` attributions of batch `x` under the configured
    /// source, along the components of `model` (`c` of them); `target` is
    /// the targets' forward pass on `x`.
    fn attributions_of(&self, model: &ApdModel, c: usize, x: Tensor<3>, target: &Forward<3>) -> Tensor<3> {
        let (a, b) = model.factors();
        let m = self.config.apd.rank;
        let apd_ws: Vec<Tensor<3>>;
        let apd_fwd: Forward<3>;
        let (fwd, ws) = match self.config.apd.attribution_source {
            AttributionSource::Target => (target, &self.network.weights),
            AttributionSource::Apd => {
                apd_ws = a.iter().zip(&b).map(|(a, b)| a.clone().matmul(b.clone())).collect();
                apd_fwd = self.network.forward(x, &apd_ws);
                (&apd_fwd, &apd_ws)
            }
        };
        match &self.network.arch {
            crate::decomp::network::Arch::Tms { chain, .. } => attributions(&fwd.inputs, fwd.pre[0].clone(), ws, chain, &a, &b, c, m),
            crate::decomp::network::Arch::Resid { embed } => resid_attributions(fwd, ws, embed, &a, &b, c, m),
        }
    }

    /// A fresh training batch drawn from `rng`, row-major `B x n`.
    fn draw(&self, rng: &mut Rng) -> Vec<f32> {
        training_batch(&self.config.model, rng, self.config.apd.batch_size)
    }

    /// One APD step of every instance (the APD paper, section 2.2): attributions,
    /// batch top-k, losses, Adam; the losses of each, in instance order.
    /// Everything is computed beside the current state, which changes only
    /// once every instance's losses are known to be finite: a step that
    /// diverges leaves the components, the optimiser, the data streams and
    /// the bookkeeping (pruning, usage, normalisation) as they were, and
    /// [`ApdError::Diverged`] says why (and for which seed, if several).
    pub async fn step_all(&mut self) -> Result<Vec<StepStats>, ApdError> {
        let cfg = self.config.apd.clone();
        let pruned = if self.prune_due() { Some(self.pruned().await?) } else { None };
        let (model, c) = match &pruned {
            Some(p) => (p.model.clone(), p.n_now),
            None => (self.model.clone(), self.n_now),
        };
        let model = if cfg.unit_norm_a { model.unit_norm_a() } else { model };
        let lr = lr_at(self.schedule_step(), cfg.steps, cfg.lr, cfg.lr_warmup_pct, cfg.lr_schedule);
        let (m, bsz, inst, n) = (cfg.rank, cfg.batch_size, self.seeds.len(), self.config.model.n_features());
        let mut rngs = self.rngs.clone();
        let mut x_host = Vec::with_capacity(inst * bsz * n);
        for r in rngs.iter_mut() {
            x_host.extend(self.draw(r));
        }
        let x = matrix(x_host.clone(), inst * bsz, n, self.network.device()).reshape([inst, bsz, n]);
        let target = self.network.target_forward(x.clone());

        let attr = match self.host_attributions(&model, c, &x_host).await? {
            Some(attr) => attr,
            None => read_vec(self.attributions_of(&model, c, x.clone(), &target)).await?,
        };
        if let Some((i, bad)) = attr.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(self.diverged(i / (bsz * c), format!("an attribution became {bad}")));
        }
        let k = topk::batch_k(cfg.topk, bsz);
        let mut mask_host = Vec::with_capacity(attr.len());
        for a in attr.chunks(bsz * c) {
            mask_host.extend(topk::batch_topk_mask(a, k));
        }
        let mask = matrix(mask_host.clone(), inst * bsz, c, &self.device).reshape([inst, bsz, c]);
        let mask_m = matrix(over_rank(&mask_host, m), inst * bsz, c * m, &self.device).reshape([inst, bsz, c * m]);

        let (a, b) = model.tracked();
        let target_ws: Vec<Tensor<3>> = self.network.weights.iter().map(|w| w.clone().autodiff()).collect();
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
            let target_acts: Vec<Tensor<3>> = target.mlp_acts(&net.model).into_iter().map(|t| t.autodiff()).collect();
            let l_a = losses::activation_loss(&y_topk.mlp_acts(&net.model), &target_acts);
            total = total + l_a.clone().mul_scalar(cfg.coeff_activation);
            parts.push(l_a.inner());
        }
        parts.push(total.clone().inner());
        // Term by term, each term's instances in order.
        let v = read_vec(Tensor::cat(parts, 0)).await?;
        if let Some((j, bad)) = v.iter().enumerate().find(|(_, x)| !x.is_finite() || x.abs() > EXPLODED_LOSS) {
            return Err(self.diverged(j % inst, format!("a loss term became {bad}")));
        }

        // The step is good: apply it. The instances' losses are summed, so
        // each instance's factors get only their own loss's gradient.
        let grads = total.sum().backward();
        if let Some(p) = pruned {
            self.optim = p.optim;
            self.usage = p.usage;
            self.n_now = p.n_now;
        }
        self.model = model.stepped(&mut self.optim, lr, &grads);
        self.rngs = rngs;
        let terms = v.len() / inst;
        let mut all = Vec::with_capacity(inst);
        for (i, mask) in mask_host.chunks(bsz * c).enumerate() {
            update_usage(&mut self.usage[i], mask);
            self.last_active[i] = mask.chunks(c).map(|row| row.iter().sum::<f32>() as u16).collect();
            let term = |t: usize| v[t * inst + i];
            all.push(StepStats {
                step: self.step,
                lr: lr as f32,
                faithfulness: term(0),
                minimality: term(1),
                simplicity: term(2),
                activation: if terms == 5 { Some(term(3)) } else { None },
                total: term(terms - 1),
                mean_active: mask.iter().sum::<f32>() / bsz as f32,
            });
        }
        self.step += 1;
        if cfg.restarts > 0 && self.step <= cfg.selection_step() {
            let minimality: Vec<f32> = all.iter().map(|s| s.minimality).collect();
            self.track_start(&minimality);
        }
        Ok(all)
    }

    /// One APD step of a single decomposition: [`ApdTrainer::step_all`].
    pub async fn step(&mut self) -> Result<StepStats, ApdError> {
        assert_eq!(self.seeds.len(), 1, "step() is for one instance; step_all() steps them all");
        Ok(self.step_all().await?.remove(0))
    }

    /// Divergence of instance `i` (named by its seed when there are several).
    fn diverged(&self, i: usize, what: String) -> ApdError {
        let whose = if self.seeds.len() > 1 { format!(" (seed {})", self.seeds[i]) } else { String::new() };
        ApdError::Diverged {
            step: self.step,
            message: format!(
                "{what} at APD step {}{whose}; the components were kept as they were before it. \
                 Try a lower apd.lr (now {}).",
                self.step, self.config.apd.lr
            ),
        }
    }

    /// The current factors at the working scale, read back, one
    /// decomposition per instance.
    async fn decompositions_now(&self) -> Result<Vec<Decomposition>, ApdError> {
        self.model.read(&self.network.names, self.n_now, self.config.apd.rank).await
    }
}
