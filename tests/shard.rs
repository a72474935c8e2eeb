//! `apd sweep --shard K/N` and `apd merge`: a sweep run as three shards and
//! merged prints what the sweep run whole prints, but for the time and the
//! how of its summary line; bad shards and bad sets of parts are refused
//! with a message saying what is wrong.
// Native only: `wasm-pack test` builds every test target for wasm32, where these do not apply.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::Output;
mod apd_cli;
use apd_cli::{apd, ok, refused};

/// Seeds 0..6 of tms-5-2, short: 0, 1 and 5 skipped (their targets do not
/// reproduce every feature alone), 2 recovered, 3 and 4 not, in 3 s.
const SWEEP: [&str; 12] =
    ["sweep", "--model", "tms-5-2", "--seeds", "0..6", "--steps", "1000", "--set", "target.steps=800", "--whole-targets", "--jobs", "2"];

/// The summary line (the last) without its time and how: from ` in ` after
/// the criterion up to the skip note (`; N seeds skipped...`) or the end.
fn without_time(text: &str) -> (String, String) {
    let (body, summary) = text.trim_end().rsplit_once('\n').expect("seed lines, then the summary");
    let start = summary.find(") in ").expect("the time after the criterion") + 1;
    let end = summary[start..].find("; ").map_or(summary.len(), |i| start + i);
    (format!("{body}\n{}{}", &summary[..start], &summary[end..]), summary[start..end].to_string())
}

fn merge(files: &[&Path]) -> Output {
    let names: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    apd(&[&["merge"][..], &names].concat())
}

#[test]
fn three_shards_merge_into_the_whole_sweep() {
    let dir = std::env::temp_dir().join(format!("apd-shard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let whole = ok(apd(&SWEEP));
    let parts: Vec<PathBuf> = (1..=3)
        .map(|k| {
            let text = ok(apd(&[&SWEEP[..], &["--shard", &format!("{k}/3")]].concat()));
            let last = text.lines().last().unwrap();
            assert!(last.starts_with(&format!("# shard {k}/3 of seeds 0..6 (sweep ")), "{text}");
            let path = dir.join(format!("part-{k}.txt"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    let [p1, p2, p3] = [&parts[0], &parts[1], &parts[2]].map(|p| p.as_path());
    let part2 = std::fs::read_to_string(p2).unwrap();
    assert!(part2.starts_with("seed   2: ") && part2.contains("\nseed   3: ") && !part2.contains("seed   4"), "{part2}");
    assert!(part2.ends_with(" s\n") && part2.contains("): recovered 2; not recovered 3; skipped none; "), "{part2}");

    let merged = ok(merge(&[p1, p2, p3]));
    let (expected, tail) = without_time(&whole);
    let (got, merged_tail) = without_time(&merged);
    assert_eq!(got, expected, "merged:\n{merged}\nwhole:\n{whole}");
    assert!(
        expected.contains("tms-5-2: 1 of 3 seeds recovered")
            && expected.ends_with("; 3 seeds skipped: their target does not reproduce every feature alone"),
        "{whole}"
    );
    assert!(
        tail.starts_with(" in ") && merged_tail.starts_with(" in ") && merged_tail.ends_with(" s over 3 shards"),
        "{tail:?} {merged_tail:?}"
    );
    assert_eq!(ok(merge(&[p3, p1, p2])), merged, "the parts in any order");

    // Missing, doubled, from another sweep, unfinished, or not their shard's lines.
    assert!(refused(merge(&[p1, p3])).contains("shard 2/3 (seeds 2..4) of seeds 0..6 missing"));
    let twice = refused(merge(&[p1, p2, p2, p3]));
    assert!(twice.contains("are both shard 2/3"), "{twice}");
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let id = part2.rsplit_once("(sweep ").unwrap().1.split_once(')').unwrap().0.to_string();
    let other = write("other.txt", part2.replace(&id, "0123456789abcdef"));
    let e = refused(merge(&[p1, &other, p3]));
    assert!(e.contains("not the parts of one sweep") && e.contains("(sweep 0123456789abcdef)"), "{e}");
    // Shard 2/3 of 0..6 runs what shard 2/3 of 0..5 and shard 2/4 of 0..6 do: seeds 2..4.
    for (name, other) in [("fewer.txt", "shard 2/3 of seeds 0..5"), ("four.txt", "shard 2/4 of seeds 0..6")] {
        let path = write(name, part2.replace("shard 2/3 of seeds 0..6", other));
        let e = refused(merge(&[p1, &path, p3]));
        assert!(e.contains("not the parts of one sweep") && e.contains(&format!("is {other} of tms-5-2")), "{e}");
    }
    let cut = write("cut.txt", part2.lines().take(3).map(|l| format!("{l}\n")).collect());
    assert!(refused(merge(&[p1, &cut, p3])).contains("does not end as the output of `apd sweep --shard K/N` does"));
    let without_2: String = part2.lines().filter(|l| !l.starts_with("seed   2")).map(|l| format!("{l}\n")).collect();
    let e = refused(merge(&[p1, &write("without-2.txt", without_2), p3]));
    assert!(e.contains("runs seeds 2..4, but its output holds the lines of seeds 3"), "{e}");
    assert!(refused(apd(&["merge"])).contains("merge needs the shards' outputs"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_shards_are_refused() {
    for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/-2", ""] {
        let e = refused(apd(&["sweep", "--model", "tms-5-2", "--seeds", "0..6", "--shard", bad]));
        assert!(e.contains(&format!("--shard expects K/N with 1 <= K <= N, got {bad:?}")), "{bad}: {e}");
    }
    let e = refused(apd(&["sweep", "--model", "tms-5-2", "--seeds", "0..2", "--shard", "1/3"]));
    assert!(e.contains("--shard 1/3: 3 parts of the 2 seeds 0..2 leave some empty; N can be at most 2"), "{e}");
}
