//! Toy model of superposition: `y = relu(x W H_1 .. H_h W^T + b)`, trained to
//! reconstruct sparse inputs (Elhage et al. 2022; the APD paper, section 3.1).

use super::{Matrix, Target, Training};
use crate::config::{ExperimentConfig, ModelConfig, TargetInit, TmsConfig};
use crate::data::{matrix, read_vec, tms_batch};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// The trainable part of a TMS target, for `N` instances at once (the
/// leading dimension); the identity layers are frozen and live outside the
/// module.
#[derive(Module, Debug)]
pub struct TmsNet {
    /// Encoder, `N x n x d`; the decoder is its transpose.
    pub w: Param<Tensor<3>>,
    /// Output bias, `N x n`.
    pub b: Param<Tensor<2>>,
    /// With `target.untied_adam`: the decoder as a parameter of its own
    /// (`N x d x n`), kept equal to `W^T` after every step.
    pub w_dec: Option<Param<Tensor<3>>>,
}

impl TmsNet {
    /// `relu(x W H.. W^T + b)`, each instance on its own `B x n` slice of `x`.
    pub fn forward(&self, x: Tensor<3>, hidden: &[Tensor<3>]) -> Tensor<3> {
        let w = self.w.val();
        let mut h = x.matmul(w.clone());
        for hl in hidden {
            h = h.matmul(hl.clone());
        }
        let dec = match &self.w_dec {
            Some(p) => p.val(),
            None => w.transpose(),
        };
        relu(h.matmul(dec) + self.b.val().unsqueeze_dim::<3>(1))
    }

    /// After a step with `target.untied_adam`: both parameters moved from
    /// the same `w_old`, each by its own AdamW update; like the reference's
    /// two in-place updates of one storage, `W` takes both moves (to first
    /// order in the weight decay) and the decoder is its transpose again.
    fn merge_untied(&mut self, w_old: Tensor<3>) {
        let Some(dec) = self.w_dec.take() else { return };
        let enc = self.w.val().inner();
        let merged = enc + dec.val().inner().transpose() - w_old;
        let m = merged.clone();
        // `map` keeps each parameter's id, and so its Adam moments.
        self.w = self.w.clone().map(|_| m.autodiff().require_grad());
        self.w_dec = Some(dec.map(|_| merged.transpose().autodiff().require_grad()));
    }
}

/// Trains TMS targets step by step, so that a caller (CLI or web worker)
/// can report progress and yield between steps: one per seed, all in one
/// batched step (see [`super::TargetTrainer::with_seeds`]).
pub struct TmsTrainer {
    cfg: TmsConfig,
    net: TmsNet,
    hidden: Vec<Tensor<3>>,
    pub(super) training: Training,
}

impl TmsTrainer {
    /// Freshly initialised targets, one per seed (`target.init`: W
    /// xavier-normal and b = 0, or PyTorch's defaults), hidden layers
    /// identity. Each instance draws from its own seed's streams, so it
    /// trains as it would alone.
    pub fn new(config: &ExperimentConfig, seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        config.validate()?;
        let ModelConfig::Tms(cfg) = &config.model else {
            return Err(ApdError::Mismatch("a TMS trainer needs a TMS configuration".into()));
        };
        let (n, d, inst) = (cfg.n_features, cfg.n_hidden, seeds.len());
        let training = Training::new(config, seeds, device);
        let device = training.device().clone();
        let std = (2.0 / (n + d) as f32).sqrt();
        let (mut w, mut b) = (Vec::with_capacity(inst * n * d), Vec::with_capacity(inst * n));
        for &seed in seeds {
            let mut init = Rng::stream(seed, "target-init");
            match config.target.init {
                TargetInit::Xavier => {
                    w.extend(init.normal_vec(n * d, std));
                    b.extend(std::iter::repeat_n(0.0, n));
                }
                TargetInit::Torch => {
                    // nn.Linear: kaiming-uniform weights, bound 1/sqrt(fan_in); the
                    // decoder's bias has fan-in d.
                    let (bw, bb) = (1.0 / (n as f32).sqrt(), 1.0 / (d as f32).sqrt());
                    w.extend((0..n * d).map(|_| init.uniform_range(-bw, bw)));
                    b.extend((0..n).map(|_| init.uniform_range(-bb, bb)));
                }
            }
        }
        let w = matrix(w, inst * n, d, &device).reshape([inst, n, d]);
        let b = matrix(b, inst, n, &device);
        let eye = Tensor::<2>::eye(d, &device.clone().inner()).unsqueeze_dim::<3>(0).expand([inst, d, d]);
        let hidden = (0..cfg.n_hidden_layers).map(|_| eye.clone()).collect();
        Ok(Self {
            cfg: cfg.clone(),
            net: TmsNet {
                w_dec: config.target.untied_adam.then(|| Param::from_tensor(w.clone().transpose().require_grad())),
                w: Param::from_tensor(w),
                b: Param::from_tensor(b),
            },
            hidden,
            training,
        })
    }

    /// One AdamW step on each instance's `mean((y - x)^2)`; returns the
    /// losses before the step, one per instance.
    pub async fn step(&mut self) -> Result<Vec<f32>, ApdError> {
        let (lr, x) = self.training.batch(self.cfg.n_features, self.cfg.feature_prob, tms_batch);
        let y = self.net.forward(x.clone(), &self.hidden);
        let losses = super::per_instance_mse(y - x);
        let w_old = self.net.w.val().inner();
        let values = self.training.apply(losses, &mut self.net, lr).await?;
        self.net.merge_untied(w_old);
        Ok(values)
    }

    /// The current weights, read back to the host, one target per instance.
    pub async fn targets(&self) -> Result<Vec<Target>, ApdError> {
        let (n, d) = (self.cfg.n_features, self.cfg.n_hidden);
        let w = read_vec(self.net.w.val()).await?;
        let b = read_vec(self.net.b.val()).await?;
        let model = ModelConfig::Tms(self.cfg.clone());
        let targets = w
            .chunks(n * d)
            .zip(b.chunks(n))
            .map(|(w, b)| {
                let mut layers = vec![Matrix { name: "W".into(), d_in: n, d_out: d, values: w.to_vec() }];
                for i in 0..self.hidden.len() {
                    let values = (0..d * d).map(|k| if k / d == k % d { 1.0 } else { 0.0 }).collect();
                    layers.push(Matrix { name: format!("H{}", i + 1), d_in: d, d_out: d, values });
                }
                debug_assert_eq!(layers.len(), model.layer_shapes().len());
                Target { model: model.clone(), layers, bias: b.to_vec(), embed: Vec::new() }
            })
            .collect();
        Ok(targets)
    }
}
