//! The APD pieces against hand-written f64 implementations and finite
//! differences, on a tiny TMS with one hidden layer and fixed weights.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]
// The reference loops index as the formulas do (sum over c, over b): kept so.
#![allow(clippy::needless_range_loop)]

mod common;
use apd_playground::apd::attributions::attributions;
use apd_playground::apd::losses;
use apd_playground::config::ChainLayer;
use apd_playground::decomp::network::{masked_product, Network};
use burn::tensor::Device;
use common::*;

const N: usize = 4; // features
const D: usize = 3; // hidden width
const C: usize = 3; // components
const M: usize = 2; // rank
const B: usize = 5; // batch

struct Fixture {
    x: Mat,
    w: Mat,
    h: Mat,
    b: Vec<f64>,
    // Factors of W (N x C*M, C*M x D) and of H (D x C*M, C*M x D).
    aw: Mat,
    bw: Mat,
    ah: Mat,
    bh: Mat,
}

fn fixture() -> Fixture {
    Fixture {
        // Inputs well away from ReLU kinks are checked below.
        x: fill(B, N, 1),
        w: fill(N, D, 2),
        h: add(&mat(D, D, |i, j| (i == j) as u8 as f64), &fill(D, D, 3), 0.3),
        b: vec![0.1, -0.2, 0.3, 0.05],
        aw: fill(N, C * M, 4),
        bw: fill(C * M, D, 5),
        ah: fill(D, C * M, 6),
        bh: fill(C * M, D, 7),
    }
}

const CHAIN: [ChainLayer; 3] = [ChainLayer::Own(0), ChainLayer::Own(1), ChainLayer::Tied(0)];

fn dev() -> Device {
    Device::flex()
}

/// The fixture's target (W, one hidden layer H, bias b) on the device; its
/// chain is [`CHAIN`].
fn network(f: &Fixture, d: &Device) -> Network {
    let net = Network::new(&tms_target(&f.w, std::slice::from_ref(&f.h), &f.b), d);
    assert_eq!(net.model.chain(), CHAIN);
    net
}

/// attr_{b,c} = sum_o (d/de y_o(W + e P_c^W, H + e P_c^H))^2 by central differences.
fn finite_difference_attr(f: &Fixture, w: &Mat, h: &Mat) -> Mat {
    let eps = 1e-5;
    let mut attr = mat(B, C, |_, _| 0.0);
    for c in 0..C {
        let pw = component(&f.aw, &f.bw, c, M);
        let ph = component(&f.ah, &f.bh, c, M);
        let plus = tms(&f.x, &add(w, &pw, eps), &[add(h, &ph, eps)], &f.b, false);
        let minus = tms(&f.x, &add(w, &pw, -eps), &[add(h, &ph, -eps)], &f.b, false);
        for bi in 0..B {
            attr[bi][c] = (0..N).map(|o| ((plus[bi][o] - minus[bi][o]) / (2.0 * eps)).powi(2)).sum();
        }
    }
    attr
}

fn check_attributions(w: &Mat, h: &Mat, f: &Fixture) {
    let d = dev();
    // No pre-activation near zero, so the finite difference sees no kink.
    let pre = tms(&f.x, w, std::slice::from_ref(h), &f.b, true);
    assert!(pre.iter().flatten().all(|v| v.abs() > 1e-3));
    let ws = [to_tensor3(w, &d), to_tensor3(h, &d)];
    let net = Network::<3>::stacked(&[tms_target(&f.w, std::slice::from_ref(&f.h), &f.b)], &d);
    let fwd = net.forward(to_tensor3(&f.x, &d), &ws);
    let a = [to_tensor3(&f.aw, &d), to_tensor3(&f.ah, &d)];
    let b = [to_tensor3(&f.bw, &d), to_tensor3(&f.bh, &d)];
    let got = from_tensor3(attributions(&fwd.inputs, fwd.pre[0].clone(), &ws, &CHAIN, &a, &b, C, M));
    let want = finite_difference_attr(f, w, h);
    assert_attributions_match(&got, &want, 1e-4);
}

#[test]
fn attributions_of_the_target_match_finite_differences() {
    let f = fixture();
    check_attributions(&f.w, &f.h, &f);
}

