//! This project's addition to SPD as published: restarts (`spd.restarts`,
//! `spd.restart_pct`). SPD's failures on the small TMS models depend on the
//! start more than on the target (docs/spd.md): in a failed start two
//! features share one subcomponent of W, or a feature is spread over two,
//! and that is settled a quarter of the way in. So several starts train for
//! a share of the steps each, and the one in which the most features alone
//! each need a subcomponent of the first matrix of their own (the
//! reference's own check of a decomposition, on one-hot inputs; it does not
//! look at the target's weights) goes on through the rest of its schedule;
//! between starts with as many, the lower mean loss over the start's last
//! quarter. Like APD's restarts they do not change a step, only which
//! subcomponents a step starts from.

use super::subcomponents::{SpdModel, SpdValues};
use super::view::ONE_HOT_VALUE;
use super::SpdTrainer;
use crate::decomp::adam::Adam;
use crate::decomp::restarts::{end_start, InstanceStarts, PerInstance, ScoredStarts};
use crate::error::ApdError;
use crate::rng::Rng;

/// What a start holds: its parameters and Adam's moments.
pub(crate) struct SavedStart {
    model: SpdModel,
    optim: Adam,
}

impl PerInstance for SavedStart {
    fn instance(&self, i: usize) -> SavedStart {
        SavedStart { model: self.model.instance(i), optim: self.optim.instance(i) }
    }

    fn join(parts: Vec<SavedStart>) -> SavedStart {
        let (models, optims): (Vec<SpdModel>, Vec<Adam>) = parts.into_iter().map(|p| (p.model, p.optim)).unzip();
        SavedStart { model: SpdModel::join(&models), optim: Adam::join(&optims) }
    }
}

/// Where the instances' restarts stand: each scores its starts by their
/// count of features without a subcomponent of their own, then by their
/// mean total loss over their last quarter.
pub(crate) type SpdRestarts = InstanceStarts<SavedStart, (usize, f64)>;

impl ScoredStarts for SpdTrainer {
    type Saved = SavedStart;

    fn starts(&mut self) -> &mut SpdRestarts {
        &mut self.restarts
    }

    fn save(&self) -> SavedStart {
        SavedStart { model: self.model.clone(), optim: self.optim.clone() }
    }

    fn begin(&mut self, start: usize) -> SavedStart {
        let fresh = self.fresh_model(start);
        self.warmed_up = false;
        SavedStart { model: std::mem::replace(&mut self.model, fresh), optim: std::mem::replace(&mut self.optim, Adam::new()) }
    }

    fn restore(&mut self, saved: SavedStart) {
        self.model = saved.model;
        self.optim = saved.optim;
    }
}

impl SpdTrainer {
    /// A fresh start's parameters for every instance: start 0 draws from
    /// the stream runs without restarts use.
    pub(super) fn fresh_model(&self, start: usize) -> SpdModel {
        let parts: Vec<SpdValues> = self
            .seeds
            .iter()
            .map(|&seed| {
                let mut init = match start {
                    0 => Rng::stream(seed, "spd-init"),
                    s => Rng::stream(seed, &format!("spd-init-start-{s}")),
                };
                SpdValues::init(&self.spd, &self.shapes, &mut init)
            })
            .collect();
        SpdModel::stacked(&parts, &self.shapes, self.spd.n_components, self.spd.d_gate, &self.device)
    }

    /// The step within the schedule of the current start: the losing
    /// starts' steps do not count.
    pub(super) fn schedule_step(&self) -> usize {
        self.step - self.restarts.each[0].start * self.spd.plan().restart_len()
    }

    /// Called after each step while starts are compared, with each
    /// instance's total loss: keeps score of this start and, at its end,
    /// sets it aside, then begins the next start or, after the last,
    /// continues each instance's best.
    pub(super) async fn track_start(&mut self, totals: &[f32]) -> Result<(), ApdError> {
        let len = self.spd.plan().restart_len();
        let s = self.schedule_step();
        let values: Vec<f64> = totals.iter().map(|&v| v as f64).collect();
        if !self.restarts.record(s, len, &values) {
            return Ok(());
        }
        let (ci, _) = self.one_hot_ci_of(ONE_HOT_VALUE, 1, false).await?;
        let first: Vec<Vec<f32>> = ci.into_iter().map(|mut m| m.swap_remove(0)).collect();
        end_start(self, &first, self.spd.n_components, self.spd.restarts);
        Ok(())
    }

    /// Each finished start's count of features without a subcomponent of
    /// their own in the first matrix (`spd.restarts`); the fewest went on.
    /// For one decomposition; [`SpdTrainer::starts_all`] gives every instance's.
    pub fn start_scores(&self) -> &[f64] {
        self.only_one();
        &self.restarts.each[0].scores
    }

    /// The start that won the comparison, once it has been made (one decomposition).
    pub fn chosen_start(&self) -> Option<usize> {
        self.only_one();
        self.restarts.each[0].chosen
    }

    /// Per instance, the scores of its starts and the one it went on from.
    pub fn starts_all(&self) -> Vec<(Vec<f64>, Option<usize>)> {
        self.restarts.each.iter().map(|r| (r.scores.clone(), r.chosen)).collect()
    }

    /// Which start is training and how many there are, while the starts
    /// are still to be compared; `None` after, or without restarts.
    pub fn start(&self) -> Option<(usize, usize)> {
        let p = self.spd.plan();
        (p.restarts > 0 && self.step < p.selection_step()).then_some((self.restarts.each[0].start, p.restarts + 1))
    }
}
