//! The causal-importance MLPs in one pass over their hidden layer, and the
//! hard sigmoids in one pass over their input, on the CPU backend.
//!
//! Size: about 520 lines, because each operation needs its forward loop,
//! its backward loop and the burn backend extension's plumbing (the flex
//! and autodiff implementations) beside each other; split, the backward
//! passes would sit away from the loops they must mirror.
//!
//! Built from tensor operations (`ci::gate_mlp`), the gates' hidden layer
//! (`N x B x C x d_gate`, 13 million values per matrix at the reference's
//! batch on tms-40-10) is written and read again by about ten kernels
//! forward and backward, each with its own allocation: an SPD step's time
//! was theirs, not the arithmetic's (docs/performance.md). Here a loop over
//! the inputs computes each gate's output from its hidden units, and the
//! backward pass recomputes them for all four gradients at once (b2's is
//! autodiff's), so the hidden layer is never stored.
//!
//! It is a burn backend extension for `flex` (and its autodiff), with a
//! backward pass of its own; other backends (WebGPU) keep the tensor
//! operations, which is what a GPU wants. The exact GELU and its
//! derivative, as flex's own `gelu` and `gelu_backward` compute them, with
//! erf and exp from arithmetic alone (within about 1e-7), so that the loops
//! vectorise: libm's `erff` and `expf`, called per hidden unit, took a
//! third of the time left.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, AutodiffBackend, Backend, Flex};
use burn::tensor::{Tensor, TensorData};

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

#[backend_extension(Flex, Autodiff)]
pub trait GateOps: Backend {
    /// `z[n, b, c] = sum_j w2[n, c, j] gelu(h[n, b, c] w1[n, c, j] + b1[n, c, j])`
    /// for `h` of `N x B x C` and the weights of `N x C x d_gate`.
    fn spd_gate_mlp(h: FloatTensor<Self>, w1: FloatTensor<Self>, b1: FloatTensor<Self>, w2: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The hard sigmoid `clamp(z, 0, 1)` with slope `low` below 0 or
    /// `high` above 1 (at most one of them not 0), element by element.
    fn spd_hard_sigmoid(z: FloatTensor<Self>, low: f32, high: f32) -> FloatTensor<Self>;

    /// The gradient the revive sigmoid passes to `z` from `dg`, the
    /// gradient arriving at its output: `dg` on [0, 1], `leak dg` below 0
    /// where `dg < 0` (it raises the importance), else 0. Not tracked.
    fn spd_revive_grad(z: FloatTensor<Self>, dg: FloatTensor<Self>, leak: f32) -> FloatTensor<Self>;
}

/// Whether `h` lives on the CPU backend, where this module's operations apply.
pub fn applies<const D: usize>(h: &Tensor<D>) -> bool {
    crate::backend::is_cpu(&h.device())
}

/// [`GateOps::spd_hard_sigmoid`], tracked for gradients where `z` is. Only
/// for tensors on the CPU backend ([`applies`]).
pub fn hard_sigmoid<const D: usize>(z: Tensor<D>, low: f32, high: f32) -> Tensor<D> {
    assert!(low == 0.0 || high == 0.0, "a hard sigmoid leaks on one side at most");
    Tensor::from_dispatch(<burn::backend::Dispatch as GateOps>::spd_hard_sigmoid(z.into_dispatch(), low, high))
}

/// [`GateOps::spd_revive_grad`] (tensors without autodiff on the CPU backend).
pub fn revive_grad<const D: usize>(z: Tensor<D>, dg: Tensor<D>, leak: f32) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as GateOps>::spd_revive_grad(z.into_dispatch(), dg.into_dispatch(), leak))
}

/// The gates' output without `b2`, tracked for gradients where the inputs
/// are. Only for tensors on the CPU backend ([`applies`]).
pub fn gate_mlp(h: Tensor<3>, w1: Tensor<3>, b1: Tensor<3>, w2: Tensor<3>) -> Tensor<3> {
    Tensor::from_dispatch(<burn::backend::Dispatch as GateOps>::spd_gate_mlp(
        h.into_dispatch(),
        w1.into_dispatch(),
        b1.into_dispatch(),
        w2.into_dispatch(),
    ))
}

