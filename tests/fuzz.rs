//! Randomised property tests of everything a user can feed in: imported
//! JSON (targets and reports, both model families) and settings by dotted
//! name (the URL hash and the CLI's `--set` go through
//! `ExperimentConfig::set`). Seeded, bounded and deterministic, so a failure
//! reproduces; the properties:
//! - no input panics;
//! - a rejection is an error value with a message, and changes nothing;
//! - an accepted input round-trips (what we write back parses to the same);
//! - an accepted input goes on as far as the page takes it (a report shown
//!   or resumed as a run, a target file as a run's target) and gives a
//!   snapshot, or an error value, never a panic.
//!
//! We use our own generator rather than proptest: proptest shares `rand`
//! with burn under other features, and would make the test build compile
//! burn a second time (about 20 CPU-minutes on a cold CI machine).
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use apd_playground::config::{preset, ExperimentConfig, ModelConfig};
use apd_playground::report::{Report, TargetFile};
use apd_playground::rng::Rng;
use apd_playground::run::{Progress, Run};
use burn::tensor::Device;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

fn report_of(name: &str, sets: &[(&str, &str)]) -> Report {
    let mut cfg = preset(name).unwrap();
    for (k, v) in sets {
        cfg.set(k, v).unwrap();
    }
    let mut run = Run::new(name, cfg, 1, &Device::flex(), None).unwrap();
    while pollster::block_on(run.step()).unwrap() != Progress::Done {}
    pollster::block_on(run.report(0.0, "cpu")).unwrap().unwrap()
}

/// Valid seeds to mutate: a report and a target file of each model family.
fn corpus() -> Vec<String> {
    let tms = report_of("tms-5-2", &[("target.steps", "20"), ("apd.steps", "5")]);
    let resid = report_of(
        "resid-mlp-custom",
        &[
            ("model.n_features", "4"),
            ("model.d_resid", "6"),
            ("model.d_mlp", "3"),
            ("apd.n_components", "5"),
            ("target.steps", "5"),
            ("apd.steps", "3"),
        ],
    );
    let mut out = Vec::new();
    for (name, r) in [("tms-5-2", tms), ("resid-mlp-custom", resid)] {
        let t = r.target().unwrap();
        out.push(serde_json::to_string(&TargetFile::new(name, &r.config, 1, &t)).unwrap());
        out.push(serde_json::to_string(&r).unwrap());
    }
    out
}

const JUNK: &[&str] = &[
    "NaN",
    "Infinity",
    "-1",
    "0",
    "1e999",
    "-1e999",
    "1e38",
    "3.5e38",
    "99999999999999999999",
    "\"x\"",
    "\"\"",
    "null",
    "true",
    "[]",
    "{}",
    "[[]]",
    "[1,2]",
    "{\"a\":1}",
    "-0",
    "0.5",
    "4096",
    "4097",
    "1e-45",
];

/// Replaces one JSON value somewhere in the tree (chosen by a random walk) by junk.
fn mutate_value(v: &mut Value, rng: &mut Rng, depth: usize) {
    let pick = |rng: &mut Rng, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    let replace = depth > 0 && rng.uniform() < 0.3;
    match v {
        Value::Object(map) if !map.is_empty() && !replace => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = &keys[pick(rng, keys.len())];
            match pick(rng, 8) {
                0 => {
                    map.remove(k);
                }
                1 => {
                    map.insert(format!("{k}_extra"), Value::from(1));
                }
                _ => mutate_value(map.get_mut(k).unwrap(), rng, depth + 1),
            }
        }
        Value::Array(items) if !items.is_empty() && !replace => {
            let i = pick(rng, items.len());
            match pick(rng, 8) {
                0 => {
                    items.remove(i);
                }
                1 => items.push(items[i].clone()),
                _ => mutate_value(&mut items[i], rng, depth + 1),
            }
        }
        _ => {
            let junk = JUNK[pick(rng, JUNK.len())];
            *v = serde_json::from_str(junk).unwrap_or(Value::String(junk.into()));
        }
    }
}

