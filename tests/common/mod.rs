//! A tiny independent f64 implementation of the TMS network and APD's
//! pieces, written with plain loops, to check the tensor code against.
#![allow(dead_code)]

use apd_playground::apd::ApdTrainer;
use apd_playground::config::{preset, ModelConfig, TmsConfig};
use apd_playground::data::matrix;
use apd_playground::decomp::{Decomposition, FactorPair};
use apd_playground::models::{Matrix, Target};
use burn::tensor::{Device, Tensor};

pub type Mat = Vec<Vec<f64>>;

pub fn mat(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Mat {
    (0..rows).map(|i| (0..cols).map(|j| f(i, j)).collect()).collect()
}

pub fn matmul(a: &Mat, b: &Mat) -> Mat {
    let (n, k, m) = (a.len(), b.len(), b[0].len());
    mat(n, m, |i, j| (0..k).map(|t| a[i][t] * b[t][j]).sum())
}

pub fn transpose(a: &Mat) -> Mat {
    mat(a[0].len(), a.len(), |i, j| a[j][i])
}

pub fn add(a: &Mat, b: &Mat, s: f64) -> Mat {
    mat(a.len(), a[0].len(), |i, j| a[i][j] + s * b[i][j])
}

/// relu(x W H.. W^T + b), or the pre-activation.
pub fn tms(x: &Mat, w: &Mat, hidden: &[Mat], b: &[f64], pre: bool) -> Mat {
    let mut h = matmul(x, w);
    for hl in hidden {
        h = matmul(&h, hl);
    }
    let o = matmul(&h, &transpose(w));
    mat(o.len(), o[0].len(), |i, j| {
        let v = o[i][j] + b[j];
        if pre {
            v
        } else {
            v.max(0.0)
        }
    })
}

/// Component c of factors A (d_in x C*m), B (C*m x d_out).
pub fn component(a: &Mat, b: &Mat, c: usize, m: usize) -> Mat {
    mat(a.len(), b[0].len(), |i, k| (0..m).map(|j| a[i][c * m + j] * b[c * m + j][k]).sum())
}

/// A TMS target with encoder `w` (`n x d`), hidden layers `hidden` and output bias `b`.
pub fn tms_target(w: &Mat, hidden: &[Mat], b: &[f64]) -> Target {
    let (n, d) = (w.len(), w[0].len());
    let model = ModelConfig::Tms(TmsConfig { n_features: n, n_hidden: d, n_hidden_layers: hidden.len(), feature_prob: 0.1 });
    let flat = |m: &Mat| m.iter().flatten().map(|&v| v as f32).collect::<Vec<f32>>();
    let mut layers = vec![Matrix { name: "W".into(), d_in: n, d_out: d, values: flat(w) }];
    for (i, h) in hidden.iter().enumerate() {
        layers.push(Matrix { name: format!("H{}", i + 1), d_in: d, d_out: d, values: flat(h) });
    }
    Target { model, layers, bias: b.iter().map(|&v| v as f32).collect(), embed: Vec::new() }
}

pub fn to_tensor(a: &Mat, device: &Device) -> Tensor<2> {
    let (r, c) = (a.len(), a[0].len());
    matrix(a.iter().flatten().map(|&v| v as f32).collect(), r, c, device)
}

pub fn from_tensor(t: Tensor<2>) -> Mat {
    let [r, c] = t.dims();
    let v = t.into_data().try_to_vec::<f32>().unwrap();
    mat(r, c, |i, j| v[i * c + j] as f64)
}

/// `a` as the only instance of an instance-first tensor (`1 x r x c`).
pub fn to_tensor3(a: &Mat, device: &Device) -> Tensor<3> {
    to_tensor(a, device).unsqueeze::<3>()
}

/// The only instance of a `1 x r x c` tensor.
pub fn from_tensor3(t: Tensor<3>) -> Mat {
    let [n, r, c] = t.dims();
    assert_eq!(n, 1, "one instance");
    from_tensor(t.reshape([r, c]))
}

pub fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().try_to_vec::<f32>().unwrap()[0] as f64
}

/// A deterministic pseudo-random fill in [-1, 1].
pub fn fill(rows: usize, cols: usize, salt: u64) -> Mat {
    let mut rng = apd_playground::rng::Rng::new(salt);
    mat(rows, cols, |_, _| rng.uniform_range(-1.0, 1.0) as f64)
}

