//! Residual MLP doing compressed computation (the APD paper, section 3.2):
//! `r = x W_E`, per layer `r <- r + relu(r W_in) W_out`, `y = r W_E^T`,
//! trained towards `y = x + relu(x)` with fewer neurons than features.

use super::{Matrix, Target, Training};
use crate::config::{ExperimentConfig, ModelConfig, ResidMlpConfig};
use crate::data::{matrix, read_vec, resid_batch};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// The trainable part of residual MLPs, `N` instances at once (the
/// leading dimension); the embeddings are fixed and live outside the module.
#[derive(Module, Debug)]
pub struct ResidNet {
    /// `N x d_resid x d_mlp`, one per layer.
    pub w_in: Vec<Param<Tensor<3>>>,
    /// `N x d_mlp x d_resid`, one per layer.
    pub w_out: Vec<Param<Tensor<3>>>,
}

thread_local! {
    // `APD_FULL_WIDTH=1` turns the folding off, to measure what it saves
    // (`apd bench`, docs/performance.md).
    static FOLD: std::cell::Cell<bool> = std::cell::Cell::new(std::env::var_os("APD_FULL_WIDTH").is_none());
}

/// Whether the residual stream is computed in the features' basis here
/// (the default; see [`resid_forward`] and `decomp::Stream`).
pub fn folding() -> bool {
    FOLD.with(|c| c.get())
}

/// Runs `f` with the residual MLP's stream not folded: every product at
/// full width, as the network is written. For tests that compare the two.
pub fn unfolded<R>(f: impl FnOnce() -> R) -> R {
    let was = FOLD.with(|c| c.replace(false));
    let out = f();
    FOLD.with(|c| c.set(was));
    out
}

/// `y = (x W_E + sum_l relu(r_l W_in^l) W_out^l) W_E^T` with any weights;
/// with a leading instance dimension too (`transpose` swaps the last two).
/// The stream `r` is only ever read through a product, so it is kept as
/// its terms, `x W_E + sum_l h_l W_out^l`, and `r M` computed as
/// `x (W_E M) + sum_l h_l (W_out^l M)`: products with the features' and
/// neurons' few columns per input, and the wide ones once per step.
pub fn resid_forward<const D: usize>(x: Tensor<D>, embed: &Tensor<D>, w_in: &[Tensor<D>], w_out: &[Tensor<D>]) -> Tensor<D> {
    if !folding() {
        let mut r = x.matmul(embed.clone());
        for (wi, wo) in w_in.iter().zip(w_out) {
            r = r.clone() + relu(r.matmul(wi.clone())).matmul(wo.clone());
        }
        return r.matmul(embed.clone().transpose());
    }
    let read = |terms: &[(Tensor<D>, Tensor<D>)], m: &Tensor<D>| {
        let mut products = terms.iter().map(|(c, b)| c.clone().matmul(b.clone().matmul(m.clone())));
        let first = products.next().expect("the embedding's term");
        products.fold(first, |sum, p| sum + p)
    };
    let mut terms = vec![(x, embed.clone())];
    for (wi, wo) in w_in.iter().zip(w_out) {
        let h = relu(read(&terms, wi));
        terms.push((h, wo.clone()));
    }
    read(&terms, &embed.clone().transpose())
}

