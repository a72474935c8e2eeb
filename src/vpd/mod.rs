//! VPD (Goodfire 2026; docs/vpd.md): SPD's rank-one subcomponents and causal
//! importances, trained against an adversary. Per decomposed matrix
//! ("site") C subcomponents `V[:, c] U[c, :]`, a residual channel
//! `Delta = W - V U`, and an importance MLP reading the site's input; half
//! of each batch is reconstructed under the adversary's masks (every site
//! through its decomposition), half under random ones on a random subset of
//! the sites, the others at the target's weights.
//!
//! - [`losses`]: the loss terms, one function each.
//! - [`ci`]: the importance MLPs and the hard sigmoids.
//! - [`adversary`]: the persistent sources and their Adam ascent.
//! - `method`: VPD as a [`crate::decomp::Method`] and `Decomposer`, and its report state.
//! - `restarts`: this project's addition, several starts of which the best goes on.
//! - `trace`: the adversary at work, as VPD's own view shows it.
//! - this module: the trainer (N seeds side by side) and one training step.
//!
//! Size: about 590 lines, because one step holds the ascents, the merged
//! reconstruction and the two clipped optimisers together, where their
//! shared tensors (importances, routes, sources) can be read in one place.

pub mod adversary;
pub mod ci;
pub mod losses;
mod method;
mod restarts;
pub mod trace;

pub use method::VpdState;

use crate::config::{ChainLayer, ExperimentConfig, VpdConfig};
use crate::data::{read_vec, training_batch};
use crate::decomp::adam::Adam;
use crate::decomp::network::{chain_weight, stacked, Forward};
use crate::decomp::scale::Rescale;
use crate::decomp::{Decomposition, Network, ACTIVE_CI};
use crate::error::ApdError;
use crate::models::Target;
use crate::rng::Rng;
use adversary::Adversary;
use burn::tensor::{Device, Tensor};
use ci::CiValues;

/// A loss term above this counts as divergence, as in APD and SPD.
pub const EXPLODED_LOSS: f32 = 1e10;

/// The faithfulness warmup's learning rate (param-decomp's toy configs).
const WARMUP_LR: f64 = 0.01;

/// One instance's parameters on the host: per site `V`, `U` (row-major) and its importance MLP.
#[derive(Clone)]
pub struct VpdValues {
    /// Per site, `V` (`d_in x C`).
    pub v: Vec<Vec<f32>>,
    /// Per site, `U` (`C x d_out`).
    pub u: Vec<Vec<f32>>,
    /// Per site, the importance MLP.
    pub ci: Vec<CiValues>,
}

/// VPD of N targets side by side (one per seed), step by step.
pub struct VpdTrainer {
    config: ExperimentConfig,
    vpd: VpdConfig,
    network: Network<3>,
    /// Instance 0 as a network of one target: what the probes look at.
    single: Network,
    rescales: Vec<Rescale>,
    sites: Vec<ChainLayer>,
    /// Per site `(d_in, d_out)`.
    shapes: Vec<(usize, usize)>,
    /// Every V, every U, then per site the MLP's w1, b1, w2, b2; without autodiff.
    params: Vec<Tensor<3>>,
    /// The subcomponents' optimiser (V and U) and the importance MLPs'.
    optims: (Adam, Adam),
    adversary: Adversary,
    rngs: Vec<Rng>,
    noises: Vec<Rng>,
    device: Device,
    step: usize,
    last_active: Vec<Vec<u16>>,
    warmed_up: bool,
    seeds: Vec<u64>,
    /// Each instance's comparison of the starts (they run in step).
    restarts: restarts::VpdRestarts,
    /// Each instance's reconstructions under the three kinds of masks over training.
    traces: Vec<trace::ReconTrace>,
}

/// The parameters of one step, lifted for autodiff or not.
struct Params {
    v: Vec<Tensor<3>>,
    u: Vec<Tensor<3>>,
    ci: Vec<[Tensor<3>; 4]>,
}

/// What one step computes before it changes anything.
struct Computed {
    rngs: Vec<Rng>,
    noises: Vec<Rng>,
    /// Faithfulness, reconstruction, importance, frequency, total: each term's instances in order.
    vals: Vec<f32>,
    alive: Vec<f32>,
    /// A trace point where the step takes one (`3 x N`).
    trace: Option<Vec<f32>>,
    grads: Vec<Tensor<3>>,
    adversary: Adversary,
}

