//! Several seeds decomposed in one batched step (the instance dimension),
//! ending as one finished run per seed, each as that seed's run alone would
//! end: its report, views and metrics.

use super::Run;
use crate::config::ExperimentConfig;
use crate::decomp::StepRecord;
use crate::error::ApdError;
use crate::methods::Trainer;
use crate::models::Target;
use burn::tensor::Device;

impl Run {
    /// `config`'s method on `targets[i]` with `seeds[i]`, all in one batched
    /// step, to the end; `on_step` sees each step's records. One finished
    /// run per seed, as it would have ended alone (its report's timing is
    /// the batch's).
    pub async fn together(
        preset: &str,
        config: &ExperimentConfig,
        seeds: &[u64],
        targets: Vec<Target>,
        device: &Device,
        mut on_step: impl FnMut(&[StepRecord]),
    ) -> Result<Vec<Run>, ApdError> {
        config.validate()?;
        let mut trainer = Trainer::with_seeds(config, &targets, seeds, device)?;
        let mut histories = vec![Vec::new(); seeds.len()];
        while !trainer.done() {
            let records = trainer.train_step().await?;
            on_step(&records);
            for (h, s) in histories.iter_mut().zip(records) {
                h.push(s);
            }
        }
        let parts = trainer.split().into_iter().zip(targets).zip(seeds).zip(histories);
        Ok(parts.map(|(((t, target), &seed), history)| Run::decomposing(preset, config, seed, device, target, t, history)).collect())
    }
}
