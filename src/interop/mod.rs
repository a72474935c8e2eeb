//! Other tools' files: targets read from safetensors and PyTorch state
//! dicts (this project's names or param-decomp's, APD.md section 10), and
//! targets and decompositions written as safetensors beside a config in
//! param-decomp's form. Every reader checks lengths, offsets, shapes and
//! values against what the file holds and names the problem it finds.

pub mod export;
mod pickle;
pub mod pytorch;
pub mod safetensors;
mod zip;

use crate::config::{preset, ExperimentConfig, ModelConfig, ResidMlpConfig, TmsConfig, PRESET_NAMES};
use crate::models::{Matrix, Target};
use crate::report::{TargetFile, MAX_FILE_BYTES};
use crate::ApdError;
use serde::Serialize;
use std::collections::BTreeMap;

/// A tensor read from a file, row-major, as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor32 {
    /// Sizes, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Tensors by name, in name order.
pub type NamedTensors = BTreeMap<String, Tensor32>;

pub(crate) fn bad(message: String) -> ApdError {
    ApdError::Format(message)
}

pub(crate) fn check_finite(name: &str, values: &[f32]) -> Result<(), ApdError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(bad(format!("tensor `{name}` holds a value that is not a finite f32 ({}) at element {i}", values[i]))),
        None => Ok(()),
    }
}

/// What kind of file `bytes` are, by their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// This project's target file or report.
    Json,
    /// A safetensors file.
    Safetensors,
    /// A `torch.save` zip archive.
    Pytorch,
}

impl FileKind {
    /// The kind of `bytes`, or why they are none this project reads.
    pub fn of(bytes: &[u8]) -> Result<FileKind, ApdError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(bad(format!("the file is {} bytes, over the limit of {MAX_FILE_BYTES}", bytes.len())));
        }
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        match bytes {
            [b'P', b'K', 3, 4, ..] => Ok(FileKind::Pytorch),
            // Before the pickle check: a header length can begin with 0x80.
            _ if bytes.len() >= 9 && bytes[8] == b'{' => Ok(FileKind::Safetensors),
            [0x80, 2..=5, ..] => Err(bad(
                "a PyTorch file in the format before 1.6 (a bare pickle): load it and save it again with torch.save(model.state_dict(), path)".into(),
            )),
            _ if first == Some(&b'{') => Ok(FileKind::Json),
            _ => Err(bad("not a file this playground reads: a target or report (.json), a .safetensors file or a PyTorch state dict (.pt, .pth)".into())),
        }
    }
}

/// The tensors of a safetensors or PyTorch file.
pub fn read_tensors(bytes: &[u8]) -> Result<(FileKind, NamedTensors), ApdError> {
    match FileKind::of(bytes)? {
        FileKind::Safetensors => Ok((FileKind::Safetensors, safetensors::read(bytes)?)),
        FileKind::Pytorch => Ok((FileKind::Pytorch, pytorch::read(bytes)?)),
        FileKind::Json => Err(bad("a JSON file holds no tensors: read it as a target file or report".into())),
    }
}

/// A target read from another tool's file, with the preset it is
/// decomposed as and what was inferred, for the page and `apd inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    /// The preset whose architecture it has, else the custom one of its kind.
    pub preset: String,
    /// That preset's configuration with the file's architecture.
    #[serde(skip)]
    pub config: ExperimentConfig,
    /// The target.
    #[serde(skip)]
    pub target: Target,
    /// The file's kind.
    pub kind: FileKind,
    /// The tensors read, in name order.
    pub names: Vec<String>,
    /// One sentence: what was inferred.
    pub summary: String,
}

/// A target from a safetensors or PyTorch file: its architecture inferred
/// from the tensors' names and shapes.
pub fn import_target(bytes: &[u8]) -> Result<Imported, ApdError> {
    let (kind, tensors) = read_tensors(bytes)?;
    let names: Vec<String> = tensors.keys().cloned().collect();
    let mut target = infer_target(tensors)?;
    // The file's architecture with the preset's feature probability: weights do not record it.
    let (preset_name, config) = preset_for(&target.model);
    target.model = config.model.clone();
    let summary = summary(&target, kind, &preset_name);
    Ok(Imported { preset: preset_name, config, target, kind, names, summary })
}

