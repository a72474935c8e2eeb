//! The instance dimension (issue 14): several seeds' targets trained, and
//! their APD and SPD decompositions run, in one batched step. Each instance must train exactly as its seed does alone
//! (bit for bit: it draws its own data and initial weights, and its
//! parameters get only its own loss's gradient); one seed alone is today's
//! run, which `tests/golden.rs` holds to the recorded bits.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::apd::{ApdTrainer, StepStats};
use apd_playground::config::{apply_recipe, preset, with_method, ExperimentConfig, Method};
use apd_playground::decomp::{Decomposer, Decomposition};
use apd_playground::models::{Target, TargetTrainer};
use apd_playground::spd::ci::GateValues;
use apd_playground::spd::{SpdStepStats, SpdTrainer};
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
    for (k, v) in
        [("model.n_features", "6"), ("model.d_resid", "24"), ("model.d_mlp", "3"), ("model.n_layers", "2"), ("target.steps", "40")]
    {
        cfg.set(k, v).unwrap();
    }
    together_as_alone(&cfg, &[3, 9]);
}

#[test]
fn a_trainer_needs_a_seed() {
    let err = TargetTrainer::with_seeds(&preset("tms-5-2").unwrap(), &[], &Device::flex()).err().expect("no seeds is refused");
    assert!(err.to_string().contains("at least one seed"), "{err}");
}

/// What an APD run of `seeds` together gives each seed: its losses at every
/// step, its components, its restarts' scores and the start it kept.
type ApdOutcome = (Vec<StepStats>, Decomposition, Vec<f64>, Option<usize>);

fn decompose(cfg: &ExperimentConfig, targets: &[Target], seeds: &[u64]) -> Vec<ApdOutcome> {
    let mut t = ApdTrainer::with_seeds(cfg, targets, seeds, &Device::flex()).unwrap();
    let mut histories = vec![Vec::new(); seeds.len()];
    while !t.done() {
        for (h, s) in histories.iter_mut().zip(pollster::block_on(t.step_all()).unwrap()) {
            h.push(s);
        }
    }
    t.into_instances()
        .into_iter()
        .zip(histories)
        .map(|(one, h)| {
            let d = pollster::block_on(one.decomposition()).unwrap();
            (h, d, one.start_scores().to_vec(), one.chosen_start())
        })
        .collect()
}

/// Decomposes `seeds`' targets together and each alone, and compares the
/// losses at every step, the components and the restarts' choice; returns
/// the starts the seeds kept.
fn decomposed_together_as_alone(cfg: &ExperimentConfig, seeds: &[u64]) -> Vec<Option<usize>> {
    let (_, targets) = train(cfg, seeds);
    let together = decompose(cfg, &targets, seeds);
    let mut kept = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        let alone = decompose(cfg, &targets[i..i + 1], &[seed]).remove(0);
        assert_eq!(together[i].0, alone.0, "seed {seed}: the APD losses differ from its run alone");
        assert_eq!(together[i].1, alone.1, "seed {seed}: the components differ from its run alone");
        assert_eq!((&together[i].2, together[i].3), (&alone.2, alone.3), "seed {seed}: the restarts went otherwise alone");
        kept.push(alone.3);
    }
    assert_ne!(together[0].1, together[1].1, "two seeds must give two decompositions");
    kept
}

#[test]
fn tms_decompositions_run_as_they_do_alone() {
    // The preset's additions: a spare component pruned at 75% of the steps,
    // and three starts of which each seed keeps its best.
    let mut cfg = preset("tms-5-2").unwrap();
    for (k, v) in [("target.steps", "200"), ("apd.steps", "40"), ("apd.batch_size", "64"), ("apd.restart_pct", "0.25")] {
        cfg.set(k, v).unwrap();
    }
    let kept = decomposed_together_as_alone(&cfg, &[3, 4, 5, 6]);
    // Each instance goes on from its own best start: the check above only
    // covers slicing the starts apart if the seeds chose differently.
    assert!(kept.iter().any(|k| *k != kept[0]), "the seeds all kept start {:?}: pick seeds that differ", kept[0]);
}

