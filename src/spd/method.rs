//! SPD as a [`Method`]: what a run, a report and the page need of it. Its
//! report record keeps the causal-importance MLPs (without which the
//! subcomponents cannot be looked at again) and the one-hot importances the
//! reference shows.

use super::ci::GateValues;
use super::{check_fits, own_counts, own_in_some_w_in, SpdStepStats, SpdTrainer};
use crate::config::{ExperimentConfig, StartPlan};
use crate::decomp::{json_tree, Decomposition, Method, Saved, StepRecord};
use crate::error::ApdError;
use crate::models::Target;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An SPD record's own state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpdState {
    /// One set of gates per decomposed matrix.
    pub gates: Vec<GateValues>,
    /// Per matrix, the causal importances (lower sigmoid) of each feature
    /// alone at 0.75, as the reference shows them (`n x C`, row-major;
    /// empty in the first SPD reports, which did not keep them).
    #[serde(default)]
    pub ci_one_hot: Vec<Vec<f32>>,
    /// The same through the upper sigmoid.
    #[serde(default)]
    pub ci_upper_one_hot: Vec<Vec<f32>>,
    /// Per matrix, the subcomponents alive: importance above 0.1 on some
    /// one-hot input.
    #[serde(default)]
    pub alive: Vec<usize>,
}

impl SpdState {
    /// The state in a record, checked for shape.
    pub fn of(state: &Value) -> Result<SpdState, String> {
        SpdState::deserialize(state).map_err(|e| format!("the SPD record's state: {e}"))
    }
}

impl From<SpdStepStats> for StepRecord {
    fn from(s: SpdStepStats) -> StepRecord {
        let terms =
            [("faithfulness", s.faithfulness), ("stochastic", s.stochastic), ("layerwise", s.layerwise), ("importance", s.importance)];
        StepRecord {
            step: s.step,
            lr: s.lr,
            total: s.total,
            mean_active: s.mean_active,
            terms: terms.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }
}

impl Method for SpdTrainer {
    fn plan(config: &ExperimentConfig) -> StartPlan {
        config.spd.as_ref().map_or(StartPlan { steps: 0, restarts: 0, pct: 0.5 }, |s| s.plan())
    }

    fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        SpdTrainer::with_seeds(config, targets, seeds, device)
    }

    /// Looking and resuming are the same for SPD: its optimiser's moments
    /// and mask streams restart either way.
    fn of_saved(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        saved: Saved,
        _resume: bool,
    ) -> Result<Self, ApdError> {
        let state = SpdState::of(saved.state).map_err(ApdError::Mismatch)?;
        SpdTrainer::with_components(config, target, seed, device, saved.components, &state.gates, saved.step)
    }

    fn check_saved(components: &Decomposition, state: &Value, config: &ExperimentConfig) -> Result<(), String> {
        check_fits(components, &SpdState::of(state)?.gates, config)
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
        SpdTrainer::start(self)
    }

    fn start_scores(&self) -> &[f64] {
        SpdTrainer::start_scores(self)
    }

    fn chosen_start(&self) -> Option<usize> {
        SpdTrainer::chosen_start(self)
    }

    async fn state(&self) -> Result<Value, ApdError> {
        let (ci_one_hot, ci_upper_one_hot) = self.one_hot_ci(super::view::ONE_HOT_VALUE).await?;
        let alive = super::alive_counts(&ci_one_hot, self.spd.n_components);
        let state = SpdState { gates: self.gate_values().await?, ci_one_hot, ci_upper_one_hot, alive };
        json_tree(&state)
    }

    async fn own_view(&self) -> Result<Option<Value>, ApdError> {
        Ok(Some(json_tree(&self.view().await?)?))
    }

    fn describe(state: &Value, components: &Decomposition, config: &ExperimentConfig) -> String {
        let Ok(s) = SpdState::of(state) else { return String::new() };
        let c = components.n_components;
        let list = |v: &[usize]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("/");
        // Several layers: a feature computed by a later one owns a subcomponent of its W_in.
        let some_w_in = match config.model.is_resid() && s.ci_one_hot.len() > 2 {
            true => format!(" ({} in some W_in)", own_in_some_w_in(&s.ci_one_hot, c)),
            false => String::new(),
        };
        format!(
            "alive {} of {c} per matrix  own {} of {} features per matrix{some_w_in}",
            list(&s.alive),
            list(&own_counts(&s.ci_one_hot, c)),
            config.model.n_features()
        )
    }

    fn sparse_label() -> &'static str {
        "CI-masked"
    }

    fn score_label() -> &'static str {
        "features without their own subcomponent"
    }

    fn spans_matrices() -> bool {
        false
    }
}
