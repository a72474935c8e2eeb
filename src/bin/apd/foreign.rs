//! Targets from other tools' files (`--target model.safetensors`,
//! `--target tms.pth`, `apd inspect`), and `apd export`: a target or a
//! decomposition as safetensors under param-decomp's names, with its
//! settings beside it in param-decomp's YAML form.

use crate::cli::Args;
use apd_playground::config::ExperimentConfig;
use apd_playground::interop::export::{config_yaml, export_json, target_tensors, write_pt};
use apd_playground::interop::{import_target, FileKind, Imported};
use apd_playground::models::Target;
use apd_playground::report::{target_from_file, Report, TargetFile};
use apd_playground::ApdError;

pub fn read_bytes(path: &str) -> Result<Vec<u8>, ApdError> {
    std::fs::read(path).map_err(|e| ApdError::Format(format!("cannot read {path}: {e}")))
}

/// The safetensors or PyTorch file at `path`, if it is one (`None` for JSON).
pub fn imported(path: &str) -> Result<Option<Imported>, ApdError> {
    let bytes = read_bytes(path)?;
    match FileKind::of(&bytes).map_err(|e| in_file(path, e))? {
        FileKind::Json => Ok(None),
        _ => import_target(&bytes).map(Some).map_err(|e| in_file(path, e)),
    }
}

fn in_file(path: &str, e: ApdError) -> ApdError {
    match e {
        ApdError::Format(m) => ApdError::Format(format!("{path}: {m}")),
        other => other,
    }
}

/// The preset a `--target` file is for, and its architecture, when no
/// `--model` names one.
pub fn preset_of_target(path: &str) -> Result<(String, ExperimentConfig), ApdError> {
    if let Some(i) = imported(path)? {
        return Ok((i.preset, i.config));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ApdError::Format(format!("cannot read {path}: {e}")))?;
    let (name, model) = match TargetFile::parse(&text) {
        Ok((name, t)) => (name, t.model),
        Err(e) => {
            let r = Report::parse(&text).map_err(|_| e)?;
            (r.model, r.config.model)
        }
    };
    let mut cfg = apd_playground::config::preset(&name)?;
    cfg.model = model;
    Ok((name, cfg))
}

/// `--target FILE` for a run of `cfg`: a target file, a report, or another
/// tool's weights, which must have `cfg`'s architecture (their feature
/// probability is `cfg`'s: weights do not record it).
pub fn load_target(path: &str, cfg: &ExperimentConfig) -> Result<Target, ApdError> {
    let mut target = match imported(path)? {
        Some(i) => i.target,
        None => target_from_file(&crate::files::read_text(path)?)?,
    };
    let sizes = |m: &apd_playground::config::ModelConfig| {
        let mut v = serde_json::to_value(m).expect("a model config serialises");
        v.as_object_mut().map(|o| o.remove("feature_prob"));
        v
    };
    if sizes(&target.model) != sizes(&cfg.model) {
        return Err(ApdError::Mismatch(format!(
            "{path} holds a target of architecture {}, but the chosen model is {} (leave out --model to take the file's)",
            sizes(&target.model),
            sizes(&cfg.model)
        )));
    }
    target.model = cfg.model.clone();
    Ok(target)
}

/// `apd inspect` of a safetensors or PyTorch file: what was read and inferred.
pub fn inspect(i: &Imported) {
    println!("{}", i.summary);
    println!("tensors: {}{}", i.names.join(", "), crate::files::norms_note(&i.target));
}

/// `apd export FILE --out NAME.safetensors`: FILE's target (and, for a
/// report, its decomposition) as safetensors, and NAME.yaml beside it.
pub fn cmd_export(args: &Args) -> Result<(), ApdError> {
    let path = args.file.as_deref().ok_or_else(|| ApdError::Format("export needs a report or target file".into()))?;
    let out = args.out.as_deref().ok_or_else(|| ApdError::Format("--out is required".into()))?;
    let stem = out.strip_suffix(".safetensors").ok_or_else(|| ApdError::Format(format!("--out must end in .safetensors, got {out:?}")))?;
    let weights = std::path::Path::new(out).file_name().map_or(out.to_string(), |f| f.to_string_lossy().into_owned());
    let yaml = format!("{stem}.yaml");
    let (bytes, config) = match imported(path)? {
        Some(i) => (write_pt(&target_tensors(&i.target)), config_yaml(&i.config, 0, &weights)),
        None => export_json(&crate::files::read_text(path)?, &weights)?,
    };
    std::fs::write(out, bytes).map_err(|e| ApdError::Format(format!("cannot write {out}: {e}")))?;
    std::fs::write(&yaml, config).map_err(|e| ApdError::Format(format!("cannot write {yaml}: {e}")))?;
    println!("wrote {out} and its settings, in param-decomp's form, to {yaml}");
    Ok(())
}
