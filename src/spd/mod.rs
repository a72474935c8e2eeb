//! Stochastic Parameter Decomposition (Bushnaq et al. 2025, section 2), one training step at
//! a time. Each decomposed matrix (the tied TMS decoder `W^T` as a matrix of
//! its own) gets C rank-one subcomponents `V[:, c] U[c, :]`; small MLPs
//! read each input's inner activations and say how much it needs each
//! subcomponent (its causal importance); training runs the network with the
//! unimportant subcomponents randomly masked.
//!
//! - [`ci`]: the hard sigmoids and the causal-importance MLPs.
//! - [`fused`]: those MLPs in one pass on the CPU backend, with their backward pass.
//! - [`losses`]: the loss terms, one function each.
//! - [`subcomponents`]: the parameters, their initialisation, and checks.
//! - `decomposer`: SPD as a [`crate::decomp::Decomposer`].
//! - `restarts`: this project's addition, several starts of which the best goes on.
//! - `instances`: a batch of seeds split into runs of their own.
//! - `method`: SPD as a [`crate::decomp::Method`], and its report state.
//! - `readback`: importances, subcomponents and gates read back.
//! - this module: the trainer (N seeds side by side) and one training step.
//!
//! Size: about 520 lines, because one step holds the masks, the delta
//! component and the revive sigmoid's two backward passes together, where
//! their shared tensors can be read in one place; what stands alone
//! (sigmoids, gates, losses, parameters, restarts, instances, read-backs,
//! views) has its own file.

pub mod ci;
mod decomposer;
#[cfg(feature = "cpu")]
pub mod fused;
mod instances;
pub mod losses;
mod method;
mod readback;
mod restarts;
pub mod subcomponents;
pub mod view;

use crate::config::{lr_at, ChainLayer, ExperimentConfig, LowerSigmoid, SpdConfig};
use crate::data::{matrix, read_vec, training_batch};
use crate::decomp::adam::Adam;
pub use crate::decomp::importance::{alive_counts, own_counts, own_in_any, own_in_some_w_in, own_subcomponents};
use crate::decomp::network::{chain_weight, stacked, Forward};
use crate::decomp::scale::Rescale;
use crate::decomp::{Decomposition, Network};
use crate::error::ApdError;
use crate::models::Target;
use crate::rng::Rng;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use ci::{lower_leaky, upper_leaky, GateValues};
pub use method::SpdState;
use serde::{Deserialize, Serialize};
pub use subcomponents::{check_fits, SpdModel, SpdValues};

/// A loss term above this counts as divergence, as in APD.
pub const EXPLODED_LOSS: f32 = 1e10;

/// The faithfulness warmup's learning rate (the reference's TMS configs).
const WARMUP_LR: f64 = 0.01;

/// A subcomponent counts as alive for an input when its importance is above this.
pub const ALIVE_CI: f32 = crate::decomp::ACTIVE_CI;

/// Loss values after one SPD step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SpdStepStats {
    /// Index of the step these losses belong to (0-based).
    pub step: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Faithfulness.
    pub faithfulness: f32,
    /// Stochastic reconstruction, every matrix masked.
    pub stochastic: f32,
    /// Layerwise stochastic reconstruction, one matrix masked at a time.
    pub layerwise: f32,
    /// Importance minimality.
    pub importance: f32,
    /// Weighted sum.
    pub total: f32,
    /// Mean over samples of the first matrix's subcomponents with importance above [`ALIVE_CI`].
    pub mean_active: f32,
}

/// The matrices SPD decomposes, each as the target's chain entry it stands
/// for, in the order the network uses them: TMS `W`, its identity layers,
/// then `W^T` (untied); the residual MLP's `W_in`, `W_out` per layer.
pub fn spd_matrices<const D: usize>(network: &Network<D>) -> Vec<ChainLayer> {
    network.decomposed()
}

