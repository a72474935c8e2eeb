//! Targets and decompositions written for PyTorch users: safetensors under
//! param-decomp's names (PyTorch's `out x in` weights; a decomposed
//! module's factors as `_components.<path with dashes>.{V,U}`, with
//! `weight = (V @ U).T`), and a config in the form param-decomp's toy
//! experiments take.

use super::{transpose, NamedTensors, Tensor32};
use crate::config::{ExperimentConfig, ModelConfig};
use crate::models::Target;
use crate::report::{target_from_file, Report, TargetFile};
use crate::ApdError;
use serde_json::Value;

fn matrix(rows: usize, cols: usize, values: Vec<f32>) -> Tensor32 {
    Tensor32 { shape: vec![rows, cols], values }
}

/// The PyTorch module that holds this project's matrix `name`, as
/// param-decomp's TMS and residual MLP name them.
fn module_of(name: &str) -> String {
    let index = |p: &str| name.strip_prefix(p).and_then(|i| i.parse::<usize>().ok()).map(|i| i - 1);
    match (name, index("H"), index("W_in"), index("W_out")) {
        ("W", ..) => "linear1".into(),
        (_, Some(i), ..) => format!("hidden_layers.{i}"),
        (_, _, Some(i), _) => format!("layers.{i}.mlp_in"),
        (_, _, _, Some(i)) => format!("layers.{i}.mlp_out"),
        _ => name.into(),
    }
}

/// A target's weights under PyTorch's names, as param-decomp's
/// `TMSModel` and `ResidMLP` hold them (with the tied decoder and the
/// unembedding written out).
pub fn target_tensors(t: &Target) -> NamedTensors {
    let mut out = NamedTensors::new();
    for m in &t.layers {
        out.insert(format!("{}.weight", module_of(&m.name)), transpose(m.d_in, m.d_out, &m.values));
    }
    match &t.model {
        ModelConfig::Tms(_) => {
            let w = &t.layers[0];
            out.insert("linear2.weight".into(), matrix(w.d_in, w.d_out, w.values.clone()));
            out.insert("linear2.bias".into(), Tensor32 { shape: vec![t.bias.len()], values: t.bias.clone() });
        }
        ModelConfig::ResidMlp(r) => {
            out.insert("W_E".into(), matrix(r.n_features, r.d_resid, t.embed.clone()));
            out.insert("W_U".into(), transpose(r.n_features, r.d_resid, &t.embed));
        }
    }
    out
}

/// What "Export safetensors" writes for `text`, a report or a target
/// file: the safetensors bytes and the YAML config that names them
/// `weights`. A target file's settings are its preset's.
pub fn export_json(text: &str, weights: &str) -> Result<(Vec<u8>, String), ApdError> {
    let (tensors, cfg, seed) = match Report::parse(text) {
        Ok(r) => (report_tensors(&r)?, r.config.clone(), r.seed),
        Err(report_err) => {
            let f: TargetFile = serde_json::from_str(text).map_err(|_| report_err)?;
            let mut cfg = crate::config::preset(&f.model)?;
            cfg.model = f.config.model.clone();
            (target_tensors(&target_from_file(text)?), cfg, f.seed.unwrap_or(0))
        }
    };
    Ok((write_pt(&tensors), config_yaml(&cfg, seed, weights)))
}

/// Safetensors bytes with the metadata PyTorch's loaders look for.
pub fn write_pt(tensors: &NamedTensors) -> Vec<u8> {
    super::safetensors::write(tensors, &[("format", "pt".to_string()), ("written_by", "apd-playground".to_string())])
}

/// A report's target, its factors under `_components.*` (each matrix's
/// `V = a`, `d_in x C*m`, and `U = b`; the TMS decoder `linear2` as their
/// transposes), and the numbers of the method's state (its importance
/// functions' weights) under `state.<path>`.
pub fn report_tensors(r: &Report) -> Result<NamedTensors, ApdError> {
    let mut out = target_tensors(&r.target()?);
    let cm = r.components.n_components * r.components.rank;
    for f in &r.components.layers {
        let path = module_of(&f.name).replace('.', "-");
        out.insert(format!("_components.{path}.V"), matrix(f.d_in, cm, f.a.clone()));
        out.insert(format!("_components.{path}.U"), matrix(cm, f.d_out, f.b.clone()));
        if f.name == "W" && !r.config.model.is_resid() {
            out.insert("_components.linear2.V".into(), transpose(cm, f.d_out, &f.b));
            out.insert("_components.linear2.U".into(), transpose(f.d_in, cm, &f.a));
        }
    }
    flatten_state(&r.record.state, "state", &mut out);
    Ok(out)
}

