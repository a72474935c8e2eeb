//! The wasm-bindgen surface: a thin wrapper that the page's Web Worker
//! drives. It converts between JS and the core types, and nothing else: the
//! algorithm, presets, validation, step counts and view data all live in
//! the core.
//!
//! Errors cross as JS `Error` objects whose `name` is the failure's kind
//! (`invalid`, `diverged`, `device-lost`, `busy`; a Rust panic is told
//! apart by [`panic_message`]): the page decides on the kind, never on the
//! message's text.
//!
//! The page's WebGPU package (built without the `cpu` feature) runs
//! WebGPU runs and nothing else, so it leaves out the functions for
//! settings and saved reports, which the worker asks of the CPU package.

use crate::backend::{device, BackendKind};
use crate::config::limits::{PAGE_CPU_BUDGET_BYTES, PAGE_WEBGPU_BUDGET_BYTES, WEBGPU_MAX_BUFFER_BYTES};
use crate::config::ExperimentConfig;
#[cfg(feature = "cpu")]
use crate::config::{preset, PRESET_NAMES};
use crate::error::ApdError;
use crate::gallery::Plan;
use crate::report::{target_from_file, Report, TargetFile};
use crate::run::{Phase, Progress, Run};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A JS `Error` named after the failure's `kind`.
fn js_error(kind: &str, message: impl std::fmt::Display) -> JsValue {
    let e = js_sys::Error::new(&message.to_string());
    e.set_name(kind);
    e.into()
}

fn apd_err(e: ApdError) -> JsValue {
    js_error(e.kind(), e)
}

fn invalid(e: impl std::fmt::Display) -> JsValue {
    js_error("invalid", e)
}

/// Values cross to JS as JSON text, which the worker parses. We measured
/// `serde_wasm_bindgen::to_value` at about 200 ms for one batch of 20 step
/// records in Chromium (against 1 ms for this), a third of the run's time.
fn to_json(value: &impl Serialize) -> Result<String, JsValue> {
    serde_json::to_string(value).map_err(invalid)
}

fn now_ms() -> f64 {
    // `std::time::Instant` panics on wasm32; Date is enough for ms per step.
    js_sys::Date::now()
}

/// Refuses, before anything is allocated rather than by crashing the tab, a
/// configuration that would not fit `kind`'s memory budget in the page or,
/// on WebGPU, its guaranteed buffer size.
fn check_fits(cfg: &ExperimentConfig, kind: BackendKind) -> Result<(), JsValue> {
    let budget = if kind == BackendKind::Wgpu { PAGE_WEBGPU_BUDGET_BYTES } else { PAGE_CPU_BUDGET_BYTES };
    cfg.check_memory(budget).map_err(invalid)?;
    if kind == BackendKind::Wgpu {
        cfg.check_buffer(WEBGPU_MAX_BUFFER_BYTES).map_err(invalid)?;
    }
    Ok(())
}

thread_local! {
    static PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// After a lost device: the next WebGPU run asks the browser for a fresh
/// one instead of reusing the page's.
#[wasm_bindgen(js_name = forgetDevice)]
pub fn forget_device() {
    crate::backend::forget_gpu();
}

/// Keeps the message of a Rust panic for the page (the worker shows it when
/// a call fails) and logs it to the console.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        PANIC.with(|p| *p.borrow_mut() = info.to_string());
        console_error_panic_hook::hook(info);
    }));
}

/// The message of the last Rust panic, or an empty string.
#[wasm_bindgen(js_name = panicMessage)]
pub fn panic_message() -> String {
    PANIC.with(|p| p.borrow().clone())
}

/// Panics on purpose: the end-to-end test of how the page survives a Rust
/// panic calls it (through the worker's `simulate-panic` message).
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = testPanic)]
pub fn test_panic() {
    panic!("a panic requested by the page's test hook");
}

/// The preset names, as a JSON array.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = presetNames)]
pub fn preset_names() -> String {
    serde_json::to_string(PRESET_NAMES).expect("names serialise")
}

