//! Every setting of a run, and its validation.
//!
//! One validation path serves the CLI, the page and the worker: every
//! configuration, however it arrived (preset, `--set key=value`, URL hash,
//! imported JSON), goes through [`ExperimentConfig::validate`] before any
//! tensor is allocated. By concern:
//! - [`model`]: the target architectures and their shapes;
//! - [`method`]: the settings of target training, of APD, SPD and of the
//!   scale a target is decomposed at; [`vpd`]: VPD's;
//! - [`schedule`]: learning-rate schedules;
//! - [`presets`]: the named starting points;
//! - [`limits`]: the largest tensor and the memory a step may take;
//! - [`settings`]: what each setting means, for the page and the CLI.

pub mod limits;
pub mod method;
pub mod model;
pub mod presets;
pub mod schedule;
pub mod settings;
pub mod vpd;

pub use method::{ApdConfig, AttributionSource, LowerSigmoid, Method, ScaleConfig, SpdConfig, TargetInit, TargetTrainConfig};
pub use model::{ChainLayer, ModelConfig, ResidMlpConfig, TmsConfig};
pub use presets::{apply_recipe, paper_variant, preset, spd_settings, with_method, PRESET_NAMES, RECIPES};
pub use schedule::{lr_at, LrSchedule, StartPlan};
pub use vpd::{vpd_settings, VpdConfig};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A configuration value that is out of range, with the field it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `apd.topk`.
    pub field: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(field: &str, message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError { field: field.to_string(), message: message.into() })
}

fn check_range(field: &str, v: f64, lo: f64, hi: f64, lo_open: bool) -> Result<(), ConfigError> {
    let ok_lo = if lo_open { v > lo } else { v >= lo };
    if !v.is_finite() || !ok_lo || v > hi {
        let l = if lo_open { "(" } else { "[" };
        return err(field, format!("must be a number in {l}{lo}, {hi}] (got {v})"));
    }
    Ok(())
}

fn check_count(field: &str, v: usize, lo: usize, hi: usize) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return err(field, format!("must be an integer in [{lo}, {hi}] (got {v})"));
    }
    Ok(())
}

/// Everything that defines a run apart from the seed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The target architecture.
    pub model: ModelConfig,
    /// How the target is trained.
    pub target: TargetTrainConfig,
    /// How it is decomposed.
    pub apd: ApdConfig,
    /// The scale it is decomposed at.
    #[serde(default)]
    pub scale: ScaleConfig,
    /// The decomposition method (absent: APD, as in every report from before SPD).
    #[serde(default, skip_serializing_if = "Method::is_apd")]
    pub method: Method,
    /// SPD's settings, present when the method is SPD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spd: Option<SpdConfig>,
    /// VPD's settings, present when the method is VPD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpd: Option<VpdConfig>,
}