#[test]
fn residual_mlp_decompositions_run_as_they_do_alone() {
    let mut cfg = preset("resid-mlp-custom").unwrap();
    for (k, v) in [
        ("model.n_features", "6"),
        ("model.d_resid", "24"),
        ("model.d_mlp", "3"),
        ("model.n_layers", "2"),
        ("apd.n_components", "12"),
        ("target.steps", "60"),
        ("apd.steps", "20"),
        ("apd.extra_components", "2"),
        ("apd.prune_at_pct", "0.5"),
        ("apd.restarts", "1"),
        ("apd.restart_pct", "0.3"),
    ] {
        cfg.set(k, v).unwrap();
    }
    decomposed_together_as_alone(&cfg, &[3, 9]);
}

#[test]
fn an_apd_batch_needs_one_target_per_seed() {
    let cfg = preset("tms-5-2").unwrap();
    let err = ApdTrainer::with_seeds(&cfg, &[], &[], &Device::flex()).err().expect("no seeds is refused");
    assert!(err.to_string().contains("one per seed"), "{err}");
}

/// What an SPD run of `seeds` together gives each seed: its losses at every
/// step, its subcomponents, its gates, its restarts' scores and the start it kept.
type SpdOutcome = (Vec<SpdStepStats>, Decomposition, Vec<GateValues>, (Vec<f64>, Option<usize>));

fn decompose_spd(cfg: &ExperimentConfig, targets: &[Target], seeds: &[u64]) -> Vec<SpdOutcome> {
    let mut t = SpdTrainer::with_seeds(cfg, targets, seeds, &Device::flex()).unwrap();
    let mut histories = vec![Vec::new(); seeds.len()];
    while !t.done() {
        for (h, s) in histories.iter_mut().zip(pollster::block_on(t.step_all()).unwrap()) {
            h.push(s);
        }
    }
    let ds = pollster::block_on(t.decompositions()).unwrap();
    let gates = pollster::block_on(t.gate_values_all()).unwrap();
    histories.into_iter().zip(ds).zip(gates).zip(t.starts_all()).map(|(((h, d), g), s)| (h, d, g, s)).collect()
}

/// [`decomposed_together_as_alone`] for SPD, the gates compared too.
fn spd_together_as_alone(cfg: &ExperimentConfig, seeds: &[u64]) -> Vec<Option<usize>> {
    let (_, targets) = train(cfg, seeds);
    let together = decompose_spd(cfg, &targets, seeds);
    let mut kept = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        let alone = decompose_spd(cfg, &targets[i..i + 1], &[seed]).remove(0);
        assert_eq!(together[i].0, alone.0, "seed {seed}: the SPD losses differ from its run alone");
        assert_eq!(together[i].1, alone.1, "seed {seed}: the subcomponents differ from its run alone");
        assert_eq!(together[i].2, alone.2, "seed {seed}: the gates differ from its run alone");
        assert_eq!(together[i].3, alone.3, "seed {seed}: the restarts went otherwise alone");
        kept.push(alone.3 .1);
    }
    assert_ne!(together[0].1, together[1].1, "two seeds must give two decompositions");
    kept
}

fn spd_of(model: &str, sets: &[(&str, &str)]) -> ExperimentConfig {
    let mut cfg = with_method(&preset(model).unwrap(), model, Method::Spd).unwrap();
    for (k, v) in sets {
        cfg.set(k, v).unwrap();
    }
    cfg
}

#[test]
fn spd_decompositions_run_as_they_do_alone() {
    // The small TMS preset: the revive sigmoid's two backward passes, the
    // delta component, the faithfulness warmup, and four starts of which
    // each seed keeps its best.
    let sets = [("target.steps", "200"), ("spd.steps", "40"), ("spd.batch_size", "64"), ("spd.faithfulness_warmup_steps", "5")];
    let kept = spd_together_as_alone(&spd_of("tms-5-2", &sets), &[3, 4, 5, 6]);
    assert!(kept.iter().any(|k| *k != kept[0]), "the seeds all kept start {:?}: pick seeds that differ", kept[0]);
    // The paper's SPD (leaky sigmoid, no additions) with an identity layer.
    let paper = [
        ("target.steps", "100"),
        ("spd.steps", "15"),
        ("spd.batch_size", "64"),
        ("spd.lower_sigmoid", "leaky"),
        ("spd.delta_component", "false"),
        ("spd.restarts", "0"),
        ("spd.coeff_faithfulness", "1"),
    ];
    spd_together_as_alone(&spd_of("tms-5-2-id", &paper), &[7, 8]);
}

