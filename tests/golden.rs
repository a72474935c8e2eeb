//! Behaviour kept, proven: short runs at fixed seeds give exactly the
//! reports and view data recorded in `tests/golden/` (by
//! `scripts/golden.sh`, through the CLI; the timing is left out). A change
//! that must not change behaviour (a refactor) keeps them; one that does
//! records them again with `scripts/golden.sh` and says so.
//!
//! burn's CPU kernels choose their code by the CPU's features at run time
//! (gemm), so the bits are those of the CPU family the files were recorded
//! on (`tests/golden/cpu.txt`); on another, the test says so and checks
//! nothing.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{preset, with_method, Method};
use apd_playground::report::Report;
use apd_playground::run::{Progress, Run};
use burn::tensor::Device;
use serde_json::Value;
use std::path::Path;

fn golden(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The CPU features the golden files were made with, as `scripts/golden.sh` writes them.
fn this_cpu() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let f = |on: bool| on as u8;
        format!(
            "avx2={} fma={} avx512f={}",
            f(std::arch::is_x86_feature_detected!("avx2")),
            f(std::arch::is_x86_feature_detected!("fma")),
            f(std::arch::is_x86_feature_detected!("avx512f"))
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "not x86_64".to_string()
    }
}

/// A value as its JSON text reads back: f32s compare as the shortest
/// decimals the files hold, not as their exact f64 widening.
fn as_read(v: &impl serde::Serialize) -> Value {
    numbers_as_f64(serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap())
}

/// Every number as an f64: the files were rewritten by JavaScript, which
/// writes `1.0` as `1`, and serde_json tells an integer from a float.
fn numbers_as_f64(v: Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect()),
        other => other,
    }
}

fn golden_value(name: &str) -> Value {
    numbers_as_f64(serde_json::from_str(&golden(name)).unwrap())
}

fn without_timing(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("timing");
    v
}

#[test]
fn short_runs_give_the_recorded_reports_and_views() {
    let recorded_on = golden("cpu.txt").trim().to_string();
    if this_cpu() != recorded_on {
        eprintln!("SKIPPED golden: recorded on a CPU with {recorded_on}, this one has {}", this_cpu());
        println!("SKIPPED golden comparison (other CPU features)");
        return;
    }
    let cases = golden("cases.txt");
    let mut checked = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split('|').collect();
        let (name, model, seed) = (parts[0], parts[1], parts[2].parse::<u64>().unwrap());
        let mut cfg = preset(model).unwrap();
        // An optional fifth field names the method (`spd`); APD otherwise.
        if let Some(m) = parts.get(4).filter(|m| !m.trim().is_empty()) {
            cfg = with_method(&cfg, model, Method::parse(m.trim()).unwrap()).unwrap();
        }
        for kv in parts[3].split_whitespace() {
            let (k, v) = kv.split_once('=').unwrap();
            cfg.set(k, v).unwrap();
        }
        let mut run = Run::new(model, cfg, seed, &Device::flex(), None).unwrap();
        while pollster::block_on(run.step()).unwrap() != Progress::Done {}
        let report = pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap();
        let got = without_timing(as_read(&report));
        let want = without_timing(golden_value(&format!("{name}.report.json")));
        if got != want {
            let dump = std::env::temp_dir().join(format!("{name}.report.got.json"));
            std::fs::write(&dump, serde_json::to_string_pretty(&got).unwrap()).unwrap();
            panic!("{name}: the report differs from tests/golden/{name}.report.json (this run's is in {})", dump.display());
        }
        // The views, as `apd views` computes them from the saved report.
        let saved = Report::parse(&serde_json::to_string(&report).unwrap()).unwrap();
        let snap = pollster::block_on(Run::of_report(&saved, &Device::flex()).unwrap().snapshot(1)).unwrap();
        let got = as_read(&snap);
        let want = golden_value(&format!("{name}.views.json"));
        if got != want {
            let dump = std::env::temp_dir().join(format!("{name}.views.got.json"));
            std::fs::write(&dump, serde_json::to_string_pretty(&got).unwrap()).unwrap();
            panic!("{name}: the view data differ from tests/golden/{name}.views.json (this run's are in {})", dump.display());
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "every case in tests/golden/cases.txt");
}
