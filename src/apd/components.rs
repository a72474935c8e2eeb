//! APD's trainable components on the device: the factors as parameters,
//! their initialisation, and the optimiser that moves them.

use crate::config::ExperimentConfig;
use crate::decomp::factors::{normal_factors, read_stacked};
use crate::decomp::network::stacked;
use crate::decomp::Decomposition;
use crate::error::ApdError;
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::tensor::{Device, Gradients, Tensor};

/// The components of N instances side by side: per decomposed matrix l,
/// factors `A_l` (`N x d_in x C*m`) and `B_l` (`N x C*m x d_out`), each
/// instance's laid out as [`crate::decomp::factors`] says.
#[derive(Module, Debug)]
pub struct ApdModel {
    /// Left factors, one per decomposed matrix.
    pub a: Vec<Param<Tensor<3>>>,
    /// Right factors, one per decomposed matrix.
    pub b: Vec<Param<Tensor<3>>>,
}

/// `n` row-major `rows x cols` blocks as an `n x rows x cols` parameter.
fn stacked_param(values: Vec<f32>, n: usize, rows: usize, cols: usize, device: &Device) -> Param<Tensor<3>> {
    Param::from_tensor(stacked(values, n, rows, cols, device).require_grad())
}

impl ApdModel {
    /// No components: a placeholder while a start is swapped.
    pub fn empty() -> Self {
        ApdModel { a: Vec::new(), b: Vec::new() }
    }

    /// Fresh components for matrices of `shapes` (`d_in, d_out`), one
    /// instance per generator of `rngs` (drawn from it as alone):
    /// `n_components + extra_components` of rank m.
    ///
    /// The reference initialises with xavier-normal on its stacked
    /// `[instances, C, d_in, m]` tensors, whose fan-in and fan-out include
    /// the instance dimension. We reproduce its tms-5-2 runs, which stack 12
    /// instances: std `sqrt(2 / (d_in m (C + 12)))` for A and
    /// `sqrt(2 / (m d_out (C + 12)))` for B (0.089 and 0.14 on tms-5-2),
    /// whatever the number of instances here, so that a seed starts the
    /// same alone or beside others. For the other models this is a
    /// deviation: the reference runs tms-40-10 with 3 instances, so its
    /// initial factors there are about 10% larger than ours
    /// (`sqrt(52 / 43)`), and other models with other instance counts. We
    /// keep one rule, measured on tms-5-2, for every model.
    pub fn init(config: &ExperimentConfig, shapes: &[(usize, usize)], rngs: &mut [Rng], device: &Device) -> Self {
        let (c, m) = (config.apd.n_components + config.apd.extra_components, config.apd.rank);
        let n = rngs.len();
        let per_instance: Vec<_> = rngs
            .iter_mut()
            .map(|rng| {
                normal_factors(rng, shapes, c, m, |d_in, d_out| {
                    ((2.0 / (d_in * m * (c + 12)) as f32).sqrt(), (2.0 / (m * d_out * (c + 12)) as f32).sqrt())
                })
            })
            .collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (l, &(d_in, d_out)) in shapes.iter().enumerate() {
            a.push(stacked_param(per_instance.iter().flat_map(|f| f[l].0.iter().copied()).collect(), n, d_in, c * m, device));
            b.push(stacked_param(per_instance.iter().flat_map(|f| f[l].1.iter().copied()).collect(), n, c * m, d_out, device));
        }
        ApdModel { a, b }
    }

    /// Components holding the factors `ds`, one instance each, on `device`
    /// (with autodiff).
    pub fn upload(ds: &[Decomposition], device: &Device) -> Self {
        let (first, n) = (&ds[0], ds.len());
        let cm = first.n_components * first.rank;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (l, f) in first.layers.iter().enumerate() {
            a.push(stacked_param(ds.iter().flat_map(|d| d.layers[l].a.iter().copied()).collect(), n, f.d_in, cm, device));
            b.push(stacked_param(ds.iter().flat_map(|d| d.layers[l].b.iter().copied()).collect(), n, cm, f.d_out, device));
        }
        ApdModel { a, b }
    }

    /// The factors without gradient tracking (for attributions and probes).
    pub fn factors(&self) -> (Vec<Tensor<3>>, Vec<Tensor<3>>) {
        let a = self.a.iter().map(|p| p.val().inner()).collect();
        let b = self.b.iter().map(|p| p.val().inner()).collect();
        (a, b)
    }

    /// The factors with gradient tracking (for the losses).
    pub fn tracked(&self) -> (Vec<Tensor<3>>, Vec<Tensor<3>>) {
        (self.a.iter().map(|p| p.val()).collect(), self.b.iter().map(|p| p.val()).collect())
    }

    /// The reference's `unit_norm_matrices`: every column of every A
    /// rescaled to unit norm. `Param::map` keeps the parameter ids.
    pub fn unit_norm_a(self) -> Self {
        let a = self
            .a
            .into_iter()
            .map(|p| {
                p.map(|t| {
                    let v = t.inner();
                    let norm = v.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
                    (v / norm).autodiff().require_grad()
                })
            })
            .collect();
        ApdModel { a, b: self.b }
    }

    /// Instance `i` alone; [`ApdModel::join`] puts such slices back together.
    pub fn instance(&self, i: usize) -> ApdModel {
        let one = |p: &Param<Tensor<3>>| Param::from_tensor(p.val().inner().narrow(0, i, 1).autodiff().require_grad());
        ApdModel { a: self.a.iter().map(one).collect(), b: self.b.iter().map(one).collect() }
    }

    /// Single instances side by side, in order.
    pub fn join(parts: &[ApdModel]) -> ApdModel {
        let cat = |get: &dyn Fn(&ApdModel) -> &Param<Tensor<3>>| {
            Param::from_tensor(Tensor::cat(parts.iter().map(|p| get(p).val().inner()).collect(), 0).autodiff().require_grad())
        };
        let layers = parts[0].a.len();
        ApdModel {
            a: (0..layers).map(|l| cat(&|p: &ApdModel| &p.a[l])).collect(),
            b: (0..layers).map(|l| cat(&|p: &ApdModel| &p.b[l])).collect(),
        }
    }

    /// The factors read back to the host, one decomposition per instance,
    /// named after the matrices.
    pub async fn read(&self, names: &[String], n_components: usize, rank: usize) -> Result<Vec<Decomposition>, ApdError> {
        let (a, b) = self.factors();
        read_stacked(a, b, names, n_components, rank).await
    }
}

/// APD's optimiser over its factors (the A factors, then the B factors).
pub use crate::decomp::adam::Adam;

impl ApdModel {
    /// One step of `optim` at `lr` along `grads`, the gradients of a loss
    /// in which `self` was used.
    pub fn stepped(self, optim: &mut Adam, lr: f64, grads: &Gradients) -> ApdModel {
        let n_a = self.a.len();
        let params: Vec<Tensor<3>> = self.a.into_iter().chain(self.b).map(|p| p.val()).collect();
        let g = params.iter().map(|t| t.grad(grads).expect("every factor is in the loss")).collect();
        let moved = optim.update(lr, params.into_iter().map(|t| t.inner()).collect(), g);
        let mut moved: Vec<Param<Tensor<3>>> = moved.into_iter().map(|t| Param::from_tensor(t.autodiff().require_grad())).collect();
        let b = moved.split_off(n_a);
        ApdModel { a: moved, b }
    }
}
