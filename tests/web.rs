//! APD in a real browser (headless Chromium through wasm-bindgen-test):
//! steps run on burn's CPU backend and on WebGPU, and both give the same
//! losses. Chromium's WebGPU here is SwiftShader (a CPU implementation), so
//! the runs are kept small.
#![cfg(target_arch = "wasm32")]

use apd_playground::backend::{device, BackendKind};
use apd_playground::config::preset;
use apd_playground::run::{Progress, Run};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn losses_on(kind: BackendKind) -> Vec<[f32; 3]> {
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "20").unwrap();
    cfg.set("apd.steps", "4").unwrap();
    cfg.set("apd.batch_size", "256").unwrap();
    // One start: these tests are about the backends, not the restarts.
    cfg.set("apd.restarts", "0").unwrap();
    let dev = device(kind).await.expect("device");
    let mut run = Run::new("tms-5-2", cfg, 2, &dev, None).unwrap();
    let mut out = Vec::new();
    loop {
        match run.step().await.expect("step") {
            Progress::Apd(s) => out.push([s.faithfulness, s.minimality, s.simplicity]),
            Progress::Done => return out,
            Progress::Target { .. } => {}
        }
    }
}

#[wasm_bindgen_test]
async fn apd_steps_run_on_the_cpu_backend() {
    let losses = losses_on(BackendKind::Cpu).await;
    assert_eq!(losses.len(), 4);
    assert!(losses.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
    // Faithfulness falls once the learning rate is up.
    assert!(losses[3][0] < losses[0][0], "{losses:?}");
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree() {
    let cpu = losses_on(BackendKind::Cpu).await;
    let gpu = losses_on(BackendKind::Wgpu).await;
    assert_eq!(cpu.len(), gpu.len());
    for (c, g) in cpu.iter().zip(&gpu) {
        for k in 0..3 {
            assert!((c[k] - g[k]).abs() <= 1e-3 * c[k].abs().max(1e-4), "cpu {c:?} webgpu {g:?}");
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
