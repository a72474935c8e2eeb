//! Toy model of superposition: `y = relu(x W H_1 .. H_h W^T + b)`, trained to
//! reconstruct sparse inputs (spec section 3).

use super::{Matrix, Target};
use crate::config::{lr_at, ExperimentConfig, ModelConfig, TargetInit, TargetTrainConfig, TmsConfig};
use crate::data::{matrix, read_vec, tms_batch};
use crate::rng::Rng;
use crate::error::ApdError;
use burn::module::{Module, Param};
use burn::optim::AdamWConfig;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// The trainable part of a TMS target; the identity layers are frozen and
/// live outside the module.
#[derive(Module, Debug)]
pub struct TmsNet {
    /// Encoder, `n x d`; the decoder is its transpose.
    pub w: Param<Tensor<2>>,
    /// Output bias.
    pub b: Param<Tensor<1>>,
    /// With `target.untied_adam`: the decoder as a parameter of its own
    /// (`d x n`), kept equal to `W^T` after every step.
    pub w_dec: Option<Param<Tensor<2>>>,
}

impl TmsNet {
    /// `relu(x W H.. W^T + b)`.
    pub fn forward(&self, x: Tensor<2>, hidden: &[Tensor<2>]) -> Tensor<2> {
        let w = self.w.val();
        let mut h = x.matmul(w.clone());
        for hl in hidden {
            h = h.matmul(hl.clone());
        }
        let dec = match &self.w_dec {
            Some(p) => p.val(),
            None => w.transpose(),
        };
        relu(h.matmul(dec) + self.b.val().unsqueeze::<2>())
    }

    /// After a step with `target.untied_adam`: both parameters moved from
    /// the same `w_old`, each by its own AdamW update; like the reference's
    /// two in-place updates of one storage, `W` takes both moves (to first
    /// order in the weight decay) and the decoder is its transpose again.
    fn merge_untied(&mut self, w_old: Tensor<2>) {
        let Some(dec) = self.w_dec.take() else { return };
        let enc = self.w.val().inner();
        let merged = enc + dec.val().inner().transpose() - w_old;
        let m = merged.clone();
        // `map` keeps each parameter's id, and so its Adam moments.
        self.w = self.w.clone().map(|_| m.autodiff().require_grad());
        self.w_dec = Some(dec.map(|_| merged.transpose().autodiff().require_grad()));
    }
}

/// Trains a TMS target step by step, so that a caller (CLI or web worker)
/// can report progress and yield between steps.
pub struct TmsTrainer {
    cfg: TmsConfig,
    train: TargetTrainConfig,
    net: TmsNet,
    hidden: Vec<Tensor<2>>,
    optim: burn::optim::ModuleOptimizer,
    rng: Rng,
    device: Device,
    step: usize,
}

impl TmsTrainer {
    /// A freshly initialised target (`target.init`: W xavier-normal and
    /// b = 0, or PyTorch's defaults), hidden layers identity.
    pub fn new(config: &ExperimentConfig, seed: u64, device: &Device) -> Result<Self, ApdError> {
        config.validate()?;
        let ModelConfig::Tms(cfg) = &config.model else {
            return Err(ApdError::Mismatch("a TMS trainer needs a TMS configuration".into()));
        };
        let (n, d) = (cfg.n_features, cfg.n_hidden);
        let device = device.clone().autodiff();
        let mut init = Rng::stream(seed, "target-init");
        let std = (2.0 / (n + d) as f32).sqrt();
        let (w, b) = match config.target.init {
            TargetInit::Xavier => (matrix(init.normal_vec(n * d, std), n, d, &device), Tensor::<1>::zeros([n], &device)),
            TargetInit::Torch => {
                // nn.Linear: kaiming-uniform weights, bound 1/sqrt(fan_in); the
                // decoder's bias has fan-in d.
                let (bw, bb) = (1.0 / (n as f32).sqrt(), 1.0 / (d as f32).sqrt());
                let w: Vec<f32> = (0..n * d).map(|_| init.uniform_range(-bw, bw)).collect();
                let b: Vec<f32> = (0..n).map(|_| init.uniform_range(-bb, bb)).collect();
                (matrix(w, n, d, &device), Tensor::<1>::from_floats(b.as_slice(), &device))
            }
        };
        let hidden = (0..cfg.n_hidden_layers)
            .map(|_| Tensor::<2>::eye(d, &device.clone().inner()))
            .collect();
        let optim = AdamWConfig::new()
            .with_weight_decay(config.target.weight_decay as f32)
            .with_epsilon(1e-8)
            .init();
        Ok(Self {
            cfg: cfg.clone(),
            train: config.target.clone(),
            net: TmsNet {
                w_dec: config.target.untied_adam.then(|| Param::from_tensor(w.clone().transpose().require_grad())),
                w: Param::from_tensor(w),
                b: Param::from_tensor(b),
            },
            hidden,
            optim,
            rng: Rng::stream(seed, "target-data"),
            device,
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

    /// One AdamW step on `mean((y - x)^2)`; returns the loss before the step.
    pub async fn step(&mut self) -> Result<f32, ApdError> {
        let t = &self.train;
        let lr = lr_at(self.step, t.steps, t.lr, t.lr_warmup_pct, t.lr_schedule);
        let n = self.cfg.n_features;
        let x = tms_batch(&mut self.rng, t.batch_size, n, self.cfg.feature_prob);
        let x = matrix(x, t.batch_size, n, &self.device);
        let y = self.net.forward(x.clone(), &self.hidden);
        let loss = (y - x).powi_scalar(2).mean();
        let w_old = self.net.w.val().inner();
        let value = super::optimiser_step(loss, &mut self.net, &mut self.optim, lr, self.step).await?;
        self.net.merge_untied(w_old);
        self.step += 1;
        Ok(value)
    }

    /// The current weights, read back to the host.
    pub async fn target(&self) -> Result<Target, ApdError> {
        let (n, d) = (self.cfg.n_features, self.cfg.n_hidden);
        let w = read_vec(self.net.w.val()).await?;
        let b = read_vec(self.net.b.val()).await?;
        let mut layers = vec![Matrix { name: "W".into(), d_in: n, d_out: d, values: w }];
        for (i, h) in self.hidden.iter().enumerate() {
            let values = read_vec(h.clone()).await?;
            layers.push(Matrix { name: format!("H{}", i + 1), d_in: d, d_out: d, values });
        }
        let model = ModelConfig::Tms(self.cfg.clone());
        debug_assert_eq!(layers.len(), model.layer_shapes().len());
        Ok(Target { model, layers, bias: b, embed: Vec::new() })
    }
}
