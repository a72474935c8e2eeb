//! Adam as both methods' references use it: torch's defaults (betas 0.9
//! and 0.999, epsilon 1e-8), no weight decay. Written out rather than taken
//! from burn's optimiser because its moments must be sliced per instance
//! (after the restarts, each instance goes on from its own best start); the
//! arithmetic is burn's `AdamW`, operation for operation, so a run's bits
//! are the same as with it.

#[cfg(feature = "cpu")]
use burn::backend::{backend_extension, tensor::FloatTensor, Backend, Flex};
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
        #[cfg(feature = "cpu")]
        if params.first().is_some_and(|p| crate::backend::is_cpu(&p.device())) {
            return self.update_on_host(lr, params, grads);
        }
        self.update_with_tensors(lr, params, grads)
    }

    /// The step's bias corrections, the step counted.
    fn corrections(&mut self) -> (f32, f32) {
        self.time += 1;
        (1f32 - BETA_1.powi(self.time), 1f32 - BETA_2.powi(self.time))
    }

    /// [`Adam::update`] in tensor operations (burn's `AdamW`'s, one by one).
    fn update_with_tensors(&mut self, lr: f64, params: Vec<Tensor<3>>, grads: Vec<Tensor<3>>) -> Vec<Tensor<3>> {
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        let first = self.moments.is_empty();
        let (c1, c2) = self.corrections();
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

    #[cfg(feature = "cpu")]
    /// [`Adam::update`] on the CPU backend: one loop over each parameter,
    /// its gradient and moments, in place, where the tensor operations pass
    /// over them fourteen times and allocate as often (on APD's residual
    /// MLP at rank 50, 13 million values, those passes were a third of a
    /// step). The same operations in the same order per value, so the same
    /// bits (`tests/golden.rs`).
    fn update_on_host(&mut self, lr: f64, params: Vec<Tensor<3>>, grads: Vec<Tensor<3>>) -> Vec<Tensor<3>> {
        let first = self.moments.is_empty();
        let (c1, c2) = self.corrections();
        // As `mul_scalar` takes it.
        let lr = lr as f32;
        let mut out = Vec::with_capacity(params.len());
        for (k, (tensor, grad)) in params.into_iter().zip(grads).enumerate() {
            let (m, v) = if first {
                (Tensor::zeros(tensor.shape(), &tensor.device()), Tensor::zeros(tensor.shape(), &tensor.device()))
            } else {
                // Taken out of `self`, so that the step may write them in place.
                let empty = || Tensor::empty([0, 0, 0], &tensor.device());
                std::mem::replace(&mut self.moments[k], (empty(), empty()))
            };
            let (p, m, v) = <burn::backend::Dispatch as AdamOps>::adam_step(
                tensor.into_dispatch(),
                grad.into_dispatch(),
                m.into_dispatch(),
                v.into_dispatch(),
                first,
                [lr, c1, c2],
            );
            out.push(Tensor::from_dispatch(p));
            let moments = (Tensor::from_dispatch(m), Tensor::from_dispatch(v));
            if first {
                self.moments.push(moments);
            } else {
                self.moments[k] = moments;
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

#[cfg(feature = "cpu")]
#[backend_extension(Flex)]
pub trait AdamOps: Backend {
    /// One Adam step of parameter `p` along gradient `g` with moments `m`
    /// and `v` (any values on the first step, which starts them from
    /// zero), at `[lr, c1, c2]` (the learning rate and the bias
    /// corrections): the new `p`, `m` and `v`.
    fn adam_step(
        p: FloatTensor<Self>,
        g: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        first: bool,
        constants: [f32; 3],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

#[cfg(feature = "cpu")]
type Flat = FloatTensor<Flex>;

#[cfg(feature = "cpu")]
impl AdamOps for Flex {
    fn adam_step(p: Flat, g: Flat, m: Flat, v: Flat, first: bool, [lr, c1, c2]: [f32; 3]) -> (Flat, Flat, Flat) {
        let (f1, f2) = (1.0 - BETA_1, 1.0 - BETA_2);
        use crate::backend::{contiguous, contiguous_values};
        let (mut p, g, mut m, mut v) = (contiguous(p), contiguous(g), contiguous(m), contiguous(v));
        let n = p.layout().num_elements();
        let g = contiguous_values(&g);
        let (ps, ms, vs) = (&mut p.storage_mut::<f32>()[..n], &mut m.storage_mut::<f32>()[..n], &mut v.storage_mut::<f32>()[..n]);
        // As `update`'s tensor operations, value by value.
        for (((p, &g), m), v) in ps.iter_mut().zip(g).zip(ms.iter_mut()).zip(vs.iter_mut()) {
            if first {
                (*m, *v) = (g * f1, g * g * f2);
            } else {
                (*m, *v) = (*m * BETA_1 + g * f1, *v * BETA_2 + g * g * f2);
            }
            let delta = *m / c1 / ((*v / c2).sqrt() + EPSILON);
            *p -= delta * lr;
        }
        (p, m, v)
    }
}

#[cfg(all(test, feature = "cpu"))]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    /// The host loop gives the tensor operations' bits, step after step.
    #[test]
    fn the_host_step_gives_the_tensor_operations_bits() {
        let device = Device::flex();
        let mut rng = crate::rng::Rng::new(5);
        let mut draw = |scale: f32| Tensor::<3>::from_data(TensorData::new(rng.normal_vec(2 * 3 * 7, scale), [2, 3, 7]), &device);
        let start = vec![draw(1.0), draw(0.1)];
        let grads: Vec<Vec<Tensor<3>>> = (0..4).map(|_| vec![draw(1e-3), draw(1.0)]).collect();
        let (mut host, mut ops) = (Adam::new(), Adam::new());
        let (mut p_host, mut p_ops) = (start.clone(), start);
        for (step, g) in grads.into_iter().enumerate() {
            let lr = 1e-3 * (step + 1) as f64;
            p_host = host.update_on_host(lr, p_host, g.clone());
            p_ops = ops.update_with_tensors(lr, p_ops, g);
            let bits = |ts: &[Tensor<3>]| -> Vec<u32> {
                ts.iter().flat_map(|t| t.to_data().try_to_vec::<f32>().unwrap()).map(f32::to_bits).collect()
            };
            assert_eq!(bits(&p_host), bits(&p_ops), "parameters after step {step}");
            let moments = |a: &Adam| -> Vec<Tensor<3>> { a.moments.iter().flat_map(|(m, v)| [m.clone(), v.clone()]).collect() };
            assert_eq!(bits(&moments(&host)), bits(&moments(&ops)), "moments after step {step}");
        }
    }
}