pub fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
    let rel = (got - want).abs() / want.abs().max(1e-12);
    assert!(rel <= tol, "{what}: got {got}, want {want} (relative error {rel:e})");
}

/// Residual MLP with interleaved `ws = [W_in1, W_out1, ...]`: the output and
/// each layer's MLP activations.
pub fn resid(x: &Mat, embed: &Mat, ws: &[Mat]) -> (Mat, Vec<Mat>) {
    let mut r = matmul(x, embed);
    let mut acts = Vec::new();
    for pair in ws.chunks(2) {
        let p = matmul(&r, &pair[0]);
        let h = mat(p.len(), p[0].len(), |i, j| p[i][j].max(0.0));
        r = add(&r, &matmul(&h, &pair[1]), 1.0);
        acts.push(h);
    }
    (matmul(&r, &transpose(embed)), acts)
}

/// Attributions `got` against finite differences `want` (`B x C`), each to
/// `rel` relative (absolute below 1e-2), with at least one clearly non-zero
/// entry per sample so the check cannot pass on all-zero attributions.
pub fn assert_attributions_match(got: &Mat, want: &Mat, rel: f64) {
    let mut nonzero = 0;
    for (bi, (g_row, w_row)) in got.iter().zip(want).enumerate() {
        for (c, (&g, &w)) in g_row.iter().zip(w_row).enumerate() {
            nonzero += (w > 1e-6) as usize;
            assert!((g - w).abs() <= rel * w.abs().max(1e-2), "attr[{bi}][{c}]: {g} vs finite difference {w}");
        }
    }
    assert!(nonzero >= got.len(), "the check must see non-trivial attributions");
}

/// `got` and `want` are the same JSON tree, numbers equal to `rel` relative
/// (absolute below 1e-3).
pub fn same_json(got: &serde_json::Value, want: &serde_json::Value, rel: f64, path: &str) {
    use serde_json::Value;
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-3), "{path}: {a} vs {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_json(x, y, rel, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{path}: keys");
            for (k, x) in a {
                same_json(x, &b[k], rel, &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

/// Features of the pentagon below.
pub const N: usize = 5;

/// A regular pentagon of unit vectors with bias -0.4: a feature alone
/// gives 1 - 0.4 on its own output and nothing on the others (neighbours
/// overlap by cos 72 = 0.31 < 0.4).
pub fn pentagon() -> (Mat, Target) {
    let w = mat(N, 2, |i, j| {
        let a = 2.0 * std::f64::consts::PI * i as f64 / N as f64;
        if j == 0 {
            a.cos()
        } else {
            a.sin()
        }
    });
    let t = tms_target(&w, &[], &[-0.4; N]);
    (w, t)
}

/// Component c is feature c's row of W and zeros elsewhere: `A_c = e_c`, `B_c = W[c, :]`.
pub fn ideal(w: &Mat) -> Decomposition {
    let a = mat(N, N, |i, c| (i == c) as u8 as f64);
    let flat = |m: &Mat| m.iter().flatten().map(|&v| v as f32).collect();
    Decomposition { n_components: N, rank: 1, layers: vec![FactorPair { name: "W".into(), d_in: N, d_out: 2, a: flat(&a), b: flat(w) }] }
}

/// APD holding `d` on `target`, at its own scale, rank 1, no additions.
pub fn trainer(target: &Target, d: &Decomposition) -> ApdTrainer {
    trainer_with(target, d, N)
}

/// [`trainer`] with `c` components.
pub fn trainer_with(target: &Target, d: &Decomposition, c: usize) -> ApdTrainer {
    let mut cfg = preset("tms-5-2").unwrap();
    let c = c.to_string();
    for (k, v) in [
        ("apd.rank", "1"),
        ("apd.n_components", c.as_str()),
        ("apd.extra_components", "0"),
        ("apd.restarts", "0"),
        ("scale.rescale", "false"),
    ] {
        cfg.set(k, v).unwrap();
    }
    cfg.model = target.model.clone();
    ApdTrainer::with_components(&cfg, target, 0, &Device::flex(), d).unwrap()
}
