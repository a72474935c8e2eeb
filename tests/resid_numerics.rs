//! The residual MLP's APD pieces against plain f64 loops and finite
//! differences, on a tiny two-layer model with fixed weights.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]
// The reference loops index as the formulas do (sum over c, over b): kept so.
#![allow(clippy::needless_range_loop)]

mod common;
use apd_playground::apd::attributions::resid_attributions;
use apd_playground::apd::losses;
use apd_playground::config::{ModelConfig, ResidMlpConfig};
use apd_playground::decomp::network::{masked_product, Network};
use apd_playground::models::{Matrix, Target};
use burn::tensor::Device;
use common::*;

const N: usize = 4; // features
const R: usize = 6; // residual width
const H: usize = 3; // neurons per layer
const L: usize = 2; // layers
const C: usize = 3; // components
const M: usize = 2; // rank
const B: usize = 5; // batch

struct Fixture {
    x: Mat,
    embed: Mat,
    ws: Vec<Mat>,
    a: Vec<Mat>,
    b: Vec<Mat>,
}

fn fixture() -> Fixture {
    let mut ws = Vec::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for l in 0..L as u64 {
        ws.push(fill(R, H, 10 + l));
        ws.push(fill(H, R, 20 + l));
        a.push(fill(R, C * M, 30 + l));
        b.push(fill(C * M, H, 40 + l));
        a.push(fill(H, C * M, 50 + l));
        b.push(fill(C * M, R, 60 + l));
    }
    Fixture { x: fill(B, N, 1), embed: fill(N, R, 2), ws, a, b }
}

/// The fixture's target on the device.
fn network(f: &Fixture, d: &Device) -> Network {
    Network::new(&target(f), d)
}

/// The fixture's target.
fn target(f: &Fixture) -> Target {
    let model = ModelConfig::ResidMlp(ResidMlpConfig { n_features: N, d_resid: R, d_mlp: H, n_layers: L, feature_prob: 0.1 });
    let flat = |m: &Mat| m.iter().flatten().map(|&v| v as f32).collect::<Vec<f32>>();
    let layers =
        model.layer_shapes().into_iter().zip(&f.ws).map(|((name, d_in, d_out), w)| Matrix { name, d_in, d_out, values: flat(w) }).collect();
    Target { model, layers, bias: Vec::new(), embed: flat(&f.embed) }
}

fn tensors(ms: &[Mat], d: &Device) -> Vec<burn::tensor::Tensor<2>> {
    ms.iter().map(|m| to_tensor(m, d)).collect()
}

/// attr_{b,c} = sum_o (d/de y_o(W + e P_c))^2 with every matrix moved along
/// component c, by central differences.
fn finite_difference_attr(f: &Fixture, ws: &[Mat]) -> Mat {
    let eps = 1e-5;
    let mut attr = mat(B, C, |_, _| 0.0);
    for c in 0..C {
        let moved = |s: f64| -> Vec<Mat> { ws.iter().enumerate().map(|(l, w)| add(w, &component(&f.a[l], &f.b[l], c, M), s)).collect() };
        let (plus, _) = resid(&f.x, &f.embed, &moved(eps));
        let (minus, _) = resid(&f.x, &f.embed, &moved(-eps));
        for bi in 0..B {
            attr[bi][c] = (0..N).map(|o| ((plus[bi][o] - minus[bi][o]) / (2.0 * eps)).powi(2)).sum();
        }
    }
    attr
}

