//! Decomposing at the working scale (`decomp::scale`): a TMS target's W is
//! moved to the configured feature norm (bias and identity layers as they
//! are), a residual MLP's neurons are balanced (it computes the same), and
//! components move between the two scales as their matrices do.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use apd_playground::config::{ModelConfig, ResidMlpConfig, ScaleConfig};
use apd_playground::decomp::network::Network;
use apd_playground::decomp::scale::{rms_feature_norm, Rescale};
use apd_playground::decomp::{Decomposition, FactorPair};
use apd_playground::models::{Matrix, Target};
use burn::tensor::Device;
use common::*;

/// The target's outputs on `x`.
fn outputs(t: &Target, x: &Mat) -> Mat {
    let d = Device::flex();
    from_tensor(Network::new(t, &d).target_forward(to_tensor(x, &d)).out)
}

fn factors_of(t: &Target, c: usize, m: usize, salt: u64) -> Decomposition {
    let layers = t
        .layers
        .iter()
        .enumerate()
        .map(|(l, w)| FactorPair {
            name: w.name.clone(),
            d_in: w.d_in,
            d_out: w.d_out,
            a: fill(w.d_in, c * m, salt + l as u64).into_iter().flatten().map(|v| v as f32).collect(),
            b: fill(c * m, w.d_out, salt + 10 + l as u64).into_iter().flatten().map(|v| v as f32).collect(),
        })
        .collect();
    Decomposition { n_components: c, rank: m, layers }
}

#[test]
fn a_rescaled_tms_has_its_w_at_the_feature_norm() {
    // W (5 x 2) at an RMS feature norm well away from 1.13, one identity layer.
    let w = fill(5, 2, 1);
    let eye = mat(2, 2, |i, j| (i == j) as u8 as f64);
    let target = tms_target(&w, &[eye], &[-0.2, 0.1, -0.3, 0.05, 0.0]);
    let norm = rms_feature_norm(&target) as f64;
    let (working, rescale) = Rescale::of(&target, &ScaleConfig { rescale: true, feature_norm: 1.13 });
    let k = 1.13 / norm;
    assert_rel(rms_feature_norm(&working) as f64, 1.13, 1e-5, "working feature norm");
    assert_eq!(working.layers[1], target.layers[1], "the identity layer stays");
    assert_eq!(working.bias, target.bias, "the bias stays");
    for (a, b) in target.layers[0].values.iter().zip(&working.layers[0].values) {
        assert!((*b as f64 - k * *a as f64).abs() < 1e-6);
    }
    assert_eq!((rescale.summary.feature_norm as f64, rescale.summary.working_norm), (norm as f32 as f64, 1.13f32));
    // A dead feature does not count towards the scale.
    let mut dead = w.clone();
    dead[4] = vec![0.0, 1e-4];
    let with_dead = tms_target(&dead, &[], &[0.0; 5]);
    let live = tms_target(&dead[..4].to_vec(), &[], &[0.0; 4]);
    assert_eq!(rms_feature_norm(&with_dead), rms_feature_norm(&live));
    // Components: the W layer's move by k, the identity layer's not; and back.
    let d = factors_of(&target, 3, 2, 20);
    let dw = rescale.to_working(&d);
    for c in 0..3 {
        let (p, pw) = (d.layers[0].component(c, 3, 2), dw.layers[0].component(c, 3, 2));
        assert!(p.iter().zip(&pw).all(|(a, b)| (*b as f64 - k * *a as f64).abs() < 1e-5));
        assert_eq!(d.layers[1].component(c, 3, 2), dw.layers[1].component(c, 3, 2));
    }
    let back = rescale.to_target(&dw);
    for (l0, l1) in d.layers.iter().zip(&back.layers) {
        assert!(l0.a.iter().zip(&l1.a).chain(l0.b.iter().zip(&l1.b)).all(|(a, b)| (a - b).abs() <= 1e-6 * a.abs().max(1e-3)));
    }
    // Off: the target as it is.
    let (same, off) = Rescale::of(&target, &ScaleConfig { rescale: false, feature_norm: 1.13 });
    assert_eq!(same, target);
    assert_eq!(off.to_working(&d), d);
}