/// One mutated text: a structural change to the JSON, or a change to its bytes.
fn mutate_text(seed: &str, rng: &mut Rng) -> String {
    let n = seed.len();
    let at = |rng: &mut Rng| (rng.next_u64() % n as u64) as usize;
    match rng.next_u64() % 6 {
        0 => seed[..at(rng)].to_string(), // truncated file
        1 => {
            // A number token replaced by junk, in the text itself (NaN and
            // 1e999 cannot be built as serde_json values).
            let mut s = seed.to_string();
            let i = at(rng);
            if let Some(j) = s[i..].find(|c: char| c.is_ascii_digit()).map(|j| i + j) {
                let end = s[j..].find(|c: char| !(c.is_ascii_digit() || ".eE+-".contains(c))).map_or(s.len(), |e| j + e);
                let junk = JUNK[(rng.next_u64() % JUNK.len() as u64) as usize];
                s.replace_range(j..end, junk);
            }
            s
        }
        2 => {
            let mut b = seed.as_bytes().to_vec();
            let i = at(rng);
            b[i] = b"{}[],:\"0a-.e "[(rng.next_u64() % 13) as usize];
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => {
            let mut v: Value = serde_json::from_str(seed).unwrap();
            for _ in 0..1 + rng.next_u64() % 3 {
                mutate_value(&mut v, rng, 0);
            }
            v.to_string()
        }
    }
}

#[test]
fn imported_json_never_panics_and_accepted_files_round_trip() {
    let seeds = corpus();
    let mut rng = Rng::new(2024);
    let (mut accepted, mut rejected, mut ran) = (0, 0, 0);
    for round in 0..1500 {
        let seed = &seeds[round % seeds.len()];
        let text = mutate_text(seed, &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let report = Report::parse(&text);
            let target = TargetFile::parse(&text);
            (report, target)
        }));
        let (report, target) = outcome.unwrap_or_else(|_| panic!("a parser panicked on: {text}"));
        match report {
            Ok(r) => {
                accepted += 1;
                let again = serde_json::to_string(&r).unwrap();
                let back = Report::parse(&again).unwrap_or_else(|e| panic!("an accepted report does not re-parse: {e}"));
                let (back, first) = (serde_json::to_value(&back).unwrap(), serde_json::to_value(&r).unwrap());
                assert!(same_up_to_an_ulp(&back, &first), "an accepted report reads back otherwise: {again}");
                ran += as_the_page_does(&text, || {
                    // Shown (the page's reportViews), and resumed as a checkpoint.
                    let shown = Run::of_report(&r, &Device::flex())?;
                    pollster::block_on(shown.snapshot(1))?;
                    let mut resumed = Run::resume(&r, &Device::flex())?;
                    pollster::block_on(resumed.snapshot(0))?;
                    pollster::block_on(resumed.step())?;
                    Ok(())
                });
            }
            Err(e) => {
                rejected += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        match target {
            Ok((name, t)) => {
                let tf = serde_json::from_str::<TargetFile>(&text).unwrap();
                let again = serde_json::to_string(&TargetFile {
                    model: name.clone(),
                    config: tf.config.clone(),
                    seed: tf.seed,
                    params: apd_playground::report::params_json(&t),
                })
                .unwrap();
                let (name2, t2) = TargetFile::parse(&again).expect("an accepted target re-parses");
                assert_eq!((name2, t2), (name.clone(), t.clone()));
                ran += as_the_page_does(&text, || {
                    // The page's describeTarget, then a run of the file's model with a preset's settings.
                    let mut cfg = preset(match tf.config.model {
                        ModelConfig::Tms(_) => "tms-5-2",
                        ModelConfig::ResidMlp(_) => "resid-mlp-custom",
                    })
                    .unwrap();
                    cfg.model = tf.config.model.clone();
                    cfg.target = tf.config.target.clone();
                    cfg.validate()?;
                    let _ = apd_playground::decomp::scale::note(&t, &cfg.scale);
                    let mut run = Run::new(&name, cfg, tf.seed.unwrap_or(0), &Device::flex(), Some(t.clone()))?;
                    pollster::block_on(run.snapshot(0))?;
                    pollster::block_on(run.step())?;
                    Ok(())
                });
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    // The mutations must exercise both outcomes, or the test proves little.
    assert!(accepted > 20 && rejected > 500, "accepted {accepted}, rejected {rejected}");
    assert!(ran > 20, "only {ran} accepted files gave a run and a snapshot");
}

/// Runs `f` (what the page does with an accepted file) and counts 1 where
/// it went through; an error value is fine, a panic fails the test.
/// Whether two JSON trees are the same, numbers to within two f64 ulps:
/// serde_json's default float parser reads some f64 settings one ulp off,
/// and not idempotently (1e-45 reads as the f64 that prints
/// 1.0000000000000001e-45, which reads as the one that prints 1e-45), so an
/// exact text round trip cannot hold for every setting; f32 figures (every
/// weight and loss) round-trip exactly and are held to it by the f32s they
/// are.
fn same_up_to_an_ulp(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 4.5e-16 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_up_to_an_ulp(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_up_to_an_ulp(v, w)))
        }
        _ => a == b,
    }
}

fn as_the_page_does(text: &str, f: impl FnOnce() -> Result<(), apd_playground::ApdError>) -> usize {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 1,
        Ok(Err(e)) => {
            assert!(!e.to_string().is_empty());
            0
        }
        Err(_) => panic!("an accepted file panicked on its way to a run and a snapshot: {text}"),
    }
}

