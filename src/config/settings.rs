//! What every setting means, in words: the one source the page's fields and
//! `apd presets --explain` both show. Each entry names its setting by dotted
//! path, says what it does in a line, gives its symbol in the papers where
//! there is one, and says whether it is part of APD as published or one of
//! this project's additions. `tests` below check that every setting of
//! every preset has an entry, and that the ranges stated are the ones
//! validation enforces.

use serde::Serialize;

/// Where a setting belongs.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// The target network's architecture and data.
    Model,
    /// How the target is trained.
    Target,
    /// APD as the paper defines it.
    Paper,
    /// This project's additions to APD (off in the "as in the paper" variant).
    Addition,
    /// SPD as its paper defines it.
    Spd,
    /// What the SPD reference code added after the paper (off in the "as in
    /// the paper" variant).
    SpdLater,
    /// VPD as param-decomp's code defines it.
    Vpd,
}

/// One setting, explained.
#[derive(Serialize, Clone, Copy, Debug)]
pub struct Setting {
    /// Dotted path, as `--set` and the URL hash take it.
    pub path: &'static str,
    /// A few words a visitor can read.
    pub label: &'static str,
    /// What it does, in one line.
    pub description: &'static str,
    /// Its symbol in the APD paper, or "".
    pub symbol: &'static str,
    /// Where it belongs.
    pub group: Group,
    /// The values validation accepts, in words.
    pub range: &'static str,
}

const fn s(
    path: &'static str,
    label: &'static str,
    symbol: &'static str,
    group: Group,
    range: &'static str,
    description: &'static str,
) -> Setting {
    Setting { path, label, description, symbol, group, range }
}

use Group::{Addition, Model, Paper, Spd, SpdLater, Target, Vpd};