type Flat = FloatTensor<Flex>;

/// A tensor laid out in row-major order (copied only where it is not, so
/// the inputs the autodiff graph also holds are read in place), and its
/// shape; [`values`] reads it.
fn host(t: Flat) -> (Flat, Vec<usize>) {
    let shape = t.layout().shape().to_vec();
    (crate::backend::contiguous(t), shape)
}

use crate::backend::contiguous_values as values;

fn flat(values: Vec<f32>, shape: Vec<usize>) -> Flat {
    Flat::from_data(TensorData::new(values, shape))
}

/// The sizes `[N, B, C, d_gate]` of a gate call, checked.
fn dims(h: &[usize], w: &[usize]) -> [usize; 4] {
    assert!(h.len() == 3 && w.len() == 3 && h[0] == w[0] && h[2] == w[1], "gate shapes {h:?} and {w:?}");
    [h[0], h[1], h[2], w[2]]
}

/// `e^y` for `y <= 0`, within about 1e-7 relative (flushed to `e^-87` below
/// that, where the gates use it only next to 1): arithmetic alone, so that
/// the gates' loops vectorise, where a call to libm's `expf` would not.
#[inline(always)]
fn exp_neg(y: f32) -> f32 {
    let y = if y < -87.0 { -87.0 } else { y };
    // y = k ln 2 + r with |r| <= ln 2 / 2: k rounded by adding 1.5 * 2^23,
    // which leaves it in the low bits of the sum (read as bits, not cast:
    // a float-to-int cast does not vectorise); ln 2 split so that k ln2_hi
    // is exact.
    let shifted = y * std::f32::consts::LOG2_E + 12_582_912.0;
    let k = shifted - 12_582_912.0;
    let r = (y - k * 0.693_359_4) + k * 2.121_944_4e-4;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^k, k in [-126, 0]: its exponent field is k + 127.
    p * f32::from_bits(shifted.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23)
}

/// The standard normal's CDF at `p` and `e^(-p^2 / 2)` (its density times
/// `sqrt(2 pi)`). GELU is `p cdf(p)`. The CDF is taken from erf by
/// Abramowitz and Stegun 7.1.26 (within 1.5e-7 of erf; tests/spd_numerics.rs
/// finds it within 3e-7 of the CDF from libm's `erff`, which flex's own
/// GELU uses, rounding included); below 0 it is the
/// small tail itself, not `1 - erf` (no cancellation).
#[inline(always)]
fn cdf_and_gauss(p: f32) -> (f32, f32) {
    let t = 1.0 / (1.0 + 0.327_591_1 * FRAC_1_SQRT_2 * p.abs());
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let e = exp_neg(-0.5 * p * p);
    let tail = 0.5 * poly * e;
    (if p >= 0.0 { 1.0 - tail } else { tail }, e)
}

/// The standard normal's CDF (for the tests: [`cdf_and_gauss`]'s first half).
pub fn normal_cdf(p: f32) -> f32 {
    cdf_and_gauss(p).0
}

/// Defines `$name`, `$body` compiled with the CPU feature `$feature`
/// (x86-64 only). The same operations in wider lanes, so the same bits.
macro_rules! widened {
    ($name:ident, $feature:literal, $ret:ty, $body:ident($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }
    };
}

widened!(forward_avx512, "avx512f", Vec<f32>, forward_body(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], d: [usize; 4]));
widened!(forward_avx2, "avx2", Vec<f32>, forward_body(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], d: [usize; 4]));
widened!(backward_avx512, "avx512f", [Vec<f32>; 4], backward_body(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], gz: &[f32], d: [usize; 4]));
widened!(backward_avx2, "avx2", [Vec<f32>; 4], backward_body(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], gz: &[f32], d: [usize; 4]));

