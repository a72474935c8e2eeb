//! Stochastic Parameter Decomposition (spec section 5), one training step at
//! a time. Each decomposed matrix (the tied TMS decoder `W^T` as a matrix of
//! its own) gets C rank-one subcomponents `V[:, c] U[c, :]`; small MLPs
//! read each input's inner activations and say how much it needs each
//! subcomponent (its causal importance); training runs the network with the
//! unimportant subcomponents randomly masked.
//!
//! - [`ci`]: the hard sigmoids and the causal-importance MLPs.
//! - [`losses`]: the loss terms, one function each.
//! - [`subcomponents`]: the parameters, their initialisation, and checks.
//! - `decomposer`: SPD as a [`crate::decomp::Decomposer`].
//! - `restarts`: this project's addition, several starts of which the best goes on.
//! - this module: the parameters and one training step.
//!
//! Size: about 480 lines, because one step holds the masks, the delta
//! component and the revive sigmoid's two backward passes together, where
//! their shared tensors can be read in one place; what stands alone
//! (sigmoids, gates, losses, parameters, restarts, views) has its own file.

pub mod ci;
mod decomposer;
pub mod losses;
mod restarts;
pub mod subcomponents;
pub mod view;

use crate::config::{lr_at, ChainLayer, ExperimentConfig, LowerSigmoid, ModelConfig, SpdConfig};
use crate::data::{matrix, read_vec, resid_batch, tms_batch};
use crate::decomp::network::{chain_weight, Arch, Forward};
use crate::decomp::scale::Rescale;
use crate::decomp::{Decomposition, FactorPair, Network};
use crate::error::ApdError;
use crate::models::Target;
use crate::rng::Rng;
use burn::module::Param;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use ci::{lower_leaky, upper_leaky, GateValues, Gates, LEAK};
pub use subcomponents::{alive_counts, check_fits, own_counts, own_in_any, own_in_some_w_in, own_subcomponents, SpdModel};
use serde::{Deserialize, Serialize};

/// A loss term above this counts as divergence, as in APD.
pub const EXPLODED_LOSS: f32 = 1e10;

/// The faithfulness warmup's learning rate (the reference's TMS configs).
const WARMUP_LR: f64 = 0.01;

/// A subcomponent counts as alive for an input when its importance is above this.
pub const ALIVE_CI: f32 = 0.1;

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
pub fn spd_matrices(network: &Network) -> Vec<ChainLayer> {
    match &network.arch {
        Arch::Tms { chain, .. } => chain.clone(),
        Arch::Resid { .. } => (0..network.weights.len()).map(ChainLayer::Own).collect(),
    }
}

/// SPD of one target, step by step.
pub struct SpdTrainer {
    config: ExperimentConfig,
    spd: SpdConfig,
    network: Network,
    rescale: Rescale,
    matrices: Vec<ChainLayer>,
    model: SpdModel,
    optim: ModuleOptimizer,
    rng: Rng,
    noise: Rng,
    device: Device,
    step: usize,
    last_active: Vec<u16>,
    warmed_up: bool,
    seed: u64,
    shapes: Vec<(usize, usize)>,
    restarts: restarts::SpdRestarts,
}

impl SpdTrainer {
    /// Sets up SPD on `target` from fresh parameters.
    pub fn new(config: &ExperimentConfig, target: &Target, seed: u64, device: &Device) -> Result<Self, ApdError> {
        let (network, rescale) = Network::working(config, target, device)?;
        let spd = config.spd.clone().ok_or_else(|| ApdError::Mismatch("an SPD run needs the spd settings".into()))?;
        let matrices = spd_matrices(&network);
        let shapes: Vec<(usize, usize)> = matrices
            .iter()
            .map(|s| {
                let [r, c] = chain_weight(&network.weights, *s).dims();
                (r, c)
            })
            .collect();
        let ad = device.clone().autodiff();
        let model = SpdModel::init(&spd, &shapes, &mut Rng::stream(seed, "spd-init"), &ad);
        Ok(SpdTrainer {
            config: config.clone(),
            optim: restarts::adamw(),
            spd,
            network,
            rescale,
            matrices,
            model,
            rng: Rng::stream(seed, "spd-data"),
            noise: Rng::stream(seed, "spd-masks"),
            device: ad,
            step: 0,
            last_active: Vec::new(),
            warmed_up: false,
            seed,
            shapes,
            restarts: Default::default(),
        })
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
        check_fits(d, gates, config, &t.network).map_err(ApdError::Mismatch)?;
        let working = t.rescale.to_working_of(d, &t.matrices);
        let (c, g) = (t.spd.n_components, t.spd.d_gate);
        let p = |v: &[f32], r: usize, k: usize| Param::from_tensor(matrix(v.to_vec(), r, k, &t.device).require_grad());
        t.model = SpdModel {
            v: working.layers.iter().map(|f| p(&f.a, f.d_in, c)).collect(),
            u: working.layers.iter().map(|f| p(&f.b, c, f.d_out)).collect(),
            gates: gates.iter().map(|v| Gates::of_values(v, c, g, &t.device)).collect(),
        };
        let plan = t.spd.plan();
        if step > plan.total_steps() {
            return Err(ApdError::Mismatch(format!("the subcomponents are at step {step}, past the run's {}", plan.total_steps())));
        }
        t.step = step;
        t.warmed_up = step > 0;
        // Past the comparison the kept start goes on; before it, the start this step belongs to.
        t.restarts.start = if step >= plan.selection_step() { t.spd.restarts } else { step / plan.restart_len() };
        t.rng = Rng::stream(seed, &format!("spd-data-resumed-at-{step}"));
        t.noise = Rng::stream(seed, &format!("spd-masks-resumed-at-{step}"));
        Ok(t)
    }

