//! The instance dimension (issue 14): several seeds' targets trained in one
//! batched step. Each instance must train exactly as its seed does alone
//! (bit for bit: it draws its own data and initial weights, and its
//! parameters get only its own loss's gradient); one seed alone is today's
//! run, which `tests/golden.rs` holds to the recorded bits.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{apply_recipe, preset, ExperimentConfig};
use apd_playground::models::{Target, TargetTrainer};
use burn::tensor::Device;

fn train(cfg: &ExperimentConfig, seeds: &[u64]) -> (Vec<Vec<f32>>, Vec<Target>) {
    let mut t = TargetTrainer::with_seeds(cfg, seeds, &Device::flex()).unwrap();
    let mut losses = Vec::new();
    while !t.done() {
        losses.push(pollster::block_on(t.step_all()).unwrap());
    }
    (losses, pollster::block_on(t.targets()).unwrap())
}

/// Trains `seeds` together and each alone, and compares the losses at
/// every step and the final weights.
fn together_as_alone(cfg: &ExperimentConfig, seeds: &[u64]) {
    let (losses, targets) = train(cfg, seeds);
    assert_eq!(targets.len(), seeds.len());
    for (i, &seed) in seeds.iter().enumerate() {
        let (alone_losses, alone) = train(cfg, &[seed]);
        let together: Vec<f32> = losses.iter().map(|l| l[i]).collect();
        let alone_losses: Vec<f32> = alone_losses.iter().map(|l| l[0]).collect();
        assert_eq!(together, alone_losses, "seed {seed}: the losses differ from its run alone");
        assert_eq!(targets[i], alone[0], "seed {seed}: the weights differ from its run alone");
    }
    assert_ne!(targets[0], targets[1], "two seeds must give two targets");
}

#[test]
fn tms_instances_train_as_they_do_alone() {
    let mut cfg = preset("tms-5-2-id").unwrap();
    cfg.set("target.steps", "60").unwrap();
    together_as_alone(&cfg, &[3, 4, 11]);
    // The reference recipe: PyTorch's initialisation and the decoder as a
    // parameter of its own, merged back after each step.
    apply_recipe(&mut cfg, "reference").unwrap();
    cfg.set("target.steps", "60").unwrap();
    together_as_alone(&cfg, &[5, 6]);
}

#[test]
fn residual_mlp_instances_train_as_they_do_alone() {
    let mut cfg = preset("resid-mlp-custom").unwrap();
    for (k, v) in [("model.n_features", "6"), ("model.d_resid", "24"), ("model.d_mlp", "3"), ("model.n_layers", "2"), ("target.steps", "40")] {
        cfg.set(k, v).unwrap();
    }
    together_as_alone(&cfg, &[3, 9]);
}

#[test]
fn a_trainer_needs_a_seed() {
    let err = TargetTrainer::with_seeds(&preset("tms-5-2").unwrap(), &[], &Device::flex()).err().expect("no seeds is refused");
    assert!(err.to_string().contains("at least one seed"), "{err}");
}