/// Every setting, in the order the page shows them.
pub const SETTINGS: &[Setting] = &[
    s("model.n_features", "features", "n", Model, "1 to 4096", "how many sparse input features the network must pass through (and output)"),
    s("model.n_hidden", "hidden width", "d", Model, "1 to 4096", "TMS: the width of the bottleneck the n features are squeezed into"),
    s("model.n_hidden_layers", "identity layers", "", Model, "0 to 8", "TMS: frozen identity layers between W and its transpose (decomposed too)"),
    s("model.d_resid", "residual width", "", Model, "1 to 8192", "residual MLP: the width of the residual stream the features are embedded in"),
    s("model.d_mlp", "neurons per layer", "", Model, "1 to 4096", "residual MLP: ReLU neurons in each MLP layer, fewer than the features it computes"),
    s("model.n_layers", "MLP layers", "", Model, "1 to 8", "residual MLP: how many MLP layers write to the residual stream"),
    s("model.feature_prob", "feature probability", "p", Model, "(0, 1]", "how often each feature is on in a sample: small means sparse data"),
    s("target.lr", "learning rate", "", Target, "(0, 1e6]", "peak learning rate of the target's AdamW training"),
    s("target.weight_decay", "weight decay", "", Target, "[0, 1]", "AdamW weight decay while training the target"),
    s("target.lr_schedule", "schedule", "", Target, "constant, cosine or linear", "how the target's learning rate falls after warmup"),
    s("target.lr_warmup_pct", "warmup", "", Target, "[0, 1)", "share of the target's steps spent raising the learning rate from 0"),
    s("target.batch_size", "batch size", "", Target, "1 to 65536", "samples per target training step"),
    s("target.steps", "steps", "", Target, "1 to 10000000", "target training steps"),
    s("target.untied_adam", "tied W as two parameters", "", Target, "true or false", "TMS: train the tied W as the SPD reference code does, with separate Adam moments for its two uses"),
    s("target.init", "initialisation", "", Target, "xavier or torch", "TMS: how W and b start: xavier-normal and 0, or PyTorch's nn.Linear defaults"),
    s("apd.n_components", "components", "C", Paper, "1 to 4096", "how many parameter components the weights are split into"),
    s("apd.rank", "rank per matrix", "m", Paper, "1 to 1024", "rank of each component's factors in every decomposed matrix"),
    s("apd.topk", "active components per sample", "k", Paper, "(0, C], and k times batch at least 1", "batch top-k: on average this many components, those with the largest attributions, run each sample"),
    s("apd.coeff_faithfulness", "faithfulness coefficient", "", Paper, "[0, 1e6]", "weight of the faithfulness loss: the components must sum to the target's weights (1 in the paper)"),
    s("apd.coeff_minimality", "minimality coefficient", "β", Paper, "[0, 1e6]", "weight of the minimality loss: the top-k components alone must reproduce the target's output"),
    s("apd.coeff_simplicity", "simplicity coefficient", "α", Paper, "[0, 1e6]", "weight of the simplicity loss: the Schatten-p norm of the active components, which favours low rank"),
    s("apd.schatten_p", "Schatten p", "p", Paper, "(0, 2]", "the p of the simplicity loss: below 1 it pushes harder towards rank one"),
    s("apd.coeff_activation", "activation coefficient", "", Paper, "[0, 1e6]", "residual MLP: weight of matching the top-k model's hidden activations to the target's"),
    s("apd.unit_norm_a", "unit-norm A", "", Paper, "true or false", "rescale each column of the left factors to unit norm before every step, as the reference code does"),
    s("apd.attribution_source", "attributions from", "", Paper, "apd or target", "which network's gradients rank the components: the sum of components, or the target"),
    s("apd.lr", "learning rate", "", Paper, "(0, 1e6]", "peak learning rate of APD's Adam"),
    s("apd.lr_schedule", "schedule", "", Paper, "constant, cosine or linear", "how APD's learning rate falls after warmup"),
    s("apd.lr_warmup_pct", "warmup", "", Paper, "[0, 1)", "share of APD's steps spent raising the learning rate from 0"),
    s("apd.batch_size", "batch size", "", Paper, "1 to 65536", "samples per APD step (batch top-k chooses over all of them)"),
    s("apd.steps", "steps", "", Paper, "1 to 10000000", "APD steps of the start that goes on (the losing starts add their own)"),
    s("spd.n_components", "subcomponents per matrix", "C", Spd, "1 to 4096", "how many rank-one subcomponents each weight matrix is split into"),
    s("spd.d_gate", "importance network width", "", Spd, "1 to 1024", "hidden neurons of each subcomponent's small causal-importance network"),
    s("spd.coeff_faithfulness", "faithfulness coefficient", "β_f", Spd, "[0, 1e6]", "weight of the faithfulness loss: the subcomponents must sum to the target's weights"),
    s("spd.coeff_stochastic", "stochastic reconstruction coefficient", "β_r", Spd, "[0, 1e6]", "weight of reproducing the target's output with every matrix randomly masked where its importance is below 1"),
    s("spd.coeff_layerwise", "layerwise reconstruction coefficient", "β_rl", Spd, "[0, 1e6]", "the same with one matrix masked at a time, the others as in the target"),
    s("spd.coeff_importance", "importance minimality coefficient", "β_i", Spd, "[0, 1e6]", "weight of the penalty on causal importance: each input should need few subcomponents"),
    s("spd.importance_p", "importance p", "p", Spd, "(0, 2]", "the power of the importance penalty: 1 sums importances, 2 favours many small ones less"),
    s("spd.lr", "learning rate", "", Spd, "(0, 1e6]", "peak learning rate of SPD's AdamW (no weight decay)"),
    s("spd.lr_schedule", "schedule", "", Spd, "constant, cosine or linear", "how SPD's learning rate falls after warmup"),
    s("spd.lr_warmup_pct", "warmup", "", Spd, "[0, 1)", "share of SPD's steps spent raising the learning rate from 0"),
    s("spd.batch_size", "batch size", "", Spd, "1 to 65536", "samples per SPD step"),
    s("spd.steps", "steps", "", Spd, "1 to 10000000", "SPD steps"),
    s("spd.delta_component", "delta component", "", SpdLater, "true or false", "each masked matrix also adds what its subcomponents miss, W - VU, at a random strength per sample, so reconstruction itself asks for faithfulness"),
    s("spd.faithfulness_warmup_steps", "faithfulness warmup", "", SpdLater, "0 to 100000", "steps fitting the subcomponents' sum to the weights alone (lr 0.01, weight decay 0.1) before SPD starts"),
    s("spd.lower_sigmoid", "mask sigmoid below 0", "", SpdLater, "leaky or revive", "leaky: 0.01 z, pushed either way; revive: 0, nudged up only when an input needs the subcomponent, so unused ones can come back"),
    s("vpd.n_components", "subcomponents per matrix", "C", Vpd, "1 to 4096", "how many rank-one subcomponents each weight matrix is split into"),
    s("vpd.ci_hidden", "importance network width", "", Vpd, "1 to 4096", "hidden neurons of each matrix's causal-importance network, which reads the matrix's whole input"),
    s("vpd.coeff_faithfulness", "faithfulness coefficient", "", Vpd, "[0, 1e6]", "weight of the relative faithfulness loss: ||W - VU||² / ||W||², averaged over the matrices"),
    s("vpd.coeff_reconstruction", "reconstruction coefficient", "", Vpd, "[0, 1e6]", "weight of reproducing the target's output under the adversary's masks (half the inputs) or random ones on a random subset of the matrices (the other half)"),
    s("vpd.coeff_importance", "importance coefficient", "", Vpd, "[0, 1e6]", "weight of the smooth-L0 penalty on causal importance: each input should need few subcomponents"),
    s("vpd.coeff_frequency", "frequency coefficient", "", Vpd, "[0, 1e6]", "weight of the penalty on subcomponents that many inputs need"),
    s("vpd.frequency_scale", "frequency scale", "a", Vpd, "[0, 1e6]", "a in the frequency penalty f log2(1 + a f), f a subcomponent's mean importance"),
    s("vpd.gamma_final", "final gamma", "γ", Vpd, "(0, 1]", "the smooth L0 g² / (g² + γ²) sharpens as γ falls linearly from 1 to this"),
    s("vpd.lr", "learning rate", "", Vpd, "(0, 1e6]", "peak learning rate of VPD's two AdamW optimisers (subcomponents, importance networks)"),
    s("vpd.lr_final_pct", "final learning rate", "", Vpd, "[0, 1]", "the cosine schedule ends at this share of the peak"),
    s("vpd.batch_size", "batch size", "", Vpd, "1 to 65536", "samples per VPD step"),
    s("vpd.steps", "steps", "", Vpd, "1 to 10000000", "VPD steps"),
    s("vpd.adversary_lr", "adversary learning rate", "", Vpd, "[0, 10]", "learning rate of the adversary's Adam ascent on its masks"),
    s("vpd.adversary_warmup_pct", "adversary warmup", "", Vpd, "[0, 1]", "share of the steps over which the adversary's learning rate rises from 0"),
    s("vpd.warmup_ascents", "ascents before each step", "", Vpd, "0 to 16", "adversary steps on its masks before each training step (one more follows it)"),
    s("vpd.faithfulness_warmup_steps", "faithfulness warmup", "", Vpd, "0 to 100000", "steps fitting the subcomponents' sum to the weights alone (lr 0.01) before VPD starts"),
    s("vpd.one_sided_leak", "one-sided leak", "", Vpd, "true or false", "below 0 the masks' importance passes back 0.01 of its gradient only where that raises it (param-decomp's), so unused subcomponents can come back; false: both ways"),
    s("vpd.grad_clip", "gradient clip", "", Vpd, "(0, 1e6]", "each optimiser's gradient norm is clipped to this"),
    s("apd.extra_components", "spare components", "", Addition, "0 to 4096 - C", "components trained besides the C at first; the least used are dropped at the prune point"),
    s("apd.prune_at_pct", "prune point", "", Addition, "(0, 1)", "share of the steps after which the spare components are dropped"),
    s("apd.restarts", "restarts", "", Addition, "0 to 16", "extra starts from other initialisations; the one whose top-k model reproduces the target best goes on"),
    s("apd.restart_pct", "start length", "", Addition, "(0, 1)", "length of each start, as a share of the steps"),
    s("spd.restarts", "restarts", "", Addition, "0 to 16", "SPD: extra starts from other initialisations; the one in which the most features alone each need a subcomponent of their own goes on"),
    s("spd.restart_pct", "start length", "", Addition, "(0, 1)", "SPD: length of each start, as a share of the steps"),
    s("vpd.restarts", "restarts", "", Addition, "0 to 16", "VPD: extra starts from other initialisations; the one in which the most features alone each need a subcomponent of their own goes on"),
    s("vpd.restart_pct", "start length", "", Addition, "(0, 1)", "VPD: length of each start, as a share of the steps"),
    s("scale.rescale", "decompose at the preset's scale", "", Addition, "true or false", "move the target to the scale the settings were measured at, decompose, scale the components back"),
    s("scale.feature_norm", "feature norm", "", Addition, "(0, 100]", "TMS: the feature-vector norm the target is decomposed at (the one the preset was measured on)"),
];

