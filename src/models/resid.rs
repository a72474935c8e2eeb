//! Residual MLP doing compressed computation (spec section 3):
//! `r = x W_E`, per layer `r <- r + relu(r W_in) W_out`, `y = r W_E^T`,
//! trained towards `y = x + relu(x)` with fewer neurons than features.

use super::{Matrix, Target};
use crate::config::{lr_at, ExperimentConfig, ModelConfig, ResidMlpConfig, TargetTrainConfig};
use crate::data::{matrix, read_vec, resid_batch};
use crate::rng::Rng;
use crate::error::ApdError;
use burn::module::{Module, Param};
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// The trainable part of a residual MLP; the embedding is fixed and lives
/// outside the module.
#[derive(Module, Debug)]
pub struct ResidNet {
    /// `d_resid x d_mlp`, one per layer.
    pub w_in: Vec<Param<Tensor<2>>>,
    /// `d_mlp x d_resid`, one per layer.
    pub w_out: Vec<Param<Tensor<2>>>,
}

/// `y = (x W_E + sum_l relu(r_l W_in^l) W_out^l) W_E^T` with any weights.
pub fn resid_forward(x: Tensor<2>, embed: &Tensor<2>, w_in: &[Tensor<2>], w_out: &[Tensor<2>]) -> Tensor<2> {
    let mut r = x.matmul(embed.clone());
    for (wi, wo) in w_in.iter().zip(w_out) {
        r = r.clone() + relu(r.matmul(wi.clone())).matmul(wo.clone());
    }
    r.matmul(embed.clone().transpose())
}

/// The labels `x + relu(x)`.
pub fn resid_labels(x: Tensor<2>) -> Tensor<2> {
    x.clone() + relu(x)
}

/// The label of one input value, `x + relu(x)`, on the host.
pub fn resid_label(x: f32) -> f32 {
    x + x.max(0.0)
}

/// The fixed embedding: Gaussian rows scaled to unit norm, `n x d_resid`.
pub fn embedding(rng: &mut Rng, n: usize, d_resid: usize) -> Vec<f32> {
    let mut e = rng.normal_vec(n * d_resid, 1.0);
    for row in e.chunks_mut(d_resid) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    e
}

/// Trains a residual MLP target step by step.
pub struct ResidTrainer {
    cfg: ResidMlpConfig,
    train: TargetTrainConfig,
    net: ResidNet,
    embed_host: Vec<f32>,
    embed: Tensor<2>,
    optim: ModuleOptimizer,
    rng: Rng,
    device: Device,
    step: usize,
}

impl ResidTrainer {
    /// A fresh target: W_E as [`embedding`]; W_in and W_out uniform in
    /// `+-1/sqrt(fan_in)` (torch's `nn.Linear` default, which the reference uses).
    pub fn new(config: &ExperimentConfig, seed: u64, device: &Device) -> Result<Self, ApdError> {
        config.validate()?;
        let ModelConfig::ResidMlp(cfg) = &config.model else {
            return Err(ApdError::Mismatch("a residual MLP trainer needs a residual MLP configuration".into()));
        };
        let ad = device.clone().autodiff();
        let mut init = Rng::stream(seed, "target-init");
        let embed_host = embedding(&mut init, cfg.n_features, cfg.d_resid);
        let embed = matrix(embed_host.clone(), cfg.n_features, cfg.d_resid, &device.clone().inner());
        let mut uniform = |rows: usize, cols: usize| {
            let bound = 1.0 / (rows as f32).sqrt();
            let v = (0..rows * cols).map(|_| init.uniform_range(-bound, bound)).collect();
            Param::from_tensor(matrix(v, rows, cols, &ad).require_grad())
        };
        let (mut w_in, mut w_out) = (Vec::new(), Vec::new());
        for _ in 0..cfg.n_layers {
            w_in.push(uniform(cfg.d_resid, cfg.d_mlp));
            w_out.push(uniform(cfg.d_mlp, cfg.d_resid));
        }
        let optim = AdamWConfig::new()
            .with_weight_decay(config.target.weight_decay as f32)
            .with_epsilon(1e-8)
            .init();
        Ok(Self {
            cfg: cfg.clone(),
            train: config.target.clone(),
            net: ResidNet { w_in, w_out },
            embed_host,
            embed,
            optim,
            rng: Rng::stream(seed, "target-data"),
            device: ad,
            step: 0,
        })
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Whether all configured steps are done.
    pub fn done(&self) -> bool {
        self.step >= self.train.steps
    }

    /// One AdamW step on `mean((y - (x + relu(x)))^2)`; returns the loss before the step.
    pub async fn step(&mut self) -> Result<f32, ApdError> {
        let t = &self.train;
        let lr = lr_at(self.step, t.steps, t.lr, t.lr_warmup_pct, t.lr_schedule);
        let n = self.cfg.n_features;
        let x = resid_batch(&mut self.rng, t.batch_size, n, self.cfg.feature_prob);
        let x = matrix(x, t.batch_size, n, &self.device);
        let w_in: Vec<Tensor<2>> = self.net.w_in.iter().map(|p| p.val()).collect();
        let w_out: Vec<Tensor<2>> = self.net.w_out.iter().map(|p| p.val()).collect();
        let y = resid_forward(x.clone(), &self.embed.clone().autodiff(), &w_in, &w_out);
        let loss = (y - resid_labels(x)).powi_scalar(2).mean();
        let value = super::optimiser_step(loss, &mut self.net, &mut self.optim, lr, self.step).await?;
        self.step += 1;
        Ok(value)
    }

    /// The current weights, read back to the host.
    pub async fn target(&self) -> Result<Target, ApdError> {
        let (d, h) = (self.cfg.d_resid, self.cfg.d_mlp);
        let mut layers = Vec::new();
        for l in 0..self.cfg.n_layers {
            let wi = read_vec(self.net.w_in[l].val()).await?;
            let wo = read_vec(self.net.w_out[l].val()).await?;
            layers.push(Matrix { name: format!("W_in{}", l + 1), d_in: d, d_out: h, values: wi });
            layers.push(Matrix { name: format!("W_out{}", l + 1), d_in: h, d_out: d, values: wo });
        }
        Ok(Target {
            model: ModelConfig::ResidMlp(self.cfg.clone()),
            layers,
            bias: Vec::new(),
            embed: self.embed_host.clone(),
        })
    }
}
