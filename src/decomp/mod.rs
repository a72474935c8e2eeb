//! What every decomposition method shares: how components are stored
//! ([`factors`]), the target network and its forward passes ([`network`]),
//! the evaluation probes that the metrics and the page's views run on any
//! method ([`probes`]), the restarts' bookkeeping ([`restarts`]) and Adam
//! ([`adam`]), both sliceable per instance. A method is a folder (APD in
//! `crate::apd`, SPD in `crate::spd`) that owns its losses and its step and
//! implements [`Method`] and [`Decomposer`]; `crate::methods` registers it,
//! and everything above works unchanged.
pub mod adam;
pub mod evaluation;
pub mod factors;
pub mod importance;
pub mod network;
pub mod probes;
pub mod restarts;
pub mod scale;
pub mod stream;
pub mod subcomponents;

pub use factors::{Decomposition, FactorPair};
pub use network::{Forward, Network};
pub use stream::Stream;

use crate::config::{ExperimentConfig, StartPlan};
use crate::error::ApdError;
use crate::models::Target;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the probes, metrics and views need from a decomposition method.
#[allow(async_fn_in_trait)] // used through generics only, on one thread (the browser has one)
pub trait Decomposer {
    /// The target being decomposed, at the scale the method works at
    /// ([`scale`]): probes run there.
    fn network(&self) -> &Network;

    /// Components the decomposition holds now.
    fn n_components(&self) -> usize;

    /// The current factors, read back to the host, at the target's own scale.
    async fn decomposition(&self) -> Result<Decomposition, ApdError>;

    /// How much each sample of `x` needs each component, `B x C` row-major
    /// (APD: gradient attributions).
    async fn importances(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError>;

    /// The output of the sparse model on `x`: each sample run with only the
    /// components the method keeps for it (APD: batch top-k over `x`).
    async fn sparse_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError>;

    /// For each sample of `x`, the components the method would keep for it
    /// in training (`B x C` row-major, 0 or 1), judged one sample at a time
    /// (APD: those whose attribution reaches the threshold that batch top-k
    /// sets on a training batch).
    async fn selection(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError>;

    /// The output on `x` with only the components `mask` names for each
    /// sample (`B x C` row-major, 0 or 1): one-sample probes and ablations.
    async fn masked_output(&self, x: Tensor<2>, mask: Vec<f32>) -> Result<Tensor<2>, ApdError>;

    /// Per decomposed matrix (APD: one, its components span them all), the
    /// causal importances of each row of `x` (`B x C`): what the field's
    /// evaluation masks with ([`evaluation`]; APD: 1 where batch top-k over
    /// `x` keeps a component).
    async fn eval_importances(&self, x: Tensor<2>) -> Result<Vec<Tensor<2>>, ApdError>;

    /// The output on `x` with each matrix's components masked by
    /// `masks[l]` (`B x C`, or `1 x C` for the whole batch), any residual
    /// channel off; with `autodiff`, differentiable in the masks.
    fn eval_output(&self, x: Tensor<2>, masks: &[Tensor<2>], autodiff: bool) -> Tensor<2>;

    /// Per sample of the last training batch, how many components were active.
    fn last_active_counts(&self) -> &[u16];

    /// The scale the decomposition works at.
    fn scale(&self) -> &scale::ScaleSummary;

    /// Whether the recovery figures match each feature to the component its
    /// one-hot input finds most important (SPD, whose many rank-one
    /// subcomponents include dead ones) rather than by max |cos| (APD).
    fn matches_by_importance(&self) -> bool {
        false
    }
}

/// A subcomponent counts as active for an input when its causal importance
/// is above this (SPD's "alive", the field's CI-L0 threshold).
pub const ACTIVE_CI: f32 = 0.1;

/// One training step of any method, as runs, reports and the page keep it:
/// what every method has (step, learning rate, total loss, active
/// components per sample) and its own loss terms by name, flat in JSON, in
/// the method's order (the page's chart lists them so).
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// Index of the step (0-based, over the whole decomposition).
    pub step: usize,
    /// Learning rate used (f32 like every figure of a report: serde_json's
    /// default float parser can be one ulp off on long f64s).
    pub lr: f32,
    /// The weighted sum of the terms.
    pub total: f32,
    /// Mean over the batch of the components active per sample (APD: kept
    /// by top-k; CI methods: of the first matrix, CI above [`ACTIVE_CI`]).
    pub mean_active: f32,
    /// The method's loss terms, by the names its `losses.rs` gives them.
    pub terms: Vec<(String, f32)>,
}

impl StepRecord {
    /// The term named `name` (NaN where the method has none).
    pub fn term(&self, name: &str) -> f32 {
        self.terms.iter().find(|(k, _)| k == name).map_or(f32::NAN, |t| t.1)
    }
}

/// The four shared fields of a [`StepRecord`], which no term may be named.
const STEP_FIELDS: [&str; 4] = ["step", "lr", "total", "mean_active"];

impl Serialize for StepRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(4 + self.terms.len()))?;
        m.serialize_entry("step", &self.step)?;
        m.serialize_entry("lr", &self.lr)?;
        m.serialize_entry("total", &self.total)?;
        m.serialize_entry("mean_active", &self.mean_active)?;
        for (k, v) in &self.terms {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for StepRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StepRecord, D::Error> {
        use serde::de::Error;
        let fields: Vec<(String, f64)> = d.deserialize_map(Fields)?;
        let shared = |name: &str| {
            fields.iter().find(|(k, _)| k == name).map(|f| f.1).ok_or_else(|| D::Error::custom(format!("a step record needs `{name}`")))
        };
        let step = shared("step")?;
        if step < 0.0 || step.fract() != 0.0 || step > u32::MAX as f64 {
            return Err(D::Error::custom(format!("a step record's step must be a whole number, not {step}")));
        }
        Ok(StepRecord {
            step: step as usize,
            lr: shared("lr")? as f32,
            total: shared("total")? as f32,
            mean_active: shared("mean_active")? as f32,
            terms: fields.iter().filter(|(k, _)| !STEP_FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), *v as f32)).collect(),
        })
    }
}

