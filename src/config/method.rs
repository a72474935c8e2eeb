//! How the target is trained and how it is decomposed: the settings of each
//! phase and their ranges.

use super::schedule::{validate_schedule, LrSchedule, StartPlan};
use super::{check_count, check_range, err, ConfigError};
use serde::{Deserialize, Serialize};

/// The decomposition method.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Attribution-based Parameter Decomposition (Braun et al. 2025).
    #[default]
    Apd,
    /// Stochastic Parameter Decomposition (Bushnaq et al. 2025).
    Spd,
    /// SPD trained against an adversary (VPD, Goodfire 2026; docs/vpd.md).
    Vpd,
}

impl Method {
    /// For serde: APD is the default and is left out of configurations.
    pub fn is_apd(&self) -> bool {
        *self == Method::Apd
    }

    /// The method's name as the CLI and reports spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Apd => "apd",
            Method::Spd => "spd",
            Method::Vpd => "vpd",
        }
    }

    /// The method named `name` (`apd`, `spd` or `vpd`).
    pub fn parse(name: &str) -> Result<Method, ConfigError> {
        match name {
            "apd" => Ok(Method::Apd),
            "spd" => Ok(Method::Spd),
            "vpd" => Ok(Method::Vpd),
            other => err("method", format!("unknown method {other:?}; known: apd, spd, vpd")),
        }
    }
}

/// Where attribution gradients come from (the APD paper, section 2.2; docs/robustness.md measures both).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttributionSource {
    /// The target network (the current reference code).
    Target,
    /// The APD model with all components on (the paper's TMS runs).
    Apd,
}

/// How a TMS target's weights start.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TargetInit {
    /// `W` xavier-normal, `b = 0` (the APD paper's code).
    #[default]
    Xavier,
    /// PyTorch's `nn.Linear` defaults, as the SPD reference's `train_tms`
    /// leaves them: `W` uniform in `+-1/sqrt(n)`, `b` uniform in `+-1/sqrt(d)`.
    Torch,
}

/// Training of the target network.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetTrainConfig {
    /// Peak learning rate (AdamW).
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Schedule after warmup.
    pub lr_schedule: LrSchedule,
    /// Fraction of steps spent warming up linearly from 0.
    pub lr_warmup_pct: f64,
    /// Samples per step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// TMS only: train the tied `W` as the SPD reference code's `train_tms`
    /// does. It ties the decoder to the encoder by sharing their storage, so
    /// AdamW sees two parameters: each use of `W` gets its own Adam moments
    /// and its own weight decay, and both updates land on `W` every step.
    /// Off: one parameter, whose gradient sums both uses.
    #[serde(default)]
    pub untied_adam: bool,
    /// TMS only: how the weights start.
    #[serde(default)]
    pub init: TargetInit,
}

/// APD hyperparameters (Braun et al. 2025), the paper's and, marked as such,
/// this project's additions for robustness (docs/robustness.md).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApdConfig {
    /// C: number of components.
    pub n_components: usize,
    /// m: rank of each component's factors in every layer.
    pub rank: usize,
    /// Average number of active components per sample (batch top-k).
    pub topk: f64,
    /// c_f, the faithfulness coefficient.
    pub coeff_faithfulness: f64,
    /// c_m, the minimality (top-k reconstruction) coefficient.
    pub coeff_minimality: f64,
    /// c_s, the simplicity (Schatten) coefficient.
    pub coeff_simplicity: f64,
    /// p of the Schatten norm, in (0, 2].
    pub schatten_p: f64,
    /// Peak learning rate (Adam).
    pub lr: f64,
    /// Schedule after warmup.
    pub lr_schedule: LrSchedule,
    /// Fraction of steps spent warming up linearly from 0.
    pub lr_warmup_pct: f64,
    /// Samples per step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Network whose gradients give the attributions.
    pub attribution_source: AttributionSource,
    /// Components trained in addition to `n_components` at first, then
    /// pruned (the least used ones) at `prune_at_pct` of the steps. Our
    /// addition to APD, for robustness: see docs/robustness.md.
    #[serde(default)]
    pub extra_components: usize,
    /// Fraction of the steps after which the extra components are pruned.
    #[serde(default = "default_prune_at")]
    pub prune_at_pct: f64,
    /// c_a, the activation reconstruction coefficient (residual MLPs only:
    /// the top-k model's MLP activations against the target's).
    #[serde(default)]
    pub coeff_activation: f64,
    /// Rescale every column of every A to unit norm before each step (the
    /// reference's `unit_norm_matrices`).
    #[serde(default)]
    pub unit_norm_a: bool,
    /// Starts from other initialisations before the real run: `restarts + 1`
    /// starts train for `restart_pct` of the steps each, and the one whose
    /// top-k model reproduces the target best (lowest minimality loss over
    /// the last quarter of its start) continues. Our addition to APD, for
    /// robustness: see docs/robustness.md.
    #[serde(default)]
    pub restarts: usize,
    /// Length of each start, as a fraction of `steps`.
    #[serde(default = "default_restart_pct")]
    pub restart_pct: f64,
}

