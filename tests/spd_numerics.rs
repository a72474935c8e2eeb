//! SPD's pieces against plain loops and values worked out by hand: both
//! hard sigmoids and their gradients, the causal-importance MLPs, each loss,
//! and the masked forward pass against `W(b) = sum_c m[b, c] V_c U_c`.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use apd_playground::config::{preset, with_method, Method};
use apd_playground::decomp::Decomposer;
use apd_playground::spd::ci::{lower_leaky, upper_leaky, Gates};
use apd_playground::spd::losses::{faithfulness_loss, importance_minimality_loss, reconstruction_loss};
use apd_playground::spd::SpdTrainer;
use burn::tensor::{Device, Tensor};
use common::*;

fn row(values: &[f64], device: &Device) -> Tensor<2> {
    to_tensor(&vec![values.to_vec()], device)
}

#[test]
fn hard_sigmoids_and_their_gradients_by_hand() {
    let zs = [-2.0, -0.5, 0.3, 0.7, 1.5, 3.0];
    let device = Device::flex().autodiff();
    for (f, want, want_grad) in [
        (lower_leaky as fn(Tensor<2>) -> Tensor<2>, [-0.02, -0.005, 0.3, 0.7, 1.0, 1.0], [0.01, 0.01, 1.0, 1.0, 0.0, 0.0]),
        (upper_leaky, [0.0, 0.0, 0.3, 0.7, 1.005, 1.02], [0.0, 0.0, 1.0, 1.0, 0.01, 0.01]),
    ] {
        let z = row(&zs, &device).require_grad();
        let y = f(z.clone());
        let grads = y.clone().sum().backward();
        let g = from_tensor(z.grad(&grads).unwrap());
        let y = from_tensor(y.inner());
        for k in 0..zs.len() {
            assert!((y[0][k] - want[k]).abs() < 1e-6, "value at {}: {} vs {}", zs[k], y[0][k], want[k]);
            assert!((g[0][k] - want_grad[k]).abs() < 1e-6, "gradient at {}: {} vs {}", zs[k], g[0][k], want_grad[k]);
        }
    }
}

/// erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * (-x * x).exp();
    y.copysign(x)
}

#[test]
fn the_importance_mlps_match_a_loop() {
    let (b, c, g) = (4, 3, 5);
    let device = Device::flex();
    let (w1, b1, w2, b2, h) = (fill(c, g, 1), fill(c, g, 2), fill(c, g, 3), fill(1, c, 4), fill(b, c, 5));
    let flat = |m: &Mat| m.iter().flatten().map(|&v| v as f32).collect::<Vec<f32>>();
    let gates = Gates::from_values(c, g, flat(&w1), flat(&b1), flat(&w2), flat(&b2[..1].to_vec()), &device.clone().autodiff());
    let got = from_tensor3(gates.forward_inner(to_tensor3(&h, &device)));
    for i in 0..b {
        for k in 0..c {
            let want: f64 = b2[0][k]
                + (0..g)
                    .map(|j| {
                        let a = h[i][k] * w1[k][j] + b1[k][j];
                        w2[k][j] * 0.5 * a * (1.0 + erf(a / 2f64.sqrt()))
                    })
                    .sum::<f64>();
            assert!((got[i][k] - want).abs() < 1e-5, "z[{i}][{k}]: {} vs {want}", got[i][k]);
        }
    }
}

/// `len` values in [-2, 2) from the project's seeded generator.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = apd_playground::rng::Rng::new(seed);
    (0..len).map(|_| rng.uniform_range(-2.0, 2.0)).collect()
}

#[test]
fn the_fused_gates_normal_cdf_is_within_3e_7_of_libms() {
    // flex's GELU is `0.5 p (1 + erff(p / sqrt 2))` with libm's erff.
    let mut worst = 0f32;
    for i in -12_000..=12_000 {
        let p = i as f32 * 1e-3;
        let want = 0.5 * (1.0 + libm::erff(p * std::f32::consts::FRAC_1_SQRT_2));
        worst = worst.max((apd_playground::spd::fused::normal_cdf(p) - want).abs());
    }
    // Abramowitz and Stegun is within 1.5e-7 of erf, so 0.75e-7 of the CDF,
    // plus f32 rounding (6e-8 a step near 1): measured 2.4e-7.
    assert!(worst < 3e-7, "largest difference {worst}");
    for p in [-200.0, -40.0, 40.0, 200.0] {
        let got = apd_playground::spd::fused::normal_cdf(p);
        assert!(got.is_finite() && (got - if p > 0.0 { 1.0 } else { 0.0 }).abs() < 1e-7, "cdf({p}) = {got}");
    }
}