impl ExperimentConfig {
    /// Checks every field; the first problem found is returned, naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.model.validate()?;
        self.target.validate()?;
        self.apd.validate()?;
        self.scale.validate()?;
        match (&self.method, &self.spd) {
            (Method::Spd, None) => return err("spd", "the SPD method needs its settings (spd.n_components, ...)"),
            (_, Some(spd)) => spd.validate()?,
            _ => {}
        }
        match (&self.method, &self.vpd) {
            (Method::Vpd, None) => return err("vpd", "the VPD method needs its settings (vpd.n_components, ...)"),
            (_, Some(vpd)) => vpd.validate()?,
            _ => {}
        }
        self.validate_size()
    }

    /// Replaces the field at a dotted path (`apd.lr`, `model.n_features`) by
    /// `value`, given as JSON or as a bare word for enum fields, and
    /// validates the result. On error `self` is unchanged.
    pub fn set(&mut self, path: &str, value: &str) -> Result<(), ConfigError> {
        if path.trim().is_empty() {
            return err("(empty name)", "a setting needs a name, such as apd.lr");
        }
        let mut root = serde_json::to_value(&*self).expect("config serialises");
        let mut node = &mut root;
        for key in path.split('.') {
            node = match node.get_mut(key) {
                Some(n) if key != "kind" => n,
                _ => return err(path, "no such setting"),
            };
        }
        let parsed: serde_json::Value =
            serde_json::from_str(value.trim()).unwrap_or_else(|_| serde_json::Value::String(value.trim().to_string()));
        *node = parsed;
        let updated: ExperimentConfig = serde_json::from_value(root)
            .map_err(|e| ConfigError { field: path.to_string(), message: format!("cannot use {value:?}: {e}") })?;
        updated.validate()?;
        *self = updated;
        Ok(())
    }

    /// Parses and validates a configuration given as JSON.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let cfg: ExperimentConfig =
            serde_json::from_str(text).map_err(|e| ConfigError { field: "config".into(), message: e.to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for name in PRESET_NAMES {
            preset(name).unwrap().validate().unwrap();
        }
        assert_eq!(preset("nope").unwrap_err().field, "model");
    }

    #[test]
    fn invalid_values_name_their_field() {
        let base = preset("tms-5-2").unwrap();
        let cases = [
            ("apd.n_components", "0"),
            ("apd.topk", "0"),
            ("apd.topk", "6"),
            ("apd.lr", "-1"),
            ("apd.lr", "\"fast\""),
            ("apd.schatten_p", "2.5"),
            ("apd.batch_size", "0"),
            ("apd.steps", "0"),
            ("apd.restarts", "17"),
            ("apd.restart_pct", "0"),
            ("apd.restart_pct", "1"),
            ("model.n_features", "100000"),
            ("model.feature_prob", "0"),
            ("apd.lr_schedule", "wobbly"),
            ("apd.nonsense", "1"),
        ];
        for (field, value) in cases {
            let mut cfg = base.clone();
            let e = cfg.set(field, value).unwrap_err();
            assert_eq!(e.field, field, "{field}={value}: {e}");
            assert_eq!(cfg, base, "a rejected value must change nothing");
        }
    }

    #[test]
    fn restarts_add_their_losing_starts_to_the_steps() {
        let mut cfg = preset("tms-5-2").unwrap();
        // The preset: three starts of 3,000 steps, the warmup's 1,000 and
        // the prune at 2,000 in each, the start kept going on to 6,000.
        let a = &cfg.apd;
        let lr = |step| lr_at(step, a.steps, a.lr, a.lr_warmup_pct, a.lr_schedule);
        assert!(lr(999) < a.lr && lr(1000) == a.lr, "the warmup ends at step 1,000");
        assert_eq!((a.prune_step(), a.restart_len(), a.total_steps(), a.selection_step()), (2000, 3000, 12_000, 9000));
        cfg.set("apd.steps", "20000").unwrap();
        cfg.set("apd.restarts", "2").unwrap();
        cfg.set("apd.restart_pct", "0.15").unwrap();
        let a = &cfg.apd;
        assert_eq!((a.restart_len(), a.total_steps(), a.selection_step()), (3000, 26_000, 9000));
        cfg.set("apd.steps", "3").unwrap();
        // Never shorter than one step, never longer than the schedule.
        assert_eq!((cfg.apd.restart_len(), cfg.apd.total_steps()), (1, 5));
        cfg.set("apd.restarts", "0").unwrap();
        assert_eq!((cfg.apd.total_steps(), cfg.apd.selection_step()), (3, 0));
        assert!(cfg.apd.restart_marks().is_empty());
    }

    #[test]
    fn the_paper_variant_turns_every_addition_off() {
        for name in PRESET_NAMES {
            let p = paper_variant(&preset(name).unwrap());
            p.validate().unwrap();
            assert_eq!((p.apd.extra_components, p.apd.restarts, p.scale.rescale), (0, 0, false), "{name}");
        }
        // Every setting the registry calls an addition is one of those three switches or their parameters.
        let additions: Vec<&str> = settings::SETTINGS.iter().filter(|s| s.group == settings::Group::Addition).map(|s| s.path).collect();
        assert_eq!(
            additions,
            [
                "apd.extra_components",
                "apd.prune_at_pct",
                "apd.restarts",
                "apd.restart_pct",
                "spd.restarts",
                "spd.restart_pct",
                "vpd.restarts",
                "vpd.restart_pct",
                "scale.rescale",
                "scale.feature_norm"
            ]
        );
        // VPD's restarts too.
        let vpd = paper_variant(&with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Vpd).unwrap());
        assert_eq!(vpd.vpd.map(|v| v.restarts), Some(0));
        // And SPD's later additions, with the faithfulness loss the delta component replaced.
        let mut spd = with_method(&preset("tms-5-2").unwrap(), "tms-5-2", Method::Spd).unwrap();
        for (k, v) in [
            ("spd.delta_component", "true"),
            ("spd.coeff_faithfulness", "0"),
            ("spd.faithfulness_warmup_steps", "200"),
            ("spd.lower_sigmoid", "revive"),
            ("spd.restarts", "3"),
        ] {
            spd.set(k, v).unwrap();
        }
        let p = paper_variant(&spd).spd.unwrap();
        assert_eq!(
            (p.delta_component, p.coeff_faithfulness, p.faithfulness_warmup_steps, p.lower_sigmoid, p.restarts),
            (false, 1.0, 0, LowerSigmoid::Leaky, 0)
        );
        let later: Vec<&str> = settings::SETTINGS.iter().filter(|s| s.group == settings::Group::SpdLater).map(|s| s.path).collect();
        assert_eq!(later, ["spd.delta_component", "spd.faithfulness_warmup_steps", "spd.lower_sigmoid"]);
    }

    #[test]
    fn restart_marks_sit_where_each_start_begins() {
        let mut cfg = preset("tms-5-2").unwrap();
        cfg.set("apd.steps", "100").unwrap();
        cfg.set("apd.restarts", "2").unwrap();
        cfg.set("apd.restart_pct", "0.2").unwrap();
        let marks = cfg.apd.restart_marks();
        let want = [(20, "start 2"), (40, "start 3"), (60, "best goes on")];
        assert_eq!(marks.len(), want.len());
        for ((s, l), (ws, wl)) in marks.iter().zip(want) {
            assert_eq!((*s, l.as_str()), (ws, wl));
        }
    }

    #[test]
    fn set_accepts_good_values() {
        let mut cfg = preset("tms-5-2").unwrap();
        cfg.set("apd.lr", "0.01").unwrap();
        cfg.set("apd.lr_schedule", "cosine").unwrap();
        cfg.set("model.n_features", "6").unwrap();
        assert_eq!(cfg.apd.lr, 0.01);
        assert_eq!(cfg.apd.lr_schedule, LrSchedule::Cosine);
        assert_eq!(cfg.model.n_features(), 6);
    }

    #[test]
    fn huge_configurations_are_refused() {
        let mut cfg = preset("tms-40-10").unwrap();
        let before = cfg.clone();
        let e = cfg.set("apd.batch_size", "65536").and_then(|_| cfg.set("apd.n_components", "4096")).unwrap_err();
        assert_eq!(e.field, "apd.batch_size", "{e}");
        assert!(e.message.contains("floats"), "{e}");
        assert_eq!(cfg.apd.n_components, before.apd.n_components);
    }
}
