//! Whole runs on the CPU backend: determinism, the formats, and recovery of
//! tms-5-2's features by the default preset.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::preset;
use apd_playground::decomp::Decomposer;
use apd_playground::metrics::{resid_success, success};
use apd_playground::models::TargetTrainer;
use apd_playground::report::{Report, TargetFile};
use apd_playground::run::{Progress, Run};
use burn::tensor::Device;

fn run_to_end(mut run: Run) -> Run {
    while pollster::block_on(run.step()).expect("step") != Progress::Done {}
    run
}

fn short_run(seed: u64) -> Report {
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "300").unwrap();
    cfg.set("apd.steps", "40").unwrap();
    let run = run_to_end(Run::new("tms-5-2", cfg, seed, &Device::flex(), None).unwrap());
    pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap()
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let a = serde_json::to_string(&short_run(3)).unwrap();
    let b = serde_json::to_string(&short_run(3)).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&short_run(4)).unwrap();
    assert_ne!(a, c, "another seed must give another run");
}

#[test]
fn reports_and_targets_round_trip_through_json() {
    let r = short_run(5);
    let text = serde_json::to_string(&r).unwrap();
    let back = Report::parse(&text).expect("a report we wrote parses");
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    let target = r.target().unwrap();
    let tf = TargetFile::new("tms-5-2", &r.config, 5, &target);
    let (name, t2) = TargetFile::parse(&serde_json::to_string(&tf).unwrap()).unwrap();
    assert_eq!((name.as_str(), &t2), ("tms-5-2", &target));
}

#[test]
fn malformed_files_are_rejected_with_a_message() {
    let r = short_run(6);
    let good = serde_json::to_value(&r).unwrap();
    let mut cases = Vec::new();
    let mut v = good.clone();
    v["components"]["layers"][0]["a"].as_array_mut().unwrap().pop();
    cases.push(("truncated factors", v.to_string()));
    let mut v = good.clone();
    v["target"]["W"][0][0] = serde_json::json!("NaN");
    cases.push(("non-number weight", v.to_string()));
    let mut v = good.clone();
    v["config"]["apd"]["topk"] = serde_json::json!(-1.0);
    cases.push(("invalid config", v.to_string()));
    let text = good.to_string();
    cases.push(("truncated file", text[..text.len() / 2].to_string()));
    cases.push(("not json", "hello".to_string()));
    for (what, text) in cases {
        let e = Report::parse(&text).expect_err(what);
        assert!(!e.to_string().is_empty(), "{what}");
    }
    // A target file with a wrong shape.
    let target = r.target().unwrap();
    let mut tf = serde_json::to_value(TargetFile::new("tms-5-2", &r.config, 6, &target)).unwrap();
    tf["params"]["b"].as_array_mut().unwrap().push(serde_json::json!(0.0));
    let e = TargetFile::parse(&tf.to_string()).unwrap_err();
    assert!(e.to_string().contains("`b`"), "{e}");
}

#[test]
fn a_target_of_another_model_is_refused() {
    let r = short_run(7);
    let target = r.target().unwrap();
    let other = preset("tms-40-10").unwrap();
    let err = Run::new("tms-40-10", other, 0, &Device::flex(), Some(target)).err().expect("mismatch");
    assert!(err.to_string().contains("mismatch"), "{err}");
}

#[test]
fn a_huge_learning_rate_is_caught_as_divergence() {
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "50").unwrap();
    cfg.set("apd.lr", "10000").unwrap();
    cfg.set("apd.lr_warmup_pct", "0").unwrap();
    cfg.set("apd.steps", "500").unwrap();
    let mut run = Run::new("tms-5-2", cfg, 0, &Device::flex(), None).unwrap();
    let err = loop {
        match pollster::block_on(run.step()) {
            Ok(Progress::Done) => break None,
            Ok(_) => {}
            Err(e) => break Some(e),
        }
    };
    let err = err.expect("lr=1e4 should diverge");
    assert!(err.to_string().contains("lower apd.lr"), "{err}");
    // The components kept are finite.
    let d = pollster::block_on(apd_of(&run).unwrap().decomposition()).unwrap();
    assert!(d.layers.iter().all(|l| l.a.iter().chain(&l.b).all(|v| v.is_finite())));
}

