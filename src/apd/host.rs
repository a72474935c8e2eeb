//! APD's attributions of a TMS model on the host, for the CPU backend.
//!
//! The same forward-mode computation as [`super::attributions`], but on a
//! TMS model's tiny matrices (5 x 2 on tms-5-2, 18 component columns) burn's
//! matrix products spend their time in per-call set-up: the tangents'
//! products alone were close to half of an APD step at 12 instances.
//! Here every product is a loop over a block of samples that vectorises,
//! each sum taken the way flex's matrix kernels mostly take it (the terms
//! one after the other from zero, fused multiply-adds where its kernels use
//! them): the attributions come within an ulp or two of the tensor
//! operations' (tests/numerics.rs), and the attributions only choose the
//! top-k set, which that rarely changes (the golden runs did not change).
//! Other backends, and the residual MLPs, keep the tensor operations.

use super::components::ApdModel;
use super::ApdTrainer;
use crate::config::{AttributionSource, ChainLayer};
use crate::data::read_vec;
use crate::error::ApdError;
use burn::tensor::Tensor;

/// Samples per block: one AVX-512 vector.
const BLOCK: usize = 16;

/// One instance's matrices, row-major: per decomposed matrix l the weights
/// the attributions run through (`d_in x d_out`, the target's or the sum of
/// the components) and the factors `A_l` (`d_in x C*m`), `B_l`
/// (`C*m x d_out`); the output bias.
pub struct TmsMatrices<'a> {
    /// The chain of matrix uses, input to output.
    pub chain: &'a [ChainLayer],
    /// `(d_in, d_out)` of each matrix.
    pub shapes: &'a [(usize, usize)],
    /// The weights, one per matrix.
    pub ws: Vec<&'a [f32]>,
    /// `A_l`, one per matrix.
    pub a: Vec<&'a [f32]>,
    /// `B_l`, one per matrix.
    pub b: Vec<&'a [f32]>,
    /// The output bias.
    pub bias: &'a [f32],
    /// Components.
    pub c: usize,
    /// Their rank.
    pub m: usize,
}

/// `A_l B_l` (`d_in x d_out`) as burn's matrix product computes it.
pub fn product(a: &[f32], b: &[f32], d_in: usize, inner: usize, d_out: usize) -> Vec<f32> {
    let fma = uses_fma();
    let mut w = vec![0.0f32; d_in * d_out];
    for i in 0..d_in {
        for o in 0..d_out {
            let mut acc = 0.0f32;
            for j in 0..inner {
                acc = if fma { a[i * inner + j].mul_add(b[j * d_out + o], acc) } else { a[i * inner + j] * b[j * d_out + o] + acc };
            }
            w[i * d_out + o] = acc;
        }
    }
    w
}

