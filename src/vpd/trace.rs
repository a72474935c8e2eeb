//! The adversary at work, as VPD's own view shows it: the reconstruction
//! under the importances' own masks, under the adversary's and under random
//! ones, over training; and, for a few inputs, the masks the adversary
//! finds worst within what their importances allow.
//!
//! The trace takes a point every hundredth of the schedule's steps (the
//! restarts' starts included) from the step's own batch, after the ascents
//! that precede it (the sources the step trains against), at no cost to the
//! training's draws: its random masks come from a stream of their own.

use super::adversary::Adversary;
use super::{ci, losses, plain, uniform, VpdTrainer};
use crate::config::VpdConfig;
use crate::data::read_vec;
use crate::decomp::network::{stacked, Forward};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// A trace takes a point every `steps / TRACE_POINTS` steps of the
/// schedule, through every start where there are restarts (about 100
/// points a start's length), and one at the last step.
pub const TRACE_POINTS: usize = 100;
/// Inputs the worst-case view looks at.
pub const WORST_INPUTS: usize = 4;
/// Ascent steps the view's search takes on its inputs, from the sources held.
pub const WORST_ASCENTS: usize = 20;
/// Their learning rate: Adam's steps move each source by about this.
const WORST_LR: f64 = 0.05;

/// Reconstruction losses (MSE of the output against the target's) over
/// training, one instance's, on the batch of the step named in `step`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReconTrace {
    /// The steps with a point.
    pub step: Vec<usize>,
    /// Every matrix masked by its lower importances, the residual off.
    pub ci: Vec<f32>,
    /// Every matrix under the adversary's sources (residual included), as
    /// the adversarial half of the batch is trained.
    pub adversarial: Vec<f32>,
    /// Every matrix under uniform random sources.
    pub stochastic: Vec<f32>,
}

impl ReconTrace {
    /// Checks a trace read from a report: as many values of each kind as steps, steps rising.
    pub fn check(&self) -> Result<(), String> {
        let n = self.step.len();
        if self.ci.len() != n || self.adversarial.len() != n || self.stochastic.len() != n || self.step.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("the adversary's trace in the report is not {n} rising steps with a value of each kind at each"));
        }
        Ok(())
    }

    /// Appends one point.
    fn push(&mut self, step: usize, [ci, adversarial, stochastic]: [f32; 3]) {
        self.step.push(step);
        self.ci.push(ci);
        self.adversarial.push(adversarial);
        self.stochastic.push(stochastic);
    }
}

/// One input and the first matrix's masks for it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct WorstInput {
    /// The input.
    pub x: Vec<f32>,
    /// Each subcomponent's (lower) importance: the least its mask can be.
    pub ci: Vec<f32>,
    /// The adversary's mask `g + (1 - g) s` after its search.
    pub mask: Vec<f32>,
    /// The output's MSE against the target's under the importances alone (residual off).
    pub recon_ci: f32,
    /// The same under the adversary's masks on every matrix (its residual source included).
    pub recon_worst: f32,
}

/// The masks the adversary finds worst for a few inputs of the view's batch.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct WorstMasks {
    /// The matrix whose masks are shown (the first).
    pub site: String,
    /// Ascent steps of the search, from the sources held in the first rows.
    pub ascents: usize,
    /// The inputs, each with one feature on, then two, then three where the batch has them.
    pub inputs: Vec<WorstInput>,
}

/// VPD's own view of its adversary.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AdversaryView {
    /// Instance 0's trace.
    pub trace: ReconTrace,
    /// The worst masks for a few inputs.
    pub worst: WorstMasks,
}

impl VpdTrainer {
    /// Whether the step about to run takes a trace point.
    pub(super) fn traces_now(&self) -> bool {
        let every = (self.vpd.steps / TRACE_POINTS).max(1);
        self.step.is_multiple_of(every) || self.step + 1 == self.vpd.plan().total_steps()
    }

    /// The three reconstructions of a trace point on `x` (`3 x N`: the
    /// importances' masks, the adversary's, random ones), unread.
    pub(super) fn trace_point(&self, x: &Tensor<3>, target: &Forward<3>, g: &[Tensor<3>], adversary: &Adversary) -> Tensor<1> {
        let p = self.split(&self.params, plain);
        let (bsz, c) = (x.dims()[1], self.vpd.n_components);
        let mut noises: Vec<Rng> = self.seeds.iter().map(|&s| Rng::stream(s, &format!("vpd-trace-{}", self.step))).collect();
        let random: Vec<Tensor<3>> = (0..self.sites.len()).map(|_| uniform(&mut noises, bsz, c + 1, self.network.device())).collect();
        let recon = |masks: &[Tensor<3>]| losses::reconstruction(self.forward(x.clone(), &p, masks, None, false), target.out.clone());
        Tensor::cat(vec![recon(g), recon(&Self::masks(g, &adversary.sources)), recon(&Self::masks(g, &random))], 0)
    }

    /// Records a trace point read back as `values` (`3 x N`, as [`Self::trace_point`]).
    pub(super) fn record_trace(&mut self, values: &[f32]) {
        let n = self.seeds.len();
        for (i, t) in self.traces.iter_mut().enumerate() {
            t.push(self.step, [values[i], values[n + i], values[2 * n + i]]);
        }
    }