/// Seed 23 was not used to choose the preset: the variants were compared on
/// seeds 0..20 (docs/robustness.md).
const UNTUNED_TMS_SEED: u64 = 23;

#[test]
fn tms_5_2_default_preset_recovers_every_feature() {
    let cfg = preset("tms-5-2").unwrap();
    let run = run_to_end(Run::new("tms-5-2", cfg, UNTUNED_TMS_SEED, &Device::flex(), None).unwrap());
    let r = pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap();
    let m = &r.metrics;
    eprintln!("tms-5-2 seed {UNTUNED_TMS_SEED}: MMCS {:.4} ML2R {:.4}", m.mmcs, m.ml2r);
    assert!(m.mmcs >= 0.98, "MMCS {}", m.mmcs);
    assert!(m.ml2r >= 0.85, "ML2R {}", m.ml2r);
    assert!(success(m.mmcs, m.ml2r));
    // Every feature found its own component.
    let mut comps: Vec<usize> = m.features.iter().map(|f| f.component).collect();
    comps.sort();
    comps.dedup();
    assert_eq!(comps.len(), 5, "{:?}", m.features);
}

#[test]
fn tms_5_2_targets_of_another_scale_are_recovered() {
    // Seed 23's target with W times 0.85 and times 1.3 (feature norms about
    // 0.96 and 1.47; the bias as it is), as another trainer might leave it.
    // The preset decomposes each at the norm it was measured on.
    let cfg = preset("tms-5-2").unwrap();
    let mut trainer = TargetTrainer::new(&cfg, UNTUNED_TMS_SEED, &Device::flex()).unwrap();
    while !trainer.done() {
        pollster::block_on(trainer.step()).unwrap();
    }
    let target = pollster::block_on(trainer.target()).unwrap();
    for k in [0.85f32, 1.3] {
        let run = run_to_end(Run::new("tms-5-2", cfg.clone(), UNTUNED_TMS_SEED, &Device::flex(), Some(target.scaled(k))).unwrap());
        let r = pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap();
        let (m, s) = (&r.metrics, r.scale.clone().unwrap());
        eprintln!(
            "tms-5-2 seed {UNTUNED_TMS_SEED} target x{k}: feature norm {:.3} decomposed at {:.3}: MMCS {:.4} ML2R {:.4}",
            s.feature_norm, s.working_norm, m.mmcs, m.ml2r
        );
        assert!((s.working_norm - 1.13).abs() < 1e-6 && s.rescaled);
        assert!(success(m.mmcs, m.ml2r), "x{k}: MMCS {} ML2R {}", m.mmcs, m.ml2r);
    }
}

#[test]
fn a_step_that_diverges_changes_nothing() {
    // A spare component due to be pruned and unit-norm A: the step that
    // diverges would prune and renormalise first; neither may stay.
    let mut cfg = preset("tms-5-2").unwrap();
    for (k, v) in [
        ("target.steps", "50"),
        ("apd.lr", "1000000"),
        ("apd.lr_warmup_pct", "0"),
        ("apd.steps", "2"),
        ("apd.restarts", "0"),
        ("apd.extra_components", "1"),
        ("apd.prune_at_pct", "0.5"),
        ("apd.unit_norm_a", "true"),
    ] {
        cfg.set(k, v).unwrap();
    }
    let mut run = Run::new("tms-5-2", cfg, 4, &Device::flex(), None).unwrap();
    while run.history.is_empty() {
        pollster::block_on(run.step()).unwrap();
    }
    let state = |run: &Run| {
        let apd = apd_of(run).unwrap();
        (pollster::block_on(apd.decomposition()).unwrap(), apd.step_count(), apd.n_components_now(), apd.last_active_counts().to_vec())
    };
    let before = state(&run);
    assert_eq!((before.1, before.2), (1, 6), "one step taken, the spare still there");
    let first = pollster::block_on(run.step()).expect_err("lr = 1e6 diverges");
    assert!(matches!(first, apd_playground::ApdError::Diverged { step: 1, .. }), "{first}");
    assert_eq!(state(&run), before, "the failed step changed the state");
    // Nothing moved, so the same step fails the same way again (the data
    // stream did not advance either).
    let again = pollster::block_on(run.step()).expect_err("still diverges");
    assert_eq!(again, first);
    assert_eq!(run.history.len(), 1);
}

