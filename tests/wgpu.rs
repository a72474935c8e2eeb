//! The same APD and SPD steps on the CPU and on wgpu give the same losses,
//! and so do APD and SPD steps of several seeds batched in one step.
//! Needs a wgpu adapter: `scripts/setup.sh` installs Mesa's lavapipe for
//! this, and where lavapipe is installed a missing adapter fails the test.
//! Only a machine without lavapipe (and without a GPU) skips it, saying so.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::apd::ApdTrainer;
use apd_playground::backend::{device, forget_gpu, gpu_devices_made, BackendKind};
use apd_playground::config::{preset, with_method, ExperimentConfig, Method};
use apd_playground::models::TargetTrainer;
use apd_playground::run::{Progress, Run};
use apd_playground::spd::SpdTrainer;

/// The preset of tms-5-2 cut to a few steps of `method`: APD's three starts
/// of one step each and the prune after them, as with the earlier preset's
/// fractions (today's are those of 6,000 steps).
fn short_config(method: Method) -> ExperimentConfig {
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", method).unwrap();
    cfg.set("target.steps", "30").unwrap();
    cfg.set("apd.steps", "5").unwrap();
    cfg.set("apd.restart_pct", "0.15").unwrap();
    cfg.set("apd.prune_at_pct", "0.75").unwrap();
    if method == Method::Spd {
        cfg.set("spd.steps", "5").unwrap();
        cfg.set("spd.batch_size", "512").unwrap();
    }
    cfg
}

/// APD or SPD of three seeds in one batched step (the targets trained on
/// the CPU, so both backends decompose the same ones): each step's
/// minimality (APD) or stochastic reconstruction (SPD) losses.
fn batched_losses_on(dev: &burn::tensor::Device, method: Method) -> Vec<Vec<f32>> {
    let cfg = short_config(method);
    let seeds = [1, 2, 3];
    let mut targets = TargetTrainer::with_seeds(&cfg, &seeds, &burn::tensor::Device::flex()).unwrap();
    while !targets.done() {
        pollster::block_on(targets.step_all()).unwrap();
    }
    let targets = pollster::block_on(targets.targets()).unwrap();
    let mut out = Vec::new();
    if method == Method::Spd {
        let mut spd = SpdTrainer::with_seeds(&cfg, &targets, &seeds, dev).unwrap();
        while !spd.done() {
            out.push(pollster::block_on(spd.step_all()).unwrap().iter().map(|s| s.stochastic).collect());
        }
        return out;
    }
    let mut apd = ApdTrainer::with_seeds(&cfg, &targets, &seeds, dev).unwrap();
    while !apd.done() {
        out.push(pollster::block_on(apd.step_all()).unwrap().iter().map(|s| s.minimality).collect());
    }
    out
}

fn losses_on(dev: &burn::tensor::Device, method: Method) -> Vec<Vec<f32>> {
    let cfg = short_config(method);
    let mut run = Run::new("tms-5-2", cfg, 1, dev, None).unwrap();
    let mut out = Vec::new();
    loop {
        match pollster::block_on(run.step()).unwrap() {
            Progress::Decompose(s) => out.push(s.terms.iter().map(|t| t.1).collect()),
            Progress::Done => return out,
            Progress::Target { .. } => {}
        }
    }
}

/// Mesa's lavapipe Vulkan driver, where it is installed (its ICD file).
fn lavapipe() -> Option<std::path::PathBuf> {
    let dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("lvp_icd")))
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
            if let Some(icd) = lavapipe() {
                panic!("lavapipe is installed ({}) but wgpu found no adapter: {why}", icd.display());
            }
            assert!(std::env::var("CI").as_deref() != Ok("true"), "no wgpu adapter under CI, where setup installs lavapipe: {why}");
            eprintln!("SKIPPED cpu_and_wgpu_agree: no wgpu adapter and no lavapipe ({why})");
            println!("SKIPPED cpu_and_wgpu_agree: no wgpu adapter");
            return;
        }
    };
    // 5 steps plus the preset's losing starts of one step each: APD two, SPD three.
    for (method, steps) in [(Method::Apd, 7), (Method::Spd, 8)] {
        let cpu = losses_on(&burn::tensor::Device::flex(), method);
        let gpu = losses_on(&gpu, method);
        assert_eq!(cpu.len(), steps);
        assert_agree(&format!("{method:?}"), &cpu, &gpu);
        eprintln!("cpu and wgpu agree over {} {method:?} steps: {:?}", cpu.len(), gpu.last());
    }
    for (method, steps) in [(Method::Apd, 7), (Method::Spd, 8)] {
        let (cpu, gpu) = (batched_losses_on(&burn::tensor::Device::flex(), method), batched_losses_on(&gpu, method));
        assert_eq!(cpu.len(), steps);
        assert_agree(&format!("batched {method:?}"), &cpu, &gpu);
    }
    // One device per process, handed out again (burn registers a device
    // once); after a loss, a fresh one that computes the same.
    let made = gpu_devices_made();
    pollster::block_on(device(BackendKind::Wgpu)).unwrap();
    assert_eq!(gpu_devices_made(), made, "a second request reuses the device");
    forget_gpu();
    let fresh = pollster::block_on(device(BackendKind::Wgpu)).expect("a fresh device after a loss");
    assert_eq!(gpu_devices_made(), made + 1);
    let (cpu, again) = (losses_on(&burn::tensor::Device::flex(), Method::Apd), losses_on(&fresh, Method::Apd));
    assert_agree("fresh device", &cpu, &again);
}

/// Each step's losses on wgpu within 1e-3 (relative) of the CPU's.
fn assert_agree(what: &str, cpu: &[Vec<f32>], gpu: &[Vec<f32>]) {
    assert_eq!(cpu.len(), gpu.len(), "{what}: steps");
    for (i, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        for (x, y) in c.iter().zip(g) {
            assert!((x - y).abs() <= 1e-3 * x.abs().max(1e-4), "{what} step {i}: cpu {c:?} wgpu {g:?}");
        }
    }
}