/// Every list of numbers in `v` (and every list of equally long lists of
/// numbers) as a tensor named by its path.
fn flatten_state(v: &Value, path: &str, out: &mut NamedTensors) {
    let numbers = |items: &[Value]| items.iter().map(|x| x.as_f64().map(|f| f as f32)).collect::<Option<Vec<f32>>>();
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| flatten_state(x, &format!("{path}.{k}"), out)),
        Value::Array(items) if !items.is_empty() => {
            if let Some(values) = numbers(items) {
                out.insert(path.into(), Tensor32 { shape: vec![values.len()], values });
                return;
            }
            let rows: Option<Vec<Vec<f32>>> = items.iter().map(|x| x.as_array().and_then(|r| numbers(r))).collect();
            match rows {
                Some(rows) if !rows[0].is_empty() && rows.iter().all(|r| r.len() == rows[0].len()) => {
                    let cols = rows[0].len();
                    out.insert(path.into(), matrix(rows.len(), cols, rows.concat()));
                }
                _ => items.iter().enumerate().for_each(|(i, x)| flatten_state(x, &format!("{path}.{i}"), out)),
            }
        }
        _ => {}
    }
}

/// The settings of a run in the form param-decomp's toy experiments take
/// (its `tms_5-2_config.yaml` and kin): the decomposed modules and their
/// component counts, the importance loss, the schedule, the data; the
/// target named by `weights`, the safetensors file beside it. A key this
/// project has no setting for is left out, not guessed.
pub fn config_yaml(cfg: &ExperimentConfig, seed: u64, weights: &str) -> String {
    let method = cfg.method.name();
    let settings = serde_json::to_value(cfg).ok().and_then(|v| v.get(method).cloned()).unwrap_or(Value::Null);
    let get = |k: &str| settings.get(k).filter(|v| !v.is_null()).map(|v| v.to_string().trim_matches('"').to_string());
    let c = get("n_components").unwrap_or_default();
    let mut modules: Vec<String> = cfg.model.layer_shapes().iter().map(|(n, ..)| module_of(n)).collect();
    if !cfg.model.is_resid() {
        modules.insert(1, "linear2".into());
    }
    let mut y = format!(
        "# Written by apd-playground: the settings of its {} decomposition (seed {seed}) in param-decomp's form.\n",
        method.to_uppercase()
    );
    y.push_str(&format!("# The target and the components are in {weights} (PyTorch's names, out x in).\npd:\n  seed: {seed}\n"));
    if let Some(m) = get("rank").filter(|m| m != "1") {
        y.push_str(&format!("  # Each of the C components has rank {m}: V has C*{m} columns and U C*{m} rows, in groups of {m}.\n"));
    }
    y.push_str("  module_info:\n");
    for m in &modules {
        y.push_str(&format!("  - module_pattern: {m}\n    C: {c}\n"));
    }
    if let (Some(coeff), Some(p)) = (get("coeff_importance"), get("importance_p")) {
        y.push_str(&format!("  loss_metrics:\n    importance_minimality:\n      coeff: {coeff}\n      pnorm: {p}\n"));
    }
    for (k, name) in [("batch_size", "batch_size"), ("steps", "steps")] {
        if let Some(v) = get(k) {
            y.push_str(&format!("  {name}: {v}\n"));
        }
    }
    if let Some(lr) = get("lr") {
        let schedule = get("lr_schedule").unwrap_or_else(|| "constant".into());
        let warmup = get("lr_warmup_pct").unwrap_or_else(|| "0.0".into());
        y.push_str(&format!(
            "  components_optimizer:\n    lr_schedule:\n      start_val: {lr}\n      fn_type: {schedule}\n      warmup_pct: {warmup}\n"
        ));
    }
    y.push_str(&format!("target:\n  path: {weights}\n"));
    let prob = match &cfg.model {
        ModelConfig::Tms(t) => {
            y.push_str(&format!(
                "  tms_model_config:\n    n_features: {}\n    n_hidden: {}\n    n_hidden_layers: {}\n    tied_weights: true\n",
                t.n_features, t.n_hidden, t.n_hidden_layers
            ));
            t.feature_prob
        }
        ModelConfig::ResidMlp(r) => {
            y.push_str(&format!(
                "  resid_mlp_model_config:\n    n_features: {}\n    d_embed: {}\n    d_mlp: {}\n    n_layers: {}\n    act_fn_name: relu\n    in_bias: false\n    out_bias: false\n",
                r.n_features, r.d_resid, r.d_mlp, r.n_layers
            ));
            r.feature_prob
        }
    };
    y.push_str(&format!("data:\n  feature_probability: {prob}\n  data_generation_type: at_least_zero_active\n"));
    y
}
