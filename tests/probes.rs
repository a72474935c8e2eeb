//! The one-input and drop-one-component probes (`decomp::probes`), on a
//! decomposition whose answer is known by hand: the ideal split of a
//! pentagon, one rank-one component per feature's row of W.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use apd_playground::data::matrix;
use apd_playground::decomp::probes::{ablation, samples};
use apd_playground::decomp::{Decomposer, Decomposition, FactorPair};
use burn::tensor::Device;
use common::*;

#[test]
fn masked_output_is_the_network_with_the_masked_sum_of_components() {
    let (_, target) = pentagon();
    // Arbitrary factors, so that every component touches every output.
    let (c, m) = (N, 1);
    let (a, b) = (fill(N, c * m, 3), fill(c * m, 2, 4));
    let flat = |m: &Mat| m.iter().flatten().map(|&v| v as f32).collect();
    let d = Decomposition {
        n_components: c,
        rank: m,
        layers: vec![FactorPair { name: "W".into(), d_in: N, d_out: 2, a: flat(&a), b: flat(&b) }],
    };
    let t = trainer(&target, &d);
    let x = fill(4, N, 9);
    let masks: Mat = vec![vec![1.0, 0.0, 1.0, 0.0, 0.0], vec![0.0; 5], vec![1.0; 5], vec![0.0, 0.0, 0.0, 1.0, 1.0]];
    let flat_mask: Vec<f32> = masks.iter().flatten().map(|&v| v as f32).collect();
    let got = from_tensor(pollster::block_on(t.masked_output(to_tensor(&x, &Device::flex()), flat_mask)).unwrap());
    for (r, mask) in masks.iter().enumerate() {
        let mut w = mat(N, 2, |_, _| 0.0);
        for (k, &on) in mask.iter().enumerate() {
            w = add(&w, &component(&a, &b, k, m), on);
        }
        let want = tms(&vec![x[r].clone()], &w, &[], &[-0.4; N], false);
        for j in 0..N {
            assert!((got[r][j] - want[0][j]).abs() < 1e-5, "sample {r} output {j}: {} vs {}", got[r][j], want[0][j]);
        }
    }
}

#[test]
fn dropping_a_feature_s_own_component_breaks_that_feature_only() {
    let (w, target) = pentagon();
    let t = trainer(&target, &ideal(&w));
    let ab = pollster::block_on(ablation(&t)).unwrap();
    assert_eq!(ab.len(), N * N);
    for c in 0..N {
        for i in 0..N {
            let want = if c == i { 1.0 } else { 0.0 };
            assert!((ab[c * N + i] - want).abs() < 1e-5, "without component {c}, feature {i}: {}", ab[c * N + i]);
        }
    }
}

#[test]
fn a_feature_alone_keeps_its_own_component_and_gives_the_target_s_output() {
    let (w, target) = pentagon();
    let t = trainer(&target, &ideal(&w));
    let list = pollster::block_on(samples(&t)).unwrap();
    assert!(list.len() > N, "the one-hot inputs and some with two features on");
    for (i, s) in list.iter().take(N).enumerate() {
        assert_eq!(s.input, vec![(i, 1.0)]);
        assert_eq!(s.kept, vec![i], "feature {i} alone keeps its own component only");
        assert!((s.target[i] - 0.6).abs() < 1e-5, "target output {}", s.target[i]);
        for j in 0..N {
            assert!((s.sparse[j] - s.target[j]).abs() < 1e-5, "feature {i} alone, output {j}");
        }
        // The importances are the attributions of that input.
        let x = matrix(one_hot(i), 1, N, &Device::flex());
        let attr = pollster::block_on(t.importances(x)).unwrap();
        assert_eq!(s.importances, attr);
    }
    for s in &list[N..] {
        assert_eq!(s.input.len(), 2);
        let on: Vec<usize> = s.input.iter().map(|&(i, _)| i).collect();
        assert!(s.kept.iter().all(|c| on.contains(c)), "{:?} keeps only the components of the features on: {:?}", s.input, s.kept);
        // The sparse output is the network with those components, checked on the host.
        let mut wk = mat(N, 2, |_, _| 0.0);
        for &c in &s.kept {
            wk[c] = w[c].clone();
        }
        let mut x = vec![vec![0.0; N]];
        for &(i, v) in &s.input {
            x[0][i] = v as f64;
        }
        let want = tms(&x, &wk, &[], &[-0.4; N], false);
        for (got, want) in s.sparse.iter().zip(&want[0]) {
            assert!((*got as f64 - want).abs() < 1e-5);
        }
        assert_eq!(s.sparse.len(), N);
    }
}

fn one_hot(i: usize) -> Vec<f32> {
    (0..N).map(|j| (i == j) as u8 as f32).collect()
}
