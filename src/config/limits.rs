//! How big a run may be: the largest tensor any configuration may ask for,
//! and the estimated peak memory of one step, checked against a device's
//! budget before anything is allocated (a typo such as `n_features=1e9`
//! must be a message, not a crashed tab).

use super::{err, ConfigError, ExperimentConfig, Method, ModelConfig, SpdConfig};

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
        if let Some(s) = self.spd_settings() {
            return self.spd_largest(s);
        }
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
        if let Some(s) = self.spd_settings() {
            return self.spd_step_floats(s);
        }
        let a = &self.apd;
        let c = a.n_components.saturating_add(a.extra_components);
        let cm = c.saturating_mul(a.rank);
        let shapes = self.model.layer_shapes();
        let factor_floats: usize =
            shapes.iter().map(|(_, d_in, d_out)| cm.saturating_mul(d_in.saturating_add(*d_out))).fold(0usize, |s, v| s.saturating_add(v));
        let per_layer_acts = a.batch_size.saturating_mul(cm.saturating_add(self.model.max_width()));
        let acts = per_layer_acts.saturating_mul(shapes.len().saturating_add(2)).saturating_mul(3);
        // Factors, gradients, Adam's two moments and a spare; while restarts
        // are compared, the best start so far (factors and moments) too.
        let copies = if a.restarts > 0 { 8 } else { 5 };
        factor_floats.saturating_mul(copies).saturating_add(acts).saturating_add(self.largest_tensor_elements().saturating_mul(2))
    }

    /// The SPD settings when SPD is the method.
    fn spd_settings(&self) -> Option<&SpdConfig> {
        self.spd.as_ref().filter(|_| self.method == Method::Spd)
    }

    /// The batch-size setting of the method: what to lower when a run is too big.
    fn batch_field(&self) -> &'static str {
        if self.spd_settings().is_some() {
            "spd.batch_size"
        } else {
            "apd.batch_size"
        }
    }

    /// SPD's largest tensor: the causal-importance MLPs' hidden layer
    /// (`batch x C x d_gate`, one per decomposed matrix), or a batch of
    /// activations or inner activations.
    fn spd_largest(&self, s: &SpdConfig) -> usize {
        let hidden = s.batch_size.saturating_mul(s.n_components).saturating_mul(s.d_gate);
        hidden.max(s.batch_size.saturating_mul(self.model.max_width().max(s.n_components)))
    }

    /// Rough f32s an SPD step keeps alive: per decomposed matrix (the TMS
    /// decoder untied, one more) the gates' hidden layer with what its
    /// backward pass keeps (about four of them) and the masks and inner
    /// activations of four forward passes; the parameters 5x as for APD.
    fn spd_step_floats(&self, s: &SpdConfig) -> usize {
        let mut shapes: Vec<(usize, usize)> = self.model.layer_shapes().into_iter().map(|(_, i, o)| (i, o)).collect();
        if let ModelConfig::Tms(t) = &self.model {
            shapes.push((t.n_hidden, t.n_features));
        }
        let (c, g, b) = (s.n_components, s.d_gate, s.batch_size);
        let params: usize = shapes
            .iter()
            .map(|(i, o)| c.saturating_mul(i.saturating_add(*o)).saturating_add(c.saturating_mul(3 * g + 1)))
            .fold(0usize, |a, v| a.saturating_add(v));
        let per_matrix = self
            .spd_largest(s)
            .saturating_mul(4)
            .saturating_add(b.saturating_mul(c.saturating_add(self.model.max_width())).saturating_mul(8));
        per_matrix.saturating_mul(shapes.len()).saturating_add(params.saturating_mul(5))
    }

    /// Refuses a configuration whose estimated peak memory exceeds
    /// `budget_bytes`.
    pub fn check_memory(&self, budget_bytes: f64) -> Result<(), ConfigError> {
        let need = self.estimated_step_floats() as f64 * 4.0;
        if need > budget_bytes {
            return err(
                self.batch_field(),
                format!(
                    "this configuration needs about {:.0} MiB, over this device's budget of {:.0} MiB: \
                 lower the batch size, the number of components, the rank or the model size",
                    need / 1048576.0,
                    budget_bytes / 1048576.0
                ),
            );
        }
        Ok(())
    }

    /// Refuses a configuration whose largest tensor exceeds one GPU buffer
    /// of `max_buffer_bytes`.
    pub fn check_buffer(&self, max_buffer_bytes: f64) -> Result<(), ConfigError> {
        let largest = self.largest_tensor_elements() as f64 * 4.0;
        if largest > max_buffer_bytes {
            return err(
                self.batch_field(),
                format!(
                    "this configuration needs a {:.0} MiB buffer, over WebGPU's guaranteed {:.0} MiB: \
                 lower the batch size, the number of components or the model size, or use the CPU",
                    largest / 1048576.0,
                    max_buffer_bytes / 1048576.0
                ),
            );
        }
        Ok(())
    }

    /// The size check every configuration passes in [`ExperimentConfig::validate`].
    pub(super) fn validate_size(&self) -> Result<(), ConfigError> {
        let largest = self.largest_tensor_elements();
        if largest > MAX_TENSOR_ELEMENTS {
            return err(
                self.batch_field(),
                format!(
                    "this configuration needs a tensor of {largest} floats, over the limit of {MAX_TENSOR_ELEMENTS}: \
                 lower the batch size, the number of components or the model size"
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{preset, with_method};

    #[test]
    fn spd_is_sized_by_its_own_settings() {
        let spd = |name: &str| with_method(&preset(name).unwrap(), name, Method::Spd).unwrap();
        // tms-5-2 (its preset's batch of 256): the gates' hidden layer, 256 x 20 x 16, is the largest tensor.
        let small = spd("tms-5-2");
        assert_eq!(small.largest_tensor_elements(), 256 * 20 * 16);
        // Three matrices (W, H1, W^T untied) of four such layers each, and more.
        let id = spd("tms-5-2-id");
        assert!(id.estimated_step_floats() > 3 * 4 * 256 * 20 * 16);
        small.check_memory(PAGE_CPU_BUDGET_BYTES).unwrap();
        small.check_buffer(WEBGPU_MAX_BUFFER_BYTES).unwrap();
        // resid-mlp-3 (C = 500, d_gate = 128): far over the page's budgets,
        // refused naming the SPD setting to lower.
        let big = spd("resid-mlp-3");
        assert_eq!(big.largest_tensor_elements(), 2048 * 500 * 128);
        assert_eq!(big.check_memory(PAGE_CPU_BUDGET_BYTES).unwrap_err().field, "spd.batch_size");
        assert_eq!(big.check_buffer(WEBGPU_MAX_BUFFER_BYTES).unwrap_err().field, "spd.batch_size");
    }
}