/// The labels `x + relu(x)`.
pub fn resid_labels<const D: usize>(x: Tensor<D>) -> Tensor<D> {
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

/// Trains residual MLP targets step by step, one per seed, all in one
/// batched step (see [`super::TargetTrainer::with_seeds`]).
pub struct ResidTrainer {
    cfg: ResidMlpConfig,
    net: ResidNet,
    embed_host: Vec<Vec<f32>>,
    embed: Tensor<3>,
    pub(super) training: Training,
}

impl ResidTrainer {
    /// Fresh targets, one per seed: W_E as [`embedding`]; W_in and W_out
    /// uniform in `+-1/sqrt(fan_in)` (torch's `nn.Linear` default, which
    /// the reference uses). Each instance draws from its own seed's streams.
    pub fn new(config: &ExperimentConfig, seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        config.validate()?;
        let ModelConfig::ResidMlp(cfg) = &config.model else {
            return Err(ApdError::Mismatch("a residual MLP trainer needs a residual MLP configuration".into()));
        };
        let (n, d, h, inst) = (cfg.n_features, cfg.d_resid, cfg.d_mlp, seeds.len());
        let training = Training::new(config, seeds, device);
        let ad = training.device().clone();
        let (mut embed_host, mut w_in, mut w_out) = (Vec::new(), vec![Vec::new(); cfg.n_layers], vec![Vec::new(); cfg.n_layers]);
        for &seed in seeds {
            let mut init = Rng::stream(seed, "target-init");
            embed_host.push(embedding(&mut init, n, d));
            let mut uniform = |rows: usize, cols: usize, out: &mut Vec<f32>| {
                let bound = 1.0 / (rows as f32).sqrt();
                out.extend((0..rows * cols).map(|_| init.uniform_range(-bound, bound)));
            };
            for l in 0..cfg.n_layers {
                uniform(d, h, &mut w_in[l]);
                uniform(h, d, &mut w_out[l]);
            }
        }
        let upload = |v: Vec<f32>, rows: usize, cols: usize| {
            Param::from_tensor(matrix(v, inst * rows, cols, &ad).reshape([inst, rows, cols]).require_grad())
        };
        let embed = matrix(embed_host.concat(), inst * n, d, &device.clone().inner()).reshape([inst, n, d]);
        Ok(Self {
            cfg: cfg.clone(),
            net: ResidNet {
                w_in: w_in.into_iter().map(|v| upload(v, d, h)).collect(),
                w_out: w_out.into_iter().map(|v| upload(v, h, d)).collect(),
            },
            embed_host,
            embed,
            training,
        })
    }

    /// One AdamW step on each instance's `mean((y - (x + relu(x)))^2)`;
    /// returns the losses before the step, one per instance.
    pub async fn step(&mut self) -> Result<Vec<f32>, ApdError> {
        let (lr, x) = self.training.batch(self.cfg.n_features, self.cfg.feature_prob, resid_batch);
        let w_in: Vec<Tensor<3>> = self.net.w_in.iter().map(|p| p.val()).collect();
        let w_out: Vec<Tensor<3>> = self.net.w_out.iter().map(|p| p.val()).collect();
        let y = resid_forward(x.clone(), &self.embed.clone().autodiff(), &w_in, &w_out);
        let losses = super::per_instance_mse(y - resid_labels(x));
        self.training.apply(losses, &mut self.net, lr).await
    }

    /// The current weights, read back to the host, one target per instance.
    pub async fn targets(&self) -> Result<Vec<Target>, ApdError> {
        let (d, h, inst) = (self.cfg.d_resid, self.cfg.d_mlp, self.training.instances());
        let mut layers = vec![Vec::new(); inst];
        for l in 0..self.cfg.n_layers {
            let wi = read_vec(self.net.w_in[l].val()).await?;
            let wo = read_vec(self.net.w_out[l].val()).await?;
            for (i, (wi, wo)) in wi.chunks(d * h).zip(wo.chunks(h * d)).enumerate() {
                layers[i].push(Matrix { name: format!("W_in{}", l + 1), d_in: d, d_out: h, values: wi.to_vec() });
                layers[i].push(Matrix { name: format!("W_out{}", l + 1), d_in: h, d_out: d, values: wo.to_vec() });
            }
        }
        Ok(layers
            .into_iter()
            .zip(&self.embed_host)
            .map(|(layers, embed)| Target {
                model: ModelConfig::ResidMlp(self.cfg.clone()),
                layers,
                bias: Vec::new(),
                embed: embed.clone(),
            })
            .collect())
    }
}