impl Imported {
    /// The target as this project's target file, which the page imports.
    pub fn target_file(&self) -> TargetFile {
        let mut f = TargetFile::new(&self.preset, &self.config, 0, &self.target);
        f.seed = None;
        f
    }
}

/// The preset whose architecture `model` has (its feature probability
/// aside), else the custom preset of its kind with `model`'s sizes.
pub fn preset_for(model: &ModelConfig) -> (String, ExperimentConfig) {
    let same = |a: &ModelConfig| match (a, model) {
        (ModelConfig::Tms(a), ModelConfig::Tms(b)) => {
            (a.n_features, a.n_hidden, a.n_hidden_layers) == (b.n_features, b.n_hidden, b.n_hidden_layers)
        }
        (ModelConfig::ResidMlp(a), ModelConfig::ResidMlp(b)) => {
            (a.n_features, a.d_resid, a.d_mlp, a.n_layers) == (b.n_features, b.d_resid, b.d_mlp, b.n_layers)
        }
        _ => false,
    };
    for name in PRESET_NAMES.iter().filter(|n| !n.ends_with("custom")) {
        let cfg = preset(name).expect("presets are valid");
        if same(&cfg.model) {
            return (name.to_string(), cfg);
        }
    }
    let name = if model.is_resid() { "resid-mlp-custom" } else { "tms-custom" };
    let mut cfg = preset(name).expect("presets are valid");
    let prob = match &cfg.model {
        ModelConfig::Tms(t) => t.feature_prob,
        ModelConfig::ResidMlp(r) => r.feature_prob,
    };
    cfg.model = match model.clone() {
        ModelConfig::Tms(t) => ModelConfig::Tms(TmsConfig { feature_prob: prob, ..t }),
        ModelConfig::ResidMlp(r) => ModelConfig::ResidMlp(ResidMlpConfig { feature_prob: prob, ..r }),
    };
    (name.to_string(), cfg)
}

fn summary(t: &Target, kind: FileKind, preset: &str) -> String {
    let from = match kind {
        FileKind::Safetensors => "a safetensors file",
        FileKind::Pytorch => "a PyTorch state dict",
        FileKind::Json => "a target file",
    };
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match &t.model {
        ModelConfig::Tms(m) => {
            let norms: Vec<String> = t.feature_norms().iter().map(|v| format!("{v:.2}")).collect();
            format!(
                "From {from}: a toy model of superposition with {}, hidden size {}, {}; feature norms {}. Decomposed as {preset} (feature probability {}: the file does not record it).",
                plural(m.n_features, "feature"),
                m.n_hidden,
                plural(m.n_hidden_layers, "hidden layer"),
                norms.join(", "),
                m.feature_prob
            )
        }
        ModelConfig::ResidMlp(m) => format!(
            "From {from}: a residual MLP with {}, residual width {}, {} neurons per layer, {}. Decomposed as {preset} (feature probability {}: the file does not record it).",
            plural(m.n_features, "feature"),
            m.d_resid,
            m.d_mlp,
            plural(m.n_layers, "layer"),
            m.feature_prob
        ),
    }
}

/// How a tensor's name maps to this project's: its name here, whether it
/// is PyTorch's `out x in` (to transpose), or a check against another.
enum Role {
    Ours(String, bool),
    /// `linear2.weight`: the tied decoder, which must equal `W`.
    Decoder,
    /// `W_U`: the unembedding, which must equal `W_E` transposed.
    Unembed,
    /// A bias this project's residual MLP does not have: must be zero.
    ZeroBias,
    /// What an exported decomposition holds beside the target.
    Skip,
}

