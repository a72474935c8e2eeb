//! VPD (spec section 7): its losses against hand-computed values and finite
//! differences, the residual channel, the adversary's ascent, its report
//! round trip, and recovery on a seed not tuned on.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{preset, with_method, ExperimentConfig, Method};
use apd_playground::data::{matrix, read_vec};
use apd_playground::decomp::Decomposer;
use apd_playground::models::{Target, TargetTrainer};
use apd_playground::report::Report;
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
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Vpd).unwrap();
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
    assert_eq!(parsed.record.method, Method::Vpd);
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