    /// The causal-importance MLPs, read back.
    pub async fn gate_values(&self) -> Result<Vec<GateValues>, ApdError> {
        let mut out = Vec::new();
        for g in &self.model.gates {
            out.push(g.values().await?);
        }
        Ok(out)
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

    /// Position of a chain entry among the decomposed matrices.
    fn index_of(&self, layer: ChainLayer) -> usize {
        self.matrices.iter().position(|&m| m == layer).expect("every chain entry is decomposed")
    }

    /// A fresh training batch drawn from `rng`.
    fn batch(&self, rng: &mut Rng) -> Tensor<2> {
        self.batch_of(rng, self.spd.batch_size)
    }

    /// `bsz` inputs drawn as training draws them, from `rng`.
    fn batch_of(&self, rng: &mut Rng, bsz: usize) -> Tensor<2> {
        let (n, p) = (self.config.model.n_features(), self.config.model.feature_prob());
        let x = match &self.config.model {
            ModelConfig::Tms(_) => tms_batch(rng, bsz, n, p),
            ModelConfig::ResidMlp(_) => resid_batch(rng, bsz, n, p),
        };
        matrix(x, bsz, n, self.network.device())
    }

    /// The pre-sigmoid importances `z` of every matrix from the target's
    /// forward pass `target` (its inputs to each matrix), through `v`.
    fn gate_logits(&self, target: &Forward, v: &[Tensor<2>], autodiff: bool) -> Vec<Tensor<2>> {
        target
            .inputs
            .iter()
            .zip(v)
            .zip(&self.model.gates)
            .map(|((a, v), g)| {
                if autodiff {
                    g.forward(a.clone().autodiff().matmul(v.clone()))
                } else {
                    g.forward_inner(a.clone().matmul(v.clone()))
                }
            })
            .collect()
    }

    /// Uniform noise, `B x C` per matrix, from the host stream.
    fn uniform(&self, noise: &mut Rng, bsz: usize) -> Vec<Tensor<2>> {
        let c = self.spd.n_components;
        self.matrices.iter().map(|_| matrix((0..bsz * c).map(|_| noise.uniform()).collect(), bsz, c, &self.device)).collect()
    }

    /// The network on `x` with matrix l computing `((h V_l) * mask_l) U_l`,
    /// for every l or (`only`) for one, the others at the target's weights.
    /// With `delta` (`W_l - V_l U_l` and a `B x 1` mask per matrix), a
    /// masked matrix also adds `(h delta_l) * mask`.
    #[allow(clippy::too_many_arguments)]
    fn masked_forward(&self, x: Tensor<2>, v: &[Tensor<2>], u: &[Tensor<2>], masks: &[Tensor<2>], delta: Option<(&[Tensor<2>], &[Tensor<2>])>, only: Option<usize>, autodiff: bool) -> Tensor<2> {
        let lift = |t: Tensor<2>| if autodiff { t.autodiff() } else { t };
        self.network
            .forward_by(lift(x), autodiff, |layer, h| {
                let l = self.index_of(layer);
                match only {
                    Some(k) if k != l => h.matmul(lift(chain_weight(&self.network.weights, layer))),
                    _ => {
                        let out = (h.clone().matmul(v[l].clone()) * masks[l].clone()).matmul(u[l].clone());
                        match delta {
                            Some((d, m)) => out + h.matmul(d[l].clone()) * m[l].clone(),
                            None => out,
                        }
                    }
                }
            })
            .out
    }

    /// The masks' importance from `z`: the lower sigmoid the settings name
    /// (in the forward pass, revive is the plain hard sigmoid).
    fn lower(&self, z: Tensor<2>) -> Tensor<2> {
        match self.spd.lower_sigmoid {
            LowerSigmoid::Leaky => lower_leaky(z),
            LowerSigmoid::Revive => z.clamp(0.0, 1.0),
        }
    }

    /// Uniform noise, one value per sample (`B x 1`) per matrix: the delta
    /// component's masks.
    fn uniform_rows(&self, noise: &mut Rng, bsz: usize) -> Vec<Tensor<2>> {
        self.matrices.iter().map(|_| matrix((0..bsz).map(|_| noise.uniform()).collect(), bsz, 1, &self.device)).collect()
    }

    /// The target's decomposed matrices, in order, lifted for autodiff
    /// when `autodiff` (the untied TMS decoder as a matrix of its own).
    fn target_weights(&self, autodiff: bool) -> Vec<Tensor<2>> {
        self.matrices
            .iter()
            .map(|&s| {
                let w = chain_weight(&self.network.weights, s);
                if autodiff { w.autodiff() } else { w }
            })
            .collect()
    }

    /// `W_l - V_l U_l` for every matrix (`ws` the target's): what the subcomponents miss.
    fn deltas(ws: &[Tensor<2>], v: &[Tensor<2>], u: &[Tensor<2>]) -> Vec<Tensor<2>> {
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
            let grads = GradientsParams::from_grads(losses::faithfulness_loss(&ws, &v, &u).backward(), &self.model);
            apply(&mut self.model, &mut optim, WARMUP_LR, grads);
        }
    }

