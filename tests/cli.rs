//! The CLI's `--instances` and `--jobs`: several seeds' targets (and APD
//! decompositions) in one batched step, and several seeds decomposed at
//! once on threads, give the files and sweep lines their seeds give alone,
//! in seed order; bad values are refused with a message naming the flag.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
mod apd_cli;
use apd_cli::{apd, ok};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apd-cli-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn train_with_instances_writes_each_seed_as_alone() {
    let dir = scratch("train");
    let together = dir.join("t.json");
    ok(apd(&[
        "train",
        "--model",
        "tms-5-2",
        "--seed",
        "4",
        "--instances",
        "3",
        "--set",
        "target.steps=80",
        "--out",
        together.to_str().unwrap(),
    ]));
    for seed in [4, 5, 6] {
        let alone = dir.join(format!("alone-{seed}.json"));
        ok(apd(&[
            "train",
            "--model",
            "tms-5-2",
            "--seed",
            &seed.to_string(),
            "--set",
            "target.steps=80",
            "--out",
            alone.to_str().unwrap(),
        ]));
        let a = std::fs::read_to_string(dir.join(format!("t-seed{seed}.json"))).expect("one file per seed");
        let b = std::fs::read_to_string(&alone).unwrap();
        assert_eq!(a, b, "seed {seed}: trained with two others, its file differs from its own run's");
    }
    assert!(!together.exists(), "with several instances the plain name is not written");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sweep_groups_and_jobs_give_the_same_seed_lines() {
    let run = |n: &str, jobs: &str| {
        // "-": no --instances, the default groups (spread over the jobs).
        let instances = if n == "-" { vec![] } else { vec!["--instances", n] };
        let text = ok(apd(&[
            &["sweep", "--model", "tms-5-2", "--seeds", "0..3", "--jobs", jobs, "--steps", "30", "--set", "target.steps=150"][..],
            &instances,
        ]
        .concat()));
        // The last line holds the wall time.
        text.lines().filter(|l| !l.starts_with("tms-5-2:")).map(str::to_string).collect::<Vec<_>>()
    };
    let alone = run("1", "1");
    let seeds: Vec<&str> = alone.iter().filter(|l| l.starts_with("seed")).map(|l| &l[..8]).collect();
    assert_eq!(seeds, ["seed   0", "seed   1", "seed   2"], "{alone:?}");
    assert_eq!(alone, run("2", "1"), "targets trained and decomposed two at a time");
    assert_eq!(alone, run("1", "3"), "three seeds decomposed at once");
    assert_eq!(alone, run("2", "2"), "two batches on two threads");
    assert_eq!(alone, run("-", "2"), "the default groups, targets too, on two threads");
}

#[test]
fn decompose_with_instances_writes_each_seed_as_alone() {
    decompose_each_as_alone("decompose", &["--model", "tms-5-2", "--set", "target.steps=100", "--set", "apd.steps=40"]);
    let spd = ["--model", "tms-5-2", "--method", "spd", "--set", "target.steps=100", "--set", "spd.steps=20", "--set", "spd.batch_size=64"];
    decompose_each_as_alone("decompose-spd", &spd);
}

/// `decompose --instances 2` with `common` writes each seed's report as the command alone does.
fn decompose_each_as_alone(name: &str, common: &[&str]) {
    let dir = scratch(name);
    let together = dir.join("r.json");
    let text = ok(apd(&[&["decompose", "--seed", "7", "--instances", "2", "--out", together.to_str().unwrap()][..], common].concat()));
    assert!(text.contains("seed   7: MMCS") && text.contains("seed   8: MMCS"), "{text}");
    let without_timing = |path: PathBuf| {
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("one report per seed")).unwrap();
        v.as_object_mut().unwrap().remove("timing");
        v
    };
    for seed in ["7", "8"] {
        let alone = dir.join(format!("alone-{seed}.json"));
        ok(apd(&[&["decompose", "--seed", seed, "--out", alone.to_str().unwrap()][..], common].concat()));
        assert_eq!(
            without_timing(dir.join(format!("r-seed{seed}.json"))),
            without_timing(alone),
            "seed {seed}: decomposed beside another, its report differs"
        );
    }
    assert!(!together.exists(), "with several instances the plain name is not written");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_instance_counts_are_refused() {
    for flag in ["--instances", "--jobs"] {
        for n in ["0", "65", "two"] {
            let out = apd(&["sweep", "--model", "tms-5-2", flag, n]);
            assert!(!out.status.success());
            assert!(String::from_utf8_lossy(&out.stderr).contains(flag), "{flag} {n}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
