//! APD and SPD in a real browser (headless Chromium through
//! wasm-bindgen-test): steps run on burn's CPU backend and on WebGPU, and
//! both give the same losses. Chromium's WebGPU here is SwiftShader (a CPU implementation), so
//! the runs are kept small.
#![cfg(target_arch = "wasm32")]

use apd_playground::backend::{device, BackendKind};
use apd_playground::config::{preset, with_method, Method};
use apd_playground::run::{Progress, Run};
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
            Progress::Apd(s) => out.push(vec![s.faithfulness, s.minimality, s.simplicity]),
            Progress::Spd(s) => out.push(vec![s.faithfulness, s.stochastic, s.layerwise, s.importance]),
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
    // One WebGPU device per page: a second request for it fails.
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
