//! The JSON formats shared by the CLI and the page: target files and
//! decomposition reports. Readers validate everything (model, shapes,
//! finiteness, size) and return an error naming the problem; nothing is
//! changed on failure.

use crate::config::{ExperimentConfig, Method, ModelConfig, TargetTrainConfig};
use crate::decomp::evaluation::Evaluation;
use crate::decomp::scale::ScaleSummary;
use crate::decomp::{Decomposition, StepRecord};
use crate::error::ApdError;
use crate::methods::check_saved;
use crate::metrics::Metrics;
use crate::models::{Matrix, Target};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest JSON file we accept: resid-mlp-3's report, whose components
/// are 300 rank-2 pairs of 1000 x 25 matrices per matrix, is about 96 MB.
pub const MAX_FILE_BYTES: usize = 160 << 20;

/// The `config` object of a target file: the architecture and how it was trained.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetFileConfig {
    /// Architecture.
    pub model: ModelConfig,
    /// Training settings used.
    pub target: TargetTrainConfig,
}

/// `{"model": "...", "config": {...}, "seed": 0, "params": {"W": [[...]], "b": [...], ...}}`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Preset name.
    pub model: String,
    /// Architecture and training settings.
    pub config: TargetFileConfig,
    /// Seed the target was trained with, if known.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Weights by name: each decomposed matrix as rows, and the bias `b`.
    pub params: Map<String, Value>,
}

/// How long the decomposition took (f32, see [`StepRecord::lr`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Timing {
    /// APD steps per second.
    pub steps_per_sec: f32,
    /// Wall time of the APD phase in seconds.
    pub wall_s: f32,
    /// Backend name (`cpu`, `wgpu`, `webgpu`).
    pub backend: String,
}

/// The restarts' comparison (`apd.restarts`, `spd.restarts`): each start's
/// score (APD: its mean minimality loss over its last quarter; SPD: its
/// features without a subcomponent of their own) and the start that went on.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Starts {
    /// One score per start, in order (f32, see [`StepRecord::lr`]).
    pub scores: Vec<f32>,
    /// The start that went on (0-based), once they were compared; absent
    /// from a checkpoint taken before (a null would read as a bad number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<usize>,
}

/// A decomposition report.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(try_from = "RawReport")]
pub struct Report {
    /// Preset name.
    pub model: String,
    /// Full configuration.
    pub config: ExperimentConfig,
    /// Seed of target and decomposition.
    pub seed: u64,
    /// Recovery metrics.
    pub metrics: Metrics,
    /// What the method recorded: the same shape for every method.
    pub record: MethodRecord,
    /// The learned factors.
    pub components: Decomposition,
    /// The target that was decomposed, in the target file's `params` format.
    pub target: Map<String, Value>,
    /// Speed of the decomposition.
    pub timing: Timing,
    /// The scale the decomposition worked at (absent in reports from
    /// before it could be chosen: they decomposed the target as it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleSummary>,
    /// The restarts' comparison, for runs with restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<Starts>,
    /// The field's evaluation of the components (absent in reports from
    /// before it was taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
}

/// A method's record in a report, the same shape for every method.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MethodRecord {
    /// The method (the configuration's).
    pub method: Method,
    /// Per-step losses (every step for short runs, subsampled to at most
    /// [`MAX_HISTORY`] entries for long ones).
    pub history: Vec<StepRecord>,
    /// The last step's losses (`None` before the first step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub losses: Option<StepRecord>,
    /// What the method keeps besides the components (SPD: its gates and
    /// one-hot importances; null for APD), checked by the method on load.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub state: Value,
}

impl MethodRecord {
    /// The step after the last one recorded: where a saved decomposition is.
    pub fn next_step(&self) -> usize {
        self.history.last().map_or(0, |s| s.step + 1)
    }
}

/// A report as a file may hold it: today's, or one written before every
/// method had one record (APD's history and losses at the top level, SPD's
/// history and state under `spd`), read into today's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    model: String,
    config: ExperimentConfig,
    seed: u64,
    metrics: Metrics,
    #[serde(default)]
    record: Option<MethodRecord>,
    #[serde(default)]
    losses: Option<Value>,
    #[serde(default)]
    history: Option<Vec<StepRecord>>,
    #[serde(default)]
    spd: Option<Map<String, Value>>,
    components: Decomposition,
    target: Map<String, Value>,
    timing: Timing,
    #[serde(default)]
    scale: Option<ScaleSummary>,
    #[serde(default)]
    starts: Option<Starts>,
    #[serde(default)]
    evaluation: Option<Evaluation>,
}

