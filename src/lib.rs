//! # apd-playground
//!
//! Parameter decomposition (APD, Braun et al. 2025; SPD, Bushnaq et al.
//! 2025; VPD, Goodfire 2026) on [burn](https://burn.dev), for the same code
//! natively and in the browser.
//! `../shared/APD.md` (the spec) is the reference for every formula here.
//!
//! Module map, each line using only the lines below it (a test,
//! `tests/layout.rs`, keeps it so):
//! - `bin/apd` (the CLI) and [`web`] (the wasm-bindgen surface, wasm32 only):
//!   the two ways in; they convert and report, nothing more.
//! - [`gallery`]: finished results shipped with the page.
//! - [`run`]: a whole run (train the target, then decompose), step by step.
//! - [`report`]: the JSON formats of targets and reports.
//! - [`views`]: the view data the page draws.
//! - [`metrics`]: MMCS, ML2R, dedicated components; they take a decomposition.
//! - [`methods`]: the registration point, each method's trainer by name;
//!   nothing above it names a method.
//! - [`apd`], [`spd`], [`vpd`]: the methods, a folder each; their losses are
//!   in [`apd::losses`], [`spd::losses`], [`vpd::losses`].
//! - [`decomp`]: what every method shares: the `Method` and `Decomposer`
//!   traits, factors, the target network and its forward passes,
//!   evaluation probes, causal-importance counts.
//! - [`models`]: the toy target networks and their training.
//! - [`data`], [`backend`]: inputs and the host/device boundary; devices by name.
//! - [`error`]: everything that can go wrong, as values.
//! - [`config`]: presets, settings, validation, schedules, limits.
//! - [`rng`]: the seeded host RNG.
//!
//! The core is backend-agnostic: a burn `Device` value decides where tensors
//! live, and every read back to the host is asynchronous so the same code runs
//! on WebGPU in a browser.

pub mod apd;
pub mod backend;
pub mod config;
pub mod data;
pub mod decomp;
pub mod error;
pub mod gallery;
pub mod methods;
pub mod metrics;
pub mod models;
pub mod report;
pub mod rng;
pub mod run;
pub mod spd;
pub mod views;
pub mod vpd;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::ApdError;
