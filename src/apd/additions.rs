//! This project's additions to APD as published, for robustness across
//! seeds (docs/robustness.md), kept apart from the paper's algorithm in
//! `mod.rs`:
//! - **restarts** (`apd.restarts`, `apd.restart_pct`): several starts from
//!   other initialisations train for a share of the steps each, and the one
//!   whose top-k model reproduces the target best goes on;
//! - **spare components** (`apd.extra_components`, `apd.prune_at_pct`):
//!   extra components train at first, then the least used are pruned.
//!
//! Neither changes a step's losses or its update: they decide which
//! components a step starts from.
//!
//! Instances side by side run their starts in step (each start is a fresh
//! initialisation of every instance); each instance compares its own, and
//! after the last goes on from its own best, slicing it out of the start
//! that held it.

use super::components::{Adam, ApdModel};
use super::ApdTrainer;
use crate::decomp::restarts::{InstanceStarts, Next, PerInstance};
use crate::error::ApdError;
use crate::rng::Rng;

/// Decay of the moving average of component usage (about the last 200 steps).
const USAGE_DECAY: f64 = 0.995;

/// What a start is made of beyond the step count, for every instance.
pub(super) struct StartState {
    pub model: ApdModel,
    pub optim: Adam,
    /// Per instance and component.
    pub usage: Vec<Vec<f64>>,
    pub n_now: usize,
}

impl PerInstance for StartState {
    fn instance(&self, i: usize) -> StartState {
        StartState { model: self.model.instance(i), optim: self.optim.instance(i), usage: vec![self.usage[i].clone()], n_now: self.n_now }
    }

    fn join(parts: Vec<StartState>) -> StartState {
        let models: Vec<ApdModel> = parts.iter().map(|p| p.model.clone()).collect();
        let optims: Vec<Adam> = parts.iter().map(|p| p.optim.clone()).collect();
        StartState {
            model: ApdModel::join(&models),
            optim: Adam::join(&optims),
            usage: parts.iter().flat_map(|p| p.usage.iter().cloned()).collect(),
            n_now: parts[0].n_now,
        }
    }
}

/// Where the instances' restarts stand: each instance scores its starts by
/// their mean minimality loss over their last quarter.
pub(super) type Restarts = InstanceStarts<StartState, f64>;

/// A start as it begins: all `n_components + extra_components` components,
/// fresh Adam. Start 0 draws from the stream runs without restarts use;
/// each instance from its own seed's.
pub(super) fn fresh_start(t: &ApdTrainer, start: usize) -> StartState {
    let mut init: Vec<Rng> = t
        .seeds
        .iter()
        .map(|&seed| match start {
            0 => Rng::stream(seed, "apd-init"),
            s => Rng::stream(seed, &format!("apd-init-start-{s}")),
        })
        .collect();
    let model = ApdModel::init(&t.config, &t.network.shapes(), &mut init, &t.device);
    let c = t.config.apd.n_components + t.config.apd.extra_components;
    StartState { model, optim: Adam::new(), usage: vec![vec![0.0; c]; t.seeds.len()], n_now: c }
}

/// Per component, how many samples of a batch selected it (`mask`, `B x C`
/// row-major), folded into the moving average `usage`.
pub(super) fn update_usage(usage: &mut [f64], mask: &[f32]) {
    let c = usage.len();
    let mut counts = vec![0.0f64; c];
    for row in mask.chunks(c) {
        for (u, &v) in counts.iter_mut().zip(row) {
            *u += v as f64;
        }
    }
    for (u, n) in usage.iter_mut().zip(counts) {
        *u = USAGE_DECAY * *u + (1.0 - USAGE_DECAY) * n;
    }
}

impl ApdTrainer {
    /// Whether the spare components are due to be pruned before this step.
    pub(super) fn prune_due(&self) -> bool {
        let a = &self.config.apd;
        self.n_now > a.n_components && self.schedule_step() >= a.prune_step()
    }