/// Every settable path of a configuration.
fn paths(cfg: &ExperimentConfig) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, child) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(child, &p, out);
            }
        } else {
            out.push(prefix.to_string());
        }
    }
    let mut out = Vec::new();
    walk(&serde_json::to_value(cfg).unwrap(), "", &mut out);
    out
}

#[test]
fn settings_by_name_never_panic_and_rejections_change_nothing() {
    let mut rng = Rng::new(7);
    let values = [
        "0",
        "1",
        "-1",
        "2",
        "0.5",
        "1e-9",
        "1e9",
        "1e309",
        "-1e309",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "99999999999999999999999",
        "4096",
        "65536",
        "3.7",
        "true",
        "false",
        "cosine",
        "constant",
        "apd",
        "target",
        "\"cosine\"",
        "",
        " ",
        "[1]",
        "{}",
        "null",
        "0x10",
        "1,5",
        "tms",
        "resid_mlp",
        "%20",
        "1e-320",
    ];
    let mut changed = 0;
    for name in ["tms-5-2", "tms-40-10", "resid-mlp-1", "resid-mlp-custom"] {
        let base = preset(name).unwrap();
        let mut keys = paths(&base);
        keys.extend(["model.kind", "apd", "apd.", ".apd.lr", "apd.lr.x", "model.n_features.0", "nonsense", ""].map(String::from));
        for _ in 0..600 {
            let key = &keys[(rng.next_u64() % keys.len() as u64) as usize];
            let value = if rng.uniform() < 0.8 {
                values[(rng.next_u64() % values.len() as u64) as usize].to_string()
            } else {
                // A random number over many magnitudes, as a hand-edited link might hold.
                format!("{}", (rng.uniform() as f64 - 0.3) * 10f64.powi((rng.next_u64() % 24) as i32 - 6))
            };
            let mut cfg = base.clone();
            let result =
                catch_unwind(AssertUnwindSafe(|| cfg.set(key, &value))).unwrap_or_else(|_| panic!("set({key:?}, {value:?}) panicked"));
            match result {
                Ok(()) => {
                    changed += (cfg != base) as usize;
                    cfg.validate().expect("an accepted setting leaves a valid configuration");
                    // What the page writes back to the hash reads back to the same configuration.
                    let written = serde_json::to_value(&cfg).unwrap();
                    let mut node = &written;
                    for k in key.split('.') {
                        node = &node[k];
                    }
                    let text = match node {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let mut again = base.clone();
                    again.set(key, &text).unwrap_or_else(|e| panic!("{key}={text} was written but is refused: {e}"));
                    assert_eq!(again, cfg, "{key}={value} does not round-trip through {text}");
                    let json = serde_json::to_string(&cfg).unwrap();
                    assert_eq!(ExperimentConfig::from_json(&json).unwrap(), cfg);
                }
                Err(e) => {
                    assert_eq!(cfg, base, "a refused {key}={value} changed the configuration");
                    assert!(!e.message.is_empty() && !e.field.is_empty(), "{key}={value}: {e}");
                }
            }
        }
    }
    assert!(changed > 100, "only {changed} accepted changes: the generator is too hostile to test round trips");
}