#[test]
fn the_fused_importance_mlps_give_the_tensor_operations_values_and_gradients() {
    use apd_playground::spd::ci::gate_mlp_ops;
    use apd_playground::spd::fused;
    use burn::tensor::TensorData;
    // Two instances, so that a mix-up between them shows; a gradient of 0
    // on some outputs, as the hard sigmoids leave them (the fused backward
    // skips those); inputs of 0, as inactive features leave them (the
    // fused passes compute their hidden layer once); more inputs than the
    // backward's 16 partial sums.
    let (n, b, c, g) = (2, 40, 3, 5);
    let device = Device::flex().autodiff();
    let t = |v: Vec<f32>, shape: [usize; 3]| Tensor::<3>::from_data(TensorData::new(v, shape), &device).require_grad();
    let mut upstream = values(n * b * c, 6);
    for k in (0..upstream.len()).step_by(4) {
        upstream[k] = 0.0;
    }
    let mut inputs = values(n * b * c, 1);
    for k in (0..inputs.len()).step_by(3) {
        inputs[k] = 0.0;
    }
    let mut results = Vec::new();
    for use_fused in [true, false] {
        let (h, w1, b1, w2) = (
            t(inputs.clone(), [n, b, c]),
            t(values(n * c * g, 2), [n, c, g]),
            t(values(n * c * g, 3), [n, c, g]),
            t(values(n * c * g, 4), [n, c, g]),
        );
        assert!(fused::applies(&h));
        let z = if use_fused {
            fused::gate_mlp(h.clone(), w1.clone(), b1.clone(), w2.clone())
        } else {
            gate_mlp_ops(h.clone(), [w1.clone(), b1.clone(), w2.clone(), Tensor::zeros([n, 1, c], &device)])
        };
        let loss = (z.clone() * Tensor::<3>::from_data(TensorData::new(upstream.clone(), [n, b, c]), &device)).sum();
        let grads = loss.backward();
        let read = |x: Tensor<3>| x.into_data().try_to_vec::<f32>().unwrap();
        results.push([
            read(z.inner()),
            read(h.grad(&grads).unwrap()),
            read(w1.grad(&grads).unwrap()),
            read(b1.grad(&grads).unwrap()),
            read(w2.grad(&grads).unwrap()),
        ]);
    }
    for (k, what) in ["z", "h's gradient", "w1's", "b1's", "w2's"].iter().enumerate() {
        let (got, want) = (&results[0][k], &results[1][k]);
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (x, y)) in got.iter().zip(want).enumerate() {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{what} [{i}]: fused {x}, tensor operations {y}");
        }
        assert!(want.iter().any(|v| v.abs() > 0.1), "{what} is not trivially 0");
    }
}

#[test]
fn the_fused_hard_sigmoids_give_the_tensor_operations_bits() {
    use apd_playground::spd::ci::{clamped, hard_sigmoid_ops, revive_term, revive_term_ops, LEAK};
    use burn::tensor::TensorData;
    let (n, b, c) = (2, 9, 4);
    let device = Device::flex().autodiff();
    // Both sides, the corners exactly (where each clamp's gradient passes)
    // and a negative zero among random values.
    let mut z = values(n * b * c, 7).iter().map(|v| v * 1.5).collect::<Vec<f32>>();
    z[..6].copy_from_slice(&[0.0, -0.0, 1.0, -1.0, 0.5, 2.0]);
    let mut upstream = values(n * b * c, 8);
    upstream[3] = 0.0;
    let t = |v: &[f32]| Tensor::<3>::from_data(TensorData::new(v.to_vec(), [n, b, c]), &device);
    let bits = |x: Tensor<3>| x.into_data().try_to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    let run = |f: &dyn Fn(Tensor<3>) -> Tensor<3>| {
        let zt = t(&z).require_grad();
        let y = f(zt.clone());
        let grads = (y.clone() * t(&upstream)).sum().backward();
        (bits(y.inner()), bits(zt.grad(&grads).unwrap()))
    };
    type Gate = fn(Tensor<3>) -> Tensor<3>;
    let cases: [(&str, Gate, f32, f32); 3] =
        [("lower", lower_leaky, LEAK, 0.0), ("upper", upper_leaky, 0.0, LEAK), ("clamp", clamped, 0.0, 0.0)];
    for (name, fused, low, high) in cases {
        let (got, want) = (run(&fused), run(&|z| hard_sigmoid_ops(z, low, high)));
        assert_eq!(got.0, want.0, "{name}: values");
        assert_eq!(got.1, want.1, "{name}: gradients");
    }
    // The revive sigmoid's backward term: the same gradient of z.
    let dg = t(&upstream).inner();
    let grad_of = |f: &dyn Fn(&Tensor<3>) -> Tensor<1>| {
        let zt = t(&z).require_grad();
        bits(zt.grad(&f(&zt).backward()).unwrap())
    };
    let fused = grad_of(&|z| revive_term(z, dg.clone()));
    assert_eq!(fused, grad_of(&|z| revive_term_ops(z, dg.clone())), "revive's gradient");
    // Below 0 it passes 0.01 dg where dg < 0 only.
    let g = |i: usize| f32::from_bits(fused[i]);
    assert_eq!(g(3), if upstream[3] < 0.0 { 0.01 * upstream[3] } else { 0.0 });
    assert!(z.iter().zip(&upstream).enumerate().any(|(i, (&z, &d))| z < 0.0 && d < 0.0 && g(i) != 0.0), "a raise is tested");
}

