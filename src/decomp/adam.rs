//! Adam as both methods' references use it: torch's defaults (betas 0.9
//! and 0.999, epsilon 1e-8), no weight decay. Written out rather than taken
//! from burn's optimiser because its moments must be sliced per instance
//! (after the restarts, each instance goes on from its own best start); the
//! arithmetic is burn's `AdamW`, operation for operation, so a run's bits
//! are the same as with it.

use burn::tensor::Tensor;

/// The optimiser's state over a list of parameters, each with a leading
/// instance dimension.
#[derive(Clone, Default)]
pub struct Adam {
    /// Steps taken (burn's and torch's `t`), the same for every instance.
    time: i32,
    /// Per parameter, in the order the caller lists them, the first and second moments.
    moments: Vec<(Tensor<3>, Tensor<3>)>,
}

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

impl Adam {
    /// A fresh optimiser (no moments yet).
    pub fn new() -> Self {
        Adam::default()
    }

    /// One step at learning rate `lr`: each of `params` (without autodiff)
    /// moved along its gradient in `grads`, listed in the same order at
    /// every step.
    pub fn update(&mut self, lr: f64, params: Vec<Tensor<3>>, grads: Vec<Tensor<3>>) -> Vec<Tensor<3>> {
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        let first = self.moments.is_empty();
        self.time += 1;
        let (c1, c2) = (1f32 - BETA_1.powi(self.time), 1f32 - BETA_2.powi(self.time));
        let mut out = Vec::with_capacity(params.len());
        for (k, (tensor, grad)) in params.into_iter().zip(grads).enumerate() {
            let (m, v) = if first {
                (grad.clone().mul_scalar(f1), grad.square().mul_scalar(f2))
            } else {
                let (m, v) = self.moments[k].clone();
                (m.mul_scalar(BETA_1).add(grad.clone().mul_scalar(f1)), v.mul_scalar(BETA_2).add(grad.square().mul_scalar(f2)))
            };
            let delta = m.clone().div_scalar(c1).div(v.clone().div_scalar(c2).sqrt().add_scalar(EPSILON));
            out.push(tensor - delta.mul_scalar(lr));
            if first {
                self.moments.push((m, v));
            } else {
                self.moments[k] = (m, v);
            }
        }
        out
    }

    /// Instance `i`'s moments alone; [`Adam::join`] puts such slices back.
    pub fn instance(&self, i: usize) -> Adam {
        let moments = self.moments.iter().map(|(m, v)| (m.clone().narrow(0, i, 1), v.clone().narrow(0, i, 1))).collect();
        Adam { time: self.time, moments }
    }

    /// Single instances' moments side by side, in order; they must have
    /// taken as many steps (starts and prunes keep the instances in step).
    pub fn join(parts: &[Adam]) -> Adam {
        let time = parts[0].time;
        assert!(parts.iter().all(|p| p.time == time), "instances joined at different steps");
        let moments = (0..parts[0].moments.len())
            .map(|k| {
                let m = Tensor::cat(parts.iter().map(|p| p.moments[k].0.clone()).collect(), 0);
                let v = Tensor::cat(parts.iter().map(|p| p.moments[k].1.clone()).collect(), 0);
                (m, v)
            })
            .collect();
        Adam { time, moments }
    }
}