    /// The start without its extra components: in each instance the ones
    /// top-k selected least often lately (by the moving average of usage)
    /// are dropped, `n_components` kept in their order, and Adam's moments
    /// restart. Faithfulness then makes the kept components take up what
    /// the dropped ones held. Built beside the current state; the step
    /// decides whether it is kept.
    pub(super) async fn pruned(&self) -> Result<StartState, ApdError> {
        let keep_n = self.config.apd.n_components;
        let kept: Vec<_> = self
            .decompositions_now()
            .await?
            .iter()
            .zip(&self.usage)
            .map(|(d, usage)| {
                let mut order: Vec<usize> = (0..self.n_now).collect();
                // Most used first; ties to the lower index, so the choice is deterministic.
                order.sort_by(|&i, &j| usage[j].total_cmp(&usage[i]).then(i.cmp(&j)));
                let mut keep: Vec<usize> = order[..keep_n].to_vec();
                keep.sort();
                d.select(&keep)
            })
            .collect();
        Ok(StartState {
            model: ApdModel::upload(&kept, &self.device),
            optim: Adam::new(),
            usage: vec![vec![0.0; keep_n]; self.seeds.len()],
            n_now: keep_n,
        })
    }

    /// Called after each step while starts are compared, with each
    /// instance's minimality loss: keeps score of this start and, at its
    /// end, sets it aside, then begins the next start or, after the last,
    /// continues each instance's best.
    pub(super) fn track_start(&mut self, minimality: &[f32]) {
        let len = self.config.apd.restart_len();
        let s = self.schedule_step();
        let values: Vec<f64> = minimality.iter().map(|&v| v as f64).collect();
        if !self.restarts.record(s, len, &values) {
            return;
        }
        let current = self.current();
        match self.restarts.finish(self.config.apd.restarts, &current, |_, tail| (tail, tail)) {
            Next::Fresh(start) => {
                drop(current);
                let fresh = fresh_start(self, start);
                let finished = self.swap_start(fresh);
                self.restarts.set_aside(finished, start);
            }
            Next::Restore(best) => {
                self.swap_start(best);
            }
            Next::Keep => {}
        }
    }

    /// The current start's state (its tensors shared, not copied).
    fn current(&self) -> StartState {
        StartState { model: self.model.clone(), optim: self.optim.clone(), usage: self.usage.clone(), n_now: self.n_now }
    }

    /// Makes `s` the current start and returns the one it replaces.
    pub(super) fn swap_start(&mut self, s: StartState) -> StartState {
        StartState {
            model: std::mem::replace(&mut self.model, s.model),
            optim: std::mem::replace(&mut self.optim, s.optim),
            usage: std::mem::replace(&mut self.usage, s.usage),
            n_now: std::mem::replace(&mut self.n_now, s.n_now),
        }
    }

    /// The scores of the starts finished so far (`apd.restarts`): the mean
    /// minimality loss over the last quarter of each; the lowest goes on.
    /// One instance's (a decomposition looked at is one instance).
    pub fn start_scores(&self) -> &[f64] {
        self.only_one();
        &self.restarts.each[0].scores
    }

    /// The start that won the comparison, once it has been made.
    pub fn chosen_start(&self) -> Option<usize> {
        self.only_one();
        self.restarts.each[0].chosen
    }

    /// Which start is training and how many there are, while the starts
    /// are still to be compared; `None` after, or without restarts.
    pub fn start(&self) -> Option<(usize, usize)> {
        let a = &self.config.apd;
        (a.restarts > 0 && self.step < a.selection_step()).then_some((self.restarts.each[0].start, a.restarts + 1))
    }

    /// The step within the schedule (warmup, decay, prune) of the current
    /// start: the losing starts' steps do not count.
    pub(super) fn schedule_step(&self) -> usize {
        self.step - self.restarts.each[0].start * self.config.apd.restart_len()
    }
}