fn default_prune_at() -> f64 {
    0.5
}

fn default_restart_pct() -> f64 {
    0.15
}

/// How a target is brought to the scale the decomposition's settings were
/// measured at before it is decomposed (this project's addition; see
/// `decomp::scale` and the docs/scale.md).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    /// Rescale the target before decomposing, keeping what it computes
    /// (TMS: to `feature_norm`; residual MLP: each neuron's weights
    /// balanced), and the components back after. Off: the paper's losses
    /// on the target as it is.
    pub rescale: bool,
    /// TMS: the root mean square of the feature norms (rows of W) the
    /// target is decomposed at, the one the preset was measured on.
    pub feature_norm: f64,
}

impl Default for ScaleConfig {
    /// Off, as in the paper (and in reports from before this setting).
    fn default() -> Self {
        ScaleConfig { rescale: false, feature_norm: 1.0 }
    }
}

impl ScaleConfig {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range("scale.feature_norm", self.feature_norm, 0.0, 100.0, true)
    }
}

impl TargetTrainConfig {
    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_schedule("target", self.lr, self.lr_warmup_pct, self.batch_size, self.steps)?;
        check_range("target.weight_decay", self.weight_decay, 0.0, 1.0, false)
    }
}

impl ApdConfig {
    /// Where the starts fall.
    pub fn plan(&self) -> StartPlan {
        StartPlan { steps: self.steps, restarts: self.restarts, pct: self.restart_pct }
    }

    /// See [`StartPlan::restart_len`].
    pub fn restart_len(&self) -> usize {
        self.plan().restart_len()
    }

    /// See [`StartPlan::total_steps`].
    pub fn total_steps(&self) -> usize {
        self.plan().total_steps()
    }

    /// See [`StartPlan::selection_step`].
    pub fn selection_step(&self) -> usize {
        self.plan().selection_step()
    }

    /// See [`StartPlan::restart_marks`].
    pub fn restart_marks(&self) -> Vec<(usize, String)> {
        self.plan().restart_marks()
    }

    /// The step of a start's schedule from which the spare components are
    /// pruned (`extra_components` > 0).
    pub fn prune_step(&self) -> usize {
        (self.prune_at_pct * self.steps as f64) as usize
    }

    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_count("apd.n_components", self.n_components, 1, 4096)?;
        check_count("apd.rank", self.rank, 1, 1024)?;
        check_count("apd.extra_components", self.extra_components, 0, 4096 - self.n_components.min(4096))?;
        if !(self.prune_at_pct > 0.0 && self.prune_at_pct < 1.0) {
            return err("apd.prune_at_pct", format!("must be in (0, 1) (got {})", self.prune_at_pct));
        }
        check_count("apd.restarts", self.restarts, 0, 16)?;
        if !(self.restart_pct > 0.0 && self.restart_pct < 1.0) {
            return err("apd.restart_pct", format!("must be in (0, 1) (got {})", self.restart_pct));
        }
        check_range("apd.topk", self.topk, 0.0, self.n_components as f64, true)?;
        check_range("apd.coeff_faithfulness", self.coeff_faithfulness, 0.0, 1e6, false)?;
        check_range("apd.coeff_minimality", self.coeff_minimality, 0.0, 1e6, false)?;
        check_range("apd.coeff_simplicity", self.coeff_simplicity, 0.0, 1e6, false)?;
        check_range("apd.schatten_p", self.schatten_p, 0.0, 2.0, true)?;
        check_range("apd.coeff_activation", self.coeff_activation, 0.0, 1e6, false)?;
        validate_schedule("apd", self.lr, self.lr_warmup_pct, self.batch_size, self.steps)?;
        if (self.topk * self.batch_size as f64).floor() < 1.0 {
            return err(
                "apd.topk",
                format!("topk * batch_size must be at least 1, so that one component is active (got {} * {})", self.topk, self.batch_size),
            );
        }
        Ok(())
    }
}

