//! # apd-playground
//!
//! Parameter decomposition (APD, Braun et al. 2025; SPD, Bushnaq et al.
//! 2025; VPD, Goodfire 2026) on [burn](https://burn.dev), for the same code
//! natively and in the browser.
//! Formulas follow the papers and their reference code (goodfire-ai/spd,
//! goodfire-ai/param-decomp); docs/how-it-works.md says where we differ.
//!
//! `ARCHITECTURE.md` is the module map: what each module is for and what
//! it must not do, each using only the ones after it (`tests/layout.rs`
//! keeps both so).
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
pub mod interop;
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
