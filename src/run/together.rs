//! Several seeds decomposed in one batched step (the instance dimension),
//! ending as one finished run per seed, each as that seed's run alone would
//! end: its report, views and metrics.

use super::Run;
use crate::apd::{ApdTrainer, StepStats};
use crate::config::{ExperimentConfig, Method};
use crate::error::ApdError;
use crate::models::Target;
use crate::spd::{SpdStepStats, SpdTrainer};
use burn::tensor::Device;

impl Run {
    /// APD of `targets[i]` with `seeds[i]`, all in one batched step, to the
    /// end; `on_step` sees each step's losses. One finished run per seed,
    /// as it would have ended alone (its report's timing is the batch's).
    pub async fn apd_together(
        preset: &str,
        config: &ExperimentConfig,
        seeds: &[u64],
        targets: Vec<Target>,
        device: &Device,
        mut on_step: impl FnMut(&[StepStats]),
    ) -> Result<Vec<Run>, ApdError> {
        config.validate()?;
        if config.method != Method::Apd {
            return Err(ApdError::Mismatch("apd_together runs APD; the settings say SPD (Run::spd_together)".into()));
        }
        let mut apd = ApdTrainer::with_seeds(config, &targets, seeds, device)?;
        let mut histories = vec![Vec::new(); seeds.len()];
        while !apd.done() {
            let stats = apd.step_all().await?;
            on_step(&stats);
            for (h, s) in histories.iter_mut().zip(stats) {
                h.push(s);
            }
        }
        let parts = apd.into_instances().into_iter().zip(targets).zip(seeds).zip(histories);
        Ok(parts.map(|(((apd, target), &seed), history)| Run::decomposing(preset, config, seed, device, target, apd, history)).collect())
    }

    /// SPD of several seeds' `targets` in one batched step (`seeds[i]` on
    /// `targets[i]`), run to the end, calling `on_step` with every step's
    /// losses; then one finished run per seed, each as that seed's run alone
    /// would end (its report, views and metrics).
    pub async fn spd_together(
        preset: &str,
        config: &ExperimentConfig,
        seeds: &[u64],
        targets: Vec<Target>,
        device: &Device,
        mut on_step: impl FnMut(&[SpdStepStats]),
    ) -> Result<Vec<Run>, ApdError> {
        config.validate()?;
        if config.method != Method::Spd {
            return Err(ApdError::Mismatch("spd_together runs SPD; the settings say APD".into()));
        }
        let mut spd = SpdTrainer::with_seeds(config, &targets, seeds, device)?;
        let mut histories = vec![Vec::new(); seeds.len()];
        while !spd.done() {
            let stats = spd.step_all().await?;
            on_step(&stats);
            for (h, s) in histories.iter_mut().zip(stats) {
                h.push(s);
            }
        }
        let parts = spd.into_instances().into_iter().zip(targets).zip(seeds).zip(histories);
        Ok(parts
            .map(|(((spd, target), &seed), history)| Run {
                spd: Some(spd),
                spd_history: history,
                ..Run::past_target(preset, config, seed, device, target)
            })
            .collect())
    }
}
