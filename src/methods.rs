//! The registration point: every decomposition method the playground runs,
//! by name. A method is a folder implementing [`Method`] (and
//! [`Decomposer`]); adding one is its folder, its settings in `config`, and
//! a line in each `match` below. Nothing above this module names a method.
//!
//! An enum rather than a `Box<dyn Method>`: the trait's async steps are
//! not object-safe without boxing every future, a run holds one method for
//! its whole life, and `match` makes the compiler list every place a new
//! method must be registered.

use crate::apd::ApdTrainer;
use crate::config::{ExperimentConfig, Method as Name, StartPlan};
use crate::decomp::scale::ScaleSummary;
use crate::decomp::{Decomposer, Decomposition, Method, Network, Saved, StepRecord};
use crate::error::ApdError;
use crate::models::Target;
use crate::spd::SpdTrainer;
use crate::vpd::VpdTrainer;
use burn::tensor::{Device, Tensor};
use serde_json::Value;

/// One method's trainer.
pub enum Trainer {
    /// Attribution-based Parameter Decomposition (`crate::apd`).
    Apd(ApdTrainer),
    /// Stochastic Parameter Decomposition (`crate::spd`).
    Spd(SpdTrainer),
    /// SPD against an adversary (`crate::vpd`).
    Vpd(VpdTrainer),
}

/// `$body` with `$t` bound to the trainer inside, whichever method it is.
macro_rules! each {
    ($trainer:expr, $t:ident => $body:expr) => {
        match $trainer {
            Trainer::Apd($t) => $body,
            Trainer::Spd($t) => $body,
            Trainer::Vpd($t) => $body,
        }
    };
}

/// `$body` with `$T` the trainer type of method `$name`.
macro_rules! of_name {
    ($name:expr, $T:ident => $body:expr) => {
        match $name {
            Name::Apd => {
                type $T = ApdTrainer;
                $body
            }
            Name::Spd => {
                type $T = SpdTrainer;
                $body
            }
            Name::Vpd => {
                type $T = VpdTrainer;
                $body
            }
        }
    };
}

/// The step plan of `config`'s method.
pub fn plan(config: &ExperimentConfig) -> StartPlan {
    of_name!(config.method, T => T::plan(config))
}

/// Whether saved components and state fit `config`'s method.
pub fn check_saved(components: &Decomposition, state: &Value, config: &ExperimentConfig) -> Result<(), String> {
    of_name!(config.method, T => T::check_saved(components, state, config))
}

/// What the CLI says about a saved record's state (see [`Method::describe`]).
pub fn describe(state: &Value, components: &Decomposition, config: &ExperimentConfig) -> String {
    of_name!(config.method, T => T::describe(state, components, config))
}

/// See [`Method::sparse_label`].
pub fn sparse_label(method: Name) -> &'static str {
    of_name!(method, T => T::sparse_label())
}

/// See [`Method::score_label`].
pub fn score_label(method: Name) -> &'static str {
    of_name!(method, T => T::score_label())
}

/// See [`Method::batches_small_steps`].
pub fn batches_small_steps(method: Name) -> bool {
    of_name!(method, T => T::batches_small_steps())
}

/// See [`Method::spans_matrices`].
pub fn spans_matrices(method: Name) -> bool {
    of_name!(method, T => T::spans_matrices())
}

impl Trainer {
    /// Fresh decompositions of `targets[i]` with `seeds[i]` by `config`'s method.
    pub fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Trainer, ApdError> {
        Ok(match config.method {
            Name::Apd => Trainer::Apd(ApdTrainer::with_seeds(config, targets, seeds, device)?),
            Name::Spd => Trainer::Spd(<SpdTrainer as Method>::with_seeds(config, targets, seeds, device)?),
            Name::Vpd => Trainer::Vpd(<VpdTrainer as Method>::with_seeds(config, targets, seeds, device)?),
        })
    }

