//! APD's trainable components on the device: the factors as parameters,
//! their initialisation, and the optimiser that moves them.

use crate::config::ExperimentConfig;
use crate::data::{matrix, read_vec};
use crate::decomp::factors::normal_factors;
use crate::decomp::{Decomposition, FactorPair};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

/// The components: per decomposed matrix l, factors `A_l` (`d_in x C*m`)
/// and `B_l` (`C*m x d_out`), as [`crate::decomp::factors`] lays them out.
#[derive(Module, Debug)]
pub struct ApdModel {
    /// Left factors, one per decomposed matrix.
    pub a: Vec<Param<Tensor<2>>>,
    /// Right factors, one per decomposed matrix.
    pub b: Vec<Param<Tensor<2>>>,
}

/// Adam as the reference uses it (AdamW with no weight decay, torch's epsilon).
pub fn adam() -> ModuleOptimizer {
    AdamWConfig::new().with_weight_decay(0.0).with_epsilon(1e-8).init()
}

impl ApdModel {
    /// Fresh components for matrices of `shapes` (`d_in, d_out`), drawn
    /// from `rng`: `n_components + extra_components` of rank m.
    ///
    /// The reference initialises with xavier-normal on its stacked
    /// `[instances, C, d_in, m]` tensors, whose fan-in and fan-out include
    /// the instance dimension. We reproduce its tms-5-2 runs, which stack 12
    /// instances: std `sqrt(2 / (d_in m (C + 12)))` for A and
    /// `sqrt(2 / (m d_out (C + 12)))` for B (0.089 and 0.14 on tms-5-2).
    /// For the other models this is a deviation: the reference runs
    /// tms-40-10 with 3 instances, so its initial factors there are about
    /// 10% larger than ours (`sqrt(52 / 43)`), and other models with other
    /// instance counts. We keep one rule, measured on tms-5-2, for every model.
    pub fn init(config: &ExperimentConfig, shapes: &[(usize, usize)], rng: &mut Rng, device: &Device) -> Self {
        let (c, m) = (config.apd.n_components + config.apd.extra_components, config.apd.rank);
        let factors = normal_factors(rng, shapes, c, m, |d_in, d_out| {
            ((2.0 / (d_in * m * (c + 12)) as f32).sqrt(), (2.0 / (m * d_out * (c + 12)) as f32).sqrt())
        });
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for ((av, bv), &(d_in, d_out)) in factors.into_iter().zip(shapes) {
            a.push(Param::from_tensor(matrix(av, d_in, c * m, device).require_grad()));
            b.push(Param::from_tensor(matrix(bv, c * m, d_out, device).require_grad()));
        }
        ApdModel { a, b }
    }

    /// Components holding the factors `d`, on `device` (with autodiff).
    pub fn upload(d: &Decomposition, device: &Device) -> Self {
        let cm = d.n_components * d.rank;
        let a = d.layers.iter().map(|f| Param::from_tensor(matrix(f.a.clone(), f.d_in, cm, device).require_grad())).collect();
        let b = d.layers.iter().map(|f| Param::from_tensor(matrix(f.b.clone(), cm, f.d_out, device).require_grad())).collect();
        ApdModel { a, b }
    }

    /// The factors without gradient tracking (for attributions and probes).
    pub fn factors(&self) -> (Vec<Tensor<2>>, Vec<Tensor<2>>) {
        let a = self.a.iter().map(|p| p.val().inner()).collect();
        let b = self.b.iter().map(|p| p.val().inner()).collect();
        (a, b)
    }

    /// The factors with gradient tracking (for the losses).
    pub fn tracked(&self) -> (Vec<Tensor<2>>, Vec<Tensor<2>>) {
        (self.a.iter().map(|p| p.val()).collect(), self.b.iter().map(|p| p.val()).collect())
    }

    /// The reference's `unit_norm_matrices`: every column of every A
    /// rescaled to unit norm. `Param::map` keeps the parameter ids, so Adam's
    /// moments carry over.
    pub fn unit_norm_a(self) -> Self {
        let a = self
            .a
            .into_iter()
            .map(|p| {
                p.map(|t| {
                    let v = t.inner();
                    let norm = v.clone().powi_scalar(2).sum_dim(0).sqrt().clamp_min(1e-12);
                    (v / norm).autodiff().require_grad()
                })
            })
            .collect();
        ApdModel { a, b: self.b }
    }

    /// The factors read back to the host, named after the matrices.
    pub async fn read(&self, names: &[String], n_components: usize, rank: usize) -> Result<Decomposition, ApdError> {
        let mut layers = Vec::new();
        for (l, name) in names.iter().enumerate() {
            let [d_in, _] = self.a[l].val().dims();
            let [_, d_out] = self.b[l].val().dims();
            layers.push(FactorPair {
                name: name.clone(),
                d_in,
                d_out,
                a: read_vec(self.a[l].val().inner()).await?,
                b: read_vec(self.b[l].val().inner()).await?,
            });
        }
        Ok(Decomposition { n_components, rank, layers })
    }
}