#[test]
fn attributions_of_the_apd_model_match_finite_differences() {
    // Gradients taken through the APD model: weights are the sum of components.
    let f = fixture();
    let w = (0..C).fold(mat(N, D, |_, _| 0.0), |acc, c| add(&acc, &component(&f.aw, &f.bw, c, M), 1.0));
    let h = (0..C).fold(mat(D, D, |_, _| 0.0), |acc, c| add(&acc, &component(&f.ah, &f.bh, c, M), 1.0));
    check_attributions(&w, &h, &f);
}

fn mask() -> Mat {
    // A fixed 0/1 pattern with some samples using several components and one none.
    mat(B, C, |b, c| (((b * 7 + c * 3) % 4) < 2 && b != 4) as u8 as f64)
}

#[test]
fn masked_forward_uses_per_sample_weights() {
    let f = fixture();
    let d = dev();
    let mk = mask();
    let a = [to_tensor(&f.aw, &d), to_tensor(&f.ah, &d)];
    let b = [to_tensor(&f.bw, &d), to_tensor(&f.bh, &d)];
    let mask_m = to_tensor(&mat(B, C * M, |bi, j| mk[bi][j / M]), &d);
    let net = network(&f, &d);
    let got = from_tensor(net.forward_by(to_tensor(&f.x, &d), false, |l, h| masked_product(h, l, &a, &b, &mask_m)).out);
    for bi in 0..B {
        // W(b) = sum_c mask_{b,c} P_c, per layer (the APD paper, section 2.2).
        let mut w = mat(N, D, |_, _| 0.0);
        let mut h = mat(D, D, |_, _| 0.0);
        for c in 0..C {
            w = add(&w, &component(&f.aw, &f.bw, c, M), mk[bi][c]);
            h = add(&h, &component(&f.ah, &f.bh, c, M), mk[bi][c]);
        }
        let want = tms(&vec![f.x[bi].clone()], &w, &[h], &f.b, false);
        for o in 0..N {
            assert!((got[bi][o] - want[0][o]).abs() < 1e-5, "y[{bi}][{o}]");
        }
    }
}

#[test]
fn losses_match_hand_computation() {
    let f = fixture();
    let d = dev();
    let mk = mask();
    let a = [to_tensor3(&f.aw, &d), to_tensor3(&f.ah, &d)];
    let b = [to_tensor3(&f.bw, &d), to_tensor3(&f.bh, &d)];
    let target = [to_tensor3(&f.w, &d), to_tensor3(&f.h, &d)];
    let times = [2, 1]; // W appears twice (tied decoder), H once.
    let n_params = 2 * N * D + D * D;

    // Faithfulness.
    let mut want_f = 0.0;
    for (l, (wt, (al, bl))) in [(&f.w, (&f.aw, &f.bw)), (&f.h, (&f.ah, &f.bh))].into_iter().enumerate() {
        let sum = matmul(al, bl);
        let sq: f64 = wt.iter().flatten().zip(sum.iter().flatten()).map(|(x, y)| (x - y).powi(2)).sum();
        want_f += times[l] as f64 * sq;
    }
    want_f /= n_params as f64;
    let got_f = scalar(losses::faithfulness_loss(&target, &a, &b, &times, n_params));
    assert_rel(got_f, want_f, 1e-5, "faithfulness");

    // Minimality.
    let y1 = fill(B, N, 8);
    let y2 = fill(B, N, 9);
    let want_m = y1.iter().flatten().zip(y2.iter().flatten()).map(|(p, q)| (p - q).powi(2)).sum::<f64>() / (B * N) as f64;
    let got_m = scalar(losses::minimality_loss(to_tensor3(&y1, &d), to_tensor3(&y2, &d)));
    assert_rel(got_m, want_m, 1e-5, "minimality");

    // Simplicity, for two values of p.
    for p in [1.0, 0.9] {
        let mut want_s = 0.0;
        for bi in 0..B {
            for (l, (al, bl)) in [(&f.aw, &f.bw), (&f.ah, &f.bh)].into_iter().enumerate() {
                for c in 0..C {
                    for j in 0..M {
                        let col: f64 = al.iter().map(|row| row[c * M + j].powi(2)).sum();
                        let row: f64 = bl[c * M + j].iter().map(|v| v * v).sum();
                        want_s += times[l] as f64 * mk[bi][c] * (col * row + 1e-16).powf(p / 2.0);
                    }
                }
            }
        }
        want_s /= (n_params * B) as f64;
        let got_s = scalar(losses::simplicity_loss(&a, &b, &times, to_tensor3(&mk, &d), C, M, p, n_params));
        assert_rel(got_s, want_s, 1e-5, &format!("simplicity p={p}"));
    }
}

