//! The same APD steps on the CPU and on wgpu give the same losses. Runs only
//! where a wgpu adapter exists (CI installs Mesa's lavapipe for this);
//! otherwise it says so on stderr and in the test name's output.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::backend::{device, BackendKind};
use apd_playground::config::preset;
use apd_playground::run::{Progress, Run};

fn losses_on(dev: &burn::tensor::Device) -> Vec<(f32, f32, f32)> {
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "30").unwrap();
    cfg.set("apd.steps", "5").unwrap();
    let mut run = Run::new("tms-5-2", cfg, 1, dev, None).unwrap();
    let mut out = Vec::new();
    loop {
        match pollster::block_on(run.step()).unwrap() {
            Progress::Apd(s) => out.push((s.faithfulness, s.minimality, s.simplicity)),
            Progress::Done => return out,
            Progress::Target { .. } => {}
        }
    }
}

#[test]
fn cpu_and_wgpu_agree() {
    let gpu = match std::panic::catch_unwind(|| pollster::block_on(device(BackendKind::Wgpu))) {
        Ok(Ok(d)) => d,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "wgpu initialisation panicked".to_string(),
            };
            eprintln!("SKIPPED cpu_and_wgpu_agree: no wgpu adapter ({why})");
            println!("SKIPPED cpu_and_wgpu_agree: no wgpu adapter");
            return;
        }
    };
    let cpu = losses_on(&burn::tensor::Device::flex());
    let gpu = losses_on(&gpu);
    // 5 steps plus the preset's two losing starts of one step each.
    assert_eq!(cpu.len(), 7);
    for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        for (x, y) in [(c.0, g.0), (c.1, g.1), (c.2, g.2)] {
            assert!((x - y).abs() <= 1e-3 * x.abs().max(1e-4), "step {i}: cpu {c:?} wgpu {g:?}");
        }
    }
    eprintln!("cpu and wgpu agree over {} APD steps: {:?}", cpu.len(), gpu.last());
}
