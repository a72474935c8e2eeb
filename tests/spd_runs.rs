//! SPD through a whole run: its report holds what it needs to be looked at
//! again (subcomponents and gates), and its settings are validated like APD's.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{preset, with_method, ExperimentConfig, Method};
use apd_playground::report::Report;
use apd_playground::run::{Progress, Run};
use apd_playground::spd::SpdState;
use burn::tensor::Device;

mod common;
use common::same_json;

fn short_spd(model: &str) -> ExperimentConfig {
    let mut cfg = with_method(&preset(model).unwrap(), model, Method::Spd).unwrap();
    cfg.set("target.steps", "300").unwrap();
    cfg.set("spd.steps", "20").unwrap();
    cfg.set("spd.batch_size", "256").unwrap();
    cfg
}

#[test]
fn an_spd_report_round_trips_and_shows_the_same_figures() {
    for model in ["tms-5-2-id", "resid-mlp-custom"] {
        let cfg = short_spd(model);
        // tms-5-2-id's preset has restarts: three losing starts of 5 steps before the 20.
        let total = cfg.spd.as_ref().unwrap().plan().total_steps();
        assert_eq!(total, if model == "tms-5-2-id" { 35 } else { 20 });
        let mut run = Run::new(model, cfg, 4, &Device::flex(), None).unwrap();
        let mut spd_steps = 0;
        loop {
            match pollster::block_on(run.step()).unwrap() {
                Progress::Decompose(s) => {
                    assert!(s.terms.iter().any(|(k, _)| k == "stochastic"), "an SPD step records SPD's terms: {s:?}");
                    spd_steps += 1
                }
                Progress::Done => break,
                Progress::Target { .. } => {}
            }
        }
        assert_eq!(spd_steps, total);
        let report = pollster::block_on(run.report(1.0, "cpu")).unwrap().unwrap();
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.contains("\"method\":\"spd\""), "the report names its method");
        let parsed = Report::parse(&text).unwrap();
        assert_eq!(parsed.record.history.len(), total);
        assert_eq!(parsed.record.losses.as_ref(), parsed.record.history.last());
        let rec = SpdState::of(&parsed.record.state).unwrap();
        // The causal importances of each feature alone, per matrix, and the alive counts they give.
        let n = parsed.config.model.n_features();
        let c = parsed.components.n_components;
        assert!(rec.ci_one_hot.iter().chain(&rec.ci_upper_one_hot).all(|m| m.len() == n * c));
        for (m, &alive) in rec.ci_one_hot.iter().zip(&rec.alive) {
            let want = (0..c).filter(|&k| (0..n).any(|i| m[i * c + k] > 0.1)).count();
            assert_eq!(alive, want);
        }
        // tms-5-2-id: W, the identity layer and the untied W^T.
        let matrices = if model == "tms-5-2-id" { 3 } else { 2 };
        assert_eq!(parsed.components.layers.len(), matrices, "{model}");
        let shown = Run::of_report(&parsed, &Device::flex()).unwrap();
        let m = pollster::block_on(shown.metrics()).unwrap().unwrap();
        // The same figures, to the rounding of moving the factors to the working scale and back.
        same_json(&serde_json::to_value(&m).unwrap(), &serde_json::to_value(&report.metrics).unwrap(), 1e-5, model);
        // TMS: each feature is matched to the subcomponent its one-hot input finds most important.
        if let (Some(spd), Some(target)) = (shown.trainer(), shown.target()) {
            if !target.model.is_resid() {
                let imp = pollster::block_on(apd_playground::decomp::probes::one_hot_importances(spd, 1.0)).unwrap();
                let c = parsed.components.n_components;
                for (i, f) in m.features.iter().enumerate() {
                    let row = &imp[i * c..(i + 1) * c];
                    assert!(row.iter().all(|&v| v <= row[f.component]), "feature {i}: {row:?} vs {}", f.component);
                }
                assert!(m.by_max_cos.is_some(), "the reference's way is reported too");
            }
        }
        // A report whose gates do not fit is refused, naming the problem.
        let mut bad = report.clone();
        bad.record.state["gates"].as_array_mut().unwrap().pop();
        let e = Report::parse(&serde_json::to_string(&bad).unwrap()).unwrap_err().to_string();
        assert!(e.contains("gates"), "{e}");
    }
}

#[test]
fn spd_settings_are_validated_by_name() {
    let base = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Spd).unwrap();
    for (field, value) in [
        ("spd.n_components", "0"),
        ("spd.d_gate", "0"),
        ("spd.importance_p", "3"),
        ("spd.lr", "-1"),
        ("spd.batch_size", "0"),
        ("spd.coeff_importance", "-1"),
    ] {
        let mut cfg = base.clone();
        let e = cfg.set(field, value).unwrap_err();
        assert_eq!(e.field, field, "{field}={value}: {e}");
        assert_eq!(cfg, base);
    }
    // The method without its settings is refused.
    let mut cfg = preset("tms-5-2").unwrap();
    cfg.method = Method::Spd;
    assert_eq!(cfg.validate().unwrap_err().field, "spd");
    assert_eq!(Method::parse("nmf").unwrap_err().field, "method");
    // APD configurations are written as before (no method, no spd part).
    let text = serde_json::to_string(&preset("tms-5-2").unwrap()).unwrap();
    assert!(!text.contains("method") && !text.contains("spd"));
}

