//! VPD's settings (docs/vpd.md), beside the other methods' in `method`,
//! and its presets.

use super::schedule::{validate_schedule, StartPlan};
use super::{check_count, check_range, err, ConfigError, PRESET_NAMES};
use serde::{Deserialize, Serialize};

/// VPD hyperparameters (Goodfire 2026; docs/vpd.md): SPD's rank-one subcomponents with
/// a causal-importance MLP per matrix reading its whole input, trained
/// against a persistent adversary. Defaults and ranges as in
/// param-decomp's toy configs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VpdConfig {
    /// C: subcomponents per decomposed matrix.
    pub n_components: usize,
    /// Hidden width of each matrix's causal-importance MLP.
    pub ci_hidden: usize,
    /// Weight of the relative faithfulness loss.
    pub coeff_faithfulness: f64,
    /// Weight of the merged adversarial / stochastic reconstruction.
    pub coeff_reconstruction: f64,
    /// Weight of the smooth-L0 importance penalty.
    pub coeff_importance: f64,
    /// Weight of the frequency penalty.
    pub coeff_frequency: f64,
    /// `a` in the frequency penalty `f log2(1 + a f)`.
    pub frequency_scale: f64,
    /// Where the smooth L0's gamma ends (it falls linearly from 1).
    pub gamma_final: f64,
    /// Peak learning rate of both AdamW optimisers (cosine down to `lr_final_pct` of it).
    pub lr: f64,
    /// The learning rate at the end, as a share of `lr`.
    pub lr_final_pct: f64,
    /// Samples per step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// The adversary's ascent learning rate.
    pub adversary_lr: f64,
    /// Share of the steps over which the adversary's learning rate rises from 0.
    pub adversary_warmup_pct: f64,
    /// Ascent steps on the sources before each training step (one more follows it).
    pub warmup_ascents: usize,
    /// Steps of the faithfulness loss alone (lr 0.01) before VPD starts.
    pub faithfulness_warmup_steps: usize,
    /// Each optimiser's gradient norm is clipped to this (per decomposition).
    pub grad_clip: f64,
    /// The lower CI's gradient below 0 leaks only where it would raise the
    /// importance (param-decomp's); off: both ways.
    #[serde(default = "yes")]
    pub one_sided_leak: bool,
    /// This project's addition, as SPD's: starts from other
    /// initialisations before the real run, `restart_pct` of the steps
    /// each; the one in which the most features alone need a subcomponent
    /// of the first matrix of their own goes on. 0 as in param-decomp.
    #[serde(default)]
    pub restarts: usize,
    /// Each start's share of the steps.
    #[serde(default = "quarter")]
    pub restart_pct: f64,
}

fn quarter() -> f64 {
    0.25
}

fn yes() -> bool {
    true
}

impl VpdConfig {
    /// Where the starts fall.
    pub fn plan(&self) -> StartPlan {
        StartPlan { steps: self.steps, restarts: self.restarts, pct: self.restart_pct }
    }

    /// Checks every field, naming the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_count("vpd.n_components", self.n_components, 1, 4096)?;
        check_count("vpd.ci_hidden", self.ci_hidden, 1, 4096)?;
        for (field, v) in [
            ("vpd.coeff_faithfulness", self.coeff_faithfulness),
            ("vpd.coeff_reconstruction", self.coeff_reconstruction),
            ("vpd.coeff_importance", self.coeff_importance),
            ("vpd.coeff_frequency", self.coeff_frequency),
            ("vpd.frequency_scale", self.frequency_scale),
        ] {
            check_range(field, v, 0.0, 1e6, false)?;
        }
        check_range("vpd.gamma_final", self.gamma_final, 0.0, 1.0, true)?;
        check_range("vpd.lr_final_pct", self.lr_final_pct, 0.0, 1.0, false)?;
        check_range("vpd.adversary_lr", self.adversary_lr, 0.0, 10.0, false)?;
        check_range("vpd.adversary_warmup_pct", self.adversary_warmup_pct, 0.0, 1.0, false)?;
        check_count("vpd.warmup_ascents", self.warmup_ascents, 0, 16)?;
        check_count("vpd.faithfulness_warmup_steps", self.faithfulness_warmup_steps, 0, 100_000)?;
        check_range("vpd.grad_clip", self.grad_clip, 0.0, 1e6, true)?;
        check_count("vpd.restarts", self.restarts, 0, 16)?;
        if !(self.restart_pct > 0.0 && self.restart_pct < 1.0) {
            return Err(ConfigError { field: "vpd.restart_pct".into(), message: format!("must be in (0, 1) (got {})", self.restart_pct) });
        }
        validate_schedule("vpd", self.lr, 0.0, self.batch_size, self.steps)
    }
}