/// SPD of N targets side by side (one per seed), step by step. Every
/// tensor has a leading instance dimension; each instance draws its data,
/// masks and initial parameters from its own seed's streams and gets only
/// its own losses' gradient, so it trains as it would alone.
pub struct SpdTrainer {
    config: ExperimentConfig,
    spd: SpdConfig,
    network: Network<3>,
    /// Instance 0 as a network of one target: what the probes look at.
    single: Network,
    rescales: Vec<Rescale>,
    matrices: Vec<ChainLayer>,
    model: SpdModel,
    optim: Adam,
    /// Each instance's data stream.
    rngs: Vec<Rng>,
    /// Each instance's mask noise.
    noises: Vec<Rng>,
    device: Device,
    step: usize,
    /// Per instance, per sample of the last batch, the first matrix's alive subcomponents.
    last_active: Vec<Vec<u16>>,
    warmed_up: bool,
    seeds: Vec<u64>,
    shapes: Vec<(usize, usize)>,
    /// Each instance's comparison of the starts (they run in step).
    restarts: restarts::SpdRestarts,
}

impl SpdTrainer {
    /// Sets up SPD on `target` from fresh parameters.
    pub fn new(config: &ExperimentConfig, target: &Target, seed: u64, device: &Device) -> Result<Self, ApdError> {
        Self::with_seeds(config, std::slice::from_ref(target), &[seed], device)
    }

