//! The wasm-bindgen surface: a thin wrapper that the page's Web Worker
//! drives. It converts between JS and the core types, and nothing else: the
//! algorithm, presets and validation all live in the core.

use crate::backend::{device, BackendKind};
use crate::config::{preset, ExperimentConfig, PRESET_NAMES};
use crate::report::{target_from_file, Report, TargetFile};
use crate::run::{Phase, Progress, Run};
use crate::ApdError;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Values cross to JS as JSON text, which the worker parses. We measured
/// `serde_wasm_bindgen::to_value` at about 200 ms for one batch of 20 step
/// records in Chromium (against 1 ms for this), a third of the run's time.
fn to_js(value: &impl Serialize) -> Result<JsValue, JsError> {
    Ok(JsValue::from_str(&serde_json::to_string(value).map_err(js_err)?))
}

fn now_ms() -> f64 {
    // `std::time::Instant` panics on wasm32; Date is enough for ms per step.
    js_sys::Date::now()
}

/// Memory a run may use in the page: wasm32 addresses at most 4 GiB and the
/// tab needs room besides the run; GPUs in laptops share far less.
fn memory_budget(kind: BackendKind) -> f64 {
    match kind {
        BackendKind::Cpu => 1.5 * (1u64 << 30) as f64,
        BackendKind::Wgpu => (1u64 << 30) as f64,
    }
}

/// WebGPU's default `maxStorageBufferBindingSize` (128 MiB), which every
/// adapter supports.
const WEBGPU_MAX_BUFFER: f64 = (128u64 << 20) as f64;

/// Refuses, before anything is allocated rather than by crashing the tab, a
/// configuration that would not fit `kind`'s memory budget or, on WebGPU,
/// its guaranteed buffer size.
fn check_fits(cfg: &ExperimentConfig, kind: BackendKind) -> Result<(), JsError> {
    cfg.check_memory(memory_budget(kind)).map_err(js_err)?;
    let largest = cfg.largest_tensor_elements() as f64 * 4.0;
    if kind == BackendKind::Wgpu && largest > WEBGPU_MAX_BUFFER {
        return Err(JsError::new(&format!(
            "this configuration needs a {:.0} MiB buffer, over WebGPU's guaranteed {:.0} MiB: \
             lower the batch size, the number of components or the model size, or use the CPU",
            largest / 1048576.0,
            WEBGPU_MAX_BUFFER / 1048576.0
        )));
    }
    Ok(())
}