#[test]
fn extra_components_are_pruned_and_the_kept_ones_carry_on() {
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "100").unwrap();
    cfg.set("apd.steps", "40").unwrap();
    cfg.set("apd.extra_components", "2").unwrap();
    cfg.set("apd.prune_at_pct", "0.5").unwrap();
    cfg.set("apd.restarts", "0").unwrap();
    let mut run = Run::new("tms-5-2", cfg, 9, &Device::flex(), None).unwrap();
    while run.history.len() < 20 {
        pollster::block_on(run.step()).unwrap();
    }
    let apd = apd_of(&run).unwrap();
    assert_eq!(apd.n_components_now(), 7);
    let before = pollster::block_on(apd.decomposition()).unwrap();
    pollster::block_on(run.step()).unwrap(); // step 20 prunes first
    let after = pollster::block_on(apd_of(&run).unwrap().decomposition()).unwrap();
    assert_eq!(after.n_components, 5);
    // Every kept component is one of the old ones, factors unchanged by the prune
    // itself (one Adam step moved them a little since).
    let kept: Vec<Vec<f32>> = (0..5).map(|c| after.layers[0].component(c, 5, 3)).collect();
    let old: Vec<Vec<f32>> = (0..7).map(|c| before.layers[0].component(c, 7, 3)).collect();
    for k in &kept {
        let best = old.iter().map(|o| o.iter().zip(k).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max)).fold(f32::INFINITY, f32::min);
        assert!(best < 0.1, "a kept component matches none of the old ones ({best})");
    }
    let run = run_to_end(run);
    let r = pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap();
    assert_eq!(r.components.n_components, 5);
    Report::parse(&serde_json::to_string(&r).unwrap()).unwrap();
}

#[test]
fn a_checkpoint_resumes_where_it_stopped() {
    // A report taken mid-run (as the page checkpoints it) continues to the end
    // on a fresh device, from the saved components and step.
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "100").unwrap();
    cfg.set("apd.steps", "30").unwrap();
    cfg.set("apd.restart_pct", "0.15").unwrap();
    // Three starts of 5 steps: 40 steps in all, compared after step 15.
    assert_eq!((cfg.apd.total_steps(), cfg.apd.selection_step()), (40, 15));
    let mut run = Run::new("tms-5-2", cfg, 2, &Device::flex(), None).unwrap();
    let mut early = None;
    while run.history.len() < 20 {
        pollster::block_on(run.step()).unwrap();
        if run.history.len() == 12 {
            early = Some(pollster::block_on(run.report(0.0, "webgpu")).unwrap().unwrap());
        }
    }
    let checkpoint = pollster::block_on(run.report(0.0, "webgpu")).unwrap().unwrap();
    let text = serde_json::to_string(&checkpoint).unwrap();
    let mut resumed = Run::resume(&Report::parse(&text).unwrap(), &Device::flex()).unwrap();
    // The first step after resuming starts from the saved factors: exactly,
    // up to the float rounding of moving them to the working scale and back
    // (`scale.rescale`; the target is at 1.13 and the factor close to 1).
    let before = pollster::block_on(apd_of(&resumed).unwrap().decomposition()).unwrap();
    assert_eq!((before.n_components, before.rank), (checkpoint.components.n_components, checkpoint.components.rank));
    for (l0, l1) in before.layers.iter().zip(&checkpoint.components.layers) {
        for (x, y) in l0.a.iter().zip(&l1.a).chain(l0.b.iter().zip(&l1.b)) {
            assert!((x - y).abs() <= 2.0 * f32::EPSILON * y.abs(), "{x} vs saved {y}");
        }
    }
    match pollster::block_on(resumed.step()).unwrap() {
        Progress::Decompose(s) => assert_eq!(s.step, 20),
        other => panic!("expected an APD step, got {other:?}"),
    }
    let resumed = run_to_end(resumed);
    let r = pollster::block_on(resumed.report(0.0, "cpu")).unwrap().unwrap();
    assert_eq!(r.record.history.len(), 40);
    assert_eq!(r.record.history.last().unwrap().step, 39);
    // A checkpoint whose components do not fit its configuration is refused.
    let mut bad = checkpoint.clone();
    bad.components.rank = 2;
    assert!(Run::resume(&bad, &Device::flex()).is_err());

    // One taken before the starts were compared holds only the start that was
    // training, so the decomposition starts over, and the same seed makes it
    // the uninterrupted run exactly.
    let restarted = Run::resume(&early.unwrap(), &Device::flex()).unwrap();
    assert!(restarted.history.is_empty());
    let restarted = pollster::block_on(run_to_end(restarted).report(0.0, "cpu")).unwrap().unwrap();
    let whole = pollster::block_on(run_to_end(run).report(0.0, "cpu")).unwrap().unwrap();
    assert_eq!(restarted.components, whole.components);
    assert_eq!(restarted.record.history, whole.record.history);
}