    /// One SPD step: causal importances, stochastic masks, the four losses,
    /// AdamW. As in APD, the state changes only once the losses are known to
    /// be finite; [`ApdError::Diverged`] says why otherwise.
    ///
    /// With `lower_sigmoid = revive` the gradient reaching `z <= 0` depends
    /// on the sign of the gradient arriving at the mask, which no chain of
    /// tensor operations knows in the forward pass. So that step takes two
    /// backward passes: the reconstruction losses with the masks as leaves
    /// (which gives V, U their gradient there and the masks theirs), then the
    /// importance loss plus `sum g * dL/dg`, where `g` is built so that its
    /// gradient is the revive sigmoid's for the sign just read; the two
    /// gradients add up to the one PyTorch's custom backward gives.
    pub async fn step(&mut self) -> Result<SpdStepStats, ApdError> {
        let cfg = self.spd.clone();
        if !self.warmed_up {
            self.faithfulness_warmup();
            self.warmed_up = true;
        }
        let lr = lr_at(self.schedule_step(), cfg.steps, cfg.lr, cfg.lr_warmup_pct, cfg.lr_schedule);
        let Computed { rng, noise, vals, alive, grads } = self.forward_backward().await?;
        apply(&mut self.model, &mut self.optim, lr, grads);
        self.rng = rng;
        self.noise = noise;
        self.last_active = alive.iter().map(|&k| k as u16).collect();
        let stats = SpdStepStats {
            step: self.step,
            lr: lr as f32,
            faithfulness: vals[0],
            stochastic: vals[1],
            layerwise: vals[2],
            importance: vals[3],
            total: vals[4],
            mean_active: alive.iter().sum::<f32>() / alive.len().max(1) as f32,
        };
        self.step += 1;
        if cfg.restarts > 0 && self.step <= cfg.plan().selection_step() {
            self.track_start(vals[4]).await?;
        }
        Ok(stats)
    }

    /// The gradient the next step would apply, read back per parameter:
    /// every V, every U, then each matrix's gates (w1, b1, w2, b2). The
    /// state is unchanged. For tests of the gradient itself, which the
    /// optimiser's first step (about lr times its sign) would hide.
    pub async fn next_gradient(&self) -> Result<Vec<Vec<f32>>, ApdError> {
        let grads = self.forward_backward().await?.grads;
        let mut out = Vec::new();
        for id in param_ids(&self.model) {
            out.push(match grads.get::<2>(id) {
                Some(g) => read_vec(g).await?,
                None => Vec::new(),
            });
        }
        Ok(out)
    }