/// The widest vectors the CPU has: 16 lanes with AVX-512 (these machines:
/// up to a fifth faster than AVX2 on tms-5-2-id), 8 with AVX2, else the
/// baseline's 4 (SSE2; SIMD128 in the page).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Lanes {
    Sixteen,
    Eight,
    Four,
}

fn lanes() -> Lanes {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Lanes::Sixteen;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Lanes::Eight;
        }
    }
    Lanes::Four
}

/// The forward pass on host values (see [`GateOps::spd_gate_mlp`]).
pub fn forward_values(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], d: [usize; 4]) -> Vec<f32> {
    match lanes() {
        // SAFETY: `lanes` checked that the CPU has the feature.
        #[cfg(target_arch = "x86_64")]
        Lanes::Sixteen => unsafe { forward_avx512(h, w1, b1, w2, d) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Eight => unsafe { forward_avx2(h, w1, b1, w2, d) },
        _ => forward_body(h, w1, b1, w2, d),
    }
}

/// The backward pass on host values: from the output's gradient `gz`, the
/// gradients of `h`, `w1`, `b1` and `w2`, in that order.
pub fn backward_values(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], gz: &[f32], d: [usize; 4]) -> [Vec<f32>; 4] {
    match lanes() {
        // SAFETY: as in `forward_values`.
        #[cfg(target_arch = "x86_64")]
        Lanes::Sixteen => unsafe { backward_avx512(h, w1, b1, w2, gz, d) },
        #[cfg(target_arch = "x86_64")]
        Lanes::Eight => unsafe { backward_avx2(h, w1, b1, w2, gz, d) },
        _ => backward_body(h, w1, b1, w2, gz, d),
    }
}

/// `n` row-major `rows x cols` blocks of `src`, each transposed, in tiles
/// that keep the rows being read in the cache (a gate's inputs are a
/// column of `N x B x C`: gathered one by one, each read was a cache miss
/// at C = 400).
fn transposed(src: &[f32], [n, rows, cols]: [usize; 3]) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0.0f32; src.len()];
    for i in 0..n {
        let (src, out) = (&src[i * rows * cols..][..rows * cols], &mut out[i * rows * cols..][..rows * cols]);
        for r0 in (0..rows).step_by(TILE) {
            let r1 = (r0 + TILE).min(rows);
            for col in 0..cols {
                for r in r0..r1 {
                    out[col * rows + r] = src[r * cols + col];
                }
            }
        }
    }
    out
}

/// Whether a gate's input is exactly `+0.0`: every input whose features
/// are all inactive (most of a sparse batch: three in four rows of
/// tms-5-2), where the gate's hidden layer is the same for each and is
/// computed once.
#[inline(always)]
fn is_zero(x: f32) -> bool {
    x.to_bits() == 0
}

#[inline(always)]
fn forward_body(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], [n, bsz, c, g]: [usize; 4]) -> Vec<f32> {
    // One gate at a time over the batch: its inputs a row of the transposed
    // input, each hidden unit's term added to the row's sums in turn, so
    // the loop runs over inputs, vectorised, with no sum across lanes
    // (float sums are not reordered). Each output is still its units'
    // terms added in order; inputs of `+0.0` get the value computed once
    // for `+0.0`, the same bits.
    let ht = transposed(h, [n, bsz, c]);
    let mut zt = vec![0.0f32; n * c * bsz];
    let (mut at, mut xs, mut zs) = (Vec::with_capacity(bsz), Vec::with_capacity(bsz), Vec::with_capacity(bsz));
    for ((column, out), k) in ht.chunks_exact(bsz).zip(zt.chunks_exact_mut(bsz)).zip(0..) {
        let row = k * g..(k + 1) * g;
        let units = || w1[row.clone()].iter().zip(&b1[row.clone()]).zip(&w2[row.clone()]);
        let at_zero = units().fold(0.0f32, |z, ((&w1, &b1), &w2)| {
            let p = 0.0 * w1 + b1;
            z + w2 * p * cdf_and_gauss(p).0
        });
        at.clear();
        at.extend(column.iter().enumerate().filter(|(_, &x)| !is_zero(x)).map(|(b, _)| b));
        xs.clear();
        xs.extend(at.iter().map(|&b| column[b]));
        zs.clear();
        zs.resize(at.len(), 0.0);
        for ((&w1, &b1), &w2) in units() {
            for (z, &x) in zs.iter_mut().zip(&xs) {
                let p = x * w1 + b1;
                *z += w2 * p * cdf_and_gauss(p).0;
            }
        }
        out.fill(at_zero);
        for (&b, &z) in at.iter().zip(&zs) {
            out[b] = z;
        }
    }
    transposed(&zt, [n, c, bsz])
}