#[test]
fn restarts_keep_the_start_with_the_lowest_minimality_loss() {
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "500").unwrap();
    cfg.set("apd.steps", "200").unwrap();
    cfg.set("apd.restart_pct", "0.2").unwrap();
    cfg.set("apd.restarts", "2").unwrap();
    // The earlier preset's warmup and prune (5%, 75%), not today's short
    // schedule's: the starts end past the warmup, before the prune.
    cfg.set("apd.lr_warmup_pct", "0.05").unwrap();
    cfg.set("apd.prune_at_pct", "0.75").unwrap();
    // About the restarts alone: the target (500 steps, not yet at the
    // preset's feature norm) is decomposed as it is.
    cfg.set("scale.rescale", "false").unwrap();
    let (len, sel) = (40, 120);
    assert_eq!((cfg.apd.restart_len(), cfg.apd.selection_step(), cfg.apd.total_steps()), (len, sel, 280));
    let mut run = Run::new("tms-5-2", cfg, 5, &Device::flex(), None).unwrap();
    while run.history.len() < sel {
        pollster::block_on(run.step()).unwrap();
        let Some(apd) = apd_of(&run) else { continue };
        let done = run.history.len();
        let expected = if done < sel { Some((done / len, 3)) } else { None };
        assert_eq!(apd.start(), expected, "after {done} steps");
        assert_eq!(apd.start_scores().len(), done / len);
    }
    let apd = apd_of(&run).unwrap();
    // Each score is the mean minimality loss of its start's last quarter, as
    // the history recorded it, and the lowest one won.
    let h = &run.history;
    let recomputed: Vec<f64> =
        (0..3).map(|t| h[t * len + 30..(t + 1) * len].iter().map(|s| s.term("minimality") as f64).sum::<f64>() / 10.0).collect();
    for (got, want) in apd.start_scores().iter().zip(&recomputed) {
        assert!((got - want).abs() <= 1e-9 * want.abs(), "score {got} vs {want} from the history");
    }
    let best = (0..3).min_by(|&i, &j| recomputed[i].total_cmp(&recomputed[j])).unwrap();
    eprintln!("start scores {recomputed:?}, best {best}");
    assert_eq!(apd.chosen_start(), Some(best), "scores {recomputed:?}");
    // The run goes on from the winner's state, not from a fresh start: its
    // faithfulness loss carries on from where that start left it, far below
    // the one of freshly initialised factors.
    let run = run_to_end(run);
    let h = &run.history;
    assert_eq!(h.len(), 280);
    assert!(h.iter().enumerate().all(|(i, s)| s.step == i));
    let (fresh, left, next) =
        (h[best * len].term("faithfulness"), h[(best + 1) * len - 1].term("faithfulness"), h[sel].term("faithfulness"));
    assert!(next < 3.0 * left && next * 100.0 < fresh, "fresh {fresh}, winner left {left}, then {next}");
}

/// Runs `cfg` to the end on the CPU and returns its residual MLP figures.
fn resid_figures(cfg: apd_playground::config::ExperimentConfig, seed: u64) -> apd_playground::metrics::ResidMetrics {
    let run = run_to_end(Run::new("resid-mlp-custom", cfg, seed, &Device::flex(), None).unwrap());
    let r = pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap();
    // The report, residual figures included, round-trips through its JSON.
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::to_string(&Report::parse(&text).unwrap()).unwrap(), text);
    r.metrics.resid.expect("a residual MLP report has residual figures")
}