/// SPD hyperparameters (the SPD paper, section 2): rank-one subcomponents per matrix,
/// causal-importance MLPs, stochastic masks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpdConfig {
    /// C: subcomponents per decomposed matrix.
    pub n_components: usize,
    /// Hidden width of each causal-importance MLP.
    pub d_gate: usize,
    /// beta_f, the faithfulness coefficient.
    pub coeff_faithfulness: f64,
    /// beta_r, the stochastic reconstruction coefficient (every matrix masked).
    pub coeff_stochastic: f64,
    /// beta_rl, the layerwise stochastic reconstruction coefficient (one matrix masked at a time).
    pub coeff_layerwise: f64,
    /// beta_i, the importance minimality coefficient.
    pub coeff_importance: f64,
    /// p of the importance minimality loss.
    pub importance_p: f64,
    /// Peak learning rate (AdamW, no weight decay).
    pub lr: f64,
    /// Schedule after warmup.
    pub lr_schedule: LrSchedule,
    /// Fraction of steps spent warming up linearly from 0.
    pub lr_warmup_pct: f64,
    /// Samples per step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// The reference's later versions: each masked matrix also computes
    /// `W - V U`, scaled by one uniform draw per sample, so that the
    /// reconstruction losses ask for faithfulness themselves. Off as in the
    /// paper (and in reports from before this setting).
    #[serde(default)]
    pub delta_component: bool,
    /// The reference's later versions: steps of the faithfulness loss alone
    /// (AdamW over V and U, lr 0.01, weight decay 0.1) before SPD starts.
    #[serde(default)]
    pub faithfulness_warmup_steps: usize,
    /// The lower hard sigmoid's side below 0.
    #[serde(default)]
    pub lower_sigmoid: LowerSigmoid,
    /// This project's addition: starts from other initialisations before
    /// the real run, `restart_pct` of the steps each; the one in which the
    /// most features alone need a subcomponent of the first matrix of
    /// their own goes on (then the lower loss). 0 as in the paper.
    #[serde(default)]
    pub restarts: usize,
    /// Each start's share of the steps.
    #[serde(default = "default_spd_restart_pct")]
    pub restart_pct: f64,
}

fn default_spd_restart_pct() -> f64 {
    0.25
}

/// What the mask's hard sigmoid does for `z <= 0`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LowerSigmoid {
    /// As in the paper: `0.01 z`, gradient 0.01 whichever way it points.
    #[default]
    Leaky,
    /// As the reference's later versions: 0, and a gradient of 0.01 times
    /// the incoming one only where it would raise `z` (so a subcomponent
    /// nobody needs can come back when an input does, and is never pushed
    /// further down).
    Revive,
}

impl SpdConfig {
    /// Where the starts fall.
    pub fn plan(&self) -> StartPlan {
        StartPlan { steps: self.steps, restarts: self.restarts, pct: self.restart_pct }
    }

    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_count("spd.n_components", self.n_components, 1, 4096)?;
        check_count("spd.d_gate", self.d_gate, 1, 1024)?;
        check_range("spd.coeff_faithfulness", self.coeff_faithfulness, 0.0, 1e6, false)?;
        check_range("spd.coeff_stochastic", self.coeff_stochastic, 0.0, 1e6, false)?;
        check_range("spd.coeff_layerwise", self.coeff_layerwise, 0.0, 1e6, false)?;
        check_range("spd.coeff_importance", self.coeff_importance, 0.0, 1e6, false)?;
        check_range("spd.importance_p", self.importance_p, 0.0, 2.0, true)?;
        check_count("spd.faithfulness_warmup_steps", self.faithfulness_warmup_steps, 0, 100_000)?;
        check_count("spd.restarts", self.restarts, 0, 16)?;
        if !(self.restart_pct > 0.0 && self.restart_pct < 1.0) {
            return err("spd.restart_pct", format!("must be in (0, 1) (got {})", self.restart_pct));
        }
        validate_schedule("spd", self.lr, self.lr_warmup_pct, self.batch_size, self.steps)
    }
}
