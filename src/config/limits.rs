//! How big a run may be: the largest tensor any configuration may ask for,
//! and the estimated peak memory of one step, checked against a device's
//! budget before anything is allocated (a typo such as `n_features=1e9`
//! must be a message, not a crashed tab).

use super::{err, ConfigError, ExperimentConfig, ModelConfig};

/// Upper bound on the floats of the largest tensor a step allocates; about
/// 1 GiB of f32.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

/// Memory a run may use in the page on the CPU: wasm32 addresses at most
/// 4 GiB and the tab needs room besides the run.
pub const PAGE_CPU_BUDGET_BYTES: f64 = 1.5 * (1u64 << 30) as f64;

/// Memory a run may use in the page on WebGPU: GPUs in laptops share far less.
pub const PAGE_WEBGPU_BUDGET_BYTES: f64 = (1u64 << 30) as f64;

/// WebGPU's default `maxStorageBufferBindingSize` (128 MiB), which every
/// adapter supports.
pub const WEBGPU_MAX_BUFFER_BYTES: f64 = (128u64 << 20) as f64;

impl ExperimentConfig {
    /// Elements of the largest tensor one APD step holds: the per-component
    /// tangents of the attribution pass (`C x batch x width`; the residual
    /// MLP's tangents live in the narrow MLP and output spaces, see
    /// `apd::attributions`), a factor, or a batch of activations.
    pub fn largest_tensor_elements(&self) -> usize {
        let a = &self.apd;
        let c = a.n_components.saturating_add(a.extra_components);
        let cm = c.saturating_mul(a.rank);
        let width = self.model.max_width();
        let tangent_width = match &self.model {
            ModelConfig::Tms(_) => width,
            ModelConfig::ResidMlp(r) => r.d_mlp.max(r.n_features),
        };
        let tangents = c.saturating_mul(a.batch_size).saturating_mul(tangent_width);
        let factors = cm.saturating_mul(width);
        let acts = a.batch_size.max(self.target.batch_size).saturating_mul(width.max(cm));
        tangents.max(factors).max(acts)
    }

    /// Rough number of f32s an APD step keeps alive at its peak: the factors
    /// with their gradients and Adam's two moments (5x), plus activations and
    /// tangents kept for the backward pass.
    pub fn estimated_step_floats(&self) -> usize {
        let a = &self.apd;
        let c = a.n_components.saturating_add(a.extra_components);
        let cm = c.saturating_mul(a.rank);
        let shapes = self.model.layer_shapes();
        let factor_floats: usize = shapes
            .iter()
            .map(|(_, d_in, d_out)| cm.saturating_mul(d_in.saturating_add(*d_out)))
            .fold(0usize, |s, v| s.saturating_add(v));
        let per_layer_acts = a.batch_size.saturating_mul(cm.saturating_add(self.model.max_width()));
        let acts = per_layer_acts.saturating_mul(shapes.len().saturating_add(2)).saturating_mul(3);
        // Factors, gradients, Adam's two moments and a spare; while restarts
        // are compared, the best start so far (factors and moments) too.
        let copies = if a.restarts > 0 { 8 } else { 5 };
        factor_floats.saturating_mul(copies).saturating_add(acts).saturating_add(self.largest_tensor_elements().saturating_mul(2))
    }

    /// Refuses a configuration whose estimated peak memory exceeds
    /// `budget_bytes`.
    pub fn check_memory(&self, budget_bytes: f64) -> Result<(), ConfigError> {
        let need = self.estimated_step_floats() as f64 * 4.0;
        if need > budget_bytes {
            return err("apd.batch_size", format!(
                "this configuration needs about {:.0} MiB, over this device's budget of {:.0} MiB: \
                 lower the batch size, the number of components, the rank or the model size",
                need / 1048576.0,
                budget_bytes / 1048576.0
            ));
        }
        Ok(())
    }

    /// Refuses a configuration whose largest tensor exceeds one GPU buffer
    /// of `max_buffer_bytes`.
    pub fn check_buffer(&self, max_buffer_bytes: f64) -> Result<(), ConfigError> {
        let largest = self.largest_tensor_elements() as f64 * 4.0;
        if largest > max_buffer_bytes {
            return err("apd.batch_size", format!(
                "this configuration needs a {:.0} MiB buffer, over WebGPU's guaranteed {:.0} MiB: \
                 lower the batch size, the number of components or the model size, or use the CPU",
                largest / 1048576.0,
                max_buffer_bytes / 1048576.0
            ));
        }
        Ok(())
    }

    /// The size check every configuration passes in [`ExperimentConfig::validate`].
    pub(super) fn validate_size(&self) -> Result<(), ConfigError> {
        let largest = self.largest_tensor_elements();
        if largest > MAX_TENSOR_ELEMENTS {
            return err("apd.batch_size", format!(
                "this configuration needs a tensor of {largest} floats, over the limit of {MAX_TENSOR_ELEMENTS}: \
                 lower the batch size, the number of components or the model size"
            ));
        }
        Ok(())
    }
}