thread_local! {
    static PANIC: RefCell<String> = const { RefCell::new(String::new()) };
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
#[wasm_bindgen(js_name = testPanic)]
pub fn test_panic() {
    panic!("a panic requested by the page's test hook");
}

/// The preset names, as a JSON array.
#[wasm_bindgen(js_name = presetNames)]
pub fn preset_names() -> String {
    serde_json::to_string(PRESET_NAMES).expect("names serialise")
}

/// A preset's configuration as JSON.
#[wasm_bindgen(js_name = presetConfig)]
pub fn preset_config(name: &str) -> Result<String, JsError> {
    serde_json::to_string(&preset(name).map_err(js_err)?).map_err(js_err)
}

/// Sets one field (dotted path) of a configuration; returns the new JSON or
/// an error naming the field. The input is not modified on error.
#[wasm_bindgen(js_name = setField)]
pub fn set_field(config_json: &str, path: &str, value: &str) -> Result<String, JsError> {
    let mut cfg = ExperimentConfig::from_json(config_json).map_err(js_err)?;
    cfg.set(path, value).map_err(js_err)?;
    serde_json::to_string(&cfg).map_err(js_err)
}

/// Validates a configuration; returns it normalised.
#[wasm_bindgen(js_name = validateConfig)]
pub fn validate_config(config_json: &str) -> Result<String, JsError> {
    let cfg = ExperimentConfig::from_json(config_json).map_err(js_err)?;
    serde_json::to_string(&cfg).map_err(js_err)
}

/// Validates an imported report; returns it normalised.
#[wasm_bindgen(js_name = parseReport)]
pub fn parse_report(text: &str) -> Result<String, JsError> {
    let r = Report::parse(text).map_err(js_err)?;
    serde_json::to_string(&r).map_err(js_err)
}

#[derive(Serialize)]
struct Batch {
    phase: Phase,
    target_step: usize,
    target_steps: usize,
    apd_step: usize,
    apd_steps: usize,
    /// While restarts are compared: which start (from 0) of how many.
    apd_start: Option<(usize, usize)>,
    target_losses: Vec<f32>,
    apd: Vec<crate::apd::StepStats>,
    ms_per_step: f64,
}

/// A run in the browser. Methods return Promises; the worker awaits each
/// before the next, and a second call while one is in flight gets an error
/// instead of a tangled state.
#[wasm_bindgen]
pub struct WebRun {
    run: Rc<RefCell<Option<Run>>>,
    backend: String,
    apd_ms: Rc<RefCell<f64>>,
    started_over: bool,
}

fn take(cell: &Rc<RefCell<Option<Run>>>) -> Result<Run, JsError> {
    cell.borrow_mut().take().ok_or_else(|| JsError::new("the run is busy with another call"))
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
    ) -> Result<WebRun, JsError> {
        let cfg = ExperimentConfig::from_json(&config_json).map_err(js_err)?;
        // Run::new refuses a target of another model than the configuration's.
        let target = target_json.as_deref().map(target_from_file).transpose().map_err(js_err)?;
        let kind = BackendKind::parse(&backend).map_err(js_err)?;
        check_fits(&cfg, kind)?;
        let dev = device(kind).await.map_err(js_err)?;
        let run = Run::new(&preset_name, cfg, seed as u64, &dev, target).map_err(js_err)?;
        let name = if kind == BackendKind::Wgpu { "webgpu" } else { "cpu" };
        Ok(WebRun {
            run: Rc::new(RefCell::new(Some(run))),
            backend: name.into(),
            apd_ms: Rc::new(RefCell::new(0.0)),
            started_over: false,
        })
    }

    /// Continues the decomposition saved in `report_json` (a checkpoint the
    /// page kept) on `backend`: after a lost GPU, or after a reload.
    pub async fn resume(report_json: String, backend: String) -> Result<WebRun, JsError> {
        let report = Report::parse(&report_json).map_err(js_err)?;
        let kind = BackendKind::parse(&backend).map_err(js_err)?;
        check_fits(&report.config, kind)?;
        let dev = device(kind).await.map_err(js_err)?;
        let run = Run::resume(&report, &dev).map_err(js_err)?;
        let name = if kind == BackendKind::Wgpu { "webgpu" } else { "cpu" };
        // A checkpoint from before the restarts were compared starts over.
        let started_over = run.history.is_empty();
        let apd_ms = if started_over { 0.0 } else { report.timing.wall_s as f64 * 1000.0 };
        Ok(WebRun {
            run: Rc::new(RefCell::new(Some(run))),
            backend: name.into(),
            apd_ms: Rc::new(RefCell::new(apd_ms)),
            started_over,
        })
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

    /// Runs up to `n` steps (stopping at a phase change) and returns what
    /// they did: new losses, step counters and ms per step.
    pub fn steps(&self, n: u32) -> js_sys::Promise {
        let cell = self.run.clone();
        let apd_ms = self.apd_ms.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut run = take(&cell)?;
            let out = steps_inner(&mut run, n, &apd_ms).await;
            *cell.borrow_mut() = Some(run);
            let batch = out.map_err(js_err)?;
            Ok(to_js(&batch)?)
        })
    }

    /// What the views draw; `curve_feature` picks the residual MLP's
    /// response curve (clamped to the features that exist).
    pub fn snapshot(&self, curve_feature: u32) -> js_sys::Promise {
        let cell = self.run.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let run = take(&cell)?;
            let out = crate::views::snapshot(&run, curve_feature as usize).await;
            *cell.borrow_mut() = Some(run);
            Ok(to_js(&out.map_err(js_err)?)?)
        })
    }

    /// The report (same JSON as the CLI's), once APD has started.
    pub fn report(&self) -> js_sys::Promise {
        let cell = self.run.clone();
        let backend = self.backend.clone();
        let wall_s = *self.apd_ms.borrow() / 1000.0;
        wasm_bindgen_futures::future_to_promise(async move {
            let run = take(&cell)?;
            let out = run.report(wall_s, &backend).await;
            *cell.borrow_mut() = Some(run);
            let text = match out.map_err(js_err)? {
                Some(r) => serde_json::to_string(&r).map_err(js_err)?,
                None => return Err(JsError::new("no decomposition yet: the target is still training").into()),
            };
            Ok(JsValue::from_str(&text))
        })
    }

    /// The target file (same JSON as the CLI's), once the target is trained.
    #[wasm_bindgen(js_name = targetJson)]
    pub fn target_json(&self) -> Result<String, JsError> {
        let guard = self.run.borrow();
        let run = guard.as_ref().ok_or_else(|| JsError::new("the run is busy with another call"))?;
        let t = run.target().ok_or_else(|| JsError::new("the target is still training"))?;
        serde_json::to_string(&TargetFile::new(run.preset(), run.config(), run.seed(), t)).map_err(js_err)
    }
}

async fn steps_inner(run: &mut Run, n: u32, apd_ms: &RefCell<f64>) -> Result<Batch, ApdError> {
    let mut target_losses = Vec::new();
    let mut apd = Vec::new();
    let phase = run.phase();
    let t0 = now_ms();
    let mut done = 0usize;
    for _ in 0..n {
        if run.phase() != phase {
            break;
        }
        match run.step().await? {
            Progress::Target { loss, .. } => target_losses.push(loss),
            Progress::Apd(s) => apd.push(s),
            Progress::Done => break,
        }
        done += 1;
    }
    let ms = now_ms() - t0;
    if !apd.is_empty() {
        *apd_ms.borrow_mut() += ms;
    }
    let cfg = run.config();
    Ok(Batch {
        phase: run.phase(),
        target_step: run.target_history.len(),
        target_steps: cfg.target.steps,
        apd_step: run.history.len(),
        apd_steps: cfg.apd.total_steps(),
        apd_start: run.apd().and_then(|a| a.start()),
        target_losses,
        apd,
        ms_per_step: if done > 0 { ms / done as f64 } else { 0.0 },
    })
}