/// A preset's configuration as JSON.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = presetConfig)]
pub fn preset_config(name: &str) -> Result<String, JsValue> {
    to_json(&preset(name).map_err(invalid)?)
}

/// What every setting means (label, description, symbol, group, range,
/// whether it is shown before "More settings"), as JSON.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = settingsInfo)]
pub fn settings_info() -> String {
    crate::config::settings::settings_json()
}

/// The "as in the paper" variant of a configuration: this project's
/// additions turned off.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = paperVariant)]
pub fn paper_variant(config_json: &str) -> Result<String, JsValue> {
    to_json(&crate::config::paper_variant(&ExperimentConfig::from_json(config_json).map_err(invalid)?))
}

/// `config_json` (of preset `preset`) decomposed by `method` (`apd` or
/// `spd`): SPD takes the preset's SPD settings unless it has some.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = withMethod)]
pub fn with_method(config_json: &str, preset: &str, method: &str) -> Result<String, JsValue> {
    let cfg = ExperimentConfig::from_json(config_json).map_err(invalid)?;
    let m = crate::config::Method::parse(method).map_err(invalid)?;
    to_json(&crate::config::with_method(&cfg, preset, m).map_err(invalid)?)
}

/// Sets one field (dotted path) of a configuration; returns the new JSON or
/// an error naming the field. The input is not modified on error.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = setField)]
pub fn set_field(config_json: &str, path: &str, value: &str) -> Result<String, JsValue> {
    let mut cfg = ExperimentConfig::from_json(config_json).map_err(invalid)?;
    cfg.set(path, value).map_err(invalid)?;
    to_json(&cfg)
}

/// Validates a configuration; returns it normalised.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = validateConfig)]
pub fn validate_config(config_json: &str) -> Result<String, JsValue> {
    to_json(&ExperimentConfig::from_json(config_json).map_err(invalid)?)
}

/// Validates an imported report; returns it normalised.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = parseReport)]
pub fn parse_report(text: &str) -> Result<String, JsValue> {
    to_json(&Report::parse(text).map_err(apd_err)?)
}

/// The step [`Plan`] of a configuration, as JSON.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = runPlan)]
pub fn run_plan(config_json: &str) -> Result<String, JsValue> {
    to_json(&Plan::of(&ExperimentConfig::from_json(config_json).map_err(invalid)?))
}

/// What the page says about an imported target (a target file or a
/// report) before a run of `config_json`: its feature norms, the scale the
/// decomposition will work at, and a warning if it is far from what the
/// settings were measured on.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = describeTarget)]
pub fn describe_target(target_json: &str, config_json: &str) -> Result<String, JsValue> {
    let target = target_from_file(target_json).map_err(apd_err)?;
    let cfg = ExperimentConfig::from_json(config_json).map_err(invalid)?;
    to_json(&crate::decomp::scale::note(&target, &cfg.scale))
}

/// A target from a safetensors or PyTorch file, as the page imports it:
/// `{preset, text, summary}`, `text` being this project's target file.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = importTarget)]
pub fn import_target(bytes: &[u8]) -> Result<String, JsValue> {
    let i = crate::interop::import_target(bytes).map_err(apd_err)?;
    let text = to_json(&i.target_file())?;
    to_json(&serde_json::json!({"preset": i.preset, "text": text, "summary": i.summary}))
}

/// "Export safetensors" of a report or target file: the safetensors bytes
/// and, named `weights`, the YAML config beside them.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = exportSafetensors)]
pub fn export_safetensors(json: &str, weights: &str) -> Result<js_sys::Array, JsValue> {
    let (bytes, yaml) = crate::interop::export::export_json(json, weights).map_err(apd_err)?;
    Ok(js_sys::Array::of2(&js_sys::Uint8Array::from(bytes.as_slice()), &JsValue::from_str(&yaml)))
}

