//! Inputs and the host/device boundary: sparse feature batches (the APD
//! paper, sections 3.1 and 3.2), probe inputs with one feature on, uploads
//! and asynchronous reads.
//!
//! Batches are drawn on the host (see [`crate::rng`]) and uploaded, so a seed
//! gives the same data on every backend.

use crate::error::ApdError;
use crate::rng::Rng;
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::atomic::{AtomicU64, Ordering};

/// A `batch x n` row-major batch for TMS: each feature is active with
/// probability `p`, with a value uniform in [0, 1); otherwise 0.
pub fn tms_batch(rng: &mut Rng, batch: usize, n: usize, p: f64) -> Vec<f32> {
    let p = p as f32;
    (0..batch * n)
        .map(|_| {
            // Draw both numbers always, so the stream position does not depend on p.
            let on = rng.uniform() < p;
            let v = rng.uniform();
            if on {
                v
            } else {
                0.0
            }
        })
        .collect()
}

/// A `batch x n` row-major batch for the residual MLP: each feature is
/// active with probability `p`, with a value uniform in [-1, 1); otherwise 0.
pub fn resid_batch(rng: &mut Rng, batch: usize, n: usize, p: f64) -> Vec<f32> {
    let p = p as f32;
    (0..batch * n)
        .map(|_| {
            let on = rng.uniform() < p;
            let v = rng.uniform_range(-1.0, 1.0);
            if on {
                v
            } else {
                0.0
            }
        })
        .collect()
}

/// `batch` training inputs of `model`, row-major `batch x n`, drawn from
/// `rng` as every decomposition method draws them.
pub fn training_batch(model: &crate::config::ModelConfig, rng: &mut Rng, batch: usize) -> Vec<f32> {
    let (n, p) = (model.n_features(), model.feature_prob());
    match model {
        crate::config::ModelConfig::Tms(_) => tms_batch(rng, batch, n, p),
        crate::config::ModelConfig::ResidMlp(_) => resid_batch(rng, batch, n, p),
    }
}

/// Inputs with exactly one feature on, row-major `len(features) * len(values) x n`:
/// for each feature of `features` in turn, one row per entry of `values`.
pub fn one_feature_rows(n: usize, features: std::ops::Range<usize>, values: &[f32]) -> Vec<f32> {
    let rows = features.len() * values.len();
    let mut x = vec![0.0f32; rows * n];
    for (f, feature) in features.enumerate() {
        for (k, &v) in values.iter().enumerate() {
            x[(f * values.len() + k) * n + feature] = v;
        }
    }
    x
}

// Every upload and readback of a step goes through `matrix` and `read_vec`,
// and on a GPU each readback waits for the device: counted so that
// `apd bench` can say how many a step makes (a handful of setup uploads,
// the target's bias, go around them).
static UPLOADS: AtomicU64 = AtomicU64::new(0);
static READBACKS: AtomicU64 = AtomicU64::new(0);

/// Host-to-device uploads and device-to-host readbacks made so far by this
/// process (all threads): `(uploads, readbacks)`.
pub fn transfers() -> (u64, u64) {
    (UPLOADS.load(Ordering::Relaxed), READBACKS.load(Ordering::Relaxed))
}

/// Uploads a row-major `rows x cols` matrix.
pub fn matrix(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    UPLOADS.fetch_add(1, Ordering::Relaxed);
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// Reads a tensor back to the host as f32s, asynchronously (the only way that
/// works on WebGPU in a browser).
pub async fn read_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ApdError> {
    READBACKS.fetch_add(1, Ordering::Relaxed);
    let data: TensorData = t.into_data_async().await?;
    data.try_to_vec::<f32>().map_err(ApdError::data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparsity_and_range() {
        let mut rng = Rng::new(3);
        let x = tms_batch(&mut rng, 4000, 5, 0.05);
        let active = x.iter().filter(|&&v| v != 0.0).count() as f64 / x.len() as f64;
        assert!((active - 0.05).abs() < 0.01, "active fraction {active}");
        assert!(x.iter().all(|&v| (0.0..1.0).contains(&v)));
    }

    #[test]
    fn one_feature_rows_by_hand() {
        // Features 1 and 2 of 3, at two values each.
        let x = one_feature_rows(3, 1..3, &[0.5, -1.0]);
        assert_eq!(x, vec![0.0, 0.5, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, -1.0]);
    }
}
