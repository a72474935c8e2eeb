//! The residual MLP computed in the features' basis (`decomp::Stream`: the
//! stream kept as `x W_E + h W_out`, its wide products folded into the
//! weights) against the same network at full width: every method's losses,
//! step by step, and the components they train (so the gradients too) agree
//! to float32 rounding, on every residual preset and on an imported target
//! whose `W_E` is neither orthogonal nor this project's; so do the target's
//! training losses and the weights it ends with.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{preset, with_method, ExperimentConfig, Method};
use apd_playground::models::resid::unfolded;
use apd_playground::models::{Target, TargetTrainer};
use apd_playground::run::{Progress, Run};
use burn::tensor::Device;

/// Each step's loss terms, and the components at the end.
fn run(name: &str, cfg: &ExperimentConfig, target: Option<Target>) -> (Vec<Vec<(String, f32)>>, Vec<f32>) {
    let mut run = Run::new(name, cfg.clone(), 5, &Device::flex(), target).unwrap();
    let mut steps = Vec::new();
    loop {
        match pollster::block_on(run.step()).unwrap() {
            Progress::Decompose(s) => {
                let mut terms = s.terms.clone();
                terms.push(("total".into(), s.total));
                steps.push(terms);
            }
            Progress::Done => break,
            Progress::Target { .. } => {}
        }
    }
    let report = pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap();
    let factors = report.components.layers.iter().flat_map(|l| l.a.iter().chain(&l.b).copied()).collect();
    (steps, factors)
}

fn short(name: &str, method: Method) -> ExperimentConfig {
    let mut cfg = with_method(&preset(name).unwrap(), name, method).unwrap();
    let m = method.name();
    for (k, v) in [("target.steps", "10"), ("target.batch_size", "64")] {
        cfg.set(k, v).unwrap();
    }
    // At least four rows per feature: the stream is folded from there on (decomp::network).
    for (k, v) in [("batch_size", "400"), ("steps", "3"), ("restarts", "0")] {
        cfg.set(&format!("{m}.{k}"), v).unwrap();
    }
    if method == Method::Apd {
        cfg.set("apd.extra_components", "0").unwrap();
    }
    cfg
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 2e-3 * a.abs().max(b.abs()).max(1e-4)
}

fn agree(name: &str, cfg: &ExperimentConfig, target: Option<Target>) {
    let (folded, f_folded) = run(name, cfg, target.clone());
    let (full, f_full) = unfolded(|| run(name, cfg, target));
    assert_eq!(folded.len(), full.len());
    for (i, (a, b)) in folded.iter().zip(&full).enumerate() {
        for ((k, x), (_, y)) in a.iter().zip(b) {
            assert!(close(*x, *y), "{name} {}: step {i}'s {k}: folded {x}, full width {y}", cfg.method.name());
        }
    }
    assert_eq!(f_folded.len(), f_full.len());
    let worst = f_folded.iter().zip(&f_full).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let scale = f_full.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(worst <= 1e-3 * scale, "{name} {}: components differ by {worst} (largest {scale})", cfg.method.name());
    assert!(folded.iter().all(|s| s.iter().all(|(_, v)| v.is_finite())));
    // Not vacuous: the two paths did compute differently (rounding tells).
    assert!(f_folded != f_full || folded != full, "{name} {}: the folded path did not run", cfg.method.name());
}

#[test]
fn every_residual_preset_and_method_computes_the_same_folded() {
    for name in ["resid-mlp-1", "resid-mlp-2", "resid-mlp-3"] {
        // One target for both: Adam's first steps, about lr * sign(gradient),
        // would turn a target's rounding into differences far above it.
        let cfg = short(name, Method::Apd);
        let mut trainer = TargetTrainer::with_seeds(&cfg, &[5], &Device::flex()).unwrap();
        while !trainer.done() {
            pollster::block_on(trainer.step_all()).unwrap();
        }
        let target = pollster::block_on(trainer.targets()).unwrap().remove(0);
        for method in [Method::Apd, Method::Spd, Method::Vpd] {
            agree(name, &short(name, method), Some(target.clone()));
        }
    }
}

#[test]
fn target_training_computes_the_same_folded() {
    for name in ["resid-mlp-1", "resid-mlp-2"] {
        let mut cfg = preset(name).unwrap();
        cfg.set("target.batch_size", "64").unwrap();
        cfg.set("target.steps", "6").unwrap();
        let train = || {
            let mut t = TargetTrainer::with_seeds(&cfg, &[4], &Device::flex()).unwrap();
            let losses: Vec<f32> = (0..6).map(|_| pollster::block_on(t.step_all()).unwrap()[0]).collect();
            (losses, pollster::block_on(t.targets()).unwrap().remove(0))
        };
        let (folded, t_folded) = train();
        let (full, t_full) = unfolded(train);
        for (a, b) in folded.iter().zip(&full) {
            assert!(close(*a, *b), "{name}: target loss folded {a}, full width {b}");
        }
        for (a, b) in t_folded.layers.iter().zip(&t_full.layers) {
            let worst = a.values.iter().zip(&b.values).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst <= 1e-5, "{name} {}: {worst}", a.name);
        }
    }
}

#[test]
fn an_imported_target_computes_the_same_folded() {
    let bytes = std::fs::read(format!("{}/tests/fixtures/interop/resid-mlp.pth", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let imported = apd_playground::interop::import_target(&bytes).unwrap();
    for method in [Method::Apd, Method::Spd, Method::Vpd] {
        let mut cfg = with_method(&imported.config, "resid-mlp-custom", method).unwrap();
        let m = method.name();
        cfg.set(&format!("{m}.batch_size"), "24").unwrap();
        cfg.set(&format!("{m}.steps"), "5").unwrap();
        cfg.set(&format!("{m}.restarts"), "0").unwrap();
        cfg.set(&format!("{m}.n_components"), "8").unwrap();
        agree("resid-mlp-custom", &cfg, Some(imported.target.clone()));
    }
}
