//! Behaviour kept, proven: short runs at fixed seeds give exactly the
//! reports and view data recorded in `tests/golden/` (by
//! `scripts/golden.sh`, through the CLI; the timing is left out). A change
//! that must not change behaviour (a refactor) keeps them; one that does
//! records them again with `scripts/golden.sh` and says so.
//!
//! burn's CPU kernels choose their code by the CPU's features at run time
//! (gemm), so the bits are those of the CPU family the files were recorded
//! on (`tests/golden/cpu.txt`). There they must match bit for bit; on any
//! other CPU every number must lie within [`RTOL`] of the recorded one
//! (relative, with [`ATOL`] as the floor). Measured by running this test
//! under `qemu-x86_64 -cpu Haswell` (no AVX-512: the same bits) and `-cpu
//! Nehalem` (no AVX, no FMA: at most 1.3e-4 relative). Every CPU checks
//! one way or the other, so the test never passes by checking nothing.
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

/// Relative tolerance off the CPU family the files were recorded on.
const RTOL: f64 = 1e-3;
/// Absolute floor of the tolerance, for numbers near zero.
const ATOL: f64 = 1e-4;

/// The path and values of the first number of `got` that is off `want` by
/// more than the tolerance (or any difference at all when `exact`), or the
/// first place the two differ in shape; `worst` collects the largest
/// relative difference seen.
fn first_difference(got: &Value, want: &Value, path: &str, exact: bool, worst: &mut f64) -> Option<String> {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let d = (a - b).abs();
            *worst = worst.max(d / a.abs().max(b.abs()).max(ATOL));
            let off = if exact { a != b } else { d > RTOL * a.abs().max(b.abs()) + ATOL };
            off.then(|| format!("{path}: {a} against the recorded {b}"))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"), exact, worst))
        }
        (Value::Object(a), Value::Object(b)) if a.len() == b.len() => a.iter().find_map(|(k, x)| match b.get(k) {
            Some(y) => first_difference(x, y, &format!("{path}.{k}"), exact, worst),
            None => Some(format!("{path}.{k}: not in the recorded file")),
        }),
        _ if got == want => None,
        _ => Some(format!("{path}: {got} against the recorded {want}")),
    }
}

/// Checks `got` against the recorded file `name`: bit for bit when `exact`,
/// else within the tolerance; on failure, writes `got` beside for a look.
fn check(got: &Value, want: &Value, name: &str, exact: bool, worst: &mut f64) {
    if let Some(d) = first_difference(got, want, "", exact, worst) {
        let dump = std::env::temp_dir().join(name.replace(".json", ".got.json"));
        std::fs::write(&dump, serde_json::to_string_pretty(got).unwrap()).unwrap();
        let how = if exact { "bit for bit" } else { "within the tolerance" };
        panic!("{name} differs {how}: {d} (this run's is in {})", dump.display());
    }
}

#[test]
fn short_runs_give_the_recorded_reports_and_views() {
    let recorded_on = golden("cpu.txt").trim().to_string();
    let exact = this_cpu() == recorded_on;
    if exact {
        println!("golden: bit for bit (recorded on this CPU family: {recorded_on})");
    } else {
        println!("golden: within {RTOL} relative (recorded on {recorded_on}, this CPU has {})", this_cpu());
    }
    let mut worst = 0.0f64;
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
        let file = format!("{name}.report.json");
        check(&without_timing(as_read(&report)), &without_timing(golden_value(&file)), &file, exact, &mut worst);
        // The views, as `apd views` computes them from the saved report.
        let saved = Report::parse(&serde_json::to_string(&report).unwrap()).unwrap();
        let snap = pollster::block_on(Run::of_report(&saved, &Device::flex()).unwrap().snapshot(1)).unwrap();
        let file = format!("{name}.views.json");
        check(&as_read(&snap), &golden_value(&file), &file, exact, &mut worst);
        checked += 1;
    }
    assert_eq!(checked, 6, "every case in tests/golden/cases.txt");
    println!("golden: 6 cases checked; the largest relative difference {worst:.2e}");
}