#[test]
fn a_batch_split_while_starts_are_compared_goes_on_as_alone() {
    // Split after 25 steps: two starts of 10 steps finished and set aside,
    // the third under way. Each seed then goes on alone and must end as its
    // run alone from the beginning ends, APD and SPD.
    let sets = [("target.steps", "200"), ("spd.steps", "40"), ("spd.batch_size", "64"), ("spd.faithfulness_warmup_steps", "5")];
    let cfg = spd_of("tms-5-2", &sets);
    let seeds = [3, 4, 5];
    let (_, targets) = train(&cfg, &seeds);
    let mut t = SpdTrainer::with_seeds(&cfg, &targets, &seeds, &Device::flex()).unwrap();
    for _ in 0..25 {
        pollster::block_on(t.step_all()).unwrap();
    }
    for ((mut one, &seed), target) in t.into_instances().into_iter().zip(&seeds).zip(&targets) {
        while !one.done() {
            pollster::block_on(one.step()).unwrap();
        }
        let alone = decompose_spd(&cfg, std::slice::from_ref(target), &[seed]).remove(0);
        assert_eq!(
            pollster::block_on(one.decomposition()).unwrap(),
            alone.1,
            "SPD seed {seed}: split mid-restarts, the subcomponents differ"
        );
        assert_eq!((one.start_scores().to_vec(), one.chosen_start()), alone.3, "SPD seed {seed}: the restarts went otherwise");
    }
    let mut cfg = preset("tms-5-2").unwrap();
    for (k, v) in [("target.steps", "200"), ("apd.steps", "40"), ("apd.batch_size", "64"), ("apd.restart_pct", "0.25")] {
        cfg.set(k, v).unwrap();
    }
    let (_, targets) = train(&cfg, &seeds);
    let mut t = ApdTrainer::with_seeds(&cfg, &targets, &seeds, &Device::flex()).unwrap();
    for _ in 0..25 {
        pollster::block_on(t.step_all()).unwrap();
    }
    for ((mut one, &seed), target) in t.into_instances().into_iter().zip(&seeds).zip(&targets) {
        while !one.done() {
            pollster::block_on(one.step()).unwrap();
        }
        let alone = decompose(&cfg, std::slice::from_ref(target), &[seed]).remove(0);
        assert_eq!(pollster::block_on(one.decomposition()).unwrap(), alone.1, "APD seed {seed}: split mid-restarts, the components differ");
        assert_eq!((one.start_scores().to_vec(), one.chosen_start()), (alone.2, alone.3), "APD seed {seed}: the restarts went otherwise");
    }
}

#[test]
fn residual_mlp_spd_decompositions_run_as_they_do_alone() {
    let sets = [
        ("model.n_features", "6"),
        ("model.d_resid", "24"),
        ("model.d_mlp", "3"),
        ("model.n_layers", "2"),
        ("target.steps", "60"),
        ("spd.n_components", "12"),
        ("spd.steps", "15"),
        ("spd.faithfulness_warmup_steps", "5"),
        ("spd.restarts", "1"),
        ("spd.restart_pct", "0.3"),
    ];
    spd_together_as_alone(&spd_of("resid-mlp-custom", &sets), &[3, 9]);
}

#[test]
fn an_spd_batch_needs_one_target_per_seed() {
    let cfg = spd_of("tms-5-2", &[]);
    let err = SpdTrainer::with_seeds(&cfg, &[], &[], &Device::flex()).err().expect("no seeds is refused");
    assert!(err.to_string().contains("one per seed"), "{err}");
}