fn role(name: &str) -> Option<Role> {
    let ours = |n: String, t: bool| Some(Role::Ours(n, t));
    let index = |s: &str| s.parse::<usize>().ok().filter(|&i| i < 64);
    if name.starts_with("_components.") || name.starts_with("state.") {
        return Some(Role::Skip);
    }
    match name {
        "W" | "b" | "W_E" => return ours(name.into(), false),
        "linear1.weight" => return ours("W".into(), true),
        "linear2.weight" => return Some(Role::Decoder),
        "linear2.bias" => return ours("b".into(), false),
        "W_U" => return Some(Role::Unembed),
        _ => {}
    }
    if let Some(i) = name.strip_prefix("hidden_layers.").and_then(|r| r.strip_suffix(".weight")).and_then(index) {
        return ours(format!("H{}", i + 1), true);
    }
    if let Some(rest) = name.strip_prefix("layers.") {
        let (i, part) = rest.split_once('.')?;
        let i = index(i)?;
        return match part {
            "mlp_in.weight" => ours(format!("W_in{}", i + 1), true),
            "mlp_out.weight" => ours(format!("W_out{}", i + 1), true),
            "mlp_in.bias" | "mlp_out.bias" => Some(Role::ZeroBias),
            _ => None,
        };
    }
    for p in ["H", "W_in", "W_out"] {
        if name.strip_prefix(p).and_then(index).is_some_and(|i| i >= 1) {
            return ours(name.into(), false);
        }
    }
    None
}

/// The transpose of a row-major `rows x cols` matrix.
pub(crate) fn transpose(rows: usize, cols: usize, v: &[f32]) -> Tensor32 {
    Tensor32 { shape: vec![cols, rows], values: (0..cols).flat_map(|j| (0..rows).map(move |i| v[i * cols + j])).collect() }
}

fn transposed(t: &Tensor32) -> Tensor32 {
    transpose(t.shape[0], t.shape[1], &t.values)
}

/// The target that `tensors` hold, with a feature probability of 1 (no
/// file records it; [`import_target`] takes the preset's).
pub fn infer_target(tensors: NamedTensors) -> Result<Target, ApdError> {
    let mut ours: BTreeMap<String, Tensor32> = BTreeMap::new();
    let mut checks: Vec<(String, Role, Tensor32)> = Vec::new();
    for (name, t) in tensors {
        let r = role(&name).ok_or_else(|| {
            bad(format!(
                "unknown tensor `{name}`: a TMS holds W (or linear1.weight), b (linear2.bias) and H1.. (hidden_layers.i.weight); a residual MLP W_E, W_in1.. and W_out1.. (layers.i.mlp_in.weight, layers.i.mlp_out.weight)"
            ))
        })?;
        let want = match &r {
            Role::Ours(n, _) if n == "b" => 1,
            Role::ZeroBias => 1,
            Role::Skip => continue,
            _ => 2,
        };
        if t.shape.len() != want {
            return Err(bad(format!(
                "tensor `{name}` has shape {:?}: a {}",
                t.shape,
                if want == 1 { "vector was expected" } else { "matrix was expected" }
            )));
        }
        match r {
            Role::Ours(n, flip) => {
                let t = if flip { transposed(&t) } else { t };
                if ours.insert(n.clone(), t).is_some() {
                    return Err(bad(format!("`{n}` is given twice (under this project's name and PyTorch's)")));
                }
            }
            other => checks.push((name, other, t)),
        }
    }
    let target = if ours.contains_key("W_E") { resid(&mut ours)? } else { tms(&mut ours)? };
    if let Some(extra) = ours.keys().next() {
        return Err(bad(format!(
            "`{extra}` does not belong to a {} of these sizes",
            if target.model.is_resid() { "residual MLP" } else { "TMS" }
        )));
    }
    for (name, r, t) in checks {
        check_tied(&target, &name, r, &t)?;
    }
    Ok(target)
}

