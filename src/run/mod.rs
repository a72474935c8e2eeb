//! A whole run, step by step: train the target (unless one is given), then
//! decompose it. The CLI drives it in a loop; the web worker drives it a few
//! steps per message so the page stays responsive. `together`: several
//! seeds' decompositions in one batched step, ending as runs of their own.

mod together;

use crate::config::ExperimentConfig;
use crate::decomp::evaluation::evaluation;
use crate::decomp::{Decomposer, Saved, StepRecord};
use crate::error::ApdError;
use crate::methods::{plan, Trainer};
use crate::metrics::{metrics, Metrics};
use crate::models::{Target, TargetTrainer};
use crate::report::{params_json, subsample_history, MethodRecord, Report, Starts, Timing};
use crate::views::{views, Views};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// Which part of the run comes next.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Training the target network.
    Target,
    /// Decomposing it.
    Decompose,
    /// Finished.
    Done,
}

/// What one call to [`Run::step`] did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Progress {
    /// A target training step, with its loss.
    Target {
        /// Step index.
        step: usize,
        /// Reconstruction loss.
        loss: f32,
    },
    /// A decomposition step, whatever the method.
    Decompose(StepRecord),
    /// Nothing left to do.
    Done,
}

/// What the page draws, refreshed a few times a second: the phase and, once
/// decomposition has begun, the view data.
#[derive(Serialize)]
pub struct Snapshot {
    /// The phase the next step belongs to.
    pub phase: Phase,
    /// The restarts' comparison so far, for runs with restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts: Option<Starts>,
    /// The view data (empty while the target trains).
    #[serde(flatten)]
    pub views: Views,
}

/// A run: target training, then its method's decomposition.
pub struct Run {
    preset: String,
    config: ExperimentConfig,
    seed: u64,
    device: Device,
    target_trainer: Option<TargetTrainer>,
    target: Option<Target>,
    trainer: Option<Trainer>,
    /// Target loss per step.
    pub target_history: Vec<f32>,
    /// The decomposition's steps.
    pub history: Vec<StepRecord>,
    /// The restarts' comparison of a run continued or shown from a report
    /// (its trainer holds none of its own).
    saved_starts: Option<Starts>,
}

impl Run {
    /// A run of `config` with `seed` on `device`; with `target` given, the
    /// target phase is skipped.
    pub fn new(preset: &str, config: ExperimentConfig, seed: u64, device: &Device, target: Option<Target>) -> Result<Self, ApdError> {
        config.validate()?;
        let mut run = Run::bare(preset, config, seed, device);
        match target {
            Some(t) => run.start_decomposition(t)?,
            None => run.target_trainer = Some(TargetTrainer::new(&run.config, seed, device)?),
        }
        Ok(run)
    }

    /// Continues the decomposition saved in `report` (a checkpoint) on
    /// `device`: same configuration, target and components, from the step
    /// after the report's last one. A checkpoint taken while restarts were
    /// still being compared holds only the start that was training, not the
    /// best one so far, so the decomposition starts over instead (the same
    /// seed gives the same starts again).
    pub fn resume(report: &Report, device: &Device) -> Result<Self, ApdError> {
        let target = report.target()?;
        if report.record.next_step() < plan(&report.config).selection_step() {
            return Run::new(&report.model, report.config.clone(), report.seed, device, Some(target));
        }
        Run::holding(report, device, target, true)
    }

    /// A finished (or paused) run holding a report's target, components and
    /// history, to look at: its snapshot and metrics are those of the report's
    /// components, whatever step they were saved at.
    pub fn of_report(report: &Report, device: &Device) -> Result<Self, ApdError> {
        Run::holding(report, device, report.target()?, false)
    }

    /// A run in its decomposition phase holding `report`'s components,
    /// state, settings and history; `resume` readies it to go on training.
    fn holding(report: &Report, device: &Device, target: Target, resume: bool) -> Result<Run, ApdError> {
        let saved = Saved { components: &report.components, state: &report.record.state, step: report.record.next_step() };
        let trainer = Trainer::of_saved(&report.config, &target, report.seed, device, saved, resume)?;
        let run = Run::decomposing(&report.model, &report.config, report.seed, device, target, trainer, report.record.history.clone());
        Ok(Run { saved_starts: report.starts.clone(), ..run })
    }

    /// A run in its decomposition phase: `trainer` on `target`, with the steps of `history` behind it.
    fn decomposing(
        preset: &str,
        config: &ExperimentConfig,
        seed: u64,
        device: &Device,
        target: Target,
        trainer: Trainer,
        history: Vec<StepRecord>,
    ) -> Run {
        Run { target: Some(target), trainer: Some(trainer), history, ..Run::bare(preset, config.clone(), seed, device) }
    }

    /// A run with nothing in it yet: no target, no trainer, no history.
    fn bare(preset: &str, config: ExperimentConfig, seed: u64, device: &Device) -> Run {
        Run {
            preset: preset.to_string(),
            config,
            seed,
            device: device.clone(),
            target_trainer: None,
            target: None,
            trainer: None,
            target_history: Vec::new(),
            history: Vec::new(),
            saved_starts: None,
        }
    }