    /// The adversary's view (one instance): its trace, and for up to
    /// [`WORST_INPUTS`] inputs of `xs` (`rows x n`) its search for their
    /// worst masks, [`WORST_ASCENTS`] ascent steps from the sources it
    /// holds in its first rows (sources belong to batch slots, not inputs;
    /// a report keeps those rows, [`Self::held_sources`]).
    pub(super) async fn adversary_view(&self, xs: &[f32], site: String) -> Result<AdversaryView, ApdError> {
        self.only_one();
        let n = self.config.model.n_features();
        let rows = pick_inputs(xs, n, held_slots(&self.vpd));
        let (k, dev) = (rows.len(), self.network.device());
        let picked: Vec<f32> = rows.iter().flat_map(|&r| xs[r * n..(r + 1) * n].iter().copied()).collect();
        let x = stacked(picked.clone(), 1, k, n, dev);
        let target = self.network.target_forward(x.clone());
        let p = self.split(&self.params, plain);
        let g: Vec<Tensor<3>> = self.logits(&target, &p, false).into_iter().map(ci::lower_value).collect();
        let mut adversary = Adversary::new(self.adversary.sources.iter().map(|s| s.clone().narrow(1, 0, k)).collect());
        let fixed = self.split(&self.params, super::constant);
        for _ in 0..WORST_ASCENTS {
            let grads = self.source_gradient(&x, &target, &fixed, &g, &adversary.sources);
            adversary.ascend(WORST_LR, grads);
        }
        let worst = Self::masks(&g, &adversary.sources);
        let per_row = |masks: &[Tensor<3>]| {
            let d = self.forward(x.clone(), &p, masks, None, false) - target.out.clone();
            d.powi_scalar(2).mean_dim(2).reshape([k])
        };
        let c = self.vpd.n_components;
        let read = read_vec(Tensor::cat(
            vec![per_row(&g), per_row(&worst), g[0].clone().reshape([k * c]), worst[0].clone().narrow(2, 0, c).reshape([k * c])],
            0,
        ))
        .await?;
        let inputs = (0..k)
            .map(|i| WorstInput {
                x: picked[i * n..(i + 1) * n].to_vec(),
                recon_ci: read[i],
                recon_worst: read[k + i],
                ci: read[2 * k + i * c..2 * k + (i + 1) * c].to_vec(),
                mask: read[2 * k + k * c + i * c..2 * k + k * c + (i + 1) * c].to_vec(),
            })
            .collect();
        Ok(AdversaryView { trace: self.traces[0].clone(), worst: WorstMasks { site, ascents: WORST_ASCENTS, inputs } })
    }

    /// Per site, the sources the adversary holds in the first
    /// [`WORST_INPUTS`] slots (`k x (C + 1)`, row-major): what a report
    /// keeps, so that the worst-case view of a saved run starts where the
    /// live one did.
    pub(super) async fn held_sources(&self) -> Result<Vec<Vec<f32>>, ApdError> {
        self.only_one();
        let k = held_slots(&self.vpd);
        let mut out = Vec::with_capacity(self.sites.len());
        for s in &self.adversary.sources {
            out.push(read_vec(s.clone().narrow(1, 0, k)).await?);
        }
        Ok(out)
    }

    /// Puts `held` (as [`Self::held_sources`] gives them) back into the
    /// first slots; nothing changes unless every site's fits.
    pub(super) fn restore_held(&mut self, held: &[Vec<f32>]) -> Result<(), String> {
        check_held(held, self.sites.len(), &self.vpd)?;
        let (k, width, bsz) = (held_slots(&self.vpd), self.vpd.n_components + 1, self.vpd.batch_size);
        for (s, h) in self.adversary.sources.iter_mut().zip(held) {
            let kept = stacked(h.clone(), 1, k, width, self.network.device());
            *s = if bsz > k { Tensor::cat(vec![kept, s.clone().narrow(1, k, bsz - k)], 1) } else { kept };
        }
        Ok(())
    }
}

/// The batch slots whose sources a report keeps: as many as the
/// worst-case view shows inputs, or the whole batch if smaller.
fn held_slots(vpd: &VpdConfig) -> usize {
    WORST_INPUTS.min(vpd.batch_size)
}

/// Checks sources kept in a report (as [`VpdTrainer::held_sources`] gives
/// them) against a run of `vpd` with `sites` decomposed matrices: none kept
/// (a report from before they were), or each site's first slots, in [0, 1].
pub fn check_held(held: &[Vec<f32>], sites: usize, vpd: &VpdConfig) -> Result<(), String> {
    let (k, width) = (held_slots(vpd), vpd.n_components + 1);
    if held.is_empty() || (held.len() == sites && held.iter().all(|h| h.len() == k * width && h.iter().all(|v| (0.0..=1.0).contains(v)))) {
        Ok(())
    } else {
        Err(format!("the adversary's sources kept in the report are not {sites} matrices' {k} x {width} values in [0, 1]"))
    }
}

/// Features below this (in magnitude) barely pass the target's ReLU: an
/// input made of such is not worth showing.
const SHOWN_AT_LEAST: f32 = 0.5;

/// Up to `count` rows of `xs` (`rows x n`): the first with one feature on,
/// the first with two, with three, then the next with any on, in that
/// order; each preferring rows whose features are all at least
/// [`SHOWN_AT_LEAST`].
pub fn pick_inputs(xs: &[f32], n: usize, count: usize) -> Vec<usize> {
    let row = |r: usize| &xs[r * n..(r + 1) * n];
    let on = |r: usize| row(r).iter().filter(|&&v| v != 0.0).count();
    let strong = |r: usize| row(r).iter().all(|&v| v == 0.0 || v.abs() >= SHOWN_AT_LEAST);
    let rows = xs.len() / n.max(1);
    let mut out: Vec<usize> = Vec::new();
    for want in 1..=3 {
        let first = |also: &dyn Fn(usize) -> bool| (0..rows).find(|&r| on(r) == want && also(r));
        if let Some(r) = first(&strong).or_else(|| first(&|_| true)) {
            out.push(r);
        }
    }
    for pass in [true, false] {
        for r in 0..rows {
            if out.len() < count && on(r) > 0 && (!pass || strong(r)) && !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out.truncate(count);
    out
}