impl VpdTrainer {
    /// VPD on several targets side by side, `targets[i]` with `seeds[i]`.
    pub fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        if targets.is_empty() || targets.len() != seeds.len() {
            return Err(ApdError::Mismatch(format!("{} targets for {} seeds: VPD needs one per seed", targets.len(), seeds.len())));
        }
        let vpd = config.vpd.clone().ok_or_else(|| ApdError::Mismatch("a VPD run needs the vpd settings".into()))?;
        let (network, rescales) = Network::<3>::working_all(config, targets, device)?;
        let sites = network.decomposed();
        let shapes: Vec<(usize, usize)> = sites
            .iter()
            .map(|s| {
                let [_, r, c] = chain_weight(&network.weights, *s).dims();
                (r, c)
            })
            .collect();
        let mut t = VpdTrainer {
            config: config.clone(),
            single: network.single(0),
            params: Vec::new(),
            optims: (Adam::new(), Adam::new()),
            adversary: Adversary::new(Vec::new()),
            rngs: seeds.iter().map(|&s| Rng::stream(s, "vpd-data")).collect(),
            noises: seeds.iter().map(|&s| Rng::stream(s, "vpd-masks")).collect(),
            restarts: restarts::VpdRestarts::new(seeds.len()),
            traces: vec![trace::ReconTrace::default(); seeds.len()],
            device: device.clone(),
            step: 0,
            last_active: vec![Vec::new(); seeds.len()],
            warmed_up: false,
            seeds: seeds.to_vec(),
            vpd,
            network,
            rescales,
            sites,
            shapes,
        };
        (t.params, t.adversary) = t.fresh_start(0);
        Ok(t)
    }

    /// VPD on `target` holding saved subcomponents `d` (at the target's own
    /// scale) and importance MLPs, counted as `step` steps into the run
    /// (optimiser moments and the adversary's sources start afresh; `of_saved`
    /// puts back the first slots' sources a report keeps).
    pub fn with_saved(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        d: &Decomposition,
        ci: &[CiValues],
        step: usize,
    ) -> Result<Self, ApdError> {
        let mut t = Self::with_seeds(config, std::slice::from_ref(target), &[seed], device)?;
        method::check_fits(d, ci, config).map_err(ApdError::Mismatch)?;
        let plan = t.vpd.plan();
        if step > plan.total_steps() {
            return Err(ApdError::Mismatch(format!("the subcomponents are at step {step}, past the run's {}", plan.total_steps())));
        }
        // Past the comparison the kept start goes on; before it, the start this step belongs to.
        t.restarts.each[0].start = if step >= plan.selection_step() { t.vpd.restarts } else { step / plan.restart_len() };
        let working = t.rescales[0].to_working_of(d, &t.sites);
        let values = VpdValues {
            v: working.layers.iter().map(|f| f.a.clone()).collect(),
            u: working.layers.iter().map(|f| f.b.clone()).collect(),
            ci: ci.to_vec(),
        };
        t.params = t.upload(&[values]);
        t.step = step;
        t.warmed_up = step > 0;
        t.rngs = vec![Rng::stream(seed, &format!("vpd-data-resumed-at-{step}"))];
        t.noises = vec![Rng::stream(seed, &format!("vpd-masks-resumed-at-{step}"))];
        Ok(t)
    }

    /// `parts` (one instance each) side by side on the device, in [`VpdTrainer::params`]' order.
    fn upload(&self, parts: &[VpdValues]) -> Vec<Tensor<3>> {
        let (n, c, h) = (parts.len(), self.vpd.n_components, self.vpd.ci_hidden);
        let dev = self.network.device();
        let put = |get: &dyn Fn(&VpdValues) -> &Vec<f32>, r: usize, k: usize| {
            stacked(parts.iter().flat_map(|p| get(p).iter().copied()).collect(), n, r, k, dev)
        };
        let mut out = Vec::new();
        for (l, &(d_in, _)) in self.shapes.iter().enumerate() {
            out.push(put(&|p| &p.v[l], d_in, c));
        }
        for (l, &(_, d_out)) in self.shapes.iter().enumerate() {
            out.push(put(&|p| &p.u[l], c, d_out));
        }
        for (l, &(d_in, _)) in self.shapes.iter().enumerate() {
            out.push(put(&|p| &p.ci[l].w1, d_in, h));
            out.push(put(&|p| &p.ci[l].b1, 1, h));
            out.push(put(&|p| &p.ci[l].w2, h, c));
            out.push(put(&|p| &p.ci[l].b2, 1, c));
        }
        out
    }

    /// The parameters as V, U and the MLPs, each through `lift` (for
    /// autodiff, with or without their own gradients, or as they are).
    fn split(&self, params: &[Tensor<3>], lift: fn(&Tensor<3>) -> Tensor<3>) -> Params {
        let s = self.sites.len();
        let all: Vec<Tensor<3>> = params.iter().map(lift).collect();
        // The faithfulness warmup passes V and U alone.
        let ci = (0..(all.len() - 2 * s) / 4).map(|l| std::array::from_fn(|k| all[2 * s + 4 * l + k].clone())).collect();
        Params { v: all[..s].to_vec(), u: all[s..2 * s].to_vec(), ci }
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// How many decompositions run side by side.
    pub fn instances(&self) -> usize {
        self.seeds.len()
    }

    /// Panics unless one decomposition runs: what looks at "the" decomposition needs one.
    fn only_one(&self) {
        assert_eq!(self.seeds.len(), 1, "this looks at one decomposition; {} run side by side", self.seeds.len());
    }

    /// The target's decomposed matrices, lifted for autodiff when `autodiff`.
    fn target_weights(&self, autodiff: bool) -> Vec<Tensor<3>> {
        self.sites
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

    /// The importance logits `z` of every site from the target's forward pass.
    fn logits(&self, target: &Forward<3>, p: &Params, autodiff: bool) -> Vec<Tensor<3>> {
        target.inputs.iter().zip(&p.ci).map(|(a, w)| ci::logits(&if autodiff { a.autodiff() } else { a.clone() }, w.clone())).collect()
    }

    /// The network on `x` with site l computing
    /// `route_l * (((h V_l) * m_l) U_l + delta_l * (h (W_l - V_l U_l))) + (1 - route_l) * h W_l`,
    /// where `masks[l]` holds `m_l` and, in a last column, `delta_l` (all
    /// `N x B x (C + 1)`; without the last column the residual is off) and
    /// `route` (`N x B x 1` per site; `None`: every row through the decomposition).
    fn forward(&self, x: Tensor<3>, p: &Params, masks: &[Tensor<3>], route: Option<&[Tensor<3>]>, autodiff: bool) -> Tensor<3> {
        let lift = |t: Tensor<3>| if autodiff { t.autodiff() } else { t };
        let c = self.vpd.n_components;
        self.network
            .forward_by(lift(x), autodiff, |layer, h| {
                let l = self.sites.iter().position(|&s| s == layer).expect("every chain entry is a site");
                let w = lift(chain_weight(&self.network.weights, layer));
                let [n, b, width] = masks[l].dims();
                let m = masks[l].clone().narrow(2, 0, c);
                let mut out = h.like(h.matmul(p.v[l].clone()) * m, p.u[l].clone());
                if width > c {
                    let delta = w.clone() - p.v[l].clone().matmul(p.u[l].clone());
                    out = out.plus(h.times(delta).scale_rows(masks[l].clone().narrow(2, c, 1).reshape([n, b, 1])));
                }
                match route {
                    Some(r) => out.scale_rows(r[l].clone()).plus(h.times(w).scale_rows(r[l].clone().neg().add_scalar(1.0))),
                    None => out,
                }
            })
            .out
    }

    /// Masks `g + (1 - g) r` from importances `g` (`N x B x C`) and sources
    /// `r` (`N x B x (C + 1)`), the residual's column `r`'s last as it is.
    fn masks(g: &[Tensor<3>], r: &[Tensor<3>]) -> Vec<Tensor<3>> {
        g.iter()
            .zip(r)
            .map(|(g, r)| {
                let c = g.dims()[2];
                let m = g.clone() + g.clone().neg().add_scalar(1.0) * r.clone().narrow(2, 0, c);
                Tensor::cat(vec![m, r.clone().narrow(2, c, 1)], 2)
            })
            .collect()
    }

    /// The reconstruction under the adversary's sources, every row through
    /// every site's decomposition, and its gradient with respect to the
    /// sources (importances and parameters held fixed): one ascent's.
    fn source_gradient(&self, x: &Tensor<3>, target: &Forward<3>, p: &Params, g: &[Tensor<3>], sources: &[Tensor<3>]) -> Vec<Tensor<3>> {
        let leaves: Vec<Tensor<3>> = sources.iter().map(|s| s.clone().autodiff().require_grad()).collect();
        let g: Vec<Tensor<3>> = g.iter().map(|g| g.clone().autodiff()).collect();
        let out = self.forward(x.clone(), p, &Self::masks(&g, &leaves), None, true);
        let grads = losses::reconstruction(out, target.out.clone().autodiff()).sum().backward();
        leaves.iter().map(|s| s.grad(&grads).unwrap_or_else(|| s.clone().inner().zeros_like())).collect()
    }

    /// The network on `x` (`B x n`, one instance) with every site's masks
    /// at `m` and its residual channel at `delta`: with both 1 it computes
    /// the target's function whatever V and U are; with masks 0 and the
    /// residual 1, each site computes `h (W - V U)`.
    pub fn output_with(&self, x: Tensor<2>, m: f32, delta: f32) -> Tensor<2> {
        self.only_one();
        let [b, _] = x.dims();
        let c = self.vpd.n_components;
        let dev = self.network.device();
        let masks: Vec<Tensor<3>> =
            self.sites.iter().map(|_| Tensor::cat(vec![Tensor::full([1, b, c], m, dev), Tensor::full([1, b, 1], delta, dev)], 2)).collect();
        let out = self.forward(x.unsqueeze(), &self.split(&self.params, plain), &masks, None, false);
        let width = out.dims()[2];
        out.reshape([b, width])
    }

    /// The adversary at work, on a fixed batch of `batch_size` inputs (one
    /// instance): the reconstruction loss under its sources (every row
    /// through every site's decomposition), then the same after one ascent
    /// step at `lr`, which moves the sources (the adversary's moments too).
    pub async fn ascent_probe(&mut self, lr: f64) -> Result<(f32, f32), ApdError> {
        self.only_one();
        let (bsz, n) = (self.vpd.batch_size, self.config.model.n_features());
        let xs = training_batch(&self.config.model, &mut Rng::stream(0, "vpd-probe"), bsz);
        let x = stacked(xs, 1, bsz, n, self.network.device());
        let target = self.network.target_forward(x.clone());
        let g: Vec<Tensor<3>> = self.logits(&target, &self.split(&self.params, plain), false).into_iter().map(ci::lower_value).collect();
        let plain_p = self.split(&self.params, plain);
        let loss = |t: &Self, sources: &[Tensor<3>]| {
            losses::reconstruction(t.forward(x.clone(), &plain_p, &Self::masks(&g, sources), None, false), target.out.clone())
        };
        let before = read_vec(loss(self, &self.adversary.sources)).await?[0];
        let grads = self.source_gradient(&x, &target, &self.split(&self.params, constant), &g, &self.adversary.sources);
        let mut adversary = self.adversary.clone();
        adversary.ascend(lr, grads);
        let after = read_vec(loss(self, &adversary.sources)).await?[0];
        self.adversary = adversary;
        Ok((before, after))
    }

    /// The faithfulness warmup: `faithfulness_warmup_steps` steps of the
    /// relative faithfulness alone on V and U, with an Adam of its own. No reads.
    fn faithfulness_warmup(&mut self) {
        let mut optim = Adam::new();
        let ws = self.target_weights(true);
        let s = self.sites.len();
        for _ in 0..self.vpd.faithfulness_warmup_steps {
            let p = self.split(&self.params[..2 * s], tracked);
            let grads = losses::relative_faithfulness(&ws, &p.v, &p.u).sum().backward();
            let g: Vec<Tensor<3>> = p.v.iter().chain(&p.u).map(|t| t.grad(&grads).expect("V and U are in the loss")).collect();
            for (k, t) in optim.update(WARMUP_LR, self.params[..2 * s].to_vec(), g).into_iter().enumerate() {
                self.params[k] = t;
            }
        }
    }

    /// The learning rate at the current step: cosine from `lr` to `lr_final_pct` of it.
    fn lr(&self) -> f64 {
        let t = (self.schedule_step() as f64 / self.vpd.steps.max(1) as f64).min(1.0);
        let floor = self.vpd.lr_final_pct;
        self.vpd.lr * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
    }

    /// The adversary's learning rate: ramped from 0 over its warmup share of the steps.
    fn adversary_lr(&self) -> f64 {
        let ramp = self.vpd.adversary_warmup_pct * self.vpd.steps as f64;
        self.vpd.adversary_lr * if ramp <= 0.0 { 1.0 } else { ((self.schedule_step() + 1) as f64 / ramp).min(1.0) }
    }

    /// One VPD step of every instance (its records in instance order): the
    /// adversary's ascents, the merged reconstruction and the penalties,
    /// both optimisers with clipping, then one more ascent from the same
    /// gradients. Nothing changes unless every loss is finite.
    pub async fn step_all(&mut self) -> Result<Vec<crate::decomp::StepRecord>, ApdError> {
        if !self.warmed_up {
            self.faithfulness_warmup();
            self.warmed_up = true;
        }
        let lr = self.lr();
        let Computed { rngs, noises, vals, alive, trace, grads, mut adversary } = self.forward_backward().await?;
        let s = self.sites.len();
        let (params, sources) = grads.split_at(self.params.len());
        let clip = self.vpd.grad_clip;
        let (sub, ci) = (clipped(&params[..2 * s], clip), clipped(&params[2 * s..], clip));
        let mut next = self.optims.0.update(lr, self.params[..2 * s].to_vec(), sub);
        next.extend(self.optims.1.update(lr, self.params[2 * s..].to_vec(), ci));
        self.params = next;
        adversary.ascend(self.adversary_lr(), sources.to_vec());
        self.adversary = adversary;
        self.rngs = rngs;
        self.noises = noises;
        let (inst, bsz) = (self.seeds.len(), self.vpd.batch_size);
        let mut out = Vec::with_capacity(inst);
        for (i, alive) in alive.chunks(bsz).enumerate() {
            self.last_active[i] = alive.iter().map(|&k| k as u16).collect();
            let term = |t: usize| vals[t * inst + i];
            let names = ["faithfulness", "reconstruction", "importance", "frequency"];
            out.push(crate::decomp::StepRecord {
                step: self.step,
                lr: lr as f32,
                total: term(4),
                mean_active: alive.iter().sum::<f32>() / alive.len().max(1) as f32,
                terms: names.iter().enumerate().map(|(k, n)| (n.to_string(), term(k))).collect(),
            });
        }
        if let Some(t) = trace {
            self.record_trace(&t);
        }
        self.step += 1;
        if self.vpd.restarts > 0 && self.step <= self.vpd.plan().selection_step() {
            let totals: Vec<f32> = out.iter().map(|s| s.total).collect();
            self.track_start(&totals).await?;
        }
        Ok(out)
    }

    /// One step's draws, ascents, losses and gradients (every parameter's,
    /// then every site's sources'), without changing the state.
    async fn forward_backward(&self) -> Result<Computed, ApdError> {
        let cfg = &self.vpd;
        let (inst, bsz, nf, c, s) = (self.seeds.len(), cfg.batch_size, self.config.model.n_features(), cfg.n_components, self.sites.len());
        let (mut rngs, mut noises) = (self.rngs.clone(), self.noises.clone());
        let x: Vec<f32> = rngs.iter_mut().flat_map(|r| training_batch(&self.config.model, r, bsz)).collect();
        let x = stacked(x, inst, bsz, nf, self.network.device());
        let target = self.network.target_forward(x.clone());
        // The ascents before the step: parameters and importances fixed.
        let mut adversary = self.adversary.clone();
        let fixed = self.split(&self.params, constant);
        let g_fixed: Vec<Tensor<3>> =
            self.logits(&target, &self.split(&self.params, plain), false).into_iter().map(ci::lower_value).collect();
        for _ in 0..cfg.warmup_ascents {
            let grads = self.source_gradient(&x, &target, &fixed, &g_fixed, &adversary.sources);
            adversary.ascend(self.adversary_lr(), grads);
        }
        let point = self.traces_now().then(|| self.trace_point(&x, &target, &g_fixed, &adversary));
        // The training step's reconstruction: each row adversarial or stochastic.
        let p = self.split(&self.params, tracked);
        let z = self.logits(&target, &p, true);
        let g_up: Vec<Tensor<3>> = z.iter().cloned().map(ci::upper).collect();
        let (adv, routes) = draw_routes(&mut noises, bsz, s, self.network.device());
        let fresh: Vec<Tensor<3>> = (0..s).map(|_| uniform(&mut noises, bsz, c + 1, self.network.device())).collect();
        let keep = adv.clone().neg().add_scalar(1.0);
        let r: Vec<Tensor<3>> =
            adversary.sources.iter().zip(&fresh).map(|(a, f)| a.clone() * adv.clone() + f.clone() * keep.clone()).collect();
        let routes: Vec<Tensor<3>> = routes.into_iter().map(|r| r.autodiff()).collect();
        // The masks are leaves of their own: their gradient gives the
        // sources theirs (the rows under the adversary's) and, through the
        // one-sided leak, the importances theirs (`ci::leak_term`).
        let g: Vec<Tensor<3>> = z.iter().map(|z| ci::lower_value(z.clone().inner())).collect();
        let masks: Vec<Tensor<3>> = Self::masks(&g, &r).into_iter().map(|m| m.autodiff().require_grad()).collect();
        let out = self.forward(x.clone(), &p, &masks, Some(&routes), true);
        let l_r = losses::reconstruction(out, target.out.clone().autodiff());
        let ws = self.target_weights(true);
        let l_f = losses::relative_faithfulness(&ws, &p.v, &p.u);
        let f = losses::frequencies(&g_up, losses::gamma_at(self.schedule_step(), cfg.steps, cfg.gamma_final));
        let (l_i, l_q) = (losses::importance(&f), losses::frequency(&f, cfg.frequency_scale));
        let recon = l_f.clone().mul_scalar(cfg.coeff_faithfulness) + l_r.clone().mul_scalar(cfg.coeff_reconstruction);
        let penalty = l_i.clone().mul_scalar(cfg.coeff_importance) + l_q.clone().mul_scalar(cfg.coeff_frequency);
        let total = recon.clone().inner() + penalty.clone().inner();
        let alive = g[0].clone().greater_elem(ACTIVE_CI).float().sum_dim(2).reshape([inst * bsz]);
        let mut parts = vec![l_f.inner(), l_r.inner(), l_i.inner(), l_q.inner(), total, alive];
        parts.extend(point);
        let read = read_vec(Tensor::cat(parts, 0)).await?;
        let (vals, rest) = read.split_at(5 * inst);
        let (alive, point) = rest.split_at(inst * bsz);
        if let Some((j, bad)) = vals.iter().enumerate().find(|(_, v)| !v.is_finite() || v.abs() > EXPLODED_LOSS) {
            return Err(self.diverged(j % inst, *bad));
        }
        // Two backward passes: the reconstruction (V, U, the masks), then
        // the penalties with the importances' share of the masks' gradient.
        let first = recon.sum().backward();
        let dm: Vec<Tensor<3>> = masks.iter().map(|m| m.grad(&first).unwrap_or_else(|| m.clone().inner().zeros_like())).collect();
        let mut second = penalty.sum();
        let mut sources = Vec::with_capacity(s);
        for l in 0..s {
            let (dm_c, dm_delta) = (dm[l].clone().narrow(2, 0, c), dm[l].clone().narrow(2, c, 1));
            // m = g + (1 - g) r: dm/dg = 1 - r, dm/dr = 1 - g; the residual's mask is its source.
            let dg = dm_c.clone() * r[l].clone().narrow(2, 0, c).neg().add_scalar(1.0);
            second = second + ci::leak_term(&z[l], dg, cfg.one_sided_leak);
            sources.push(Tensor::cat(vec![dm_c * g[l].clone().neg().add_scalar(1.0), dm_delta], 2) * adv.clone());
        }
        let second = second.backward();
        let tracked: Vec<&Tensor<3>> = p.v.iter().chain(&p.u).chain(p.ci.iter().flatten()).collect();
        let mut all: Vec<Tensor<3>> = tracked
            .iter()
            .zip(&self.params)
            .map(|(t, v)| match (t.grad(&first), t.grad(&second)) {
                (Some(a), Some(b)) => a + b,
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => v.clone().zeros_like(),
            })
            .collect();
        // The merged loss's gradient at the sources: the ascent after the step.
        all.extend(sources);
        let trace = (!point.is_empty()).then(|| point.to_vec());
        Ok(Computed { rngs, noises, vals: vals.to_vec(), alive: alive.to_vec(), trace, grads: all, adversary })
    }

    /// Divergence of instance `i` (named by its seed when there are several).
    fn diverged(&self, i: usize, bad: f32) -> ApdError {
        let whose = if self.seeds.len() > 1 { format!(" (seed {})", self.seeds[i]) } else { String::new() };
        ApdError::Diverged {
            step: self.step,
            message: format!(
                "a loss term became {bad} at VPD step {}{whose}; the subcomponents were kept as they were before it. Try a lower vpd.lr (now {}).",
                self.step, self.vpd.lr
            ),
        }
    }
}

/// A parameter for autodiff, with gradients of its own.
fn tracked(t: &Tensor<3>) -> Tensor<3> {
    t.clone().autodiff().require_grad()
}

/// A parameter for autodiff, held fixed.
fn constant(t: &Tensor<3>) -> Tensor<3> {
    t.clone().autodiff()
}

/// A parameter as it is, without autodiff.
fn plain(t: &Tensor<3>) -> Tensor<3> {
    t.clone()
}

/// Fresh parameters for sites of `shapes`: `V` normal with std
/// `1 / sqrt(d_in)`, `U` with `1 / sqrt(C)` (as param-decomp), the MLPs as
/// [`CiValues::init`].
fn fresh(cfg: &VpdConfig, shapes: &[(usize, usize)], rng: &mut Rng) -> VpdValues {
    let c = cfg.n_components;
    let (mut v, mut u, mut ci) = (Vec::new(), Vec::new(), Vec::new());
    for &(d_in, d_out) in shapes {
        v.push(rng.normal_vec(d_in * c, 1.0 / (d_in as f32).sqrt()));
        u.push(rng.normal_vec(c * d_out, 1.0 / (c as f32).sqrt()));
    }
    for &(d_in, _) in shapes {
        ci.push(CiValues::init(d_in, cfg.ci_hidden, c, rng));
    }
    VpdValues { v, u, ci }
}

/// Uniform noise `N x B x width`, each instance's from its own stream.
fn uniform(noises: &mut [Rng], bsz: usize, width: usize, device: &Device) -> Tensor<3> {
    let n = noises.len();
    let mut values = Vec::with_capacity(n * bsz * width);
    for r in noises.iter_mut() {
        values.extend((0..bsz * width).map(|_| r.uniform()));
    }
    stacked(values, n, bsz, width, device)
}

/// Per row, whether it is adversarial (probability 1/2; `N x B x 1`), and
/// per site whether the row goes through its decomposition (`N x B x 1`
/// each): every site for an adversarial row, else a random `k` of the
/// `sites`, `k` uniform in 1..=sites.
fn draw_routes(noises: &mut [Rng], bsz: usize, sites: usize, device: &Device) -> (Tensor<3>, Vec<Tensor<3>>) {
    let n = noises.len();
    let mut adv = Vec::with_capacity(n * bsz);
    let mut routes = vec![Vec::with_capacity(n * bsz); sites];
    for r in noises.iter_mut() {
        for _ in 0..bsz {
            let a = r.uniform() < 0.5;
            adv.push(if a { 1.0 } else { 0.0 });
            let k = 1 + ((r.uniform() * sites as f32) as usize).min(sites - 1);
            // A random k-subset: the sites with the k smallest of fresh draws.
            let keys: Vec<f32> = (0..sites).map(|_| r.uniform()).collect();
            for (l, route) in routes.iter_mut().enumerate() {
                let rank = keys.iter().filter(|&&o| o < keys[l]).count();
                route.push(if a || rank < k { 1.0 } else { 0.0 });
            }
        }
    }
    let adv = stacked(adv, n, bsz, 1, device);
    (adv, routes.into_iter().map(|r| stacked(r, n, bsz, 1, device)).collect())
}

/// `grads` scaled per instance so that their joint norm is at most `clip`
/// (torch's `clip_grad_norm_`: `clip / (norm + 1e-6)` where below 1).
fn clipped(grads: &[Tensor<3>], clip: f64) -> Vec<Tensor<3>> {
    let sq = grads
        .iter()
        .map(|g| {
            let [n, a, b] = g.dims();
            g.clone().powi_scalar(2).reshape([n, a * b]).sum_dim(1).reshape([n, 1, 1])
        })
        .reduce(|s, t| s + t)
        .expect("at least one parameter");
    let scale = sq.sqrt().add_scalar(1e-6).recip().mul_scalar(clip as f32).clamp_max(1.0);
    grads.iter().map(|g| g.clone() * scale.clone()).collect()
}
