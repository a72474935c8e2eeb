//! APD as a [`Method`]: what a run, a report and the page need of it. Its
//! report record holds no state of its own (the components say everything).

use super::{check_fits, ApdTrainer, StepStats};
use crate::config::{ExperimentConfig, StartPlan};
use crate::decomp::{Decomposition, Method, Saved, StepRecord};
use crate::error::ApdError;
use crate::models::Target;
use burn::tensor::Device;
use serde_json::Value;

impl From<StepStats> for StepRecord {
    fn from(s: StepStats) -> StepRecord {
        let mut terms: Vec<(String, f32)> = [("faithfulness", s.faithfulness), ("minimality", s.minimality), ("simplicity", s.simplicity)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
        if let Some(a) = s.activation {
            terms.push(("activation".into(), a));
        }
        StepRecord { step: s.step, lr: s.lr, total: s.total, mean_active: s.mean_active, terms }
    }
}

impl Method for ApdTrainer {
    fn plan(config: &ExperimentConfig) -> StartPlan {
        config.apd.plan()
    }

    fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        ApdTrainer::with_seeds(config, targets, seeds, device)
    }

    fn of_saved(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        saved: Saved,
        resume: bool,
    ) -> Result<Self, ApdError> {
        if resume {
            ApdTrainer::resume(config, target, seed, device, saved.components, saved.step)
        } else {
            Ok(ApdTrainer::with_components(config, target, seed, device, saved.components)?.at_step(saved.step))
        }
    }

    fn check_saved(components: &Decomposition, state: &Value, config: &ExperimentConfig) -> Result<(), String> {
        if !state.is_null() {
            return Err("an APD record holds no `state`".into());
        }
        check_fits(components, config)
    }

    fn step_count(&self) -> usize {
        self.step
    }

    fn settings(&self) -> &ExperimentConfig {
        &self.config
    }

    async fn train_step(&mut self) -> Result<Vec<StepRecord>, ApdError> {
        Ok(self.step_all().await?.into_iter().map(StepRecord::from).collect())
    }

    fn split(self) -> Vec<Self> {
        self.into_instances()
    }

    fn start(&self) -> Option<(usize, usize)> {
        ApdTrainer::start(self)
    }

    fn start_scores(&self) -> &[f64] {
        ApdTrainer::start_scores(self)
    }

    fn chosen_start(&self) -> Option<usize> {
        ApdTrainer::chosen_start(self)
    }

    async fn state(&self) -> Result<Value, ApdError> {
        Ok(Value::Null)
    }

    async fn own_view(&self) -> Result<Option<Value>, ApdError> {
        Ok(None)
    }

    fn describe(_state: &Value, _components: &Decomposition, _config: &ExperimentConfig) -> String {
        String::new()
    }

    fn sparse_label() -> &'static str {
        "top-k"
    }

    fn score_label() -> &'static str {
        "L_m"
    }

    /// Measured on tms-5-2 and its kind: 238 s against 286 s for 12 seeds on 2 cores.
    fn batches_small_steps() -> bool {
        true
    }

    fn spans_matrices() -> bool {
        true
    }
}