/// Seed 7 was first run after resid-mlp-custom's C = 40 was chosen (on three
/// seeds the earlier notes do not name, seed 0 among them;
/// docs/residual-mlps.md).
const UNTUNED_RESID_SEED: u64 = 7;

#[test]
fn a_small_residual_mlp_gives_every_feature_its_own_component() {
    // resid-mlp-custom: 20 features, width 200, 10 neurons (the paper's
    // 2 features per neuron), target and APD 3,000 steps each.
    let rm = resid_figures(preset("resid-mlp-custom").unwrap(), UNTUNED_RESID_SEED);
    eprintln!(
        "resid-mlp-custom seed {UNTUNED_RESID_SEED}: {}/20 dedicated, mean share {:.3}, one-active loss top-k {:.3e} target {:.3e}",
        rm.n_dedicated, rm.mean_share, rm.topk_loss, rm.target_loss
    );
    assert_eq!(rm.n_dedicated, 20, "dedicated components {:?}", rm.dedicated);
    assert!(rm.topk_loss <= 2.0 * rm.target_loss, "top-k {} vs target {}", rm.topk_loss, rm.target_loss);
}

#[test]
fn a_small_two_layer_residual_mlp_gives_every_feature_its_own_component() {
    // Two layers of 5 neurons, with resid-mlp-2's coefficients.
    let mut cfg = preset("resid-mlp-custom").unwrap();
    for (k, v) in [
        ("model.n_layers", "2"),
        ("model.d_mlp", "5"),
        ("apd.coeff_minimality", "2"),
        ("apd.coeff_simplicity", "7"),
        ("apd.unit_norm_a", "false"),
    ] {
        cfg.set(k, v).unwrap();
    }
    let rm = resid_figures(cfg, UNTUNED_RESID_SEED);
    eprintln!(
        "two-layer resid-mlp-custom seed {UNTUNED_RESID_SEED}: {}/20 dedicated, layer mass {:?}",
        rm.n_dedicated,
        &rm.layer_mass[..3]
    );
    // On seeds it was not chosen on, this variant gives 18 to 20 of 20 its
    // own component (docs/residual-mlps.md): the project's bar of 90%.
    assert!(resid_success(&rm), "{}/20 dedicated: {:?}", rm.n_dedicated, rm.dedicated);
    assert!(rm.topk_loss <= 2.0 * rm.target_loss, "top-k {} vs target {}", rm.topk_loss, rm.target_loss);
    for mass in &rm.layer_mass {
        assert_eq!(mass.len(), 2);
        assert!((mass.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{mass:?}");
    }
}

#[test]
fn a_resumed_run_counts_its_steps_from_the_trainer_not_the_thinned_history() {
    // Past MAX_HISTORY steps a checkpoint's history is thinned, so its
    // length is no step count: the page showed 2,704 for a run at 3,721.
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.set("target.steps", "20").unwrap();
    cfg.set("apd.steps", "4300").unwrap();
    cfg.set("apd.restarts", "0").unwrap();
    cfg.set("apd.batch_size", "16").unwrap();
    let mut run = Run::new("tms-5-2", cfg, 3, &Device::flex(), None).unwrap();
    while run.decomp_step() < 4100 {
        pollster::block_on(run.step()).unwrap();
    }
    let checkpoint = pollster::block_on(run.report(2.0, "cpu")).unwrap().unwrap();
    assert!(checkpoint.record.history.len() < 4100, "the history is thinned");
    assert!((checkpoint.timing.steps_per_sec - 4100.0 / 2.0).abs() < 1.0, "{}", checkpoint.timing.steps_per_sec);
    let mut resumed = Run::resume(&Report::parse(&serde_json::to_string(&checkpoint).unwrap()).unwrap(), &Device::flex()).unwrap();
    assert_eq!(resumed.decomp_step(), 4100);
    match pollster::block_on(resumed.step()).unwrap() {
        Progress::Decompose(s) => assert_eq!(s.step, 4100),
        other => panic!("expected an APD step, got {other:?}"),
    }
    assert_eq!(resumed.decomp_step(), 4101);
}

/// The run's APD trainer, once it decomposes.
fn apd_of(run: &Run) -> Option<&apd_playground::apd::ApdTrainer> {
    match run.trainer() {
        Some(apd_playground::methods::Trainer::Apd(a)) => Some(a),
        _ => None,
    }
}
