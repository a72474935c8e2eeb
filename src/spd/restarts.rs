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

use super::subcomponents::{own_subcomponents, SpdModel};
use super::view::ONE_HOT_VALUE;
use super::SpdTrainer;
use crate::decomp::restarts::{Next, Restarts};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::optim::{AdamWConfig, ModuleOptimizer};

/// SPD's optimiser: AdamW without weight decay, as the reference.
pub(super) fn adamw() -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(0.0).with_epsilon(1e-8).init()
}

/// What a start holds: its parameters and Adam's moments.
pub(super) struct SavedStart {
    model: SpdModel,
    optim: ModuleOptimizer,
}

/// Where the restarts stand: a start is scored by its count of features
/// without a subcomponent of their own, then by its mean total loss over
/// its last quarter.
pub(super) type SpdRestarts = Restarts<SavedStart, (usize, f64)>;

impl SpdTrainer {
    /// A fresh start's parameters: start 0 draws from the stream runs
    /// without restarts use.
    pub(super) fn fresh_model(&self, start: usize) -> SpdModel {
        let mut init = match start {
            0 => Rng::stream(self.seed, "spd-init"),
            s => Rng::stream(self.seed, &format!("spd-init-start-{s}")),
        };
        SpdModel::init(&self.spd, &self.shapes, &mut init, &self.device)
    }

    /// The step within the schedule of the current start: the losing
    /// starts' steps do not count.
    pub(super) fn schedule_step(&self) -> usize {
        self.step - self.restarts.start * self.spd.plan().restart_len()
    }

    /// Called after each step while starts are compared, with the step's
    /// total loss: keeps score of this start and, at its end, sets it aside
    /// if it is the best so far, then begins the next start or, after the
    /// last, continues the best.
    pub(super) async fn track_start(&mut self, total: f32) -> Result<(), ApdError> {
        let len = self.spd.plan().restart_len();
        let s = self.schedule_step();
        if !self.restarts.record(s, len, total as f64) {
            return Ok(());
        }
        let mean_loss = self.restarts.take_tail_mean();
        let (ci, _) = self.one_hot_ci(ONE_HOT_VALUE).await?;
        let own = own_subcomponents(&ci[0], self.spd.n_components).iter().flatten().count();
        let missing = ci[0].len() / self.spd.n_components - own;
        match self.restarts.finish((missing, mean_loss), missing as f64, self.spd.restarts) {
            Next::Keep => {}
            Next::Restore(best) => {
                self.model = best.model;
                self.optim = best.optim;
            }
            Next::Fresh(next) => {
                let fresh = self.fresh_model(next);
                let model = std::mem::replace(&mut self.model, fresh);
                let optim = std::mem::replace(&mut self.optim, adamw());
                self.warmed_up = false;
                self.restarts.set_aside(SavedStart { model, optim });
            }
        }
        Ok(())
    }

    /// Each finished start's count of features without a subcomponent of
    /// their own in the first matrix (`spd.restarts`); the fewest went on.
    pub fn start_scores(&self) -> &[f64] {
        &self.restarts.scores
    }

    /// The start that won the comparison, once it has been made.
    pub fn chosen_start(&self) -> Option<usize> {
        self.restarts.chosen
    }

    /// Which start is training and how many there are, while the starts
    /// are still to be compared; `None` after, or without restarts.
    pub fn start(&self) -> Option<(usize, usize)> {
        let p = self.spd.plan();
        (p.restarts > 0 && self.step < p.selection_step()).then_some((self.restarts.start, p.restarts + 1))
    }
}