#[test]
fn a_balanced_residual_mlp_computes_the_same() {
    let (n, r, h) = (4, 6, 3);
    let model = ModelConfig::ResidMlp(ResidMlpConfig { n_features: n, d_resid: r, d_mlp: h, n_layers: 2, feature_prob: 0.1 });
    let flat = |m: &Mat| m.iter().flatten().map(|&v| v as f32).collect::<Vec<f32>>();
    // Unbalanced on purpose: inputs large, outputs small.
    let ws = [fill(r, h, 1), fill(h, r, 2), fill(r, h, 3), fill(h, r, 4)];
    let scale = [3.0, 0.2, 0.5, 4.0];
    let layers = model
        .layer_shapes()
        .into_iter()
        .zip(ws.iter().zip(scale))
        .map(|((name, d_in, d_out), (w, s))| Matrix { name, d_in, d_out, values: flat(w).iter().map(|v| v * s).collect() })
        .collect();
    let target = Target { model, layers, bias: Vec::new(), embed: flat(&fill(n, r, 5)) };
    let (working, rescale) = Rescale::of(&target, &ScaleConfig { rescale: true, feature_norm: 1.0 });
    let x = fill(6, n, 6);
    let (y, y2) = (outputs(&target, &x), outputs(&working, &x));
    for (a, b) in y.iter().flatten().zip(y2.iter().flatten()) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    // Every neuron's input and output weights now have the same norm.
    for l in [0, 2] {
        let (w_in, w_out) = (&working.layers[l], &working.layers[l + 1]);
        for j in 0..h {
            let a: f32 = (0..r).map(|i| w_in.values[i * h + j].powi(2)).sum::<f32>().sqrt();
            let c: f32 = w_out.row(j).iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((a - c).abs() < 1e-5 * a.max(c), "layer {l} neuron {j}: {a} vs {c}");
        }
    }
    assert_eq!(rescale.summary.feature_norm, 0.0);
    // A component moves as its matrix does: P_in' = P_in diag(d), P_out' = diag(1/d) P_out.
    let d = factors_of(&target, 2, 1, 30);
    let dw = rescale.to_working(&d);
    let w_in_ratio: Vec<f32> = (0..h).map(|j| working.layers[0].values[j] / target.layers[0].values[j]).collect();
    let (p, pw) = (d.layers[0].component(1, 2, 1), dw.layers[0].component(1, 2, 1));
    for i in 0..r {
        for j in 0..h {
            assert!((pw[i * h + j] - p[i * h + j] * w_in_ratio[j]).abs() < 1e-5);
        }
    }
}

#[test]
fn a_target_reproduces_a_feature_when_its_output_alone_comes_back() {
    // By hand: a feature of norm 1.13 with bias -0.24 gives
    // 0.75 * 1.2769 - 0.24 = 0.718 (within 0.1 of 0.75); norm 1 and bias 0
    // gives 0.75 exactly; a dead feature gives 0; norm 0.9 gives 0.6075.
    let w = vec![vec![1.13, 0.0], vec![0.0, 1.0], vec![0.0, 1e-3], vec![-0.9, 0.0]];
    let eye = mat(2, 2, |i, j| (i == j) as u8 as f64);
    for hidden in [vec![], vec![eye]] {
        let t = tms_target(&w, &hidden, &[-0.24, 0.0, 0.0, 0.0]);
        assert_eq!(t.reproduced_features(), vec![true, true, false, false]);
        // The same reading from the network's own forward pass.
        let x = mat(4, 4, |i, j| if i == j { 0.75 } else { 0.0 });
        let y = outputs(&t, &x);
        let by_net: Vec<bool> = (0..4).map(|i| (y[i][i] - 0.75).abs() < 0.1).collect();
        assert_eq!(t.reproduced_features(), by_net);
    }
    // A hidden layer that is not the identity counts: doubling h doubles
    // what comes back (0.75 * 2 = 1.5 for the norm-1 feature).
    let two = mat(2, 2, |i, j| 2.0 * (i == j) as u8 as f64);
    assert_eq!(tms_target(&w, &[two], &[-0.24, 0.0, 0.0, 0.0]).reproduced_features(), vec![false, false, false, false]);
}