/// How many partial sums a weight's gradient is split into over the batch
/// (then added in order): a fixed number, not the vector width, so that
/// every CPU and the page's SIMD128 add the same values in the same order.
const PARTIALS: usize = 16;

/// One block of [`PARTIALS`] inputs' terms in the gradients of a hidden
/// unit with input weight `w1` and output weight `w2`: `unit(x)` is the
/// unit's pre-activation, GELU's CDF factor and GELU's derivative at `x`.
#[inline(always)]
fn unit_terms(
    xs: &[f32],
    ds: &[f32],
    ghs: &mut [f32],
    [sw1, sb1, sw2]: [&mut [f32; PARTIALS]; 3],
    [w1, w2]: [f32; 2],
    unit: impl Fn(f32) -> (f32, f32, f32),
) {
    for l in 0..PARTIALS {
        let (x, d) = (xs[l], ds[l]);
        let (p, phi, slope) = unit(x);
        sw2[l] += d * p * phi;
        let t = d * w2 * slope;
        sb1[l] += t;
        sw1[l] += t * x;
        ghs[l] += t * w1;
    }
}

#[inline(always)]
fn backward_body(h: &[f32], w1: &[f32], b1: &[f32], w2: &[f32], gz: &[f32], [n, bsz, c, g]: [usize; 4]) -> [Vec<f32>; 4] {
    let mut gh = vec![0.0f32; n * bsz * c];
    let (mut gw1, mut gb1, mut gw2) = (vec![0.0f32; n * c * g], vec![0.0f32; n * c * g], vec![0.0f32; n * c * g]);
    // As the forward pass, one gate at a time over the batch, vectorised
    // over inputs; only the inputs whose gradient is not 0 (the hard
    // sigmoids leave many gates without one), gathered, those not 0 first,
    // then those at `+0.0` (whose hidden layer is computed once), each
    // padded with zeros to whole blocks (which add nothing).
    let (ht, gzt) = (transposed(h, [n, bsz, c]), transposed(gz, [n, bsz, c]));
    let (mut at, mut xs, mut ds, mut ghs) = (Vec::with_capacity(2 * bsz), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        for k in 0..c {
            let column = (i * c + k) * bsz..(i * c + k + 1) * bsz;
            let (hk, gk) = (&ht[column.clone()], &gzt[column]);
            at.clear();
            at.extend((0..bsz).filter(|&b| gk[b] != 0.0 && !is_zero(hk[b])));
            let moving = at.len().div_ceil(PARTIALS) * PARTIALS;
            at.resize(moving, usize::MAX);
            at.extend((0..bsz).filter(|&b| gk[b] != 0.0 && is_zero(hk[b])));
            let len = at.len().div_ceil(PARTIALS) * PARTIALS;
            if len == 0 {
                continue;
            }
            at.resize(len, usize::MAX);
            xs.clear();
            xs.extend(at.iter().map(|&b| if b == usize::MAX { 0.0 } else { hk[b] }));
            ds.clear();
            ds.extend(at.iter().map(|&b| if b == usize::MAX { 0.0 } else { gk[b] }));
            // `Iterator::sum`'s start, which the sum over units began from.
            ghs.clear();
            ghs.resize(len, -0.0f32);
            let blocks = |from: usize, to: usize| (from / PARTIALS..to / PARTIALS).map(|q| q * PARTIALS..(q + 1) * PARTIALS);
            for j in (i * c + k) * g..(i * c + k + 1) * g {
                let (w1, b1, w2) = (w1[j], b1[j], w2[j]);
                let (mut sw1, mut sb1, mut sw2) = ([0.0f32; PARTIALS], [0.0f32; PARTIALS], [0.0f32; PARTIALS]);
                // A unit's pre-activation, GELU's CDF factor and GELU's
                // derivative, cdf(p) + p * density(p), at input x.
                let at_x = |x: f32| {
                    let p = x * w1 + b1;
                    let (phi, e) = cdf_and_gauss(p);
                    (p, phi, phi + p * FRAC_1_SQRT_2PI * e)
                };
                for block in blocks(0, moving) {
                    unit_terms(&xs[block.clone()], &ds[block.clone()], &mut ghs[block], [&mut sw1, &mut sb1, &mut sw2], [w1, w2], at_x);
                }
                // The same at `x = +0.0`, its hidden unit computed once.
                let at_zero = at_x(0.0);
                for block in blocks(moving, len) {
                    unit_terms(&xs[block.clone()], &ds[block.clone()], &mut ghs[block], [&mut sw1, &mut sb1, &mut sw2], [w1, w2], |_| {
                        at_zero
                    });
                }
                gw1[j] = sw1.iter().fold(0.0, |s, &v| s + v);
                gb1[j] = sb1.iter().fold(0.0, |s, &v| s + v);
                gw2[j] = sw2.iter().fold(0.0, |s, &v| s + v);
            }
            for (&b, &v) in at.iter().zip(&ghs) {
                if b != usize::MAX {
                    gh[(i * bsz + b) * c + k] = v;
                }
            }
        }
    }
    [gh, gw1, gb1, gw2]
}