impl TryFrom<RawReport> for Report {
    type Error = String;

    fn try_from(r: RawReport) -> Result<Report, String> {
        let record = match (r.record, r.history, r.spd) {
            (Some(rec), None, None) if r.losses.is_none() => rec,
            (Some(_), ..) => return Err("a report holds either `record` or the older `history` and `spd`, not both".into()),
            (None, history, Some(mut spd)) if history.as_ref().is_none_or(Vec::is_empty) => {
                let history = match spd.remove("history") {
                    Some(h) => Vec::<StepRecord>::deserialize(h).map_err(|e| format!("`spd.history`: {e}"))?,
                    None => return Err("`spd.history` is missing".into()),
                };
                MethodRecord { method: r.config.method, losses: history.last().cloned(), history, state: Value::Object(spd) }
            }
            (None, Some(history), None) => {
                MethodRecord { method: r.config.method, losses: history.last().cloned(), history, state: Value::Null }
            }
            (None, ..) => return Err("missing field `record`".into()),
        };
        Ok(Report {
            model: r.model,
            config: r.config,
            seed: r.seed,
            metrics: r.metrics,
            record,
            components: r.components,
            target: r.target,
            timing: r.timing,
            scale: r.scale,
            starts: r.starts,
            evaluation: r.evaluation,
        })
    }
}

/// Most history entries a report keeps.
pub const MAX_HISTORY: usize = 2000;

/// Keeps at most [`MAX_HISTORY`] evenly spaced entries, always the last one.
pub fn subsample_history<T: Clone + PartialEq>(h: &[T]) -> Vec<T> {
    if h.len() <= MAX_HISTORY {
        return h.to_vec();
    }
    let stride = h.len().div_ceil(MAX_HISTORY);
    let mut out: Vec<T> = h.iter().step_by(stride).cloned().collect();
    if out.last() != h.last() {
        out.push(h.last().unwrap().clone());
    }
    out
}

fn rows(m: &Matrix) -> Value {
    Value::Array((0..m.d_in).map(|i| Value::Array(m.row(i).iter().map(|&v| num(v)).collect())).collect())
}

fn num(v: f32) -> Value {
    serde_json::Number::from_f64(v as f64).map(Value::Number).unwrap_or(Value::Null)
}

/// The `params` object of a target.
pub fn params_json(target: &Target) -> Map<String, Value> {
    let mut params = Map::new();
    for m in &target.layers {
        params.insert(m.name.clone(), rows(m));
    }
    match &target.model {
        ModelConfig::Tms(_) => {
            params.insert("b".into(), Value::Array(target.bias.iter().map(|&v| num(v)).collect()));
        }
        ModelConfig::ResidMlp(r) => {
            let embed = Matrix { name: "W_E".into(), d_in: r.n_features, d_out: r.d_resid, values: target.embed.clone() };
            params.insert("W_E".into(), rows(&embed));
        }
    }
    params
}

/// Names of the frozen parameters a target file holds besides the decomposed matrices.
fn frozen_name(model: &ModelConfig) -> &'static str {
    match model {
        ModelConfig::Tms(_) => "b",
        ModelConfig::ResidMlp(_) => "W_E",
    }
}

fn read_rows(params: &Map<String, Value>, name: &str, d_in: usize, d_out: usize) -> Result<Vec<f32>, ApdError> {
    let v = params.get(name).ok_or_else(|| bad(format!("parameter `{name}` is missing")))?;
    let shape_err = || bad(format!("`{name}` must be {d_in} rows of {d_out} numbers"));
    let rows = v.as_array().filter(|r| r.len() == d_in).ok_or_else(shape_err)?;
    let mut values = Vec::with_capacity(d_in * d_out);
    for row in rows {
        let row = row.as_array().filter(|r| r.len() == d_out).ok_or_else(shape_err)?;
        for x in row {
            values.push(finite(x, name)?);
        }
    }
    Ok(values)
}

fn bad(what: impl Into<String>) -> ApdError {
    ApdError::Format(what.into())
}

fn finite(v: &Value, name: &str) -> Result<f32, ApdError> {
    let x = v.as_f64().ok_or_else(|| bad(format!("`{name}` holds a non-number ({v})")))?;
    let y = x as f32;
    if !y.is_finite() {
        return Err(bad(format!("`{name}` holds a value that is not a finite f32 ({x})")));
    }
    Ok(y)
}

