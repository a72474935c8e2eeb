//! VPD (docs/vpd.md): its losses against hand-computed values and finite
//! differences, the residual channel, the adversary's ascent, its report
//! round trip, and recovery on a seed not tuned on.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{preset, with_method, ExperimentConfig, Method as MethodName};
use apd_playground::data::training_batch;
use apd_playground::data::{matrix, read_vec};
use apd_playground::decomp::{Decomposer, Method, Saved};
use apd_playground::models::{Target, TargetTrainer};
use apd_playground::report::Report;
use apd_playground::rng::Rng;
use apd_playground::run::{Progress, Run};
use apd_playground::vpd::{losses, VpdState, VpdTrainer};
use burn::tensor::{Device, Tensor};

fn t3(values: Vec<f32>, rows: usize, cols: usize) -> Tensor<3> {
    matrix(values, rows, cols, &Device::flex()).unsqueeze()
}

fn read(t: Tensor<1>) -> Vec<f32> {
    pollster::block_on(read_vec(t)).unwrap()
}

fn close(a: f32, b: f64, tol: f64) -> bool {
    (a as f64 - b).abs() <= tol * b.abs().max(1e-6)
}

#[test]
fn losses_by_hand() {
    // Site 1: W = [[1, 2], [3, 4]], V U = [[1, 2], [0, 0]]: 25 of W's 30 missed.
    // Site 2: W = [[2]], V U = [[1]]: 1 of 4. The mean of the two shares.
    let ws = [t3(vec![1., 2., 3., 4.], 2, 2), t3(vec![2.], 1, 1)];
    let v = [t3(vec![1., 0.], 2, 1), t3(vec![1.], 1, 1)];
    let u = [t3(vec![1., 2.], 1, 2), t3(vec![1.], 1, 1)];
    let f = read(losses::relative_faithfulness(&ws, &v, &u))[0];
    assert!(close(f, (25.0 / 30.0 + 0.25) / 2.0, 1e-6), "{f}");
    // Smooth L0 at gamma 0.5 of g_up = [[0.5, 0], [1, 0.2]]: 0.5, 0, 0.8, 0.04 / 0.29; means per subcomponent.
    let g_up = [t3(vec![0.5, 0.0, 1.0, 0.2], 2, 2)];
    let freq = losses::frequencies(&g_up, 0.5);
    let got = pollster::block_on(read_vec(freq[0].clone())).unwrap();
    let want = [(0.5 + 0.8) / 2.0, (0.04 / 0.29) / 2.0];
    assert!(close(got[0], want[0], 1e-6) && close(got[1], want[1], 1e-5), "{got:?}");
    assert!(close(read(losses::importance(&freq))[0], want[0] + want[1], 1e-5));
    let q: f64 = want.iter().map(|f| f * (1.0 + 3.0 * f).log2()).sum();
    assert!(close(read(losses::frequency(&freq, 3.0))[0], q, 1e-5));
    // Gamma falls linearly from 1 to its last value.
    assert_eq!(losses::gamma_at(0, 100, 0.01), 1.0);
    assert!((losses::gamma_at(50, 100, 0.01) - 0.505).abs() < 1e-12);
    assert!((losses::gamma_at(100, 100, 0.01) - 0.01).abs() < 1e-12);
}