// The hard sigmoids as ci's tensor operations compute them, value for
// value and gradient for gradient (so the same bits): `clamp` is burn's
// `clamp_max(1)` then `clamp_min(0)`, each a `mask_fill`, whose gradient
// is 0 where the mask filled; the leaky side is `clamp_max(z, 0) * low` or
// `clamp_min(z - 1, 0) * high`, added; the gradients of the two terms add.

#[inline(always)]
fn clamped(z: f32) -> f32 {
    let top = if z > 1.0 { 1.0 } else { z };
    if top < 0.0 {
        0.0
    } else {
        top
    }
}

#[inline(always)]
fn below(z: f32) -> f32 {
    if z > 0.0 {
        0.0
    } else {
        z
    }
}

#[inline(always)]
fn above(z: f32) -> f32 {
    let s = z - 1.0;
    if s < 0.0 {
        0.0
    } else {
        s
    }
}

/// The clamp's share of the gradient `d` at `z`.
#[inline(always)]
// Not `!(0.0..=1.0).contains(&z)`: a NaN `z` passes `d` on, as burn's clamp does.
#[allow(clippy::manual_range_contains)]
fn through_clamp(z: f32, d: f32) -> f32 {
    if z > 1.0 || z < 0.0 {
        0.0
    } else {
        d
    }
}

fn sigmoid_values(z: &[f32], low: f32, high: f32) -> Vec<f32> {
    if low != 0.0 {
        z.iter().map(|&z| clamped(z) + below(z) * low).collect()
    } else if high != 0.0 {
        z.iter().map(|&z| clamped(z) + above(z) * high).collect()
    } else {
        z.iter().map(|&z| clamped(z)).collect()
    }
}

fn sigmoid_grads(z: &[f32], d: &[f32], low: f32, high: f32) -> Vec<f32> {
    let pairs = z.iter().zip(d);
    if low != 0.0 {
        pairs.map(|(&z, &d)| through_clamp(z, d) + if z > 0.0 { 0.0 } else { d * low }).collect()
    } else if high != 0.0 {
        pairs.map(|(&z, &d)| through_clamp(z, d) + if z - 1.0 < 0.0 { 0.0 } else { d * high }).collect()
    } else {
        pairs.map(|(&z, &d)| through_clamp(z, d)).collect()
    }
}

