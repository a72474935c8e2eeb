//! The field's evaluation (param-decomp's handbook, `decomp::evaluation`) on
//! decompositions whose answers are known by hand: the ideal split of a
//! pentagon, and the same with two components that cancel, which the
//! worst-case masks exploit.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use apd_playground::data::training_batch;
use apd_playground::decomp::evaluation::{evaluation, EVAL_BATCH};
use apd_playground::decomp::{Decomposition, FactorPair};
use apd_playground::rng::Rng;
use common::*;

#[test]
fn the_ideal_splits_errors_and_counts_are_the_hand_computed_ones() {
    let (w, target) = pentagon();
    let apd = trainer(&target, &ideal(&w));
    let e = pollster::block_on(evaluation(&apd, &target.model)).unwrap();
    // The components sum to W exactly: every component on is the target.
    assert!(e.recon.unmasked < 1e-12, "{e:?}");
    // Nothing on: relu(b) = 0 against the target's output, over the same inputs.
    let x = training_batch(&target.model, &mut Rng::stream(0, "evaluation"), EVAL_BATCH);
    let rows: Mat = x.chunks(N).map(|r| r.iter().map(|&v| v as f64).collect()).collect();
    let out = tms(&rows, &w, &[], &[-0.4; N], false);
    let zero = out.iter().flatten().map(|v| v * v).sum::<f64>() / (EVAL_BATCH * N) as f64;
    assert!((e.recon.zero as f64 - zero).abs() <= 1e-6 * zero, "{} vs {zero}", e.recon.zero);
    // APD's importances are 0 or 1: rounding changes nothing.
    assert_eq!(e.recon.rounded, e.recon.ci);
    // Each one-hot input alone: batch top-k over the five of them keeps
    // floor(0.211 * 5) = 1 component, its own feature's, so four features
    // miss theirs and nothing else is on.
    let id = e.identity_ci_error.as_ref().unwrap();
    assert_eq!((id.off_diagonal, id.diagonal), (0, N - 1), "{e:?}");
    // Over the batch, top-k keeps exactly floor(topk * B) components.
    assert_eq!(e.l0, vec![(0.211f64 * EVAL_BATCH as f64).floor() as f32 / EVAL_BATCH as f32]);
    assert!((e.true_l0 as f64 - N as f64 * target.model.feature_prob()).abs() < 1e-6);
    assert!(e.mean_ci.windows(2).all(|p| p[0] >= p[1]), "sorted, largest first");
}

#[test]
fn a_split_with_a_cancelling_pair_is_broken_by_the_worst_masks() {
    let (w, target) = pentagon();
    // Besides the ideal split, two components on feature 0 that cancel:
    // `e_0 (d)` and `e_0 (-d)`. They sum to nothing, so every component on
    // is still the target, and each is small, so top-k keeps neither; a
    // mask that turns on one and not the other breaks feature 0's output.
    let ideal = ideal(&w);
    let c = N + 2;
    let mut a = vec![0.0f32; N * c];
    for i in 0..N {
        a[i * c + i] = 1.0;
    }
    a[N] = 1.0;
    a[N + 1] = 1.0;
    let mut b = ideal.layers[0].b.clone();
    b.extend([0.3, 0.0, -0.3, 0.0]);
    let d = Decomposition { n_components: c, rank: 1, layers: vec![FactorPair { name: "W".into(), d_in: N, d_out: 2, a, b }] };
    let apd = trainer_with(&target, &d, c);
    let e = pollster::block_on(evaluation(&apd, &target.model)).unwrap();
    assert!(e.recon.unmasked < 1e-10, "the components still sum to W: {e:?}");
    // Worse than the ideal split's own worst case by far: there, turning on
    // a component top-k dropped mostly restores what it dropped (the tied
    // decoder gives the adversary a little room, about a quarter of the
    // error the importances leave).
    let ideal = pollster::block_on(evaluation(&trainer(&target, &ideal), &target.model)).unwrap();
    let (gap, ideal_gap) = (e.recon.pgd - e.recon.ci, ideal.recon.pgd - ideal.recon.ci);
    assert!(gap > 3.0 * ideal_gap.max(0.0) && gap > 1e-4, "pgd - ci: {gap} against the ideal split's {ideal_gap}");
}
