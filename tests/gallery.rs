//! The finished results shipped with the page (`www/gallery/`, made by
//! `scripts/gallery.sh`) are what the engine computes: each file's report
//! parses, and the view data and step plan the page draws from it are the
//! ones the engine recomputes from that report (to float rounding: the
//! probes' matrix kernels may differ between CPUs). An entry whose report was
//! too large to ship whole (`trimmed`: the paper's residual MLPs) cannot be
//! recomputed; its figures are checked against each other instead. The seed
//! grids (`www/gallery/seeds/`) are checked seed by seed the same way.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{ExperimentConfig, Method};
use apd_playground::gallery::{entry, Plan};
use apd_playground::metrics::{dedicated_components, ResidMetrics};
use apd_playground::report::Report;
use apd_playground::spd::own_in_some_w_in;
use serde_json::Value;
use std::path::Path;

mod common;
use common::same_json;

#[test]
fn shipped_results_are_what_the_engine_computes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/gallery");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "index.json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut stored = shipped(&path, &name);
        // The page's words on it are not the engine's.
        stored.as_object_mut().unwrap().remove("title");
        stored.as_object_mut().unwrap().remove("note");
        check_entry(&stored, &name);
        checked += 1;
    }
    assert!(checked >= 1, "no gallery files in {}", dir.display());
    // The page's list names each file there, and nothing else.
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let listed: Vec<&str> = index.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), checked, "index.json lists {listed:?}");
    for name in listed {
        assert!(dir.join(format!("{name}.json")).exists(), "index.json lists {name}, which is not there");
    }
}

/// The seed grids (`www/gallery/seeds/`, made by `scripts/seeds-grid.sh`):
/// one model and method on consecutive seeds, each seed an entry checked as
/// the gallery's are.
#[test]
fn shipped_seed_grids_are_what_the_engine_computes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("www/gallery/seeds");
    let mut grids = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let grid = shipped(&path, &name);
        let cells = grid["cells"].as_array().unwrap();
        assert!(cells.len() >= 10, "{name}: {} seeds", cells.len());
        for (i, cell) in cells.iter().enumerate() {
            assert_eq!(cell["model"], grid["model"], "{name}: one model");
            assert_eq!(cell["method"], grid["method"], "{name}: one method");
            assert_eq!(cell["report"]["config"], cells[0]["report"]["config"], "{name}: one set of settings");
            assert_eq!(cell["seed"].as_u64(), Some(cells[0]["seed"].as_u64().unwrap() + i as u64), "{name}: consecutive seeds");
            check_entry(cell, &format!("{name}, seed {}", cell["seed"]));
        }
        grids += 1;
    }
    assert!(grids >= 1, "no seed grids in {}", dir.display());
}

/// A file the page loads with the gallery: small enough, and titled.
fn shipped(path: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.len() < 2 << 20, "{name}: {} bytes; the page loads it with the gallery", text.len());
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()), "{name}: a title for the page");
    v
}