#[test]
fn resid_attributions_match_finite_differences() {
    let f = fixture();
    let d = Device::flex();
    // No MLP pre-activation near zero, so the finite difference sees no kink.
    let mut r = matmul(&f.x, &f.embed);
    for pair in f.ws.chunks(2) {
        let p = matmul(&r, &pair[0]);
        assert!(p.iter().flatten().all(|v| v.abs() > 1e-3));
        let h = mat(B, H, |i, j| p[i][j].max(0.0));
        r = add(&r, &matmul(&h, &pair[1]), 1.0);
    }
    let ws: Vec<_> = tensors(&f.ws, &d).into_iter().map(|t| t.unsqueeze::<3>()).collect();
    let embed = to_tensor3(&f.embed, &d);
    let net = Network::<3>::stacked(&[target(&f)], &d);
    let fwd = net.forward(to_tensor3(&f.x, &d), &ws);
    let (want_y, _) = resid(&f.x, &f.embed, &f.ws);
    let got_y = from_tensor3(fwd.out.clone());
    for bi in 0..B {
        for o in 0..N {
            assert!((got_y[bi][o] - want_y[bi][o]).abs() < 1e-4, "y[{bi}][{o}]");
        }
    }
    let three = |ms: &[Mat]| -> Vec<_> { ms.iter().map(|m| to_tensor3(m, &d)).collect() };
    let got = from_tensor3(resid_attributions(&fwd, &ws, &embed, &three(&f.a), &three(&f.b), C, M));
    let want = finite_difference_attr(&f, &f.ws);
    assert_attributions_match(&got, &want, 1e-3);
}

fn mask() -> Mat {
    mat(B, C, |b, c| (((b * 7 + c * 3) % 4) < 2 && b != 4) as u8 as f64)
}

#[test]
fn resid_masked_forward_and_activation_loss_match_loops() {
    let f = fixture();
    let d = Device::flex();
    let mk = mask();
    let mask_m = to_tensor(&mat(B, C * M, |bi, j| mk[bi][j / M]), &d);
    let net = network(&f, &d);
    let (a, b) = (tensors(&f.a, &d), tensors(&f.b, &d));
    let fwd = net.forward_by(to_tensor(&f.x, &d), false, |l, h| masked_product(h, l, &a, &b, &mask_m));
    let acts = fwd.mlp_acts(&net.model);
    let got_y = from_tensor(fwd.out);
    let got_acts: Vec<Mat> = acts.iter().map(|t| from_tensor(t.clone())).collect();
    let (_, target_acts) = resid(&f.x, &f.embed, &f.ws);
    for bi in 0..B {
        // Per sample, W^l(b) = sum_c mask_{b,c} P_c^l (the APD paper, section 2.2).
        let ws: Vec<Mat> = (0..2 * L)
            .map(|l| {
                (0..C).fold(mat(f.ws[l].len(), f.ws[l][0].len(), |_, _| 0.0), |acc, c| {
                    add(&acc, &component(&f.a[l], &f.b[l], c, M), mk[bi][c])
                })
            })
            .collect();
        let (want_y, want_acts) = resid(&vec![f.x[bi].clone()], &f.embed, &ws);
        for o in 0..N {
            assert!((got_y[bi][o] - want_y[0][o]).abs() < 1e-4, "y[{bi}][{o}]");
        }
        for l in 0..L {
            for j in 0..H {
                assert!((got_acts[l][bi][j] - want_acts[l][0][j]).abs() < 1e-4, "act[{l}][{bi}][{j}]");
            }
        }
    }
    // L_a = mean_b sum_l ||act_topk - act||^2 / (L * H).
    let mut want = 0.0;
    for l in 0..L {
        for bi in 0..B {
            for j in 0..H {
                want += (got_acts[l][bi][j] - target_acts[l][bi][j]).powi(2);
            }
        }
    }
    want /= (B * L * H) as f64;
    let t_acts: Vec<_> = target_acts.iter().map(|m| to_tensor3(m, &d)).collect();
    let acts: Vec<_> = acts.into_iter().map(|t| t.unsqueeze::<3>()).collect();
    let got = scalar(losses::activation_loss(&acts, &t_acts));
    assert!(want > 1e-3, "the check needs a non-trivial difference");
    assert_rel(got, want, 1e-5, "activation loss");
}