#[test]
fn each_loss_matches_a_loop() {
    let device = Device::flex();
    // Two matrices of different shapes, C = 3.
    let (w0, w1) = (fill(4, 2, 10), fill(2, 4, 11));
    let (v0, u0, v1, u1) = (fill(4, 3, 12), fill(3, 2, 13), fill(2, 3, 14), fill(3, 4, 15));
    let t = |m: &Mat| to_tensor3(m, &device);
    let got = scalar(faithfulness_loss(&[t(&w0), t(&w1)], &[t(&v0), t(&v1)], &[t(&u0), t(&u1)]));
    let diff = |w: &Mat, v: &Mat, u: &Mat| -> f64 { add(w, &matmul(v, u), -1.0).iter().flatten().map(|x| x * x).sum() };
    assert_rel(got, (diff(&w0, &v0, &u0) + diff(&w1, &v1, &u1)) / 16.0, 1e-5, "faithfulness");
    let (y, yt) = (fill(5, 4, 16), fill(5, 4, 17));
    let want: f64 = y.iter().flatten().zip(yt.iter().flatten()).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 20.0;
    assert_rel(scalar(reconstruction_loss(t(&y), t(&yt))), want, 1e-5, "reconstruction");
    // Importances are >= 0 after the upper sigmoid: use |fill|.
    let abs = |m: Mat| m.into_iter().map(|r| r.into_iter().map(f64::abs).collect()).collect::<Mat>();
    let (g0, g1) = (abs(fill(5, 3, 18)), abs(fill(5, 3, 19)));
    for p in [1.0, 2.0, 0.9] {
        let want: f64 =
            (0..5).map(|b| (0..3).map(|c| (g0[b][c] + 1e-12).powf(p) + (g1[b][c] + 1e-12).powf(p)).sum::<f64>()).sum::<f64>() / 5.0;
        assert_rel(scalar(importance_minimality_loss(&[t(&g0), t(&g1)], p)), want, 1e-5, &format!("importance minimality, p = {p}"));
    }
}

#[test]
fn the_masked_forward_is_the_network_with_the_masked_sum_of_subcomponents() {
    // A tms-5-2 target; SPD decomposes W (5 x 2) and the untied decoder W^T (2 x 5).
    let w = fill(5, 2, 20);
    let target = tms_target(&w, &[], &[-0.1, 0.05, -0.2, 0.0, 0.1]);
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Spd).unwrap();
    cfg.set("scale.rescale", "false").unwrap();
    cfg.set("spd.n_components", "3").unwrap();
    cfg.model = target.model.clone();
    let spd = SpdTrainer::new(&cfg, &target, 0, &Device::flex()).unwrap();
    let d = pollster::block_on(spd.decomposition()).unwrap();
    assert_eq!((d.n_components, d.rank, d.layers.len()), (3, 1, 2));
    assert_eq!((d.layers[1].name.as_str(), d.layers[1].d_in, d.layers[1].d_out), ("W^T", 2, 5));
    let get = |l: usize| {
        let f = &d.layers[l];
        (mat(f.d_in, 3, |i, c| f.a[i * 3 + c] as f64), mat(3, f.d_out, |c, j| f.b[c * f.d_out + j] as f64))
    };
    let ((v0, u0), (v1, u1)) = (get(0), get(1));
    let x = fill(3, 5, 21);
    let masks: Mat = vec![vec![1.0, 0.0, 1.0], vec![0.0, 0.0, 0.0], vec![0.3, 1.0, 0.5]];
    let flat: Vec<f32> = masks.iter().flatten().map(|&m| m as f32).collect();
    let got = from_tensor(pollster::block_on(spd.masked_output(to_tensor(&x, &Device::flex()), flat)).unwrap());
    let dec = matmul(&v1, &u1);
    for (b, m) in masks.iter().enumerate() {
        let vm = mat(5, 3, |i, c| v0[i][c] * m[c]);
        let h = matmul(&vec![x[b].clone()], &matmul(&vm, &u0));
        let o = matmul(&h, &dec);
        let bias = [-0.1, 0.05, -0.2, 0.0, 0.1];
        for j in 0..5 {
            let want = (o[0][j] + bias[j]).max(0.0);
            assert!((got[b][j] - want).abs() < 1e-5, "sample {b} output {j}: {} vs {want}", got[b][j]);
        }
    }
}