#[test]
fn the_penalties_gradient_matches_finite_differences() {
    let values = vec![0.3f32, 0.0, 0.9, 0.05, 0.6, 1.2];
    let penalty = |g: Tensor<3>| {
        let f = losses::frequencies(&[g], 0.3);
        losses::importance(&f) + losses::frequency(&f, 50.0).mul_scalar(0.5)
    };
    let g = t3(values.clone(), 3, 2).autodiff().require_grad();
    let grads = penalty(g.clone()).backward();
    let analytic = pollster::block_on(read_vec(g.grad(&grads).unwrap())).unwrap();
    let eps = 1e-3f32;
    for k in 0..values.len() {
        let at = |d: f32| {
            let mut v = values.clone();
            v[k] += d;
            read(penalty(t3(v, 3, 2)))[0] as f64
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
        assert!((analytic[k] as f64 - numeric).abs() <= 2e-3 * numeric.abs().max(1e-2), "entry {k}: {} vs {numeric}", analytic[k]);
    }
}

/// tms-5-2 decomposed by VPD for `steps` steps, at the target's own scale, without restarts.
fn short_vpd(steps: usize) -> ExperimentConfig {
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", MethodName::Vpd).unwrap();
    cfg.set("target.steps", "300").unwrap();
    cfg.set("scale.rescale", "false").unwrap();
    cfg.set("vpd.steps", &steps.to_string()).unwrap();
    cfg.set("vpd.faithfulness_warmup_steps", "5").unwrap();
    cfg.set("vpd.restarts", "0").unwrap();
    cfg
}

fn target_of(cfg: &ExperimentConfig, seed: u64) -> Target {
    let mut t = TargetTrainer::new(cfg, seed, &Device::flex()).unwrap();
    while !t.done() {
        pollster::block_on(t.step()).unwrap();
    }
    pollster::block_on(t.target()).unwrap()
}

/// `relu(x A B + b)` on the host: TMS with its two matrices `a` (n x d) and `b` (d x n).
fn tms_out(x: &[f32], n: usize, d: usize, a: &[f32], b: &[f32], bias: &[f32]) -> Vec<f32> {
    let rows = x.len() / n;
    let mut out = Vec::new();
    for r in 0..rows {
        let h: Vec<f32> = (0..d).map(|j| (0..n).map(|i| x[r * n + i] * a[i * d + j]).sum()).collect();
        out.extend((0..n).map(|k| ((0..d).map(|j| h[j] * b[j * n + k]).sum::<f32>() + bias[k]).max(0.0)));
    }
    out
}

#[test]
fn the_residual_channel_carries_exactly_what_the_subcomponents_miss() {
    let cfg = short_vpd(10);
    let target = target_of(&cfg, 3);
    let mut vpd = VpdTrainer::with_seeds(&cfg, std::slice::from_ref(&target), &[3], &Device::flex()).unwrap();
    for _ in 0..3 {
        pollster::block_on(vpd.step_all()).unwrap();
    }
    let (n, d) = (5, 2);
    let xs: Vec<f32> = (0..8 * n).map(|k| ((k * 7 % 11) as f32) / 11.0).collect();
    let x = || matrix(xs.clone(), 8, n, &Device::flex());
    let w = &target.layers[0].values;
    let wt: Vec<f32> = (0..d).flat_map(|j| (0..n).map(move |i| (i, j))).map(|(i, j)| w[i * d + j]).collect();
    // Masks 1 and the residual on: the target's own function, whatever V and U are.
    let whole = pollster::block_on(read_vec(vpd.output_with(x(), 1.0, 1.0))).unwrap();
    let want = tms_out(&xs, n, d, w, &wt, &target.bias);
    assert!(whole.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "{whole:?} vs {want:?}");
    // Masks 0, residual on: each matrix is W - V U.
    let dcmp = pollster::block_on(vpd.decomposition()).unwrap();
    let miss = |l: usize, full: &[f32], rows: usize, cols: usize| -> Vec<f32> {
        let f = &dcmp.layers[l];
        let c = dcmp.n_components;
        (0..rows * cols).map(|k| full[k] - (0..c).map(|m| f.a[(k / cols) * c + m] * f.b[m * cols + k % cols]).sum::<f32>()).collect()
    };
    let (d1, d2) = (miss(0, w, n, d), miss(1, &wt, d, n));
    let residual = pollster::block_on(read_vec(vpd.output_with(x(), 0.0, 1.0))).unwrap();
    let want = tms_out(&xs, n, d, &d1, &d2, &target.bias);
    assert!(residual.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "{residual:?} vs {want:?}");
    // And with the residual off, the subcomponents alone.
    let none = pollster::block_on(read_vec(vpd.output_with(x(), 0.0, 0.0))).unwrap();
    let want = tms_out(&xs, n, d, &vec![0.0; n * d], &vec![0.0; d * n], &target.bias);
    assert!(none.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
}

#[test]
fn an_ascent_step_raises_the_adversarial_reconstruction() {
    let cfg = short_vpd(50);
    let target = target_of(&cfg, 4);
    let mut vpd = VpdTrainer::with_seeds(&cfg, std::slice::from_ref(&target), &[4], &Device::flex()).unwrap();
    for _ in 0..20 {
        pollster::block_on(vpd.step_all()).unwrap();
    }
    for k in 0..3 {
        let (before, after) = pollster::block_on(vpd.ascent_probe(0.05)).unwrap();
        assert!(after > before, "ascent {k}: {before} -> {after}");
    }
}

#[test]
fn a_vpd_report_round_trips_and_resumes() {
    let cfg = short_vpd(30);
    let mut run = Run::new("tms-5-2", cfg, 5, &Device::flex(), None).unwrap();
    let mut steps = 0;
    while let Progress::Target { .. } | Progress::Decompose(_) = pollster::block_on(run.step()).unwrap() {
        steps += 1;
    }
    assert_eq!(steps, 300 + 30);
    let report = pollster::block_on(run.report(1.0, "cpu")).unwrap().unwrap();
    let text = serde_json::to_string(&report).unwrap();
    let parsed = Report::parse(&text).unwrap();
    assert_eq!(parsed.record.method, MethodName::Vpd);
    let terms: Vec<&str> = parsed.record.history[0].terms.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(terms, ["faithfulness", "reconstruction", "importance", "frequency"]);
    let state = VpdState::of(&parsed.record.state).unwrap();
    assert_eq!(state.ci.len(), 2, "an importance network per matrix");
    // The field's evaluation, per matrix, through VPD's own masked forward pass.
    let ev = parsed.evaluation.as_ref().unwrap();
    assert_eq!(ev.l0.len(), 2);
    assert_eq!(ev.mean_ci.len(), 20);
    assert!(ev.recon.zero > ev.recon.unmasked, "{ev:?}");
    // Shown again, the same figures.
    let shown = Run::of_report(&parsed, &Device::flex()).unwrap();
    let m = pollster::block_on(shown.metrics()).unwrap().unwrap();
    assert!((m.mmcs - report.metrics.mmcs).abs() < 1e-5 && (m.ml2r - report.metrics.ml2r).abs() < 1e-5);
    // A state that does not fit is refused, naming it.
    let mut bad = report.clone();
    bad.record.state["ci"].as_array_mut().unwrap().pop();
    let e = Report::parse(&serde_json::to_string(&bad).unwrap()).unwrap_err().to_string();
    assert!(e.contains("importance network"), "{e}");
    let mut bad = report.clone();
    bad.record.state["held"][0][0] = serde_json::json!(1.5);
    let e = Report::parse(&serde_json::to_string(&bad).unwrap()).unwrap_err().to_string();
    assert!(e.contains("sources kept in the report"), "{e}");
    let mut bad = report.clone();
    bad.record.state["trace"]["ci"].as_array_mut().unwrap().pop();
    let e = Report::parse(&serde_json::to_string(&bad).unwrap()).unwrap_err().to_string();
    assert!(e.contains("the adversary's trace"), "{e}");
    // A checkpoint halfway goes on from its step.
    let mut half = report.clone();
    half.record.history.truncate(15);
    let mut resumed = Run::resume(&Report::parse(&serde_json::to_string(&half).unwrap()).unwrap(), &Device::flex()).unwrap();
    match pollster::block_on(resumed.step()).unwrap() {
        Progress::Decompose(s) => assert_eq!(s.step, 15),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_lower_importance_leaks_below_zero_only_upward_when_one_sided() {
    // z below 0, inside [0, 1], above 1; the gradient arriving at the importance.
    let z = || t3(vec![-1.0, -1.0, 0.5, 2.0], 1, 4).autodiff().require_grad();
    let dg = || t3(vec![-1.0, 1.0, 3.0, 5.0], 1, 4);
    let grad = |one_sided: bool| {
        let z = z();
        let g = apd_playground::vpd::ci::leak_term(&z, dg(), one_sided).backward();
        pollster::block_on(read_vec(z.grad(&g).unwrap())).unwrap()
    };
    // Below 0: 0.01 of a gradient that would raise z (dg < 0), nothing of one that would lower it.
    assert_eq!(grad(true), vec![-0.01, 0.0, 3.0, 0.0]);
    assert_eq!(grad(false), vec![-0.01, 0.01, 3.0, 0.0]);
}

/// This project's restarts for VPD, as for SPD: the first start is the run
/// without restarts, step for step; each is scored by the features without
/// a subcomponent of their own, and the fewest goes on.
#[test]
fn vpd_restarts_compare_starts_and_the_first_is_the_plain_run() {
    let mut cfg = short_vpd(40);
    let steps = |run: &mut Run| -> Vec<apd_playground::decomp::StepRecord> {
        let mut out = Vec::new();
        loop {
            match pollster::block_on(run.step()).unwrap() {
                Progress::Decompose(s) => out.push(s),
                Progress::Done => return out,
                Progress::Target { .. } => {}
            }
        }
    };
    let plain = steps(&mut Run::new("tms-5-2", cfg.clone(), 6, &Device::flex(), None).unwrap());
    assert_eq!(plain.len(), 40);
    cfg.set("vpd.restarts", "2").unwrap();
    cfg.set("vpd.restart_pct", "0.25").unwrap();
    let mut run = Run::new("tms-5-2", cfg, 6, &Device::flex(), None).unwrap();
    let all = steps(&mut run);
    assert_eq!(all.len(), 60, "40 steps and two losing starts of 10");
    assert_eq!(all[..10], plain[..10], "start 1 is the run without restarts");
    assert_ne!(all[10..20], plain[..10], "start 2 begins from other parameters");
    assert_eq!(all[10].lr, plain[0].lr, "and from the top of the schedule");
    let t = run.trainer().unwrap();
    let scores = t.start_scores().to_vec();
    assert_eq!(scores.len(), 3);
    let kept = t.chosen_start().unwrap();
    assert_eq!(scores[kept], scores.iter().cloned().fold(f64::INFINITY, f64::min), "{scores:?}");
    let report = pollster::block_on(run.report(1.0, "cpu")).unwrap().unwrap();
    assert_eq!(report.starts.unwrap().kept, Some(kept));
}

#[test]
fn the_trace_follows_the_reconstruction_under_each_kind_of_mask() {
    let mut cfg = short_vpd(200);
    cfg.set("vpd.faithfulness_warmup_steps", "0").unwrap();
    let seed = 6;
    let target = target_of(&cfg, seed);
    let dev = Device::flex();
    let mut vpd = VpdTrainer::with_seeds(&cfg, std::slice::from_ref(&target), &[seed], &dev).unwrap();
    // The first step's batch, drawn as the trainer draws it; its error
    // under the importances' own masks (residual off) against the target's.
    let bsz = cfg.vpd.as_ref().unwrap().batch_size;
    let xs = training_batch(&cfg.model, &mut Rng::stream(seed, "vpd-data"), bsz);
    let x = || matrix(xs.clone(), bsz, 5, &dev);
    let masked = pollster::block_on(read_vec(pollster::block_on(vpd.sparse_output(x())).unwrap())).unwrap();
    let whole = pollster::block_on(read_vec(vpd.output_with(x(), 1.0, 1.0))).unwrap();
    let want = masked.iter().zip(&whole).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / masked.len() as f64;
    for _ in 0..5 {
        pollster::block_on(vpd.step_all()).unwrap();
    }
    let state = VpdState::of(&pollster::block_on(vpd.state()).unwrap()).unwrap();
    let t = &state.trace;
    // A point every hundredth of the 200 steps.
    assert_eq!(t.step, [0, 2, 4]);
    assert!(close(t.ci[0], want, 1e-4), "{} vs {want}", t.ci[0]);
    for k in 0..3 {
        assert!(t.adversarial[k].is_finite() && t.stochastic[k].is_finite() && t.ci[k] >= 0.0, "{t:?}");
    }
}

#[test]
fn the_worst_masks_stay_within_what_the_importances_allow() {
    let cfg = short_vpd(40);
    let target = target_of(&cfg, 7);
    let mut vpd = VpdTrainer::with_seeds(&cfg, std::slice::from_ref(&target), &[7], &Device::flex()).unwrap();
    for _ in 0..40 {
        pollster::block_on(vpd.step_all()).unwrap();
    }
    let view = pollster::block_on(vpd.own_view()).unwrap().unwrap();
    let worst = &view["adversary"]["worst"];
    assert_eq!(worst["site"], "W");
    let inputs = worst["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 4);
    let floats = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|a| a.as_f64().unwrap()).collect::<Vec<f64>>();
    for (k, input) in inputs.iter().enumerate() {
        let on = floats(&input["x"]).iter().filter(|&&v| v != 0.0).count();
        if k < 3 {
            assert_eq!(on, k + 1, "one feature on, then two, then three");
        }
        let (ci, mask) = (floats(&input["ci"]), floats(&input["mask"]));
        assert_eq!(ci.len(), 20);
        assert!(ci.iter().zip(&mask).all(|(g, m)| *m >= g - 1e-6 && *m <= 1.0 + 1e-6), "{ci:?} {mask:?}");
        assert!(input["recon_worst"].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(view["adversary"]["trace"]["step"].as_array().unwrap().len(), 40);
    // Saved and shown again, the view's search starts from the sources the
    // run held, and finds the same masks.
    let state = pollster::block_on(vpd.state()).unwrap();
    let d = pollster::block_on(vpd.decomposition()).unwrap();
    let saved = Saved { components: &d, state: &state, step: 40 };
    let again = <VpdTrainer as Method>::of_saved(&cfg, &target, 7, &Device::flex(), saved, false).unwrap();
    assert_eq!(pollster::block_on(again.state()).unwrap()["held"], state["held"], "the sources held, back in their slots");
    let shown = pollster::block_on(again.own_view()).unwrap().unwrap();
    for (a, b) in inputs.iter().zip(shown["adversary"]["worst"]["inputs"].as_array().unwrap()) {
        assert_eq!(a["x"], b["x"]);
        let (m, n) = (floats(&a["mask"]), floats(&b["mask"]));
        assert!(m.iter().zip(&n).all(|(x, y)| (x - y).abs() < 1e-3), "{m:?} vs {n:?}");
    }
    // Sources that do not fit are refused, naming them.
    let mut bad = state.clone();
    bad["held"][0].as_array_mut().unwrap().pop();
    let saved = Saved { components: &d, state: &bad, step: 40 };
    let e = <VpdTrainer as Method>::of_saved(&cfg, &target, 7, &Device::flex(), saved, false).err().unwrap().to_string();
    assert!(e.contains("sources kept in the report"), "{e}");
}

#[test]
fn the_worst_case_view_picks_one_two_and_three_features_first() {
    use apd_playground::vpd::trace::pick_inputs;
    // Rows of 3 features: none on, two, one, three, one.
    let xs = [0., 0., 0., 1., 1., 0., 0., 1., 0., 1., 1., 1., 1., 0., 0.];
    assert_eq!(pick_inputs(&xs, 3, 4), [2, 1, 3, 4]);
    assert_eq!(pick_inputs(&xs, 3, 2), [2, 1]);
    // One weak feature (0.1) is passed over for a strong one; with no strong
    // row of three, the weak one; then strong rows before weak ones.
    let xs = [0.1, 0., 0., 0., 0.9, 0., 0.6, 0.7, 0., 0.2, 0.9, 0.3, 0., 0., 0.2, 0.8, 0., 0.];
    assert_eq!(pick_inputs(&xs, 3, 5), [1, 2, 3, 5, 0]);
}

/// Recovery through the CLI, on the model where APD fails: tms-5-2-id with
/// VPD's preset, seed 24, one of the seeds 20..32 of the page's VPD grid,
/// which chose nothing (the preset recovers 10 of those 12; docs/vpd.md).
#[test]
fn the_cli_recovers_tms_5_2_id_with_vpd_on_a_seed_not_tuned_on() {
    let out = std::env::temp_dir().join(format!("apd-vpd-cli-{}.json", std::process::id()));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_apd"))
        .args(["decompose", "--model", "tms-5-2-id", "--method", "vpd", "--seed", "24", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report = Report::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    let m = &report.metrics;
    assert!(m.mmcs >= 0.98 && m.ml2r >= 0.85, "MMCS {} ML2R {}", m.mmcs, m.ml2r);
    // Each feature alone needs one subcomponent of W, its own.
    let state = VpdState::of(&report.record.state).unwrap();
    assert_eq!(apd_playground::decomp::importance::own_counts(&state.ci_one_hot, report.components.n_components)[0], 5);
}