    fn start_decomposition(&mut self, target: Target) -> Result<(), ApdError> {
        let trainer = Trainer::with_seeds(&self.config, std::slice::from_ref(&target), &[self.seed], &self.device)?;
        self.trainer = Some(trainer);
        self.target = Some(target);
        Ok(())
    }

    /// The phase the next step belongs to.
    pub fn phase(&self) -> Phase {
        match &self.trainer {
            Some(t) if t.done() => Phase::Done,
            Some(_) => Phase::Decompose,
            None => Phase::Target,
        }
    }

    /// The method's trainer, once the decomposition has started.
    pub fn trainer(&self) -> Option<&Trainer> {
        self.trainer.as_ref()
    }

    /// Preset name.
    pub fn preset(&self) -> &str {
        &self.preset
    }

    /// Configuration.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The trained target, once the target phase is over.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// Decomposition steps taken, as the trainer counts them: a resumed
    /// run's history is its report's, thinned to a few thousand entries, so
    /// its length is no step count.
    pub fn decomp_step(&self) -> usize {
        self.trainer.as_ref().map_or(0, Trainer::step_count)
    }

    /// While restarts are compared: which start (from 0) of how many.
    pub fn start(&self) -> Option<(usize, usize)> {
        self.trainer.as_ref().and_then(Trainer::start)
    }

    /// One step of the current phase.
    pub async fn step(&mut self) -> Result<Progress, ApdError> {
        if let Some(tt) = self.target_trainer.as_mut() {
            if !tt.done() {
                let step = tt.step_count();
                let loss = tt.step().await?;
                self.target_history.push(loss);
                return Ok(Progress::Target { step, loss });
            }
            let target = tt.target().await?;
            self.target_trainer = None;
            self.start_decomposition(target)?;
        }
        let trainer = self.trainer.as_mut().expect("the decomposition starts when the target is ready");
        if trainer.done() {
            return Ok(Progress::Done);
        }
        let record = trainer.train_step().await?.swap_remove(0);
        self.history.push(record.clone());
        Ok(Progress::Decompose(record))
    }

    /// What the page draws now; `curve_feature` picks the residual MLP's
    /// response curve.
    pub async fn snapshot(&self, curve_feature: usize) -> Result<Snapshot, ApdError> {
        let views = match (&self.trainer, &self.target) {
            (Some(trainer), Some(target)) => {
                let mut v = views(trainer, target, self.mean_active(), curve_feature).await?;
                if let Some(own) = trainer.own_view().await? {
                    v.own.insert(trainer.name().name().to_string(), own);
                }
                v
            }
            _ => Views::default(),
        };
        Ok(Snapshot { phase: self.phase(), starts: self.starts(), views })
    }

    /// The restarts' comparison so far: the trainer's, or the report's this
    /// run was continued or shown from; `None` without restarts.
    pub fn starts(&self) -> Option<Starts> {
        let (scores, kept) = match &self.trainer {
            Some(t) => (t.start_scores(), t.chosen_start()),
            None => (&[][..], None),
        };
        if scores.is_empty() {
            return self.saved_starts.clone();
        }
        Some(Starts { scores: scores.iter().map(|&s| s as f32).collect(), kept })
    }

    /// The recovery figures of the decomposition as it is now (`None`
    /// before it starts), recomputed from the components.
    pub async fn metrics(&self) -> Result<Option<Metrics>, ApdError> {
        let (Some(target), Some(trainer)) = (&self.target, &self.trainer) else { return Ok(None) };
        let d = trainer.decomposition().await?;
        Ok(Some(metrics(trainer, target, &d, self.mean_active()).await?))
    }

    /// Mean number of active components per sample in the last step.
    fn mean_active(&self) -> f32 {
        self.history.last().map_or(0.0, |s| s.mean_active)
    }

    /// The report of the decomposition so far (`None` before it starts).
    pub async fn report(&self, wall_s: f64, backend: &str) -> Result<Option<Report>, ApdError> {
        self.report_with(wall_s, backend, true).await
    }

    /// [`Run::report`], with the field's evaluation only where `evaluate`:
    /// a checkpoint (what a run is continued from, which the page keeps
    /// every 10 s) and an export of the weights go without it, for its
    /// worst-case search was most of a report's cost (seconds a time on a
    /// residual MLP in the page).
    pub async fn report_with(&self, wall_s: f64, backend: &str, evaluate: bool) -> Result<Option<Report>, ApdError> {
        let (Some(trainer), Some(target)) = (&self.trainer, &self.target) else { return Ok(None) };
        let components = trainer.decomposition().await?;
        let metrics = metrics(trainer, target, &components, self.mean_active()).await?;
        Ok(Some(Report {
            model: self.preset.clone(),
            config: self.config.clone(),
            seed: self.seed,
            metrics,
            record: MethodRecord {
                method: trainer.name(),
                history: subsample_history(&self.history),
                losses: self.history.last().cloned(),
                state: trainer.state().await?,
            },
            components,
            target: params_json(target),
            timing: Timing {
                steps_per_sec: if wall_s > 0.0 { (trainer.step_count() as f64 / wall_s) as f32 } else { 0.0 },
                wall_s: wall_s as f32,
                backend: backend.to_string(),
            },
            scale: Some(trainer.scale().clone()),
            starts: self.starts(),
            evaluation: if evaluate { Some(evaluation(trainer, &target.model).await?) } else { None },
        }))
    }
}