    /// One decomposition holding `saved` (see [`Method::of_saved`]).
    pub fn of_saved(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        saved: Saved,
        resume: bool,
    ) -> Result<Trainer, ApdError> {
        Ok(match config.method {
            Name::Apd => Trainer::Apd(ApdTrainer::of_saved(config, target, seed, device, saved, resume)?),
            Name::Spd => Trainer::Spd(SpdTrainer::of_saved(config, target, seed, device, saved, resume)?),
            Name::Vpd => Trainer::Vpd(VpdTrainer::of_saved(config, target, seed, device, saved, resume)?),
        })
    }

    /// The method's name.
    pub fn name(&self) -> Name {
        match self {
            Trainer::Apd(_) => Name::Apd,
            Trainer::Spd(_) => Name::Spd,
            Trainer::Vpd(_) => Name::Vpd,
        }
    }

    /// See [`Method::step_count`].
    pub fn step_count(&self) -> usize {
        each!(self, t => Method::step_count(t))
    }

    /// See [`Method::done`].
    pub fn done(&self) -> bool {
        each!(self, t => Method::done(t))
    }

    /// See [`Method::train_step`].
    pub async fn train_step(&mut self) -> Result<Vec<StepRecord>, ApdError> {
        each!(self, t => t.train_step().await)
    }

    /// See [`Method::split`].
    pub fn split(self) -> Vec<Trainer> {
        match self {
            Trainer::Apd(t) => Method::split(t).into_iter().map(Trainer::Apd).collect(),
            Trainer::Spd(t) => Method::split(t).into_iter().map(Trainer::Spd).collect(),
            Trainer::Vpd(t) => Method::split(t).into_iter().map(Trainer::Vpd).collect(),
        }
    }

    /// See [`Method::start`].
    pub fn start(&self) -> Option<(usize, usize)> {
        each!(self, t => Method::start(t))
    }

    /// See [`Method::start_scores`].
    pub fn start_scores(&self) -> &[f64] {
        each!(self, t => Method::start_scores(t))
    }

    /// See [`Method::chosen_start`].
    pub fn chosen_start(&self) -> Option<usize> {
        each!(self, t => Method::chosen_start(t))
    }

    /// See [`Method::state`].
    pub async fn state(&self) -> Result<Value, ApdError> {
        each!(self, t => t.state().await)
    }

    /// See [`Method::own_view`].
    pub async fn own_view(&self) -> Result<Option<Value>, ApdError> {
        each!(self, t => t.own_view().await)
    }
}

impl Decomposer for Trainer {
    fn network(&self) -> &Network {
        each!(self, t => t.network())
    }

    fn n_components(&self) -> usize {
        each!(self, t => t.n_components())
    }

    async fn decomposition(&self) -> Result<Decomposition, ApdError> {
        each!(self, t => t.decomposition().await)
    }

    async fn importances(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        each!(self, t => t.importances(x).await)
    }

    async fn sparse_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError> {
        each!(self, t => t.sparse_output(x).await)
    }

    async fn selection(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        each!(self, t => t.selection(x).await)
    }

    async fn masked_output(&self, x: Tensor<2>, mask: Vec<f32>) -> Result<Tensor<2>, ApdError> {
        each!(self, t => t.masked_output(x, mask).await)
    }

    async fn eval_importances(&self, x: Tensor<2>) -> Result<Vec<Tensor<2>>, ApdError> {
        each!(self, t => t.eval_importances(x).await)
    }

    fn eval_output(&self, x: Tensor<2>, masks: &[Tensor<2>], autodiff: bool) -> Tensor<2> {
        each!(self, t => t.eval_output(x, masks, autodiff))
    }

    fn last_active_counts(&self) -> &[u16] {
        each!(self, t => t.last_active_counts())
    }

    fn scale(&self) -> &ScaleSummary {
        each!(self, t => t.scale())
    }

    fn matches_by_importance(&self) -> bool {
        each!(self, t => t.matches_by_importance())
    }
}
