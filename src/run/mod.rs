//! A whole run, step by step: train the target (unless one is given), then
//! decompose it. The CLI drives it in a loop; the web worker drives it a few
//! steps per message so the page stays responsive. `together`: several
//! seeds' decompositions in one batched step, ending as runs of their own.

mod together;

use crate::apd::{ApdTrainer, StepStats};
use crate::config::{ExperimentConfig, Method};
use crate::decomp::Decomposer;
use crate::error::ApdError;
use crate::metrics::{metrics, Metrics};
use crate::models::{Target, TargetTrainer};
use crate::report::{params_json, subsample_history, Losses, Report, SpdRecord, Starts, Timing};
use crate::spd::{SpdStepStats, SpdTrainer};
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
    /// An APD step.
    Apd(StepStats),
    /// An SPD step.
    Spd(SpdStepStats),
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

/// A run: target training, then APD or SPD.
pub struct Run {
    preset: String,
    config: ExperimentConfig,
    seed: u64,
    device: Device,
    target_trainer: Option<TargetTrainer>,
    target: Option<Target>,
    apd: Option<ApdTrainer>,
    spd: Option<SpdTrainer>,
    /// SPD losses per step.
    pub spd_history: Vec<SpdStepStats>,
    /// Target loss per step.
    pub target_history: Vec<f32>,
    /// APD losses per step.
    pub history: Vec<StepStats>,
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
            Some(t) => run.start_apd(t)?,
            None => run.target_trainer = Some(TargetTrainer::new(&run.config, seed, device)?),
        }
        Ok(run)
    }

    /// Continues the decomposition saved in `report` (a checkpoint) on
    /// `device`: same configuration, target and components, from the step
    /// after the report's last one. See [`ApdTrainer::resume`]. A checkpoint
    /// taken while restarts were still being compared holds only the start
    /// that was training, not the best one so far, so the decomposition
    /// starts over instead (the same seed gives the same starts again).
    pub fn resume(report: &Report, device: &Device) -> Result<Self, ApdError> {
        if let (Some(rec), Some(spd)) = (&report.spd, &report.config.spd) {
            if rec.history.last().map_or(0, |s| s.step + 1) < spd.plan().selection_step() {
                return Run::new(&report.model, report.config.clone(), report.seed, device, Some(report.target()?));
            }
            return Run::of_report(report, device);
        }
        let target = report.target()?;
        let step = report.history.last().map_or(0, |s| s.step + 1);
        if step < report.config.apd.selection_step() {
            return Run::new(&report.model, report.config.clone(), report.seed, device, Some(target));
        }
        let apd = ApdTrainer::resume(&report.config, &target, report.seed, device, &report.components, step)?;
        Ok(Run::holding(report, device, target, apd))
    }

    /// A finished (or paused) run holding a report's target, components and
    /// history, to look at: its snapshot and metrics are those of the report's
    /// components, whatever step they were saved at.
    pub fn of_report(report: &Report, device: &Device) -> Result<Self, ApdError> {
        let target = report.target()?;
        if let Some(rec) = &report.spd {
            let step = rec.history.last().map_or(0, |s| s.step + 1);
            let spd = SpdTrainer::with_components(&report.config, &target, report.seed, device, &report.components, &rec.gates, step)?;
            let mut run = Run::new(&report.model, report.config.clone(), report.seed, device, Some(target.clone()))?;
            run.spd = Some(spd);
            run.spd_history = rec.history.clone();
            run.saved_starts = report.starts.clone();
            return Ok(run);
        }
        let step = report.history.last().map_or(0, |s| s.step + 1);
        let apd = ApdTrainer::with_components(&report.config, &target, report.seed, device, &report.components)?.at_step(step);
        Ok(Run::holding(report, device, target, apd))
    }

    /// A run in its decomposition phase with `report`'s settings and history.
    fn holding(report: &Report, device: &Device, target: Target, apd: ApdTrainer) -> Run {
        let run = Run::decomposing(&report.model, &report.config, report.seed, device, target, apd, report.history.clone());
        Run { saved_starts: report.starts.clone(), ..run }
    }

    /// A run in its APD phase: `apd` on `target`, with the steps of `history` behind it.
    fn decomposing(
        preset: &str,
        config: &ExperimentConfig,
        seed: u64,
        device: &Device,
        target: Target,
        apd: ApdTrainer,
        history: Vec<StepStats>,
    ) -> Run {
        Run { apd: Some(apd), history, ..Run::past_target(preset, config, seed, device, target) }
    }

    /// A run past its target phase, holding `target`, with no decomposition yet.
    fn past_target(preset: &str, config: &ExperimentConfig, seed: u64, device: &Device, target: Target) -> Run {
        Run { target: Some(target), ..Run::bare(preset, config.clone(), seed, device) }
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
            apd: None,
            spd: None,
            spd_history: Vec::new(),
            target_history: Vec::new(),
            history: Vec::new(),
            saved_starts: None,
        }
    }

    fn start_apd(&mut self, target: Target) -> Result<(), ApdError> {
        match self.config.method {
            Method::Apd => self.apd = Some(ApdTrainer::new(&self.config, &target, self.seed, &self.device)?),
            Method::Spd => self.spd = Some(SpdTrainer::new(&self.config, &target, self.seed, &self.device)?),
        }
        self.target = Some(target);
        Ok(())
    }

    /// The phase the next step belongs to.
    pub fn phase(&self) -> Phase {
        match (&self.apd, &self.spd) {
            (Some(a), _) if a.done() => Phase::Done,
            (_, Some(s)) if s.done() => Phase::Done,
            (Some(_), _) | (_, Some(_)) => Phase::Decompose,
            _ => Phase::Target,
        }
    }

    /// The SPD trainer, once an SPD decomposition has started.
    pub fn spd(&self) -> Option<&SpdTrainer> {
        self.spd.as_ref()
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

    /// The APD trainer, once decomposition has started.
    pub fn apd(&self) -> Option<&ApdTrainer> {
        self.apd.as_ref()
    }

    /// Decomposition steps taken, as the trainer counts them: a resumed
    /// run's history is its report's, thinned to a few thousand entries, so
    /// its length is no step count.
    pub fn decomp_step(&self) -> usize {
        match (&self.apd, &self.spd) {
            (Some(a), _) => a.step_count(),
            (_, Some(s)) => s.step_count(),
            _ => 0,
        }
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
            self.start_apd(target)?;
        }
        if let Some(spd) = self.spd.as_mut() {
            if spd.done() {
                return Ok(Progress::Done);
            }
            let stats = spd.step().await?;
            self.spd_history.push(stats.clone());
            return Ok(Progress::Spd(stats));
        }
        let apd = self.apd.as_mut().expect("APD starts when the target is ready");
        if apd.done() {
            return Ok(Progress::Done);
        }
        let stats = apd.step().await?;
        self.history.push(stats.clone());
        Ok(Progress::Apd(stats))
    }

    /// What the page draws now; `curve_feature` picks the residual MLP's
    /// response curve.
    pub async fn snapshot(&self, curve_feature: usize) -> Result<Snapshot, ApdError> {
        let views = match (&self.apd, &self.spd, &self.target) {
            (Some(apd), _, Some(target)) => views(apd, target, self.mean_active(), curve_feature).await?,
            (_, Some(spd), Some(target)) => {
                Views { spd: Some(spd.view().await?), ..views(spd, target, self.mean_active(), curve_feature).await? }
            }
            _ => Views::default(),
        };
        Ok(Snapshot { phase: self.phase(), starts: self.starts(), views })
    }

    /// The restarts' comparison so far: the trainer's, or the report's this
    /// run was continued or shown from; `None` without restarts.
    pub fn starts(&self) -> Option<Starts> {
        let (scores, kept) = match (&self.apd, &self.spd) {
            (Some(a), _) => (a.start_scores(), a.chosen_start()),
            (_, Some(s)) => (s.start_scores(), s.chosen_start()),
            _ => (&[][..], None),
        };
        if scores.is_empty() {
            return self.saved_starts.clone();
        }
        Some(Starts { scores: scores.iter().map(|&s| s as f32).collect(), kept })
    }

    /// The recovery figures of the decomposition as it is now (`None`
    /// before APD starts), recomputed from the components.
    pub async fn metrics(&self) -> Result<Option<Metrics>, ApdError> {
        let Some(target) = &self.target else { return Ok(None) };
        if let Some(spd) = &self.spd {
            let d = spd.decomposition().await?;
            return Ok(Some(metrics(spd, target, &d, self.mean_active()).await?));
        }
        let Some(apd) = &self.apd else { return Ok(None) };
        let d = apd.decomposition().await?;
        Ok(Some(metrics(apd, target, &d, self.mean_active()).await?))
    }

    /// Mean number of active components per sample in the last step (SPD:
    /// of the first matrix's subcomponents with importance above 0.1).
    fn mean_active(&self) -> f32 {
        match &self.spd {
            Some(_) => self.spd_history.last().map(|s| s.mean_active).unwrap_or(0.0),
            None => self.history.last().map(|s| s.mean_active).unwrap_or(0.0),
        }
    }

    /// The report of an SPD decomposition.
    async fn spd_report(&self, spd: &SpdTrainer, target: &Target, wall_s: f64, backend: &str) -> Result<Report, ApdError> {
        let components = spd.decomposition().await?;
        let metrics = metrics(spd, target, &components, self.mean_active()).await?;
        Ok(Report {
            model: self.preset.clone(),
            config: self.config.clone(),
            seed: self.seed,
            metrics,
            losses: None,
            history: Vec::new(),
            components,
            target: params_json(target),
            timing: Timing {
                steps_per_sec: if wall_s > 0.0 { (spd.step_count() as f64 / wall_s) as f32 } else { 0.0 },
                wall_s: wall_s as f32,
                backend: backend.to_string(),
            },
            scale: Some(crate::decomp::Decomposer::scale(spd).clone()),
            starts: self.starts(),
            spd: Some({
                let (ci_one_hot, ci_upper_one_hot) = spd.one_hot_ci(crate::spd::view::ONE_HOT_VALUE).await?;
                let alive = crate::spd::alive_counts(&ci_one_hot, spd.n_components());
                SpdRecord {
                    history: subsample_history(&self.spd_history),
                    gates: spd.gate_values().await?,
                    ci_one_hot,
                    ci_upper_one_hot,
                    alive,
                }
            }),
        })
    }

    /// The report of the decomposition so far (`None` before APD starts).
    pub async fn report(&self, wall_s: f64, backend: &str) -> Result<Option<Report>, ApdError> {
        if let (Some(spd), Some(target)) = (&self.spd, &self.target) {
            return Ok(Some(self.spd_report(spd, target, wall_s, backend).await?));
        }
        let (Some(apd), Some(target)) = (&self.apd, &self.target) else { return Ok(None) };
        let components = apd.decomposition().await?;
        let last = self.history.last();
        let losses = Losses {
            faithfulness: last.map_or(f32::NAN, |s| s.faithfulness),
            minimality: last.map_or(f32::NAN, |s| s.minimality),
            simplicity: last.map_or(f32::NAN, |s| s.simplicity),
            activation: last.and_then(|s| s.activation),
            total: last.map_or(f32::NAN, |s| s.total),
        };
        let metrics = metrics(apd, target, &components, self.mean_active()).await?;
        Ok(Some(Report {
            model: self.preset.clone(),
            config: self.config.clone(),
            seed: self.seed,
            metrics,
            losses: Some(losses),
            history: subsample_history(&self.history),
            components,
            target: params_json(target),
            timing: Timing {
                steps_per_sec: if wall_s > 0.0 { (apd.step_count() as f64 / wall_s) as f32 } else { 0.0 },
                wall_s: wall_s as f32,
                backend: backend.to_string(),
            },
            scale: Some(apd.scale().clone()),
            starts: self.starts(),
            spd: None,
        }))
    }
}
