//! The adversary (param-decomp's `adversary.py`; docs/vpd.md): persistent PGD sources, one row per
//! batch slot and `C + 1` columns per decomposed matrix (the subcomponents'
//! masks and the delta channel's), kept across steps and moved by Adam
//! *ascent* on the reconstruction loss, then clamped to [0, 1].

use burn::tensor::Tensor;

/// Adam's first-moment decay for the sources (param-decomp's).
const BETA_1: f32 = 0.01;
/// Adam's second-moment decay for the sources.
const BETA_2: f32 = 0.99;
/// Added to the root of the second moment.
const EPSILON: f32 = 1e-8;

/// The sources and their Adam state, per matrix `N x B x (C + 1)`.
#[derive(Clone)]
pub struct Adversary {
    /// The sources, in [0, 1].
    pub sources: Vec<Tensor<3>>,
    /// Per matrix, the first and second moments (absent before the first ascent).
    moments: Vec<(Tensor<3>, Tensor<3>)>,
    /// Ascent steps taken.
    time: i32,
}

impl Adversary {
    /// Sources as drawn, no moments yet.
    pub fn new(sources: Vec<Tensor<3>>) -> Self {
        Adversary { sources, moments: Vec::new(), time: 0 }
    }

    /// One ascent step at learning rate `lr` along `grads` (the
    /// reconstruction loss's gradient with respect to each matrix's
    /// sources, without autodiff): the sources move to make the loss
    /// larger, and stay in [0, 1].
    pub fn ascend(&mut self, lr: f64, grads: Vec<Tensor<3>>) {
        self.time += 1;
        let (c1, c2) = (1f32 - BETA_1.powi(self.time), 1f32 - BETA_2.powi(self.time));
        let first = self.moments.is_empty();
        for (k, g) in grads.into_iter().enumerate() {
            let (m, v) = if first {
                (g.clone().mul_scalar(1.0 - BETA_1), g.square().mul_scalar(1.0 - BETA_2))
            } else {
                let (m, v) = self.moments[k].clone();
                (m.mul_scalar(BETA_1) + g.clone().mul_scalar(1.0 - BETA_1), v.mul_scalar(BETA_2) + g.square().mul_scalar(1.0 - BETA_2))
            };
            let step = m.clone().div_scalar(c1) / v.clone().div_scalar(c2).sqrt().add_scalar(EPSILON);
            self.sources[k] = (self.sources[k].clone() + step.mul_scalar(lr as f32)).clamp(0.0, 1.0);
            if first {
                self.moments.push((m, v));
            } else {
                self.moments[k] = (m, v);
            }
        }
    }

    /// Single instances' adversaries side by side, in order; they must
    /// have taken as many ascents (the instances run in step).
    pub fn join(parts: Vec<Adversary>) -> Adversary {
        let cat = |get: &dyn Fn(&Adversary) -> Tensor<3>| Tensor::cat(parts.iter().map(get).collect(), 0);
        let sources = (0..parts[0].sources.len()).map(|k| cat(&|a| a.sources[k].clone())).collect();
        let moments = (0..parts[0].moments.len()).map(|k| (cat(&|a| a.moments[k].0.clone()), cat(&|a| a.moments[k].1.clone()))).collect();
        Adversary { sources, moments, time: parts[0].time }
    }

    /// Instance `i`'s sources and moments alone.
    pub fn instance(&self, i: usize) -> Adversary {
        let one = |t: &Tensor<3>| t.clone().narrow(0, i, 1);
        Adversary {
            sources: self.sources.iter().map(one).collect(),
            moments: self.moments.iter().map(|(m, v)| (one(m), one(v))).collect(),
            time: self.time,
        }
    }
}