/// Reads a step record's fields in the order they come, each a number.
struct Fields;

impl<'de> serde::de::Visitor<'de> for Fields {
    type Value = Vec<(String, f64)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a step record: an object of numbers")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(String, f64)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, f64>()? {
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(serde::de::Error::custom(format!("a step record names `{k}` twice")));
            }
            out.push((k, v));
        }
        Ok(out)
    }
}

/// `v` as a JSON tree whose numbers print as `v`'s own do: through its
/// text, for `serde_json::to_value` widens each f32 to the f64 that prints
/// with all its digits (0.13110003 as 0.13110002875328064).
pub fn json_tree(v: &impl Serialize) -> Result<Value, ApdError> {
    let text = serde_json::to_string(v).map_err(|e| ApdError::Format(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ApdError::Format(e.to_string()))
}

/// A decomposition saved in a report, to be looked at or continued.
pub struct Saved<'a> {
    /// The components, at the target's own scale.
    pub components: &'a Decomposition,
    /// The method's own state (its record's `state`: SPD's gates).
    pub state: &'a Value,
    /// Steps taken when it was saved.
    pub step: usize,
}

/// A decomposition method as a run drives it: each method's folder
/// implements it for its trainer, and `crate::methods` registers it. Every
/// trainer holds N decompositions side by side (one per seed); what looks
/// at "the" decomposition ([`Decomposer`]) needs N = 1.
#[allow(async_fn_in_trait)] // through generics and the registry's enum only, on one thread
pub trait Method: Decomposer + Sized {
    /// Where the restarts of `config`'s settings for this method fall, and
    /// how many steps the decomposition takes.
    fn plan(config: &ExperimentConfig) -> StartPlan;

    /// Fresh decompositions of `targets[i]` with `seeds[i]`, side by side.
    fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Self, ApdError>;

    /// One decomposition holding `saved`: to look at, or (`resume`) to go
    /// on training from the step after it (optimiser moments restart).
    fn of_saved(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        saved: Saved,
        resume: bool,
    ) -> Result<Self, ApdError>;

    /// Whether saved components and state can be this method's under `config`.
    fn check_saved(components: &Decomposition, state: &Value, config: &ExperimentConfig) -> Result<(), String>;

    /// Steps taken so far (the starts' included).
    fn step_count(&self) -> usize;

    /// Whether every planned step is done.
    fn done(&self) -> bool {
        self.step_count() >= Self::plan(self.settings()).total_steps()
    }

    /// The configuration the trainer runs.
    fn settings(&self) -> &ExperimentConfig;

    /// One step of every decomposition side by side; their records in
    /// order. On divergence the state is unchanged and the error says why.
    async fn train_step(&mut self) -> Result<Vec<StepRecord>, ApdError>;

    /// The decompositions side by side as ones of their own, each as if it
    /// had run alone so far.
    fn split(self) -> Vec<Self>;

    /// While restarts are compared: which start (from 0) of how many.
    fn start(&self) -> Option<(usize, usize)>;

    /// Each finished start's score so far (empty without restarts).
    fn start_scores(&self) -> &[f64];

    /// The start that went on, once they were compared.
    fn chosen_start(&self) -> Option<usize>;

    /// The method's own state for its report's record (null where the
    /// components say everything).
    async fn state(&self) -> Result<Value, ApdError>;

    /// The method's own views for the page (its key in the views is the
    /// method's name), if it has any.
    async fn own_view(&self) -> Result<Option<Value>, ApdError>;

    /// What `apd inspect` and the CLI's result lines say about a saved
    /// record's state beyond its figures and losses (empty where nothing).
    fn describe(state: &Value, components: &Decomposition, config: &ExperimentConfig) -> String;

    /// What the method's sparse model is called where its loss is printed
    /// (APD: "top-k").
    fn sparse_label() -> &'static str;

    /// What a restart's score measures (lower is better).
    fn score_label() -> &'static str;

    /// Whether seeds with small steps (a few MB) run faster batched than
    /// alone on the CPU, as measured for this method: `apd sweep` batches
    /// them by default where they do.
    fn batches_small_steps() -> bool {
        false
    }

    /// Whether a component spans every decomposed matrix (APD), so that
    /// its weight can be split between layers; else each matrix has
    /// components of its own.
    fn spans_matrices() -> bool;
}