/// Rebuilds a [`Target`] from a `params` object, checking names, shapes and values.
pub fn target_from_params(model: &ModelConfig, params: &Map<String, Value>) -> Result<Target, ApdError> {
    let shapes = model.layer_shapes();
    let frozen = frozen_name(model);
    let expected: Vec<&str> = shapes.iter().map(|s| s.0.as_str()).chain([frozen]).collect();
    if let Some(k) = params.keys().find(|k| !expected.contains(&k.as_str())) {
        return Err(bad(format!("unexpected parameter `{k}`; this model has {}", expected.join(", "))));
    }
    let mut layers = Vec::new();
    for (name, d_in, d_out) in shapes {
        let values = read_rows(params, &name, d_in, d_out)?;
        layers.push(Matrix { name, d_in, d_out, values });
    }
    let (mut bias, mut embed) = (Vec::new(), Vec::new());
    match model {
        ModelConfig::Tms(_) => {
            let n_out = model.n_outputs();
            let b = params
                .get("b")
                .and_then(|v| v.as_array())
                .filter(|b| b.len() == n_out)
                .ok_or_else(|| bad(format!("`b` must be a list of {n_out} numbers")))?;
            bias = b.iter().map(|x| finite(x, "b")).collect::<Result<Vec<_>, _>>()?;
        }
        ModelConfig::ResidMlp(r) => embed = read_rows(params, "W_E", r.n_features, r.d_resid)?,
    }
    Ok(Target { model: model.clone(), layers, bias, embed })
}

fn check_size(text: &str) -> Result<(), ApdError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(bad(format!("the file is {} bytes, over the limit of {MAX_FILE_BYTES}", text.len())));
    }
    Ok(())
}

impl TargetFile {
    /// A target file for `target`.
    pub fn new(preset: &str, config: &ExperimentConfig, seed: u64, target: &Target) -> Self {
        TargetFile {
            model: preset.to_string(),
            config: TargetFileConfig { model: config.model.clone(), target: config.target.clone() },
            seed: Some(seed),
            params: params_json(target),
        }
    }

    /// Parses and validates a target file, returning its preset name and target.
    pub fn parse(text: &str) -> Result<(String, Target), ApdError> {
        check_size(text)?;
        let f: TargetFile = serde_json::from_str(text).map_err(|e| bad(format!("not a target file: {e}")))?;
        f.config.model.validate().map_err(ApdError::Config)?;
        let target = target_from_params(&f.config.model, &f.params)?;
        Ok((f.model, target))
    }
}

/// The target in a target file, or the one embedded in a report (so a page
/// export can be decomposed again). The error is the target file's, since
/// that is what the caller asked for.
pub fn target_from_file(text: &str) -> Result<Target, ApdError> {
    match TargetFile::parse(text) {
        Ok((_, t)) => Ok(t),
        Err(e) => Report::parse(text).map_err(|_| e)?.target(),
    }
}

/// The path of the first number in `v` that is not finite (serde writes
/// those, and f32 overflows such as `1e39`, as `null`).
fn first_non_finite(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Null => Some(path.to_string()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| first_non_finite(x, &format!("{path}[{i}]"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| first_non_finite(x, &format!("{path}.{k}"))),
        _ => None,
    }
}

impl Report {
    /// Parses and validates a report: configuration, factor shapes, the
    /// embedded target, and that every number is finite.
    pub fn parse(text: &str) -> Result<Report, ApdError> {
        check_size(text)?;
        let mut r: Report = serde_json::from_str(text).map_err(|e| bad(format!("not a report: {e}")))?;
        r.config.validate()?;
        // Keep the target as the f32s it is: serde_json's default float
        // parser may be one f64 ulp off, so echoing the text's numbers would
        // not round-trip exactly.
        r.target = params_json(&target_from_params(&r.config.model, &r.target)?);
        let tree = serde_json::to_value(&r).map_err(|e| bad(e.to_string()))?;
        if let Some(path) = first_non_finite(&tree, "report") {
            return Err(bad(format!("`{path}` is not a finite number")));
        }
        if r.record.method != r.config.method {
            return Err(bad(format!("the record is of method {}, the settings of {}", r.record.method.name(), r.config.method.name())));
        }
        // Every number was checked finite above; these are the shapes.
        check_saved(&r.components, &r.record.state, &r.config).map_err(bad)?;
        Ok(r)
    }

    /// The target embedded in the report.
    pub fn target(&self) -> Result<Target, ApdError> {
        target_from_params(&self.config.model, &self.target)
    }
}
