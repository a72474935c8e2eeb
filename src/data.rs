//! Sparse feature batches (spec section 3).
//!
//! Batches are drawn on the host (see [`crate::rng`]) and uploaded, so a seed
//! gives the same data on every backend.

use crate::rng::Rng;
use burn::tensor::{Device, Tensor, TensorData};

/// A `batch x n` row-major batch for TMS: each feature is active with
/// probability `p`, with a value uniform in [0, 1); otherwise 0.
pub fn tms_batch(rng: &mut Rng, batch: usize, n: usize, p: f64) -> Vec<f32> {
    let p = p as f32;
    (0..batch * n)
        .map(|_| {
            // Draw both numbers always, so the stream position does not depend on p.
            let on = rng.uniform() < p;
            let v = rng.uniform();
            if on { v } else { 0.0 }
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
            if on { v } else { 0.0 }
        })
        .collect()
}

/// Uploads a row-major `rows x cols` matrix.
pub fn matrix(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
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
}