    /// One step's draws, losses and gradient, without changing the state.
    async fn forward_backward(&self) -> Result<Computed, ApdError> {
        let cfg = self.spd.clone();
        let (mut rng, mut noise) = (self.rng.clone(), self.noise.clone());
        let x = self.batch(&mut rng);
        let target = self.network.target_forward(x.clone());
        let (v, u) = self.model.tracked();
        let z = self.gate_logits(&target, &v, true);
        let revive = cfg.lower_sigmoid == LowerSigmoid::Revive;
        let g: Vec<Tensor<2>> = z.iter().map(|z| self.lower(z.clone())).collect();
        let g_up: Vec<Tensor<2>> = z.iter().cloned().map(upper_leaky).collect();
        let (u_all, u_one) = (self.uniform(&mut noise, cfg.batch_size), self.uniform(&mut noise, cfg.batch_size));
        let delta_masks = cfg.delta_component.then(|| (self.uniform_rows(&mut noise, cfg.batch_size), self.uniform_rows(&mut noise, cfg.batch_size)));
        let masks = |r: &[Tensor<2>]| -> Vec<Tensor<2>> {
            g.iter()
                .zip(r)
                .map(|(g, r)| {
                    let m = g.clone() + (g.clone().neg().add_scalar(1.0)) * r.clone();
                    if revive { m.detach().require_grad() } else { m }
                })
                .collect()
        };
        let (all, one) = (masks(&u_all), masks(&u_one));
        let ws = self.target_weights(true);
        let deltas = cfg.delta_component.then(|| Self::deltas(&ws, &v, &u));
        let with_delta = |k: usize| deltas.as_ref().zip(delta_masks.as_ref()).map(|(d, (ma, mo))| (d.as_slice(), if k == 0 { ma.as_slice() } else { mo.as_slice() }));
        let target_out = target.out.clone().autodiff();
        let l_r = losses::reconstruction_loss(self.masked_forward(x.clone(), &v, &u, &all, with_delta(0), None, true), target_out.clone());
        let n = self.matrices.len();
        let mut l_rl = losses::reconstruction_loss(self.masked_forward(x.clone(), &v, &u, &one, with_delta(1), Some(0), true), target_out.clone());
        for l in 1..n {
            l_rl = l_rl + losses::reconstruction_loss(self.masked_forward(x.clone(), &v, &u, &one, with_delta(1), Some(l), true), target_out.clone());
        }
        let l_rl = l_rl.div_scalar(n as f32);
        let l_f = losses::faithfulness_loss(&ws, &v, &u);
        let l_i = losses::importance_minimality_loss(&g_up, cfg.importance_p);
        let recon = l_f.clone().mul_scalar(cfg.coeff_faithfulness)
            + l_r.clone().mul_scalar(cfg.coeff_stochastic)
            + l_rl.clone().mul_scalar(cfg.coeff_layerwise);
        let penalty = l_i.clone().mul_scalar(cfg.coeff_importance);
        let total = recon.clone().inner() + penalty.clone().inner();
        let alive = g[0].clone().inner().greater_elem(ALIVE_CI).float().sum_dim(1).reshape([cfg.batch_size]);
        // One read per step (the losses, then each sample's alive count): on a GPU each read waits for the queue.
        let parts = Tensor::cat(vec![l_f.inner(), l_r.inner(), l_rl.inner(), l_i.inner(), total, alive], 0);
        let read = read_vec(parts).await?;
        let (vals, alive) = read.split_at(5);
        if let Some(bad) = vals.iter().find(|v| !v.is_finite() || v.abs() > EXPLODED_LOSS) {
            return Err(ApdError::Diverged {
                step: self.step,
                message: format!(
                    "a loss term became {bad} at SPD step {}; the subcomponents were kept as they were before it. Try a lower spd.lr (now {}).",
                    self.step, cfg.lr
                ),
            });
        }
        let grads = if revive {
            let first = recon.backward();
            let dg: Vec<Tensor<2>> = (0..n)
                .map(|l| {
                    let part = |m: &Tensor<2>, r: &Tensor<2>| m.grad(&first).map(|d| d * r.clone().inner().neg().add_scalar(1.0));
                    match (part(&all[l], &u_all[l]), part(&one[l], &u_one[l])) {
                        (Some(a), Some(b)) => a + b,
                        (Some(a), None) | (None, Some(a)) => a,
                        (None, None) => u_all[l].clone().inner().zeros_like(),
                    }
                })
                .collect();
            let mut second = penalty;
            for (z, dg) in z.iter().zip(dg) {
                let raise = dg.clone().lower_elem(0.0).float().autodiff();
                let g = z.clone().clamp(0.0, 1.0) + z.clone().clamp_max(0.0).mul_scalar(LEAK) * raise;
                second = second + (g * dg.autodiff()).sum();
            }
            let mut grads = GradientsParams::from_grads(first, &self.model);
            let more = GradientsParams::from_grads(second.backward(), &self.model);
            add_grads(&mut grads, more, &self.model);
            grads
        } else {
            GradientsParams::from_grads((recon + penalty).backward(), &self.model)
        };
        Ok(Computed { rng, noise, vals: vals.to_vec(), alive: alive.to_vec(), grads })
    }

