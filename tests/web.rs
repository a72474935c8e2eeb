//! APD and SPD in a real browser (headless Chromium through
//! wasm-bindgen-test): steps run on burn's CPU backend and on WebGPU, and
//! both give the same losses. Chromium's WebGPU here is SwiftShader (a CPU implementation), so
//! the runs are kept small.
#![cfg(target_arch = "wasm32")]

use apd_playground::backend::{device, forget_gpu, gpu_devices_made, BackendKind};
use apd_playground::config::{preset, with_method, Method};
use apd_playground::run::{Progress, Run};
use apd_playground::web::WebRun;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn losses_on(dev: &burn::tensor::Device, method: Method) -> Vec<Vec<f32>> {
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", method).unwrap();
    cfg.set("target.steps", "20").unwrap();
    cfg.set("apd.steps", "4").unwrap();
    cfg.set("apd.batch_size", "256").unwrap();
    // One start: these tests are about the backends, not the restarts.
    cfg.set("apd.restarts", "0").unwrap();
    if method == Method::Spd {
        cfg.set("spd.steps", "2").unwrap();
        cfg.set("spd.batch_size", "256").unwrap();
        cfg.set("spd.restarts", "0").unwrap();
    }
    let mut run = Run::new("tms-5-2", cfg, 2, dev, None).unwrap();
    let mut out = Vec::new();
    loop {
        match run.step().await.expect("step") {
            Progress::Decompose(s) => out.push(s.terms.iter().map(|t| t.1).collect()),
            Progress::Done => return out,
            Progress::Target { .. } => {}
        }
    }
}

#[wasm_bindgen_test]
async fn apd_steps_run_on_the_cpu_backend() {
    let losses = losses_on(&device(BackendKind::Cpu).await.expect("device"), Method::Apd).await;
    assert_eq!(losses.len(), 4);
    assert!(losses.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
    // Faithfulness falls once the learning rate is up.
    assert!(losses[3][0] < losses[0][0], "{losses:?}");
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree() {
    // The page's one WebGPU device, the same that every other run gets.
    let (cpu_dev, gpu_dev) = (device(BackendKind::Cpu).await.expect("device"), device(BackendKind::Wgpu).await.expect("device"));
    for (method, steps) in [(Method::Apd, 4), (Method::Spd, 2)] {
        let cpu = losses_on(&cpu_dev, method).await;
        let gpu = losses_on(&gpu_dev, method).await;
        assert_eq!((cpu.len(), gpu.len()), (steps, steps));
        for (c, g) in cpu.iter().zip(&gpu) {
            for (x, y) in c.iter().zip(g) {
                assert!((x - y).abs() <= 1e-3 * x.abs().max(1e-4), "{method:?}: cpu {c:?} webgpu {g:?}");
            }
        }
    }
}

#[wasm_bindgen_test]
async fn bad_configuration_is_an_error_value() {
    let mut cfg = preset("tms-5-2").unwrap();
    let before = cfg.clone();
    let e = cfg.set("apd.topk", "99").unwrap_err();
    assert_eq!(e.field, "apd.topk");
    assert_eq!(cfg, before);
}

/// The page's runs as the worker makes them: through `WebRun`, on WebGPU.
async fn webgpu_run() -> WebRun {
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "3").unwrap();
    cfg.set("apd.steps", "3").unwrap();
    cfg.set("apd.batch_size", "64").unwrap();
    cfg.set("apd.restarts", "0").unwrap();
    let json = serde_json::to_string(&cfg).unwrap();
    let run = WebRun::create("tms-5-2".into(), json, 1, "webgpu".into(), None).await.map_err(|e| format!("{e:?}")).expect("a WebGPU run");
    assert_eq!(run.backend(), "webgpu");
    // The target's steps, then a decomposition step: the device really runs.
    for _ in 0..2 {
        JsFuture::from(run.steps(4)).await.map_err(|e| format!("{e:?}")).expect("steps on WebGPU");
    }
    run
}

#[wasm_bindgen_test]
async fn webgpu_runs_one_after_another_share_the_device_and_a_lost_one_is_replaced() {
    // burn registers a WebGPU device once per page: a second run that asked
    // for its own would fail (and the page would fall back to the CPU).
    drop(webgpu_run().await);
    let made = gpu_devices_made();
    assert!(made >= 1);
    drop(webgpu_run().await);
    assert_eq!(gpu_devices_made(), made, "the second run reuses the first one's device");
    // After a lost device, the next run gets a fresh one, and runs on it.
    forget_gpu();
    drop(webgpu_run().await);
    assert_eq!(gpu_devices_made(), made + 1, "a fresh device after the loss");
    drop(webgpu_run().await);
    assert_eq!(gpu_devices_made(), made + 1);
}

/// Other tools' files in the page's engine (32-bit wasm): the PyTorch and
/// safetensors fixtures read the same as natively, a hostile one is refused.
#[wasm_bindgen_test]
fn pytorch_and_safetensors_targets_import_in_wasm() {
    let pth = apd_playground::web::import_target(include_bytes!("fixtures/interop/tms-5-2.pth")).unwrap();
    let st = apd_playground::web::import_target(include_bytes!("fixtures/interop/tms-5-2.f32.safetensors")).unwrap();
    let text = |json: &str| serde_json::from_str::<serde_json::Value>(json).unwrap()["text"].as_str().unwrap().to_string();
    assert_eq!(text(&pth), text(&st), "the same target from both files");
    assert!(pth.contains("Decomposed as tms-5-2"), "{pth}");
    let refused = apd_playground::interop::import_target(include_bytes!("fixtures/interop/whole-model.pth")).unwrap_err();
    assert!(refused.to_string().contains("reference_targets.Tms"), "{refused}");
    let (bytes, yaml) = apd_playground::interop::export::export_json(&text(&pth), "t.safetensors").unwrap();
    assert_eq!(
        apd_playground::interop::import_target(&bytes).unwrap().target,
        apd_playground::interop::import_target(include_bytes!("fixtures/interop/tms-5-2.pth")).unwrap().target
    );
    assert!(yaml.contains("path: t.safetensors"));
}