/// The settings the page shows at once, a few per group: what a visitor
/// changes first (sizes, the method's main coefficients, its schedule);
/// the others wait behind one "More settings" per group.
pub const MAIN: &[&str] = &[
    "model.n_features",
    "model.n_hidden",
    "model.n_hidden_layers",
    "model.d_resid",
    "model.d_mlp",
    "model.n_layers",
    "model.feature_prob",
    "target.lr",
    "target.steps",
    "apd.n_components",
    "apd.topk",
    "apd.coeff_minimality",
    "apd.coeff_simplicity",
    "apd.lr",
    "apd.steps",
    "spd.n_components",
    "spd.coeff_importance",
    "spd.lr",
    "spd.steps",
    "vpd.n_components",
    "vpd.coeff_importance",
    "vpd.adversary_lr",
    "vpd.lr",
    "vpd.steps",
    "apd.restarts",
    "spd.restarts",
    "vpd.restarts",
    "scale.rescale",
];

/// [`SETTINGS`] as JSON, each with `main` (whether it is in [`MAIN`]).
pub fn settings_json() -> String {
    let all: Vec<serde_json::Value> = SETTINGS
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).expect("a setting serialises");
            v["main"] = serde_json::Value::Bool(MAIN.contains(&s.path));
            v
        })
        .collect();
    serde_json::to_string(&all).expect("settings serialise")
}