/// Whether flex's matrix kernels fuse multiply and add here (gemm's on
/// x86-64 with FMA, and on aarch64; not in wasm).
fn uses_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// The `B x C` attributions of one instance on the inputs `x` (`B x n`,
/// row-major): `attr[b, c] = sum_o (d y_o / d(component c))^2`, where the
/// output's ReLU is open.
pub fn tms_attributions(x: &[f32], bsz: usize, net: &TmsMatrices) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has both features.
            return unsafe { attributions_avx512(x, bsz, net) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { attributions_avx2(x, bsz, net) };
        }
    }
    if uses_fma() {
        attributions_body::<true>(x, bsz, net)
    } else {
        attributions_body::<false>(x, bsz, net)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn attributions_avx512(x: &[f32], bsz: usize, net: &TmsMatrices) -> Vec<f32> {
    attributions_body::<true>(x, bsz, net)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attributions_avx2(x: &[f32], bsz: usize, net: &TmsMatrices) -> Vec<f32> {
    attributions_body::<true>(x, bsz, net)
}

/// `out[o] = sum_k input[k] w(k, o)` for a block of samples (`input`:
/// `K x BLOCK`, `out`: `n_out x BLOCK`), the weight `w(k, o)` at
/// `w[k * row + o * col]`; the terms added in order of k from zero.
#[inline(always)]
fn block_product<const FMA: bool>(input: &[f32], k_len: usize, w: &[f32], row: usize, col: usize, n_out: usize, out: &mut [f32]) {
    for o in 0..n_out {
        let mut acc = [0.0f32; BLOCK];
        for (k, lane) in input[..k_len * BLOCK].chunks_exact(BLOCK).enumerate() {
            let wk = w[k * row + o * col];
            for (s, &v) in acc.iter_mut().zip(lane) {
                *s = if FMA { v.mul_add(wk, *s) } else { v * wk + *s };
            }
        }
        out[o * BLOCK..(o + 1) * BLOCK].copy_from_slice(&acc);
    }
}

/// Where matrix l's weights `(row, col)` strides and sizes are for one use.
fn weight_of(layer: ChainLayer, shapes: &[(usize, usize)]) -> (usize, usize, usize, usize, usize) {
    match layer {
        // (matrix, K, n_out, row stride, column stride)
        ChainLayer::Own(l) => (l, shapes[l].0, shapes[l].1, shapes[l].1, 1),
        ChainLayer::Tied(l) => (l, shapes[l].1, shapes[l].0, 1, shapes[l].1),
    }
}

#[inline(always)]
fn attributions_body<const FMA: bool>(x: &[f32], bsz: usize, net: &TmsMatrices) -> Vec<f32> {
    let (c, m, cm) = (net.c, net.m, net.c * net.m);
    let chain = net.chain;
    let n = net.shapes[0].0;
    let widths: Vec<usize> = std::iter::once(n).chain(chain.iter().map(|&l| weight_of(l, net.shapes).2)).collect();
    let widest = *widths.iter().max().expect("a chain");
    let n_out = *widths.last().expect("a chain");
    // Per block: the activations entering each use, the output's
    // pre-activation, the inner products with the factors, and per
    // component its tangent and its new direction.
    let mut acts: Vec<Vec<f32>> = widths.iter().map(|&w| vec![0.0f32; w * BLOCK]).collect();
    let mut inner = vec![0.0f32; cm * BLOCK];
    let mut tangent = vec![0.0f32; c * widest * BLOCK];
    let mut moved = vec![0.0f32; widest * BLOCK];
    let mut attr = vec![0.0f32; bsz * c];
    for start in (0..bsz).step_by(BLOCK) {
        let len = BLOCK.min(bsz - start);
        // The inputs, a column per sample (a short last block padded with 0).
        acts[0].fill(0.0);
        for s in 0..len {
            for i in 0..n {
                acts[0][i * BLOCK + s] = x[(start + s) * n + i];
            }
        }
        // The forward pass: what enters each use, then the pre-activation.
        for (k, &layer) in chain.iter().enumerate() {
            let (l, k_len, width, row, col) = weight_of(layer, net.shapes);
            let (before, after) = acts.split_at_mut(k + 1);
            block_product::<FMA>(&before[k], k_len, net.ws[l], row, col, width, &mut after[0]);
        }
        let pre = acts.last_mut().expect("a chain");
        for (o, lane) in pre.chunks_mut(BLOCK).enumerate() {
            for v in lane.iter_mut() {
                *v += net.bias[o];
            }
        }
        // The tangents, use by use: through this use's weights, plus the
        // component's own direction here (its input times P_c).
        for (k, &layer) in chain.iter().enumerate() {
            let (l, k_len, width, row, col) = weight_of(layer, net.shapes);
            let d_out = net.shapes[l].1;
            // inner = input @ A_l (own use) or input @ B_l^T (tied use).
            match layer {
                ChainLayer::Own(_) => block_product::<FMA>(&acts[k], k_len, net.a[l], cm, 1, cm, &mut inner),
                ChainLayer::Tied(_) => block_product::<FMA>(&acts[k], k_len, net.b[l], 1, d_out, cm, &mut inner),
            }
            // The direction: sum over the component's rank of inner times
            // B_l's row (own use) or A_l's column (tied use).
            let (factor, f_row, f_col) = match layer {
                ChainLayer::Own(_) => (net.b[l], d_out, 1),
                ChainLayer::Tied(_) => (net.a[l], 1, cm),
            };
            for comp in 0..c {
                let t = &mut tangent[comp * widest * BLOCK..(comp + 1) * widest * BLOCK];
                if k > 0 {
                    block_product::<FMA>(&t[..k_len * BLOCK], k_len, net.ws[l], row, col, width, &mut moved);
                }
                let rows = &inner[comp * m * BLOCK..(comp + 1) * m * BLOCK];
                for o in 0..width {
                    let mut s = [0.0f32; BLOCK];
                    for (r, lane) in rows.chunks_exact(BLOCK).enumerate() {
                        let f = factor[(comp * m + r) * f_row + o * f_col];
                        for (acc, &v) in s.iter_mut().zip(lane) {
                            *acc = if FMA { v.mul_add(f, *acc) } else { v * f + *acc };
                        }
                    }
                    let out = &mut t[o * BLOCK..(o + 1) * BLOCK];
                    if k > 0 {
                        for ((t, &mv), &sv) in out.iter_mut().zip(&moved[o * BLOCK..(o + 1) * BLOCK]).zip(&s) {
                            *t = mv + sv;
                        }
                    } else {
                        out.copy_from_slice(&s);
                    }
                }
            }
        }
        // Through the output's ReLU, squared and summed over the outputs.
        let pre = acts.last().expect("a chain");
        for comp in 0..c {
            let t = &tangent[comp * widest * BLOCK..(comp * widest + n_out) * BLOCK];
            let mut sum = [0.0f32; BLOCK];
            for (lane, p) in t.chunks_exact(BLOCK).zip(pre.chunks_exact(BLOCK)) {
                for ((acc, &t), &p) in sum.iter_mut().zip(lane).zip(p) {
                    let d = t * if p > 0.0 { 1.0 } else { 0.0 };
                    *acc += d * d;
                }
            }
            for s in 0..len {
                attr[(start + s) * c + comp] = sum[s];
            }
        }
    }
    attr
}

impl ApdTrainer {
    /// [`ApdTrainer::attributions_of`] computed on the host by [`tms_attributions`],
    /// where that applies (a TMS model on the CPU backend; `None`
    /// elsewhere), from the batch `x` (`N*B x n`, row-major): one read of
    /// the factors instead of one of the attributions.
    pub(super) async fn host_attributions(&mut self, model: &ApdModel, c: usize, x: &[f32]) -> Result<Option<Vec<f32>>, ApdError> {
        let crate::decomp::network::Arch::Tms { chain, bias } = &self.network.arch else {
            return Ok(None);
        };
        if !crate::backend::is_cpu(self.network.device()) {
            return Ok(None);
        }
        let (chain, bias) = (chain.clone(), bias.clone());
        if self.host_target.is_none() {
            let mut ws = Vec::new();
            for w in &self.network.weights {
                ws.push(read_vec(w.clone()).await?);
            }
            self.host_target = Some((ws, read_vec(bias).await?));
        }
        let (a, b) = model.factors();
        let flat = |t: &Tensor<3>| {
            let len: usize = t.dims().iter().product();
            t.clone().reshape([len])
        };
        let mut read = read_vec(Tensor::cat(a.iter().chain(&b).map(flat).collect(), 0)).await?;
        let (inst, m, bsz) = (self.seeds.len(), self.config.apd.rank, self.config.apd.batch_size);
        let shapes = self.network.shapes();
        // Each factor's values, every instance's one after the other.
        let mut factors = Vec::new();
        for t in a.iter().chain(&b) {
            let len: usize = t.dims().iter().product();
            let rest = read.split_off(len);
            factors.push(std::mem::replace(&mut read, rest));
        }
        let (fa, fb) = factors.split_at(a.len());
        let (target_ws, target_bias) = self.host_target.as_ref().expect("read above");
        let n = self.config.model.n_features();
        let mut attr = Vec::with_capacity(inst * bsz * c);
        for i in 0..inst {
            let part = |v: &[f32]| -> std::ops::Range<usize> {
                let each = v.len() / inst;
                i * each..(i + 1) * each
            };
            let a_i: Vec<&[f32]> = fa.iter().map(|v| &v[part(v)]).collect();
            let b_i: Vec<&[f32]> = fb.iter().map(|v| &v[part(v)]).collect();
            let sums: Vec<Vec<f32>>;
            let ws: Vec<&[f32]> = match self.config.apd.attribution_source {
                AttributionSource::Target => target_ws.iter().map(|v| &v[part(v)]).collect(),
                AttributionSource::Apd => {
                    sums = shapes.iter().enumerate().map(|(l, &(d_in, d_out))| product(a_i[l], b_i[l], d_in, c * m, d_out)).collect();
                    sums.iter().map(|v| v.as_slice()).collect()
                }
            };
            let net = TmsMatrices { chain: &chain, shapes: &shapes, ws, a: a_i, b: b_i, bias: &target_bias[part(target_bias)], c, m };
            attr.extend(tms_attributions(&x[i * bsz * n..(i + 1) * bsz * n], bsz, &net));
        }
        Ok(Some(attr))
    }
}