impl GateOps for Flex {
    fn spd_gate_mlp(h: Flat, w1: Flat, b1: Flat, w2: Flat) -> Flat {
        let (h, hs) = host(h);
        let ((w1, ws), (b1, _), (w2, _)) = (host(w1), host(b1), host(w2));
        let d = dims(&hs, &ws);
        flat(forward_values(values(&h), values(&w1), values(&b1), values(&w2), d), hs)
    }

    fn spd_hard_sigmoid(z: Flat, low: f32, high: f32) -> Flat {
        let (z, shape) = host(z);
        flat(sigmoid_values(values(&z), low, high), shape)
    }

    fn spd_revive_grad(z: Flat, dg: Flat, leak: f32) -> Flat {
        let ((z, shape), (dg, _)) = (host(z), host(dg));
        let (z, dg) = (values(&z), values(&dg));
        // As `clamp(z, 0, 1) + clamp_max(z, 0) * 0.01 * raise` with
        // `raise = (dg < 0)` differentiates.
        let dz = z
            .iter()
            .zip(dg)
            .map(|(&z, &d)| {
                let raise = if d < 0.0 { 1.0 } else { 0.0 };
                through_clamp(z, d) + if z > 0.0 { 0.0 } else { d * raise * leak }
            })
            .collect();
        flat(dz, shape)
    }
}

#[derive(Debug)]
struct SigmoidBackward;

impl Backward<Flex, 1> for SigmoidBackward {
    /// The input and the two slopes.
    type State = (Flat, f32, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d = grads.consume::<Flex>(&ops.node);
        let (z, low, high) = ops.state;
        let ((z, shape), (d, _)) = (host(z), host(d));
        if let [Some(node)] = ops.parents {
            grads.register::<Flex>(node.id, flat(sigmoid_grads(values(&z), values(&d), low, high), shape));
        }
    }
}

#[derive(Debug)]
struct GateBackward;

impl Backward<Flex, 4> for GateBackward {
    /// The four inputs (flex tensors share their storage: no copy).
    type State = [Flat; 4];

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let gz = grads.consume::<Flex>(&ops.node);
        let [h, w1, b1, w2] = ops.state;
        let ((h, hs), (w1, ws), (b1, _), (w2, _), (gz, _)) = (host(h), host(w1), host(b1), host(w2), host(gz));
        let d = dims(&hs, &ws);
        let shapes = [hs, ws.clone(), ws.clone(), ws];
        let got = backward_values(values(&h), values(&w1), values(&b1), values(&w2), values(&gz), d);
        for ((parent, values), shape) in ops.parents.into_iter().zip(got).zip(shapes) {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, flat(values, shape));
            }
        }
    }
}

impl<C: CheckpointStrategy> GateOps for Autodiff<Flex, C> {
    fn spd_gate_mlp(h: FloatTensor<Self>, w1: FloatTensor<Self>, b1: FloatTensor<Self>, w2: FloatTensor<Self>) -> FloatTensor<Self> {
        let (h, gh) = h.into_parts();
        let (w1, g1) = w1.into_parts();
        let (b1, gb) = b1.into_parts();
        let (w2, g2) = w2.into_parts();
        match GateBackward.prepare::<C>([gh, g1, gb, g2]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = [h.clone(), w1.clone(), b1.clone(), w2.clone()];
                prep.finish(state, Flex::spd_gate_mlp(h, w1, b1, w2))
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::spd_gate_mlp(h, w1, b1, w2)),
        }
    }

    fn spd_hard_sigmoid(z: FloatTensor<Self>, low: f32, high: f32) -> FloatTensor<Self> {
        let (z, node) = z.into_parts();
        match SigmoidBackward.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((z.clone(), low, high), Flex::spd_hard_sigmoid(z, low, high)),
            OpsKind::UnTracked(prep) => prep.finish(Flex::spd_hard_sigmoid(z, low, high)),
        }
    }

    fn spd_revive_grad(z: FloatTensor<Self>, dg: FloatTensor<Self>, leak: f32) -> FloatTensor<Self> {
        Self::from_inner(Flex::spd_revive_grad(Self::inner(z), Self::inner(dg), leak))
    }
}