/// A shipped entry (a gallery file without the page's words, or one seed of
/// a grid): recomputed by the engine from its report, or if trimmed,
/// checked for agreement among its figures.
fn check_entry(stored: &Value, name: &str) {
    if stored["trimmed"] == Value::Bool(true) {
        check_trimmed(stored, name);
        return;
    }
    let report = Report::parse(&stored["report"].to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let feature = stored["views"]["resid"]["curve"]["feature"].as_u64().unwrap_or(0) as usize;
    let recomputed = serde_json::to_value(pollster::block_on(entry(report, feature, false)).unwrap()).unwrap();
    same_json(&recomputed, stored, 1e-4, name);
}

/// A trimmed entry: it says so honestly, and its figures agree with one
/// another (the report's metrics are the views' metrics, the dedicated
/// components follow from the attribution matrix shipped with them, the
/// step plan from the configuration).
fn check_trimmed(stored: &Value, name: &str) {
    let report = &stored["report"];
    assert_eq!(report["target"], serde_json::json!({}), "{name}: a trimmed report has no target");
    assert_eq!(report["components"]["layers"], serde_json::json!([]), "{name}: nor components");
    let history = &report["record"]["history"];
    assert!(history.as_array().is_some_and(|h| !h.is_empty()), "{name}: the loss history is kept");
    // A compact entry (`Entry::compact`) keeps the attribution matrix in the
    // views' metrics only, and 4 significant digits of every number.
    let compact = report["metrics"]["resid"]["attributions"].as_array().is_some_and(|a| a.is_empty());
    let mut views_metrics = stored["views"]["metrics"].clone();
    if compact {
        views_metrics["resid"]["attributions"] = serde_json::json!([]);
    }
    same_json(&views_metrics, &report["metrics"], 1e-4, &format!("{name}: views' metrics against the report's"));
    if !report["record"]["state"].is_null() {
        check_trimmed_ci_record(stored, name);
    }
    let config: ExperimentConfig = serde_json::from_value(report["config"].clone()).unwrap();
    config.validate().unwrap();
    same_json(&serde_json::to_value(Plan::of(&config)).unwrap(), &stored["plan"], 1e-4, &format!("{name}.plan"));
    if report["metrics"]["resid"].is_null() {
        check_trimmed_tms(stored, name, config.method != Method::Apd);
        return;
    }
    let r: ResidMetrics = serde_json::from_value(stored["views"]["metrics"]["resid"].clone()).unwrap();
    assert_eq!(r.attributions.len(), r.dedicated.len() * r.n_components, "{name}: the attribution matrix is shipped");
    let (dedicated, shares, n_dedicated, mean_share) = dedicated_components(&r.attributions, r.n_components);
    assert_eq!((&dedicated, n_dedicated), (&r.dedicated, r.n_dedicated), "{name}: dedicated components");
    // Shares from attributions rounded to 4 digits move by at most a few in the fourth.
    let tol = if compact { 2e-3 } else { 1e-5 };
    for (a, b) in shares.iter().zip(&r.shares) {
        assert!((a - b).abs() < tol, "{name}: shares {a} vs {b}");
    }
    assert!((mean_share - r.mean_share).abs() < tol);
}

/// A trimmed entry of a method with causal importances: its record's one-hot
/// importances are the views' (or, in a compact entry made since they are
/// left out, only the views'), and its alive counts follow from them.
fn check_trimmed_ci_record(stored: &Value, name: &str) {
    let method = stored["report"]["record"]["method"].as_str().unwrap();
    let (record, views) = (&stored["report"]["record"]["state"], &stored["views"][method]);
    let empty = |v: &Value| v.as_array().is_some_and(|a| a.is_empty());
    if empty(&record["ci_one_hot"]) {
        // And the other nested lists: SPD's gates, VPD's importance networks and sources.
        let nested: Vec<&String> = record
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| v.as_array().is_some_and(|a| a.iter().any(|x| x.is_array() || x.is_object())))
            .map(|(k, _)| k)
            .collect();
        assert!(nested.is_empty(), "{name}: a compact record leaves every nested list out: {nested:?}");
    } else {
        same_json(&record["ci_one_hot"], &views["ci_lower"], 1e-4, &format!("{name}: the record's importances against the views'"));
    }
    let c = stored["report"]["components"]["n_components"].as_u64().unwrap() as usize;
    for (m, ci) in views["ci_lower"].as_array().unwrap().iter().enumerate() {
        let ci: Vec<f64> = ci.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        // Rounded to 4 digits, an importance at 0.1 may fall on either side.
        let alive = |threshold: f64| (0..c).filter(|&k| ci.iter().skip(k).step_by(c).any(|&x| x > threshold)).count() as u64;
        let shipped = record["alive"][m].as_u64().unwrap();
        assert!((alive(0.1001)..=alive(0.0999)).contains(&shipped), "{name}: matrix {m}'s alive count {shipped}");
    }
    // A residual MLP's count of features owning a subcomponent in some W_in
    // follows from the same importances.
    if let Some(shipped) = views["own_in_some_w_in"].as_u64() {
        let ci: Vec<Vec<f32>> = views["ci_lower"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
            .collect();
        assert_eq!(own_in_some_w_in(&ci, c) as u64, shipped, "{name}: features owning a subcomponent in some W_in");
    }
}

/// A trimmed TMS entry: each feature's match, cosine and length ratio follow
/// from the target's `W` and the components the views keep (matched by max
/// |cos|, or for SPD by the one-hot importances shipped with them), and
/// MMCS and ML2R are their means.
fn check_trimmed_tms(stored: &Value, name: &str, by_importance: bool) {
    let views = &stored["views"];
    let floats = |v: &Value| -> Vec<f32> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect() };
    let w_entry = views["target"][0].as_array().unwrap_or_else(|| panic!("{name}: the views keep the target"));
    let (n, d, w) = (w_entry[1].as_u64().unwrap() as usize, w_entry[2].as_u64().unwrap() as usize, floats(&w_entry[3]));
    let comps: Vec<Vec<f32>> = views["components"][0].as_array().unwrap().iter().map(floats).collect();
    let attr = floats(&views["attributions"]);
    let c = comps.len();
    // A trimmed SPD entry is compact (`Entry::compact`): it ships its dead
    // subcomponents empty, each of which must be dead in its matrix by the
    // importances shipped with it, and matched to no feature (checked
    // below: the matched one's figures are recomputed).
    for (m, layer) in views["components"].as_array().unwrap().iter().enumerate() {
        for (k, p) in layer.as_array().unwrap().iter().enumerate() {
            if p.as_array().unwrap().is_empty() {
                assert!(by_importance, "{name}: only entries matched by importance (SPD, VPD) leave subcomponents out");
                let ci = floats(&views[stored["method"].as_str().unwrap()]["ci_lower"][m]);
                assert!((0..n).all(|i| ci[i * c + k] <= 0.1), "{name}: matrix {m}'s subcomponent {k} is shipped empty but alive");
            }
        }
    }
    // Figures from numbers rounded to 4 significant digits move in the fourth.
    let tol = if by_importance { 1e-3 } else { 1e-4 };
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let features = views["metrics"]["features"].as_array().unwrap();
    assert_eq!(features.len(), n, "{name}: one match per feature");
    let (mut cos_sum, mut len_sum, mut live) = (0.0, 0.0, 0.0);
    for (i, f) in features.iter().enumerate() {
        let wi = &w[i * d..(i + 1) * d];
        let figures = |k: usize| {
            let pi = &comps[k][i * d..(i + 1) * d];
            let dot: f64 = wi.iter().zip(pi).map(|(&a, &b)| a as f64 * b as f64).sum();
            let (a, b) = (norm(wi), norm(pi));
            (if a > 0.0 && b > 0.0 { (dot / (a * b)).abs() } else { 0.0 }, if a > 0.0 { b / a } else { 0.0 })
        };
        let k = if by_importance {
            // The shipped importances have 4 digits: two subcomponents at 1.0 tie, so the
            // match is any of the largest (the engine chose on the unrounded ones).
            let k = f["component"].as_u64().unwrap() as usize;
            let top = (0..c).map(|x| attr[i * c + x]).fold(f32::MIN, f32::max);
            assert!(
                attr[i * c + k] >= top - 1e-3,
                "{name}: feature {i}'s component {k} has importance {} of the largest {top}",
                attr[i * c + k]
            );
            k
        } else {
            (0..c).max_by(|&x, &y| figures(x).0.total_cmp(&figures(y).0).then(y.cmp(&x))).unwrap()
        };
        let (cos, ratio) = figures(k);
        assert_eq!(f["component"].as_u64().unwrap() as usize, k, "{name}: feature {i}'s component");
        assert!(!comps[k].is_empty(), "{name}: feature {i}'s subcomponent {k} is shipped");
        assert!((f["cos"].as_f64().unwrap() - cos).abs() < tol, "{name}: feature {i}'s cosine");
        assert!((f["l2_ratio"].as_f64().unwrap() - ratio).abs() < tol, "{name}: feature {i}'s length ratio");
        if f["represented"] != Value::Bool(false) {
            cos_sum += cos;
            len_sum += ratio;
            live += 1.0;
        }
    }
    assert!((views["metrics"]["mmcs"].as_f64().unwrap() - cos_sum / live).abs() < tol, "{name}: MMCS");
    assert!((views["metrics"]["ml2r"].as_f64().unwrap() - len_sum / live).abs() < tol, "{name}: ML2R");
}
