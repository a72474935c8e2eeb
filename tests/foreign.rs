//! The CLI with other tools' files: a tms-5-2 written by `torch.save` and by
//! `safetensors.numpy.save_file` (f16) is decomposed without a hand edit or
//! a `--model`, and recovered; `apd export` writes what `--target` reads
//! back; a pickled model is refused and nothing is written.
#![cfg(not(target_arch = "wasm32"))]

mod apd_cli;
use apd_cli::{apd, ok};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/interop/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("apd-foreign-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn pytorch_and_half_precision_targets_are_decomposed_and_recovered() {
    for f in ["tms-5-2.pth", "tms-5-2.f16.safetensors"] {
        let out = scratch(&format!("{f}.report.json"));
        let text = ok(apd(&["decompose", "--target", &fixture(f), "--out", &out]));
        assert!(text.contains("success yes"), "{f}: {text}");
        let inspected = ok(apd(&["inspect", &out]));
        assert!(inspected.starts_with("APD report for tms-5-2"), "{inspected}");
    }
}

#[test]
fn an_export_is_read_back_as_the_same_target() {
    let report = scratch("short.json");
    ok(apd(&["decompose", "--target", &fixture("tms-5-2.pth"), "--method", "spd", "--steps", "50", "--out", &report]));
    let exported = scratch("short.safetensors");
    ok(apd(&["export", &report, "--out", &exported]));
    let yaml = std::fs::read_to_string(scratch("short.yaml")).unwrap();
    assert!(yaml.contains("  - module_pattern: linear1\n") && yaml.contains("path: short.safetensors"), "{yaml}");
    // The exported target's weights are the fixture's, bit for bit: inspect prints the same norms.
    let norms = |text: String| text.lines().find(|l| l.starts_with("tensors:")).map(|l| l.split_once(';').unwrap().1.to_string());
    let a = norms(ok(apd(&["inspect", &fixture("tms-5-2.pth")])));
    let b = norms(ok(apd(&["inspect", &exported])));
    assert!(a.is_some() && a == b, "{a:?} against {b:?}");
    ok(apd(&["decompose", "--target", &exported, "--steps", "20", "--out", &scratch("again.json")]));
}

#[test]
fn a_pickled_model_is_refused_and_nothing_is_written() {
    let out = scratch("never.json");
    let got = apd(&["decompose", "--target", &fixture("whole-model.pth"), "--out", &out]);
    assert!(!got.status.success());
    let err = String::from_utf8_lossy(&got.stderr);
    assert!(err.contains("names `reference_targets.Tms`") && err.contains("no code is run"), "{err}");
    assert!(!std::path::Path::new(&out).exists());
    let wrong = apd(&["decompose", "--model", "tms-40-10", "--target", &fixture("tms-5-2.pth"), "--out", &out]);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("leave out --model to take the file's"));
}