/// The host's attributions (`apd::host`, what the CPU backend's APD step
/// uses on TMS models) against the tensor operations', within rounding:
/// the host sums each product's terms in order with fused multiply-adds,
/// which is most of what flex's kernels do but not all (about one in a
/// few attributions is an ulp or two apart).
#[test]
fn host_attributions_match_the_tensor_operations() {
    use apd_playground::apd::host::{product, tms_attributions, TmsMatrices};
    use burn::tensor::{Tensor, TensorData};
    let device = Device::flex();
    let mut rng = apd_playground::rng::Rng::new(31);
    for (n, d, hidden, c, m, bsz) in [(5, 2, 0, 6, 3, 37), (5, 2, 1, 5, 2, 48), (40, 10, 0, 40, 2, 33)] {
        let mut draw = |len: usize| (0..len).map(|_| rng.uniform_range(-1.0, 1.0)).collect::<Vec<f32>>();
        let mut shapes = vec![(n, d)];
        shapes.extend(std::iter::repeat_n((d, d), hidden));
        let chain: Vec<ChainLayer> = (0..=hidden).map(ChainLayer::Own).chain([ChainLayer::Tied(0)]).collect();
        let a: Vec<Vec<f32>> = shapes.iter().map(|&(i, _)| draw(i * c * m)).collect();
        let b: Vec<Vec<f32>> = shapes.iter().map(|&(_, o)| draw(c * m * o)).collect();
        // Attributions through the components' sum, as APD's default source.
        let ws: Vec<Vec<f32>> = shapes.iter().enumerate().map(|(l, &(i, o))| product(&a[l], &b[l], i, c * m, o)).collect();
        let (bias, x) = (draw(n), draw(bsz * n).iter().map(|v| v.max(0.0)).collect::<Vec<f32>>());
        let t = |v: &[f32], r: usize, k: usize| Tensor::<3>::from_data(TensorData::new(v.to_vec(), [1, r, k]), &device);
        let (ta, tb): (Vec<_>, Vec<_>) = shapes.iter().enumerate().map(|(l, &(i, o))| (t(&a[l], i, c * m), t(&b[l], c * m, o))).unzip();
        let tw: Vec<_> = shapes.iter().enumerate().map(|(l, &(i, o))| t(&ws[l], i, o)).collect();
        // The sum of components, as the tensor operations compute it, first.
        for (l, want) in ws.iter().enumerate() {
            let sum = ta[l].clone().matmul(tb[l].clone()).into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(&sum, want, "A_{l} B_{l}");
        }
        let mut inputs = vec![t(&x, bsz, n)];
        for &layer in &chain[..chain.len() - 1] {
            let w = match layer {
                ChainLayer::Own(l) => tw[l].clone(),
                ChainLayer::Tied(l) => tw[l].clone().transpose(),
            };
            inputs.push(inputs.last().unwrap().clone().matmul(w));
        }
        let pre = inputs.last().unwrap().clone().matmul(tw[0].clone().transpose()) + t(&bias, 1, n);
        let inputs: Vec<_> = inputs.into_iter().map(apd_playground::decomp::Stream::dense).collect();
        let want = attributions(&inputs, pre, &tw, &chain, &ta, &tb, c, m).into_data().try_to_vec::<f32>().unwrap();
        let net = TmsMatrices {
            chain: &chain,
            shapes: &shapes,
            ws: ws.iter().map(|v| v.as_slice()).collect(),
            a: a.iter().map(|v| v.as_slice()).collect(),
            b: b.iter().map(|v| v.as_slice()).collect(),
            bias: &bias,
            c,
            m,
        };
        let got = tms_attributions(&x, bsz, &net);
        assert_eq!(got.len(), want.len());
        assert!(want.iter().filter(|&&v| v > 1e-3).count() > want.len() / 4, "attributions not trivially 0");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 2e-6 * (1.0 + w.abs()), "n = {n}, hidden {hidden}: [{i}] host {g}, tensor operations {w}");
        }
    }
}