    /// The causal importances (lower sigmoid) of every matrix on `x`, without autodiff.
    pub fn importances_all(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        let target = self.network.target_forward(x);
        let (v, _) = self.model.factors();
        self.gate_logits(&target, &v, false).into_iter().map(|z| self.lower(z)).collect()
    }

    /// Per matrix, the causal importances of the inputs with one feature on
    /// at `value` (`n x C`, row-major): lower (the masks') and upper (the
    /// penalised) sigmoid.
    pub async fn one_hot_ci(&self, value: f32) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), ApdError> {
        let n = self.network.model.n_features();
        let x = matrix(crate::data::one_feature_rows(n, 0..n, &[value]), n, n, self.network.device());
        let target = self.network.target_forward(x);
        let (v, _) = self.model.factors();
        let (mut lower, mut upper) = (Vec::new(), Vec::new());
        for z in self.gate_logits(&target, &v, false) {
            lower.push(read_vec(self.lower(z.clone())).await?);
            upper.push(read_vec(upper_leaky(z)).await?);
        }
        Ok((lower, upper))
    }

    /// The decomposed matrices' names; the untied TMS decoder is `W^T`.
    pub fn matrix_names(&self) -> Vec<String> {
        self.matrices
            .iter()
            .map(|src| match *src {
                ChainLayer::Own(l) => self.network.names[l].clone(),
                ChainLayer::Tied(l) => format!("{}^T", self.network.names[l]),
            })
            .collect()
    }

    /// The factors at the working scale, read back: one rank-one
    /// subcomponent per column of `V` and row of `U`.
    async fn decomposition_now(&self) -> Result<Decomposition, ApdError> {
        let (v, u) = self.model.factors();
        let mut layers = Vec::new();
        for ((name, v), u) in self.matrix_names().into_iter().zip(v).zip(u) {
            let [d_in, _] = v.dims();
            let [_, d_out] = u.dims();
            layers.push(FactorPair { name, d_in, d_out, a: read_vec(v).await?, b: read_vec(u).await? });
        }
        Ok(Decomposition { n_components: self.spd.n_components, rank: 1, layers })
    }
}

// Native only: they block on reads with pollster, a native dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

/// What one step computes before it changes anything.
struct Computed {
    rng: Rng,
    noise: Rng,
    /// Faithfulness, stochastic, layerwise, importance, total.
    vals: Vec<f32>,
    /// Each sample's subcomponents of the first matrix above [`ALIVE_CI`].
    alive: Vec<f32>,
    grads: GradientsParams,
}

/// Applies `grads` to `model` with `optim` at `lr`.
fn apply(model: &mut SpdModel, optim: &mut ModuleOptimizer, lr: f64, grads: GradientsParams) {
    let taken = std::mem::replace(model, SpdModel { v: Vec::new(), u: Vec::new(), gates: Vec::new() });
    *model = optim.step(lr, taken, grads);
}

/// Every parameter's id: every V, every U, then each matrix's gates.
fn param_ids(model: &SpdModel) -> Vec<burn::module::ParamId> {
    model.v.iter().chain(&model.u).map(|p| p.id).chain(model.gates.iter().flat_map(|g| [g.w1.id, g.b1.id, g.w2.id, g.b2.id])).collect()
}

/// Adds `more` into `grads`, parameter by parameter (every SPD parameter is a matrix).
fn add_grads(grads: &mut GradientsParams, mut more: GradientsParams, model: &SpdModel) {
    for id in param_ids(model) {
        if let Some(b) = more.remove::<2>(id) {
            let sum = match grads.remove::<2>(id) {
                Some(a) => a + b,
                None => b,
            };
            grads.register(id, sum);
        }
    }
}