/// Recovery, judged by what SPD recovers (cosine with the true features), on
/// the model where APD fails on every seed: tms-5-2-id with its preset (the
/// short schedule, the reference code's later additions and the restarts of
/// docs/spd.md). The additions were chosen on seeds 0..10; seed 12 is one
/// of the seeds 10..20 measured afterwards, all of which it recovered.
#[test]
fn spd_recovers_tms_5_2_id_where_apd_fails() {
    let cfg = with_method(&preset("tms-5-2-id").unwrap(), "tms-5-2-id", Method::Spd).unwrap();
    let mut run = Run::new("tms-5-2-id", cfg, 12, &Device::flex(), None).unwrap();
    while !matches!(pollster::block_on(run.step()).unwrap(), Progress::Done) {}
    let report = pollster::block_on(run.report(1.0, "cpu")).unwrap().unwrap();
    let m = &report.metrics;
    assert!(m.mmcs >= 0.98 && m.ml2r >= 0.85, "MMCS {} ML2R {}", m.mmcs, m.ml2r);
    // One subcomponent of W per feature, each its own.
    let spd = SpdState::of(&report.record.state).unwrap();
    assert_eq!(apd_playground::spd::own_counts(&spd.ci_one_hot, report.components.n_components)[0], 5);
    assert_eq!(spd.alive[0], 5);
}

/// This project's restarts for SPD: the first start is the run without
/// restarts, step for step; each start is scored by the features without a
/// subcomponent of their own and the fewest goes on; a checkpoint from
/// before the comparison starts over, one from after it goes on.
#[test]
fn spd_restarts_compare_starts_and_the_first_is_the_plain_run() {
    let model = "tms-5-2";
    let mut cfg = short_spd(model);
    cfg.set("spd.steps", "40").unwrap();
    cfg.set("spd.restarts", "0").unwrap();
    let steps = |run: &mut Run, n: usize| -> Vec<apd_playground::decomp::StepRecord> {
        let mut out = Vec::new();
        while out.len() < n {
            match pollster::block_on(run.step()).unwrap() {
                Progress::Decompose(s) => out.push(s),
                Progress::Done => break,
                _ => {}
            }
        }
        out
    };
    let plain = steps(&mut Run::new(model, cfg.clone(), 4, &Device::flex(), None).unwrap(), usize::MAX);
    assert_eq!(plain.len(), 40);
    cfg.set("spd.restarts", "2").unwrap();
    cfg.set("spd.restart_pct", "0.25").unwrap();
    let mut run = Run::new(model, cfg.clone(), 4, &Device::flex(), None).unwrap();
    let first = steps(&mut run, 15);
    assert_eq!(first[..10], plain[..10], "start 1 is the run without restarts");
    assert_ne!(first[10..15], plain[10..15], "start 2 begins from other subcomponents");
    assert_eq!(first[10].lr, plain[0].lr, "and from the top of the schedule");
    let checkpoint = pollster::block_on(run.report(1.0, "cpu")).unwrap().unwrap();
    let resumed = Run::resume(&Report::parse(&serde_json::to_string(&checkpoint).unwrap()).unwrap(), &Device::flex()).unwrap();
    assert_eq!(resumed.trainer().unwrap().step_count(), 0, "a checkpoint taken while the starts were compared starts over");
    let rest = steps(&mut run, usize::MAX);
    assert_eq!(first.len() + rest.len(), 60, "40 steps and two losing starts of 10");
    let spd = run.trainer().unwrap();
    let scores = spd.start_scores().to_vec();
    assert_eq!(scores.len(), 3);
    let kept = spd.chosen_start().unwrap();
    assert_eq!(
        scores[kept],
        scores.iter().cloned().fold(f64::INFINITY, f64::min),
        "the fewest features without their own subcomponent: {scores:?}"
    );
    let report = pollster::block_on(run.report(1.0, "cpu")).unwrap().unwrap();
    let starts = report.starts.clone().unwrap();
    assert_eq!((starts.scores.len(), starts.kept), (3, Some(kept)));
    let shown = Run::resume(&Report::parse(&serde_json::to_string(&report).unwrap()).unwrap(), &Device::flex()).unwrap();
    assert_eq!(shown.trainer().unwrap().step_count(), 60);
    assert_eq!(shown.starts().unwrap().kept, Some(kept));
}