/// The view data of a saved report (its components as they were saved), on
/// the CPU: what the page draws for an imported or kept result.
#[cfg(feature = "cpu")]
#[wasm_bindgen(js_name = reportViews)]
pub async fn report_views(report_json: String, curve_feature: u32) -> Result<String, JsValue> {
    let report = Report::parse(&report_json).map_err(apd_err)?;
    let run = Run::of_report(&report, &crate::backend::host().map_err(apd_err)?).map_err(apd_err)?;
    to_json(&run.snapshot(curve_feature as usize).await.map_err(apd_err)?)
}

#[derive(Serialize)]
struct Batch {
    phase: Phase,
    target_step: usize,
    apd_step: usize,
    /// While restarts are compared: which start (from 0) of how many.
    apd_start: Option<(usize, usize)>,
    target_losses: Vec<f32>,
    /// The decomposition's steps, whatever the method.
    steps: Vec<crate::decomp::StepRecord>,
    ms_per_step: f64,
}

/// A run in the browser. Methods return Promises; the worker awaits each
/// before the next, and a second call while one is in flight gets a `busy`
/// error instead of a tangled state.
#[wasm_bindgen]
pub struct WebRun {
    run: Rc<RefCell<Option<Run>>>,
    backend: String,
    apd_ms: Rc<RefCell<f64>>,
    started_over: bool,
}

fn take(cell: &Rc<RefCell<Option<Run>>>) -> Result<Run, JsValue> {
    cell.borrow_mut().take().ok_or_else(|| js_error("busy", "the run is busy with another call"))
}

impl WebRun {
    fn new(run: Run, kind: BackendKind, apd_ms: f64, started_over: bool) -> WebRun {
        let name = if kind == BackendKind::Wgpu { "webgpu" } else { "cpu" };
        WebRun { run: Rc::new(RefCell::new(Some(run))), backend: name.into(), apd_ms: Rc::new(RefCell::new(apd_ms)), started_over }
    }

    /// Runs `f` on the run, taken out of its cell for the call's duration.
    fn with_run<T: 'static>(
        &self,
        f: impl for<'a> FnOnce(&'a mut Run) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, JsValue>> + 'a>> + 'static,
        to_js: impl FnOnce(T) -> Result<JsValue, JsValue> + 'static,
    ) -> js_sys::Promise {
        let cell = self.run.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut run = take(&cell)?;
            let out = f(&mut run).await;
            *cell.borrow_mut() = Some(run);
            to_js(out?)
        })
    }
}

#[wasm_bindgen]
impl WebRun {
    /// Starts a run of `config_json` (a validated [`ExperimentConfig`]) on
    /// `backend` (`cpu` or `webgpu`). With `target_json` (a target file or a
    /// report), the target phase is skipped.
    pub async fn create(
        preset_name: String,
        config_json: String,
        seed: u32,
        backend: String,
        target_json: Option<String>,
    ) -> Result<WebRun, JsValue> {
        let cfg = ExperimentConfig::from_json(&config_json).map_err(invalid)?;
        // Run::new refuses a target of another model than the configuration's.
        let target = target_json.as_deref().map(target_from_file).transpose().map_err(apd_err)?;
        let kind = BackendKind::parse(&backend).map_err(apd_err)?;
        check_fits(&cfg, kind)?;
        let dev = device(kind).await.map_err(apd_err)?;
        let run = Run::new(&preset_name, cfg, seed as u64, &dev, target).map_err(apd_err)?;
        Ok(WebRun::new(run, kind, 0.0, false))
    }

    /// Continues the decomposition saved in `report_json` (a checkpoint the
    /// page kept) on `backend`: after a lost GPU, or after a reload.
    pub async fn resume(report_json: String, backend: String) -> Result<WebRun, JsValue> {
        let report = Report::parse(&report_json).map_err(apd_err)?;
        let kind = BackendKind::parse(&backend).map_err(apd_err)?;
        check_fits(&report.config, kind)?;
        let dev = device(kind).await.map_err(apd_err)?;
        let run = Run::resume(&report, &dev).map_err(apd_err)?;
        // A checkpoint from before the restarts were compared starts over.
        let started_over = run.history.is_empty();
        let apd_ms = if started_over { 0.0 } else { report.timing.wall_s as f64 * 1000.0 };
        Ok(WebRun::new(run, kind, apd_ms, started_over))
    }