    /// Sets up SPD on several targets side by side, `targets[i]` with
    /// `seeds[i]` (its initial parameters, data, masks and restarts are
    /// those of that seed alone).
    pub fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        if targets.is_empty() || targets.len() != seeds.len() {
            return Err(ApdError::Mismatch(format!("{} targets for {} seeds: SPD needs one per seed", targets.len(), seeds.len())));
        }
        let (network, rescales) = Network::<3>::working_all(config, targets, device)?;
        let spd = config.spd.clone().ok_or_else(|| ApdError::Mismatch("an SPD run needs the spd settings".into()))?;
        let matrices = spd_matrices(&network);
        let shapes: Vec<(usize, usize)> = matrices
            .iter()
            .map(|s| {
                let [_, r, c] = chain_weight(&network.weights, *s).dims();
                (r, c)
            })
            .collect();
        let ad = device.clone().autodiff();
        let mut t = SpdTrainer {
            config: config.clone(),
            optim: Adam::new(),
            spd,
            single: network.single(0),
            network,
            rescales,
            matrices,
            model: SpdModel::empty(),
            rngs: seeds.iter().map(|&s| Rng::stream(s, "spd-data")).collect(),
            noises: seeds.iter().map(|&s| Rng::stream(s, "spd-masks")).collect(),
            device: ad,
            step: 0,
            last_active: vec![Vec::new(); seeds.len()],
            warmed_up: false,
            seeds: seeds.to_vec(),
            shapes,
            restarts: restarts::SpdRestarts::new(seeds.len()),
        };
        t.model = t.fresh_model(0);
        Ok(t)
    }

    /// SPD on `target` holding saved subcomponents `d` (at the target's own
    /// scale) and gates, counted as `step` steps into the run: to look at, or
    /// to go on training (Adam's moments restart).
    pub fn with_components(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        d: &Decomposition,
        gates: &[GateValues],
        step: usize,
    ) -> Result<Self, ApdError> {
        let mut t = Self::new(config, target, seed, device)?;
        check_fits(d, gates, config).map_err(ApdError::Mismatch)?;
        let working = t.rescales[0].to_working_of(d, &t.matrices);
        let values = SpdValues {
            v: working.layers.iter().map(|f| f.a.clone()).collect(),
            u: working.layers.iter().map(|f| f.b.clone()).collect(),
            gates: gates.to_vec(),
        };
        t.model = SpdModel::stacked(&[values], &t.shapes, t.spd.n_components, t.spd.d_gate, &t.device);
        let plan = t.spd.plan();
        if step > plan.total_steps() {
            return Err(ApdError::Mismatch(format!("the subcomponents are at step {step}, past the run's {}", plan.total_steps())));
        }
        t.step = step;
        t.warmed_up = step > 0;
        // Past the comparison the kept start goes on; before it, the start this step belongs to.
        t.restarts.each[0].start = if step >= plan.selection_step() { t.spd.restarts } else { step / plan.restart_len() };
        t.rngs = vec![Rng::stream(seed, &format!("spd-data-resumed-at-{step}"))];
        t.noises = vec![Rng::stream(seed, &format!("spd-masks-resumed-at-{step}"))];
        Ok(t)
    }

    /// The configuration this run uses.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Whether all configured steps are done (the starts' included).
    pub fn done(&self) -> bool {
        self.step >= self.spd.plan().total_steps()
    }

    /// How many decompositions run side by side.
    pub fn instances(&self) -> usize {
        self.seeds.len()
    }

    /// Panics unless one decomposition runs: what looks at "the" decomposition needs one.
    pub(super) fn only_one(&self) {
        assert_eq!(self.seeds.len(), 1, "this looks at one decomposition; {} run side by side", self.seeds.len());
    }

    /// Position of a chain entry among the decomposed matrices.
    fn index_of(&self, layer: ChainLayer) -> usize {
        self.matrices.iter().position(|&m| m == layer).expect("every chain entry is decomposed")
    }

    /// `bsz` inputs drawn as training draws them, from `rng` (`bsz x n`).
    fn batch_of(&self, rng: &mut Rng, bsz: usize) -> Tensor<2> {
        matrix(training_batch(&self.config.model, rng, bsz), bsz, self.config.model.n_features(), self.network.device())
    }

    /// The pre-sigmoid importances `z` of every matrix from the target's
    /// forward pass `target` (its inputs to each matrix), through `v`.
    fn gate_logits(&self, target: &Forward<3>, v: &[Tensor<3>], autodiff: bool) -> Vec<Tensor<3>> {
        target
            .inputs
            .iter()
            .zip(v)
            .zip(&self.model.gates)
            .map(|((a, v), g)| if autodiff { g.forward(a.autodiff().matmul(v.clone())) } else { g.forward_inner(a.matmul(v.clone())) })
            .collect()
    }

    /// Uniform noise, `N x B x width` per matrix, each instance's from its
    /// own stream in `noises` (matrix after matrix, as alone).
    fn uniform(&self, noises: &mut [Rng], bsz: usize, width: usize) -> Vec<Tensor<3>> {
        let n = noises.len();
        (0..self.matrices.len())
            .map(|_| {
                let mut values = Vec::with_capacity(n * bsz * width);
                for r in noises.iter_mut() {
                    values.extend((0..bsz * width).map(|_| r.uniform()));
                }
                stacked(values, n, bsz, width, &self.device)
            })
            .collect()
    }

    /// The network on `x` with matrix l computing `((h V_l) * mask_l) U_l`,
    /// for every l or (`only`) for one, the others at the target's weights.
    /// With `delta` (`W_l - V_l U_l` and a `N x B x 1` mask per matrix), a
    /// masked matrix also adds `(h delta_l) * mask`.
    #[allow(clippy::too_many_arguments)]
    fn masked_forward(
        &self,
        x: Tensor<3>,
        v: &[Tensor<3>],
        u: &[Tensor<3>],
        masks: &[Tensor<3>],
        delta: Option<(&[Tensor<3>], &[Tensor<3>])>,
        only: Option<usize>,
        autodiff: bool,
    ) -> Tensor<3> {
        let lift = |t: Tensor<3>| if autodiff { t.autodiff() } else { t };
        self.network
            .forward_by(lift(x), autodiff, |layer, h| {
                let l = self.index_of(layer);
                match only {
                    Some(k) if k != l => h.times(lift(chain_weight(&self.network.weights, layer))),
                    _ => {
                        let out = h.like(h.matmul(v[l].clone()) * masks[l].clone(), u[l].clone());
                        match delta {
                            Some((d, m)) => out.plus(h.times(d[l].clone()).scale_rows(m[l].clone())),
                            None => out,
                        }
                    }
                }
            })
            .out
    }

    /// The masks' importance from `z`: the lower sigmoid the settings name
    /// (in the forward pass, revive is the plain hard sigmoid).
    fn lower<const D: usize>(&self, z: Tensor<D>) -> Tensor<D> {
        match self.spd.lower_sigmoid {
            LowerSigmoid::Leaky => lower_leaky(z),
            LowerSigmoid::Revive => ci::clamped(z),
        }
    }

    /// The target's decomposed matrices, in order, lifted for autodiff
    /// when `autodiff` (the untied TMS decoder as a matrix of its own).
    fn target_weights(&self, autodiff: bool) -> Vec<Tensor<3>> {
        self.matrices
            .iter()
            .map(|&s| {
                let w = chain_weight(&self.network.weights, s);
                if autodiff {
                    w.autodiff()
                } else {
                    w
                }
            })
            .collect()
    }

    /// `W_l - V_l U_l` for every matrix (`ws` the target's): what the subcomponents miss.
    fn deltas(ws: &[Tensor<3>], v: &[Tensor<3>], u: &[Tensor<3>]) -> Vec<Tensor<3>> {
        ws.iter().zip(v.iter().zip(u)).map(|(w, (v, u))| w.clone() - v.clone().matmul(u.clone())).collect()
    }

    /// The reference's later faithfulness warmup: `faithfulness_warmup_steps`
    /// steps of the faithfulness loss alone on V and U (AdamW, lr 0.01,
    /// weight decay 0.1), with an optimiser of their own. No reads.
    fn faithfulness_warmup(&mut self) {
        let mut optim = AdamWConfig::new().with_weight_decay(0.1).with_epsilon(1e-8).init();
        let ws = self.target_weights(true);
        for _ in 0..self.spd.faithfulness_warmup_steps {
            let (v, u) = self.model.tracked();
            let grads = GradientsParams::from_grads(losses::faithfulness_loss(&ws, &v, &u).sum().backward(), &self.model);
            let taken = std::mem::replace(&mut self.model, SpdModel::empty());
            self.model = optim.step(WARMUP_LR, taken, grads);
        }
    }

    /// One SPD step of every instance: causal importances, stochastic
    /// masks, the four losses, Adam; the losses of each, in instance order.
    /// As in APD, the step changes the state only once every instance's
    /// losses are known to be finite; [`ApdError::Diverged`] says why
    /// otherwise (and for which seed, if several). A start's faithfulness
    /// warmup, which comes before its first step and reads no data, stays
    /// done.
    ///
    /// With `lower_sigmoid = revive` the gradient reaching `z <= 0` depends
    /// on the sign of the gradient arriving at the mask, which no chain of
    /// tensor operations knows in the forward pass. So that step takes two
    /// backward passes: the reconstruction losses with the masks as leaves
    /// (which gives V, U their gradient there and the masks theirs), then the
    /// importance loss plus `sum g * dL/dg`, where `g` is built so that its
    /// gradient is the revive sigmoid's for the sign just read; the two
    /// gradients add up to the one PyTorch's custom backward gives.
    pub async fn step_all(&mut self) -> Result<Vec<SpdStepStats>, ApdError> {
        let cfg = self.spd.clone();
        if !self.warmed_up {
            self.faithfulness_warmup();
            self.warmed_up = true;
        }
        let lr = lr_at(self.schedule_step(), cfg.steps, cfg.lr, cfg.lr_warmup_pct, cfg.lr_schedule);
        let Computed { rngs, noises, vals, alive, grads } = self.forward_backward().await?;
        let params = self.model.params().into_iter().map(|p| p.val().inner()).collect();
        self.model = SpdModel::of_params(self.optim.update(lr, params, grads));
        self.rngs = rngs;
        self.noises = noises;
        let inst = self.seeds.len();
        let bsz = cfg.batch_size;
        let mut all = Vec::with_capacity(inst);
        for (i, alive) in alive.chunks(bsz).enumerate() {
            self.last_active[i] = alive.iter().map(|&k| k as u16).collect();
            let term = |t: usize| vals[t * inst + i];
            all.push(SpdStepStats {
                step: self.step,
                lr: lr as f32,
                faithfulness: term(0),
                stochastic: term(1),
                layerwise: term(2),
                importance: term(3),
                total: term(4),
                mean_active: alive.iter().sum::<f32>() / alive.len().max(1) as f32,
            });
        }
        self.step += 1;
        if cfg.restarts > 0 && self.step <= cfg.plan().selection_step() {
            let totals: Vec<f32> = all.iter().map(|s| s.total).collect();
            self.track_start(&totals).await?;
        }
        Ok(all)
    }

    /// One SPD step of a single decomposition: [`SpdTrainer::step_all`].
    pub async fn step(&mut self) -> Result<SpdStepStats, ApdError> {
        self.only_one();
        Ok(self.step_all().await?.remove(0))
    }

    /// The gradient the next step would apply, read back per parameter:
    /// every V, every U, then each matrix's gates (w1, b1, w2, b2). The
    /// state is unchanged. For tests of the gradient itself, which the
    /// optimiser's first step (about lr times its sign) would hide.
    pub async fn next_gradient(&self) -> Result<Vec<Vec<f32>>, ApdError> {
        self.only_one();
        let mut out = Vec::new();
        for g in self.forward_backward().await?.grads {
            out.push(read_vec(g).await?);
        }
        Ok(out)
    }

    /// Divergence of instance `i` (named by its seed when there are several).
    fn diverged(&self, i: usize, bad: f32) -> ApdError {
        let whose = if self.seeds.len() > 1 { format!(" (seed {})", self.seeds[i]) } else { String::new() };
        ApdError::Diverged {
            step: self.step,
            message: format!(
                "a loss term became {bad} at SPD step {}{whose}; the subcomponents were kept as they were before it. Try a lower spd.lr (now {}).",
                self.step, self.spd.lr
            ),
        }
    }

    /// One step's draws, losses and gradient, without changing the state.
    async fn forward_backward(&self) -> Result<Computed, ApdError> {
        let cfg = self.spd.clone();
        let (inst, bsz, nf) = (self.seeds.len(), cfg.batch_size, self.config.model.n_features());
        let (mut rngs, mut noises) = (self.rngs.clone(), self.noises.clone());
        let x: Vec<f32> = rngs.iter_mut().flat_map(|r| training_batch(&self.config.model, r, bsz)).collect();
        let x = stacked(x, inst, bsz, nf, self.network.device());
        let target = self.network.target_forward(x.clone());
        let (v, u) = self.model.tracked();
        let z = self.gate_logits(&target, &v, true);
        let revive = cfg.lower_sigmoid == LowerSigmoid::Revive;
        // With revive the masks are leaves of their own (below), so their
        // importances are computed without autodiff.
        let g: Vec<Tensor<3>> = z.iter().map(|z| self.lower(if revive { z.clone().inner() } else { z.clone() })).collect();
        let g_up: Vec<Tensor<3>> = z.iter().cloned().map(upper_leaky).collect();
        let c = cfg.n_components;
        let (u_all, u_one) = (self.uniform(&mut noises, bsz, c), self.uniform(&mut noises, bsz, c));
        let delta_masks = cfg.delta_component.then(|| (self.uniform(&mut noises, bsz, 1), self.uniform(&mut noises, bsz, 1)));
        let masks = |r: &[Tensor<3>]| -> Vec<Tensor<3>> {
            g.iter()
                .zip(r)
                .map(|(g, r)| {
                    if revive {
                        losses::stochastic_mask(g.clone(), r.clone().inner()).autodiff().require_grad()
                    } else {
                        losses::stochastic_mask(g.clone(), r.clone())
                    }
                })
                .collect()
        };
        let (all, one) = (masks(&u_all), masks(&u_one));
        let ws = self.target_weights(true);
        let deltas = cfg.delta_component.then(|| Self::deltas(&ws, &v, &u));
        let with_delta = |k: usize| {
            deltas
                .as_ref()
                .zip(delta_masks.as_ref())
                .map(|(d, (ma, mo))| (d.as_slice(), if k == 0 { ma.as_slice() } else { mo.as_slice() }))
        };
        let target_out = target.out.clone().autodiff();
        let l_r = losses::reconstruction_loss(self.masked_forward(x.clone(), &v, &u, &all, with_delta(0), None, true), target_out.clone());
        let n = self.matrices.len();
        let mut l_rl =
            losses::reconstruction_loss(self.masked_forward(x.clone(), &v, &u, &one, with_delta(1), Some(0), true), target_out.clone());
        for l in 1..n {
            l_rl = l_rl
                + losses::reconstruction_loss(
                    self.masked_forward(x.clone(), &v, &u, &one, with_delta(1), Some(l), true),
                    target_out.clone(),
                );
        }
        let l_rl = l_rl.div_scalar(n as f32);
        let l_f = losses::faithfulness_loss(&ws, &v, &u);
        let l_i = losses::importance_minimality_loss(&g_up, cfg.importance_p);
        let recon = l_f.clone().mul_scalar(cfg.coeff_faithfulness)
            + l_r.clone().mul_scalar(cfg.coeff_stochastic)
            + l_rl.clone().mul_scalar(cfg.coeff_layerwise);
        let penalty = l_i.clone().mul_scalar(cfg.coeff_importance);
        let total = recon.clone().inner() + penalty.clone().inner();
        let alive =
            if revive { g[0].clone() } else { g[0].clone().inner() }.greater_elem(ALIVE_CI).float().sum_dim(2).reshape([inst * bsz]);
        // One read per step (each term's instances, then each sample's alive
        // count): on a GPU each read waits for the queue.
        let parts = Tensor::cat(vec![l_f.inner(), l_r.inner(), l_rl.inner(), l_i.inner(), total, alive], 0);
        let read = read_vec(parts).await?;
        let (vals, alive) = read.split_at(5 * inst);
        if let Some((j, bad)) = vals.iter().enumerate().find(|(_, v)| !v.is_finite() || v.abs() > EXPLODED_LOSS) {
            return Err(self.diverged(j % inst, *bad));
        }
        let params: Vec<Tensor<3>> = self.model.params().into_iter().map(|p| p.val()).collect();
        // The instances' losses are summed: each instance's parameters get
        // only its own losses' gradient.
        let grads = if revive {
            let first = recon.sum().backward();
            let dg: Vec<Tensor<3>> = (0..n)
                .map(|l| {
                    let part = |m: &Tensor<3>, r: &Tensor<3>| m.grad(&first).map(|d| d * r.clone().inner().neg().add_scalar(1.0));
                    match (part(&all[l], &u_all[l]), part(&one[l], &u_one[l])) {
                        (Some(a), Some(b)) => a + b,
                        (Some(a), None) | (None, Some(a)) => a,
                        (None, None) => u_all[l].clone().inner().zeros_like(),
                    }
                })
                .collect();
            let mut second = penalty.sum();
            for (z, dg) in z.iter().zip(dg) {
                second = second + ci::revive_term(z, dg);
            }
            let second = second.backward();
            params
                .iter()
                .map(|p| match (p.grad(&first), p.grad(&second)) {
                    (Some(a), Some(b)) => a + b,
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => panic!("every SPD parameter is in the losses"),
                })
                .collect()
        } else {
            let grads = (recon + penalty).sum().backward();
            params.iter().map(|p| p.grad(&grads).expect("every SPD parameter is in the losses")).collect()
        };
        Ok(Computed { rngs, noises, vals: vals.to_vec(), alive: alive.to_vec(), grads })
    }
}

// Native only: they block on reads with pollster, a native dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

/// What one step computes before it changes anything.
struct Computed {
    rngs: Vec<Rng>,
    noises: Vec<Rng>,
    /// Faithfulness, stochastic, layerwise, importance, total: each term's instances in order.
    vals: Vec<f32>,
    /// Per instance, each sample's subcomponents of the first matrix above [`ALIVE_CI`].
    alive: Vec<f32>,
    /// Per parameter ([`SpdModel::params`]' order), the gradient.
    grads: Vec<Tensor<3>>,
}
