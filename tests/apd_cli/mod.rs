//! Running the `apd` binary from a test: its output, and whether it succeeded.
#![allow(dead_code)]

use std::process::{Command, Output};

pub fn apd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apd")).args(args).output().expect("the apd binary runs")
}

/// The command's standard output; it must have succeeded.
pub fn ok(out: Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "apd failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    text
}

/// The command's error message; it must have failed.
pub fn refused(out: Output) -> String {
    assert!(!out.status.success(), "apd succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).to_string()
}