#[test]
fn a_step_changes_the_parameters_and_reports_finite_losses() {
    let w = fill(5, 2, 30);
    let target = tms_target(&w, &[], &[-0.1; 5]);
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Spd).unwrap();
    cfg.set("spd.batch_size", "64").unwrap();
    cfg.model = target.model.clone();
    let mut spd = SpdTrainer::new(&cfg, &target, 0, &Device::flex()).unwrap();
    let before = pollster::block_on(spd.decomposition()).unwrap();
    let s = pollster::block_on(spd.step()).unwrap();
    for v in [s.faithfulness, s.stochastic, s.layerwise, s.importance, s.total] {
        assert!(v.is_finite() && v >= 0.0);
    }
    let after = pollster::block_on(spd.decomposition()).unwrap();
    assert_ne!(before, after);
    // Determinism: the same seed gives the same step.
    let mut again = SpdTrainer::new(&cfg, &target, 0, &Device::flex()).unwrap();
    assert_eq!(pollster::block_on(again.step()).unwrap(), s);
}

/// A tms-5-2 SPD run whose gates all say `z` close to `z0` (their output
/// bias `z0`, their output weights a hundredth of their first draw), with
/// the mask sigmoid `lower`: the gradient its next step would apply, per
/// parameter (every V, every U, then each matrix's w1, b1, w2, b2).
fn gradient_from_constant_gates(lower: &str, z0: f32) -> Vec<Vec<f32>> {
    let w = fill(5, 2, 40);
    let target = tms_target(&w, &[], &[-0.1; 5]);
    let mut cfg = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Spd).unwrap();
    cfg.set("spd.batch_size", "64").unwrap();
    cfg.set("spd.lower_sigmoid", lower).unwrap();
    cfg.model = target.model.clone();
    let fresh = SpdTrainer::new(&cfg, &target, 0, &Device::flex()).unwrap();
    let d = pollster::block_on(fresh.decomposition()).unwrap();
    let mut gates = pollster::block_on(fresh.gate_values()).unwrap();
    for g in &mut gates {
        g.w2.iter_mut().for_each(|x| *x *= 0.01);
        g.b2.iter_mut().for_each(|x| *x = z0);
    }
    let spd = SpdTrainer::with_components(&cfg, &target, 0, &Device::flex(), &d, &gates, 0).unwrap();
    pollster::block_on(spd.next_gradient()).unwrap()
}

#[test]
fn revive_takes_the_plain_gradient_where_the_importances_are_inside_0_1() {
    // With every z near 0.5 both mask sigmoids are the identity there, so
    // the revive step's two backward passes (V through the masks in the
    // first and through the gates in the second) must add up to the leaky
    // step's one, parameter by parameter.
    let (leaky, revive) = (gradient_from_constant_gates("leaky", 0.5), gradient_from_constant_gates("revive", 0.5));
    assert_eq!(leaky.len(), 2 + 2 + 2 * 4);
    for (k, (a, b)) in leaky.iter().zip(&revive).enumerate() {
        let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(scale > 0.0, "parameter {k} has a gradient");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-4 * scale, "parameter {k}: {x} vs {y} (scale {scale})");
        }
    }
}

#[test]
fn revive_only_ever_raises_an_importance_below_0() {
    // Every z near -0.5: leaky masks with 0.01 z and lets the reconstruction
    // push z either way; revive masks with 0 and lets it only pull z up
    // (a gradient <= 0 on each gate's output bias b2).
    let b2 = |lower: &str| -> Vec<f32> {
        let g = gradient_from_constant_gates(lower, -0.5);
        [g[4 + 3].clone(), g[4 + 4 + 3].clone()].concat()
    };
    let (leaky, revive) = (b2("leaky"), b2("revive"));
    assert!(leaky.iter().any(|&d| d > 0.0), "leaky pushes some importance down: {leaky:?}");
    assert!(leaky.iter().any(|&d| d < 0.0), "and some up: {leaky:?}");
    assert!(revive.iter().all(|&d| d <= 0.0), "revive never pushes down: {revive:?}");
    assert!(revive.iter().any(|&d| d < 0.0), "but raises some: {revive:?}");
}
