//! Finished results shipped with the page (`www/gallery/`), so that a
//! visitor sees a whole decomposition before anything has run: the report
//! (whole for the toy models; without its target and components where those
//! would make the file too large for a page, see [`FULL_REPORT_BYTES`], or
//! where asked: the views keep what the page draws of them), the
//! view data the page draws from it and the step plan its charts need. `scripts/gallery.sh` makes them with the CLI;
//! `tests/gallery.rs` checks each against what the engine recomputes.

use crate::config::ExperimentConfig;
use crate::decomp::ACTIVE_CI;
use crate::error::ApdError;
use crate::methods::plan;
use crate::report::Report;
use crate::run::{Run, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a run is laid out in steps, for progress and the loss chart: the
/// target's steps, the decomposition's (losing starts included), and where
/// the chart marks the restarts.
#[derive(Serialize)]
pub struct Plan {
    /// Target training steps.
    pub target_steps: usize,
    /// Decomposition steps, every start counted.
    pub apd_steps: usize,
    /// `(step, label)` marks for the loss chart.
    pub marks: Vec<(usize, String)>,
}

impl Plan {
    /// The plan of a run of `cfg`.
    pub fn of(cfg: &ExperimentConfig) -> Plan {
        let p = plan(cfg);
        Plan { target_steps: cfg.target.steps, apd_steps: p.total_steps(), marks: p.restart_marks() }
    }
}

/// One shipped result.
#[derive(Serialize)]
pub struct Entry {
    /// Preset name.
    pub model: String,
    /// The decomposition method's name.
    pub method: String,
    /// The seed of target and decomposition.
    pub seed: u64,
    /// Wall time of the decomposition where it was computed, in seconds.
    pub wall_s: f32,
    /// The run's step plan.
    pub plan: Plan,
    /// What the page draws.
    pub views: Snapshot,
    /// The report it was drawn from; if `trimmed`, its `target` is empty
    /// and its `components` have no layers.
    pub report: Report,
    /// Whether the report was too large to ship whole.
    pub trimmed: bool,
}

/// The largest report (bytes of JSON) an entry ships whole. The residual
/// MLPs of the paper hold 1000-wide matrices: their target and components
/// are several MB of JSON, far over what a page should load for a look, so
/// their entries keep the figures, the history and the view data only
/// (checked against the full report when they are made: `apd views --gallery`
/// computes the views from it).
pub const FULL_REPORT_BYTES: usize = 1 << 20;

/// Most loss-history points an entry keeps (the charts are a few hundred
/// pixels wide; the file stays small).
pub const HISTORY_POINTS: usize = 500;

/// At most [`HISTORY_POINTS`] evenly spaced entries of `h`, its last kept.
fn thin<T: Clone + PartialEq>(h: &[T]) -> Vec<T> {
    let stride = h.len().div_ceil(HISTORY_POINTS).max(1);
    let mut out: Vec<T> = h.iter().step_by(stride).cloned().collect();
    if let (Some(last), Some(kept)) = (h.last(), out.last()) {
        if kept != last {
            out.push(last.clone());
        }
    }
    out
}

/// The gallery entry of `report`; `curve_feature` picks the residual MLP's
/// response curve. The history is thinned to [`HISTORY_POINTS`], its last
/// step kept. `trim` ships the report without its target and components
/// even under [`FULL_REPORT_BYTES`] (a large TMS entry: its views keep the
/// matrices the page draws).
pub async fn entry(mut report: Report, curve_feature: usize, trim: bool) -> Result<Entry, ApdError> {
    report.record.history = thin(&report.record.history);
    let run = Run::of_report(&report, &crate::backend::host()?)?;
    let views = run.snapshot(curve_feature).await?;
    let size = serde_json::to_string(&report).map_err(|e| ApdError::Format(e.to_string()))?.len();
    let trimmed = trim || size > FULL_REPORT_BYTES;
    if trimmed {
        report.target.clear();
        report.components.layers.clear();
    }
    Ok(Entry {
        model: report.model.clone(),
        method: report.config.method.name().into(),
        seed: report.seed,
        wall_s: report.timing.wall_s,
        plan: Plan::of(&report.config),
        views,
        report,
        trimmed,
    })
}

/// Significant digits a compact entry keeps of each number (the page draws
/// them as pixels and prints three).
pub const COMPACT_DIGITS: i32 = 4;

impl Entry {
    /// Whether the entry is written compact (see [`Entry::to_json`]): a
    /// trimmed residual MLP entry, whose view data alone (attribution and
    /// ablation matrices of 100 features by up to 300 components, the
    /// samples) would be over the page's 300 KB at full precision; or a
    /// trimmed entry of a method with causal importances (SPD), whose
    /// hundreds of subcomponents per matrix are mostly dead.
    pub fn compact(&self) -> bool {
        self.trimmed && (self.report.metrics.resid.is_some() || one_hot_ci(&self.views.views).is_some())
    }

    /// The entry as the page loads it. Compact entries leave the attribution
    /// matrix out of the report's metrics (the views' metrics hold the same
    /// one), and the nested lists out of the method's state (SPD: its
    /// one-hot importances, which the views hold too, and its gates, which
    /// compute nothing without the components the trimmed report no longer
    /// has; flat lists, counts, stay); they ship dead subcomponents empty
    /// ([`dead_subcomponents`]) and keep [`COMPACT_DIGITS`] significant
    /// digits of each number.
    pub fn to_json(&self) -> Result<String, ApdError> {
        let mut v = serde_json::to_value(self).map_err(|e| ApdError::Format(e.to_string()))?;
        if self.compact() {
            if self.report.metrics.resid.is_some() {
                v["report"]["metrics"]["resid"]["attributions"] = Value::Array(Vec::new());
            }
            if let Some(state) = v["report"]["record"]["state"].as_object_mut() {
                for list in state.values_mut().filter_map(Value::as_array_mut) {
                    if list.iter().any(|x| x.is_array() || x.is_object()) {
                        list.clear();
                    }
                }
            }
            for (m, dead) in dead_subcomponents(&self.views.views).iter().enumerate() {
                for &c in dead {
                    v["views"]["components"][m][c] = Value::Array(Vec::new());
                    if let Some(sv) = v["views"]["singular"].get_mut(m).and_then(|l| l.get_mut(c)) {
                        *sv = Value::Array(Vec::new());
                    }
                }
            }
            round_numbers(&mut v, COMPACT_DIGITS);
        }
        serde_json::to_string(&v).map_err(|e| ApdError::Format(e.to_string()))
    }
}

/// Per decomposed matrix, the subcomponents a compact entry ships empty:
/// dead ones (no feature alone gives them a causal importance above
/// [`ACTIVE_CI`] in that matrix) that no feature is matched to.
/// At C = 200 they are most of an entry's weight. Each is tiny, but summed
/// they are not nothing (on tms-40-10, seed 23: 3% of W's norm, 9% of
/// W^T's), so the page calls its sum that of the alive subcomponents; the
/// residual view was computed with all of them. Empty for a method
/// without causal importances (APD).
pub fn dead_subcomponents(views: &crate::views::Views) -> Vec<Vec<usize>> {
    let Some(ci_lower) = one_hot_ci(views) else { return Vec::new() };
    let matched: Vec<usize> = views.metrics.iter().flat_map(|m| m.features.iter().map(|f| f.component)).collect();
    ci_lower
        .iter()
        .enumerate()
        .map(|(m, ci)| {
            let c = views.components.get(m).map_or(0, Vec::len);
            let n = ci.len().checked_div(c).unwrap_or(0);
            (0..c).filter(|&k| (0..n).all(|i| ci[i * c + k] <= ACTIVE_CI)).filter(|k| m != 0 || !matched.contains(k)).collect()
        })
        .collect()
}

/// The one-hot causal importances (per matrix, `n x C`) a method's own
/// view holds as `ci_lower`, if it has them.
fn one_hot_ci(views: &crate::views::Views) -> Option<Vec<Vec<f32>>> {
    views.own.values().find_map(|v| Vec::<Vec<f32>>::deserialize(v.get("ci_lower")?).ok())
}

/// Every non-integer number in `v` to `digits` significant digits.
fn round_numbers(v: &mut Value, digits: i32) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            if x != 0.0 && x.is_finite() {
                let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
                if let Some(r) = serde_json::Number::from_f64((x * scale).round() / scale) {
                    *n = r;
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| round_numbers(x, digits)),
        Value::Object(o) => o.values_mut().for_each(|x| round_numbers(x, digits)),
        _ => {}
    }
}
