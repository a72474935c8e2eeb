//! SPD's trainable parameters (the subcomponents' factors and the
//! causal-importance MLPs), their initialisation, and the checks a saved
//! set must pass to belong to a run.

use super::ci::{GateValues, Gates};
use crate::config::{ExperimentConfig, SpdConfig};
use crate::decomp::network::stacked;
use crate::decomp::subcomponents::check_rank_one;
use crate::decomp::Decomposition;
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

/// SPD's trainable parameters for N instances side by side: per matrix
/// `V` (`N x d_in x C`), `U` (`N x C x d_out`) and the causal-importance MLPs.
#[derive(Module, Debug)]
pub struct SpdModel {
    /// Left factors.
    pub v: Vec<Param<Tensor<3>>>,
    /// Right factors.
    pub u: Vec<Param<Tensor<3>>>,
    /// One set of gates per matrix.
    pub gates: Vec<Gates>,
}

/// One instance's parameters on the host: per matrix `V`, `U` (row-major) and gates.
pub struct SpdValues {
    /// Per matrix, `V` (`d_in x C`).
    pub v: Vec<Vec<f32>>,
    /// Per matrix, `U` (`C x d_out`).
    pub u: Vec<Vec<f32>>,
    /// Per matrix, the gates.
    pub gates: Vec<GateValues>,
}

impl SpdValues {
    /// Fresh parameters for matrices of `shapes`, as the reference draws
    /// them: `V` normal with std `1 / sqrt(d_out)`, `U` with `1 / sqrt(C)`.
    pub fn init(cfg: &SpdConfig, shapes: &[(usize, usize)], rng: &mut Rng) -> Self {
        let c = cfg.n_components;
        let (mut v, mut u) = (Vec::new(), Vec::new());
        for &(d_in, d_out) in shapes {
            v.push(rng.normal_vec(d_in * c, 1.0 / (d_out as f32).sqrt()));
            u.push(rng.normal_vec(c * d_out, 1.0 / (c as f32).sqrt()));
        }
        let gates = shapes.iter().map(|_| GateValues::init(c, cfg.d_gate, rng)).collect();
        SpdValues { v, u, gates }
    }
}

impl SpdModel {
    /// No parameters: a placeholder while they are swapped.
    pub fn empty() -> Self {
        SpdModel { v: Vec::new(), u: Vec::new(), gates: Vec::new() }
    }

    /// The parameters of `parts`, one instance each, side by side on
    /// `device` (with autodiff) for matrices of `shapes`.
    pub fn stacked(parts: &[SpdValues], shapes: &[(usize, usize)], c: usize, d_gate: usize, device: &Device) -> Self {
        let n = parts.len();
        let p = |get: &dyn Fn(&SpdValues) -> &Vec<f32>, r: usize, k: usize| {
            Param::from_tensor(stacked(parts.iter().flat_map(|x| get(x).iter().copied()).collect(), n, r, k, device).require_grad())
        };
        let v = shapes.iter().enumerate().map(|(l, &(d_in, _))| p(&|x| &x.v[l], d_in, c)).collect();
        let u = shapes.iter().enumerate().map(|(l, &(_, d_out))| p(&|x| &x.u[l], c, d_out)).collect();
        let gates = (0..shapes.len())
            .map(|l| Gates::stacked(&parts.iter().map(|x| x.gates[l].clone()).collect::<Vec<_>>(), c, d_gate, device))
            .collect();
        SpdModel { v, u, gates }
    }

    /// The factors with gradient tracking.
    pub(super) fn tracked(&self) -> (Vec<Tensor<3>>, Vec<Tensor<3>>) {
        (self.v.iter().map(|p| p.val()).collect(), self.u.iter().map(|p| p.val()).collect())
    }

    /// The factors without autodiff.
    pub(super) fn factors(&self) -> (Vec<Tensor<3>>, Vec<Tensor<3>>) {
        (self.v.iter().map(|p| p.val().inner()).collect(), self.u.iter().map(|p| p.val().inner()).collect())
    }

    /// Every parameter: every V, every U, then each matrix's gates (w1, b1, w2, b2).
    pub(super) fn params(&self) -> Vec<&Param<Tensor<3>>> {
        self.v.iter().chain(&self.u).chain(self.gates.iter().flat_map(|g| g.params())).collect()
    }

    /// A model of the tensors `t` (without autodiff), listed as [`SpdModel::params`] lists them.
    pub(super) fn of_params(t: Vec<Tensor<3>>) -> SpdModel {
        // Per matrix: V, U and the gates' four.
        let n = t.len() / 6;
        let mut it = t.into_iter().map(|t| Param::from_tensor(t.autodiff().require_grad()));
        let v = it.by_ref().take(n).collect();
        let u = it.by_ref().take(n).collect();
        let mut gates = Vec::with_capacity(n);
        for _ in 0..n {
            let mut next = || it.next().expect("four tensors per set of gates");
            gates.push(Gates { w1: next(), b1: next(), w2: next(), b2: next() });
        }
        SpdModel { v, u, gates }
    }

    /// Instance `i` alone; [`SpdModel::join`] puts such slices back together.
    pub(super) fn instance(&self, i: usize) -> SpdModel {
        SpdModel::of_params(self.params().into_iter().map(|p| p.val().inner().narrow(0, i, 1)).collect())
    }

    /// Single instances side by side, in order.
    pub(super) fn join(parts: &[SpdModel]) -> SpdModel {
        let each: Vec<Vec<&Param<Tensor<3>>>> = parts.iter().map(|p| p.params()).collect();
        SpdModel::of_params((0..each[0].len()).map(|k| Tensor::cat(each.iter().map(|p| p[k].val().inner()).collect(), 0)).collect())
    }
}

/// Checks that `d` and `gates` can be an SPD run of `config`: C rank-one
/// subcomponents for each matrix its model decomposes, in order, and gates
/// of the configured width. From the settings alone, so that it needs no
/// device (the page's WebGPU package has no CPU backend).
pub fn check_fits(d: &Decomposition, gates: &[GateValues], config: &ExperimentConfig) -> Result<(), String> {
    let spd = config.spd.as_ref().ok_or("an SPD report needs the spd settings")?;
    let c = spd.n_components;
    check_rank_one(d, c, &config.model, gates.len(), "sets of gates")?;
    for (f, g) in d.layers.iter().zip(gates) {
        let w = c * spd.d_gate;
        if (g.w1.len(), g.b1.len(), g.w2.len(), g.b2.len()) != (w, w, w, c) {
            return Err(format!("the gates of {} do not fit {c} subcomponents {} wide", f.name, spd.d_gate));
        }
    }
    Ok(())
}