fn matrix(ours: &mut BTreeMap<String, Tensor32>, name: &str, rows: Option<usize>, cols: Option<usize>) -> Result<Matrix, ApdError> {
    let t = ours.remove(name).ok_or_else(|| bad(format!("`{name}` is missing")))?;
    let (r, c) = (t.shape[0], t.shape[1]);
    if rows.is_some_and(|n| n != r) || cols.is_some_and(|n| n != c) || r == 0 || c == 0 {
        let want = |d: Option<usize>| d.map_or("any".to_string(), |d| d.to_string());
        return Err(bad(format!("`{name}` is {r} x {c} here, where {} x {} fits the model's other weights", want(rows), want(cols))));
    }
    Ok(Matrix { name: name.into(), d_in: r, d_out: c, values: t.values })
}

fn tms(ours: &mut BTreeMap<String, Tensor32>) -> Result<Target, ApdError> {
    let w = matrix(ours, "W", None, None)
        .map_err(|_| bad("neither `W` nor `linear1.weight` (nor `W_E`) is there: no TMS or residual MLP to read".into()))?;
    let (n, d) = (w.d_in, w.d_out);
    let bias = ours.remove("b").ok_or_else(|| bad("the output bias (`b` or `linear2.bias`) is missing".into()))?;
    if bias.values.len() != n {
        return Err(bad(format!("the output bias has {} entries for {n} features", bias.values.len())));
    }
    let mut layers = vec![w];
    while ours.contains_key(&format!("H{}", layers.len())) {
        layers.push(matrix(ours, &format!("H{}", layers.len()), Some(d), Some(d))?);
    }
    let model = ModelConfig::Tms(TmsConfig { n_features: n, n_hidden: d, n_hidden_layers: layers.len() - 1, feature_prob: 1.0 });
    model.validate()?;
    Ok(Target { model, layers, bias: bias.values, embed: Vec::new() })
}

fn resid(ours: &mut BTreeMap<String, Tensor32>) -> Result<Target, ApdError> {
    let e = matrix(ours, "W_E", None, None)?;
    let (n, d) = (e.d_in, e.d_out);
    let mut layers = Vec::new();
    let mut d_mlp = None;
    while ours.contains_key(&format!("W_in{}", layers.len() / 2 + 1)) {
        let l = layers.len() / 2 + 1;
        let w_in = matrix(ours, &format!("W_in{l}"), Some(d), d_mlp)?;
        d_mlp = Some(w_in.d_out);
        layers.push(w_in);
        layers.push(matrix(ours, &format!("W_out{l}"), d_mlp, Some(d))?);
    }
    let d_mlp = d_mlp.ok_or_else(|| bad("a residual MLP without layers: `W_in1` (layers.0.mlp_in.weight) is missing".into()))?;
    let model = ModelConfig::ResidMlp(ResidMlpConfig { n_features: n, d_resid: d, d_mlp, n_layers: layers.len() / 2, feature_prob: 1.0 });
    model.validate()?;
    Ok(Target { model, layers, bias: Vec::new(), embed: e.values })
}

/// The tensors this project's model has no room for must say what it
/// already holds: the tied decoder, the unembedding, zero biases.
fn check_tied(target: &Target, name: &str, r: Role, t: &Tensor32) -> Result<(), ApdError> {
    let (expected, why): (Vec<f32>, &str) = match r {
        // linear2.weight is n x d in PyTorch's out x in: W itself.
        Role::Decoder => (target.layers[0].values.clone(), "this project's TMS ties its decoder to linear1.weight transposed"),
        Role::Unembed => {
            let ModelConfig::ResidMlp(m) = &target.model else { return Err(bad("`W_U` belongs to a residual MLP, not a TMS".into())) };
            let e = Tensor32 { shape: vec![m.n_features, m.d_resid], values: target.embed.clone() };
            (transposed(&e).values, "this project's residual MLP unembeds with W_E transposed")
        }
        Role::ZeroBias => {
            if !target.model.is_resid() {
                return Err(bad(format!("`{name}` belongs to a residual MLP, not a TMS")));
            }
            (vec![0.0; t.values.len()], "this project's residual MLP has no biases")
        }
        _ => return Ok(()),
    };
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let same = expected.len() == t.values.len() && t.values.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-6 * scale.max(1.0));
    if !same {
        return Err(bad(format!("`{name}` cannot be read: {why}, and this one differs")));
    }
    Ok(())
}
