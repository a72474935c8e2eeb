//! The source tree keeps its shape: the modules of `src/` import one
//! another in one direction only (no circle), sibling files inside a module
//! too, and no file grows past about 400 lines without saying why at its top.
//!
//! A module's `mod.rs` is its face: it declares its files and may use them,
//! and they may use what it declares (`super::`), so the circles between a
//! `mod.rs` and its own files are not counted.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 400;
/// What a longer file must carry in its first lines.
const SIZE_NOTE: &str = "Size:";

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// The identifiers that follow `prefix` in `text` (`crate::config::x` gives `config`
/// for the prefix `crate::`).
fn after(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric() && rest.as_bytes()[i - 1] != b'_';
        rest = &rest[i + prefix.len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if before_ok && !name.is_empty() {
            out.push(name);
        }
    }
    out
}

/// Code without comments, so that prose naming a module is not an import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn imports_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, "rs", &mut all);
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut siblings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
        if parts == ["lib"] {
            continue;
        }
        let module = parts[0].clone();
        let code = code_of(&fs::read_to_string(f).unwrap());
        let uses: Vec<String> = if module == "bin" { after(&code, "apd_playground::") } else { after(&code, "crate::") };
        for used in uses {
            if used != module {
                top.entry(module.clone()).or_default().insert(used);
            }
        }
        // Sibling files of one directory, mod.rs excepted.
        if parts.len() == 2 && parts[1] != "mod" {
            let me = format!("{module}/{}", parts[1]);
            let crate_path = format!("crate::{module}::");
            let mut used: Vec<String> = after(&code, &crate_path);
            used.extend(after(&code, "super::"));
            for u in used {
                let sibling = src.join(&module).join(format!("{u}.rs"));
                if u != parts[1] && sibling.exists() {
                    siblings.entry(me.clone()).or_default().insert(format!("{module}/{u}"));
                }
            }
        }
    }
    assert!(top.contains_key("run") && top.contains_key("apd"), "the scan found the modules: {top:?}");
    if let Some(c) = find_cycle(&top) {
        panic!("import circle among the modules of src/: {}", c.join(" -> "));
    }
    if let Some(c) = find_cycle(&siblings) {
        panic!("import circle among sibling files: {}", c.join(" -> "));
    }
    // The core knows nothing of the browser.
    for (module, used) in &top {
        if module != "bin" {
            assert!(!used.contains("web") || module == "web", "{module} imports the wasm surface");
        }
    }
}

#[test]
fn a_circle_is_found() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert!(find_cycle(&g).is_none());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(after("use crate::config::{x}; crate::apd::y; notcrate::z", "crate::"), ["config", "apd"]);
}

#[test]
fn long_files_say_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(&root.join("src"), "rs", &mut all);
    files(&root.join("www"), "js", &mut all);
    all.retain(|p| !p.components().any(|c| c.as_os_str() == "pkg" || c.as_os_str() == "pkg-cpu" || c.as_os_str() == "vendor"));
    let mut long = Vec::new();
    for f in &all {
        let text = fs::read_to_string(f).unwrap();
        let lines = text.lines().count();
        let head: String = text.lines().take(30).collect::<Vec<_>>().join("\n");
        if lines > MAX_LINES && !head.contains(SIZE_NOTE) {
            long.push(format!("{} ({lines} lines)", f.strip_prefix(root).unwrap().display()));
        }
    }
    assert!(long.is_empty(), "over {MAX_LINES} lines with no `{SIZE_NOTE}` note at the top: {long:?}");
}

/// A method is a folder: each module with an `impl Method for` (and a
/// `losses.rs`, where a reader finds its losses) is used by the registry
/// (`methods.rs`) alone, and nothing else names one, by module or by its
/// `Method::` variant; the settings in `config` excepted, where each
/// method's are declared.
#[test]
fn methods_are_folders_named_only_where_registered() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, "rs", &mut all);
    let module_of = |f: &Path| f.strip_prefix(&src).unwrap().iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
    let mut methods = BTreeSet::new();
    for f in &all {
        if code_of(&fs::read_to_string(f).unwrap()).contains("impl Method for") {
            methods.insert(module_of(f));
        }
    }
    methods.remove("methods");
    assert!(methods.contains("apd") && methods.contains("spd"), "the scan found the methods: {methods:?}");
    for m in &methods {
        assert!(src.join(m).join("losses.rs").exists(), "method {m} keeps its losses in src/{m}/losses.rs");
    }
    let variants: Vec<String> = methods.iter().map(|m| format!("Method::{}{}", m[..1].to_uppercase(), &m[1..])).collect();
    let mut named = Vec::new();
    for f in &all {
        let module = module_of(f);
        if methods.contains(&module) || module == "methods" || module == "config" || module == "lib" {
            continue;
        }
        let code = code_of(&fs::read_to_string(f).unwrap());
        let prefix = if module == "bin" { "apd_playground::" } else { "crate::" };
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        named.extend(after(&code, prefix).into_iter().filter(|u| methods.contains(u)).map(|u| format!("{rel} uses {u}")));
        named.extend(variants.iter().filter(|v| code.contains(v.as_str())).map(|v| format!("{rel} names {v}")));
    }
    assert!(named.is_empty(), "outside the methods' folders and their registry: {named:?}");
    // Nor does one method use another: what two share lives in `decomp`.
    let mut sideways = Vec::new();
    for f in &all {
        let module = module_of(f);
        if methods.contains(&module) {
            let code = code_of(&fs::read_to_string(f).unwrap());
            let rel = f.strip_prefix(&src).unwrap().display().to_string();
            sideways.extend(
                after(&code, "crate::").into_iter().filter(|u| methods.contains(u) && *u != module).map(|u| format!("{rel} uses {u}")),
            );
        }
    }
    assert!(sideways.is_empty(), "one method using another: {sideways:?}");
}

/// ARCHITECTURE.md gives every module of `src/lib.rs` a section, and no
/// module that is not there.
#[test]
fn the_architecture_map_names_every_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut modules: BTreeSet<String> =
        lib.lines().filter_map(|l| l.trim().strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';').to_string()).collect();
    modules.insert("bin/apd".into());
    let map = fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let sections: BTreeSet<String> =
        map.lines().filter_map(|l| l.strip_prefix("### `")).map(|m| m.trim_end_matches('`').to_string()).collect();
    assert_eq!(sections, modules, "ARCHITECTURE.md's sections against src/lib.rs's modules");
    // In its order, each module uses only those after it.
    let order: Vec<String> = map.lines().filter_map(|l| l.strip_prefix("### `")).map(|m| m.trim_end_matches('`').to_string()).collect();
    let at = |m: &str| order.iter().position(|o| o == m);
    let src = root.join("src");
    let mut all = Vec::new();
    files(&src, "rs", &mut all);
    let mut upward = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        let module = if rel.starts_with("bin/") {
            "bin/apd".to_string()
        } else {
            rel.split('/').next().unwrap().trim_end_matches(".rs").to_string()
        };
        let Some(me) = at(&module) else { continue };
        let prefix = if module == "bin/apd" { "apd_playground::" } else { "crate::" };
        let code = code_of(&fs::read_to_string(f).unwrap());
        upward.extend(after(&code, prefix).into_iter().filter(|u| at(u).is_some_and(|k| k < me)).map(|u| format!("{rel} uses {u}")));
    }
    assert!(upward.is_empty(), "against ARCHITECTURE.md's order: {upward:?}");
}
