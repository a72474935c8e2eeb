//! # apd-playground
//!
//! Attribution-based Parameter Decomposition (Braun et al., 2025) on
//! [burn](https://burn.dev), for the same code natively and in the browser.
//! `../shared/APD.md` (the spec) is the reference for every formula here.
//!
//! Module map:
//! - [`config`]: presets, hyperparameters, validation, LR schedules.
//! - [`data`]: sparse feature batches.
//! - [`models`]: the toy target networks and their training.
//! - [`apd`]: the decomposition itself; the losses are in [`apd::losses`].
//! - [`metrics`]: MMCS, ML2R and feature matches.
//! - [`report`]: the JSON formats of targets and reports.
//! - [`run`]: a whole run (train the target, then decompose), step by step.
//! - [`backend`]: choosing a device by name.
//!
//! The core is backend-agnostic: a burn `Device` value decides where tensors
//! live, and every read back to the host is asynchronous so the same code runs
//! on WebGPU in a browser.

pub mod apd;
pub mod backend;
pub mod config;
pub mod data;
pub mod metrics;
pub mod models;
pub mod report;
pub mod rng;
pub mod run;
pub mod views;
#[cfg(target_arch = "wasm32")]
pub mod web;

use std::fmt;

/// Everything that can go wrong in a run, as a value (never a panic).
#[derive(Debug, Clone, PartialEq)]
pub enum ApdError {
    /// A hyperparameter is out of range.
    Config(config::ConfigError),
    /// Losses or parameters stopped being finite; the run keeps its last good state.
    Diverged {
        /// Step at which it was detected.
        step: usize,
        /// What happened and what to try.
        message: String,
    },
    /// A file or import is malformed.
    Format(String),
    /// A target or snapshot does not fit the configuration.
    Mismatch(String),
    /// The backend failed (e.g. a lost GPU device).
    Backend(String),
}

impl fmt::Display for ApdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApdError::Config(e) => write!(f, "{e}"),
            ApdError::Diverged { message, .. } => write!(f, "diverged: {message}"),
            ApdError::Format(m) => write!(f, "malformed input: {m}"),
            ApdError::Mismatch(m) => write!(f, "mismatch: {m}"),
            ApdError::Backend(m) => write!(f, "backend error: {m}"),
        }
    }
}

impl std::error::Error for ApdError {}

impl From<config::ConfigError> for ApdError {
    fn from(e: config::ConfigError) -> Self {
        ApdError::Config(e)
    }
}

impl From<burn::tensor::ExecutionError> for ApdError {
    fn from(e: burn::tensor::ExecutionError) -> Self {
        ApdError::Backend(format!("{e:?}"))
    }
}

impl ApdError {
    pub(crate) fn data(e: impl fmt::Debug) -> Self {
        ApdError::Backend(format!("reading a tensor failed: {e:?}"))
    }
}
