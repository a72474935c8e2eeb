//! Reports written before every method had one record (APD's history and
//! losses at the top level, SPD's history, gates and importances under
//! `spd`) still load, into today's shape, and show the figures they were
//! saved with. The fixtures are this project's own shipped tms-5-2 results
//! as they were written then, their histories cut to the last 20 entries.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::Method;
use apd_playground::report::Report;
use apd_playground::run::Run;
use burn::tensor::Device;
use serde_json::Value;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn reports_from_before_method_records_load_as_they_were() {
    for (file, method) in [("legacy-tms-5-2-apd.report.json", Method::Apd), ("legacy-tms-5-2-spd.report.json", Method::Spd)] {
        let text = fixture(file);
        let old: Value = serde_json::from_str(&text).unwrap();
        let old_history = if method == Method::Spd { &old["spd"]["history"] } else { &old["history"] };
        let r = Report::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(r.record.method, method, "{file}");
        // The same steps, every term kept under its name.
        let history = serde_json::to_value(&r.record.history).unwrap();
        assert_eq!(history.as_array().unwrap().len(), 20, "{file}");
        for (new, old) in history.as_array().unwrap().iter().zip(old_history.as_array().unwrap()) {
            for (k, v) in old.as_object().unwrap() {
                assert_eq!(new[k].as_f64().map(|x| x as f32), v.as_f64().map(|x| x as f32), "{file}: {k} of step {}", old["step"]);
            }
        }
        assert_eq!(r.record.losses.as_ref(), r.record.history.last(), "{file}: the last step's losses");
        // SPD's gates and importances are its record's state; APD has none.
        match method {
            Method::Spd => {
                for key in ["gates", "ci_one_hot", "ci_upper_one_hot", "alive"] {
                    assert_eq!(r.record.state[key], old["spd"][key], "{file}: {key}");
                }
            }
            _ => assert!(r.record.state.is_null(), "{file}"),
        }
        // Written again, it is today's shape, and reads back the same.
        let again = serde_json::to_value(&r).unwrap();
        for gone in ["history", "losses", "spd"] {
            assert!(again.get(gone).is_none(), "{file}: `{gone}` is written into the record");
        }
        let back = Report::parse(&again.to_string()).unwrap();
        assert_eq!(back.record, r.record, "{file}");
        // And shows the figures it was saved with.
        let shown = Run::of_report(&r, &Device::flex()).unwrap();
        let m = pollster::block_on(shown.metrics()).unwrap().unwrap();
        assert!((m.mmcs - r.metrics.mmcs).abs() < 1e-5 && (m.ml2r - r.metrics.ml2r).abs() < 1e-5, "{file}: {m:?}");
        assert_eq!(shown.history.len(), 20, "{file}: the run holds the saved history");
    }
}

#[test]
fn a_report_with_a_record_and_an_old_history_is_refused() {
    let text = fixture("legacy-tms-5-2-apd.report.json");
    let mut both = serde_json::to_value(Report::parse(&text).unwrap()).unwrap();
    let old: Value = serde_json::from_str(&text).unwrap();
    both["history"] = old["history"].clone();
    let e = Report::parse(&both.to_string()).unwrap_err().to_string();
    assert!(e.contains("record") && e.contains("history"), "{e}");
    // A record of another method than the settings' is refused too.
    let mut other = serde_json::to_value(Report::parse(&text).unwrap()).unwrap();
    other["record"]["method"] = "spd".into();
    let e = Report::parse(&other.to_string()).unwrap_err().to_string();
    assert!(e.contains("method"), "{e}");
}