/// VPD's settings for the model preset `name`: param-decomp's toy
/// configs (docs/vpd.md, "Presets"), the custom models taking the nearest
/// one. The playground's presets are shorter than the configs' and weigh
/// importance more: twice on the small TMS models, ten times on the
/// residual MLPs (docs/vpd.md says on which seeds each was chosen); the
/// "as in the paper" variant (`paper_variant`) turns restarts off and
/// keeps the rest.
pub fn vpd_settings(name: &str) -> Result<VpdConfig, ConfigError> {
    let repo = |c: usize, hidden: usize, importance: f64, batch: usize, steps: usize, lr: f64| VpdConfig {
        n_components: c,
        ci_hidden: hidden,
        coeff_faithfulness: 1.0,
        coeff_reconstruction: 1.0,
        coeff_importance: importance,
        coeff_frequency: importance / 2.0,
        frequency_scale: 32768.0,
        gamma_final: 0.01,
        lr,
        lr_final_pct: 0.1,
        batch_size: batch,
        steps,
        adversary_lr: 0.01,
        adversary_warmup_pct: 0.025,
        warmup_ascents: 2,
        faithfulness_warmup_steps: 200,
        grad_clip: 1.0,
        one_sided_leak: true,
        restarts: 0,
        restart_pct: 0.25,
    };
    Ok(match name {
        // SPD's playground schedule for these models, set before any run;
        // this project's restarts, three chosen on tms-5-2-id seeds
        // 100..110 (4 of 10 recovered without, 9 with), then on tms-5-2
        // seeds 0..10 five (7 of 10 with three, 8 with five) and twice the
        // configs' importance coefficients (10 of 10; docs/vpd.md).
        "tms-5-2" | "tms-5-2-id" | "tms-custom" => {
            VpdConfig { batch_size: 256, steps: 8000, lr: 3e-3, restarts: 5, ..repo(20, 50, 1.6e-3, 4096, 20_000, 1e-3) }
        }
        // SPD's short schedule of these models (a sixteenth of the configs'
        // inputs per step, 80% of their steps), set before any run. SPD's
        // three restarts for the identity variant did not help VPD there
        // (0 of 3 with them as without; docs/vpd.md).
        "tms-40-10" | "tms-40-10-id" => VpdConfig { batch_size: 256, steps: 16_000, lr: 2e-3, ..repo(100, 200, 6e-5, 4096, 20_000, 1e-3) },
        // The configs' 50,000 and 100,000 steps at batch 2048 take hours;
        // a quarter of their batch (512, still folded), 10,000 steps and
        // ten times their coefficients: with theirs, seed 7 ended with 17
        // of 100 features owning a subcomponent (about five active per
        // input), with ten times 94 (docs/vpd.md).
        "resid-mlp-1" => repo(200, 400, 1e-5, 512, 10_000, 2e-3),
        "resid-mlp-2" | "resid-mlp-3" => repo(200, 400, 2e-5, 512, 10_000, 2e-3),
        "resid-mlp-custom" => VpdConfig { batch_size: 256, steps: 10_000, ..repo(40, 64, 1e-4, 2048, 50_000, 2e-3) },
        other => return err("model", format!("unknown preset {other:?}; known: {}", PRESET_NAMES.join(", "))),
    })
}