/// The entry for `path`, if it has one.
pub fn setting(path: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{preset, PRESET_NAMES};

    #[test]
    fn main_settings_are_settings() {
        for p in MAIN {
            assert!(setting(p).is_some(), "{p} is in MAIN but has no entry in SETTINGS");
        }
        assert!(settings_json().contains(r#""path":"apd.topk""#) && settings_json().contains(r#""main":false"#));
    }

    fn leaves(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k != "kind" {
                        leaves(x, &if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
                    }
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }

    #[test]
    fn every_setting_of_every_preset_is_explained() {
        for name in PRESET_NAMES {
            let mut paths = Vec::new();
            let spd = crate::config::with_method(&preset(name).unwrap(), name, crate::config::Method::Spd).unwrap();
            let vpd = crate::config::with_method(&spd, name, crate::config::Method::Vpd).unwrap();
            leaves(&serde_json::to_value(vpd).unwrap(), "", &mut paths);
            paths.retain(|p| p != "method");
            for p in paths {
                let s = setting(&p).unwrap_or_else(|| panic!("{name}: `{p}` has no entry in SETTINGS"));
                assert!(!s.label.is_empty() && !s.description.is_empty() && !s.range.is_empty(), "{p}");
            }
        }
        let mut seen: Vec<&str> = SETTINGS.iter().map(|s| s.path).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), SETTINGS.len(), "one entry per setting");
    }

    #[test]
    fn stated_integer_ranges_are_the_enforced_ones() {
        // For every "lo to hi" range: lo and hi are accepted, one beyond is refused naming the field.
        for s in SETTINGS {
            let Some((lo, hi)) = s.range.split_once(" to ") else { continue };
            let (Ok(lo), Ok(hi)) = (lo.parse::<usize>(), hi.parse::<usize>()) else { continue };
            let name = if s.path.starts_with("model.d_") || s.path == "model.n_layers" { "resid-mlp-custom" } else { "tms-5-2" };
            let base = preset(name).unwrap();
            let base = match s.path.split('.').next() {
                Some("spd") => crate::config::with_method(&base, name, crate::config::Method::Spd).unwrap(),
                Some("vpd") => crate::config::with_method(&base, name, crate::config::Method::Vpd).unwrap(),
                _ => base,
            };
            for (v, ok) in [(lo, true), (hi, true), (hi + 1, false)].into_iter().chain((lo > 0).then_some((lo - 1, false))) {
                let mut cfg = base.clone();
                match cfg.set(s.path, &v.to_string()) {
                    Err(e) if !ok => assert_eq!(e.field, s.path, "{}={v}: {e}", s.path),
                    // A bound can be refused because of another field (a tensor too large, too
                    // few components left for the spares), never for its own range.
                    Err(e) => assert_ne!(e.field, s.path, "{}={v} refused: {e}", s.path),
                    Ok(()) => assert!(ok, "{}={v} was accepted", s.path),
                }
            }
        }
    }
}