    /// Whether [`WebRun::resume`] started the decomposition over: the
    /// checkpoint was taken while restarts were still being compared.
    #[wasm_bindgen(getter, js_name = startedOver)]
    pub fn started_over(&self) -> bool {
        self.started_over
    }

    /// The backend in use.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// The run's step [`Plan`], as JSON.
    pub fn plan(&self) -> Result<String, JsValue> {
        let guard = self.run.borrow();
        let run = guard.as_ref().ok_or_else(|| js_error("busy", "the run is busy with another call"))?;
        to_json(&Plan::of(run.config()))
    }

    /// Runs up to `n` steps (stopping at a phase change) and returns what
    /// they did: new losses, step counters and ms per step.
    pub fn steps(&self, n: u32) -> js_sys::Promise {
        let apd_ms = self.apd_ms.clone();
        self.with_run(
            move |run| Box::pin(async move { steps_inner(run, n, &apd_ms).await.map_err(apd_err) }),
            |batch| Ok(JsValue::from_str(&to_json(&batch)?)),
        )
    }

    /// What the views draw; `curve_feature` picks the residual MLP's
    /// response curve (clamped to the features that exist).
    pub fn snapshot(&self, curve_feature: u32) -> js_sys::Promise {
        self.with_run(
            move |run| Box::pin(async move { run.snapshot(curve_feature as usize).await.map_err(apd_err) }),
            |snap| Ok(JsValue::from_str(&to_json(&snap)?)),
        )
    }

    /// The report (same JSON as the CLI's), once the decomposition has
    /// started; without the field's evaluation unless `evaluate`
    /// (`Run::report_with`: checkpoints and exports of the weights).
    pub fn report(&self, evaluate: bool) -> js_sys::Promise {
        let (backend, wall_s) = (self.backend.clone(), *self.apd_ms.borrow() / 1000.0);
        self.with_run(
            move |run| Box::pin(async move { run.report_with(wall_s, &backend, evaluate).await.map_err(apd_err) }),
            |report| match report {
                Some(r) => Ok(JsValue::from_str(&to_json(&r)?)),
                None => Err(js_error("invalid", "no decomposition yet: the target is still training")),
            },
        )
    }

    /// The target file (same JSON as the CLI's), once the target is trained.
    #[wasm_bindgen(js_name = targetJson)]
    pub fn target_json(&self) -> Result<String, JsValue> {
        let guard = self.run.borrow();
        let run = guard.as_ref().ok_or_else(|| js_error("busy", "the run is busy with another call"))?;
        let t = run.target().ok_or_else(|| js_error("invalid", "the target is still training"))?;
        to_json(&TargetFile::new(run.preset(), run.config(), run.seed(), t))
    }
}

async fn steps_inner(run: &mut Run, n: u32, apd_ms: &RefCell<f64>) -> Result<Batch, ApdError> {
    let mut target_losses = Vec::new();
    let mut steps = Vec::new();
    let phase = run.phase();
    let t0 = now_ms();
    let mut done = 0usize;
    for _ in 0..n {
        if run.phase() != phase {
            break;
        }
        match run.step().await? {
            Progress::Target { loss, .. } => target_losses.push(loss),
            Progress::Decompose(s) => steps.push(s),
            Progress::Done => break,
        }
        done += 1;
    }
    let ms = now_ms() - t0;
    if !steps.is_empty() {
        *apd_ms.borrow_mut() += ms;
    }
    Ok(Batch {
        phase: run.phase(),
        target_step: run.target_history.len(),
        apd_step: run.decomp_step(),
        apd_start: run.start(),
        target_losses,
        steps,
        ms_per_step: if done > 0 { ms / done as f64 } else { 0.0 },
    })
}
