//! Sweeps in parts, for many machines: `apd sweep --shard K/N` runs the
//! K-th of N contiguous parts of a sweep's seeds and ends with a line that
//! names the part and says how each of its seeds did; `apd merge PART...`
//! joins the parts' outputs into what the one sweep would have printed.

use crate::cli::Args;
use crate::files::read_text;
use apd_playground::config::ExperimentConfig;
use apd_playground::ApdError;

/// The seeds of shard `k` of `n` (counted from 1) of `a..b`: contiguous
/// parts as equal as can be, the first `(b - a) % n` one seed longer.
pub fn shard_seeds(a: u64, b: u64, k: u64, n: u64) -> (u64, u64) {
    let (q, r) = ((b - a) / n, (b - a) % n);
    let start = a + (k - 1) * q + (k - 1).min(r);
    (start, start + q + u64::from(k <= r))
}

/// The end of a sweep's summary line when seeds were skipped.
pub fn skip_note(skipped: usize) -> String {
    if skipped > 0 {
        format!("; {skipped} seeds skipped: their target does not reproduce every feature alone")
    } else {
        String::new()
    }
}

/// What makes two sweeps' seeds decompose alike, as 16 hex digits: the
/// model's name, the configuration, the backend and the target options
/// (the `--target` file by its contents). Not the seeds, `--jobs` or
/// `--instances`, which do not change a seed's lines.
pub fn sweep_id(args: &Args, name: &str, cfg: &ExperimentConfig, backend: &str) -> Result<String, ApdError> {
    let target = match &args.target {
        Some(path) => read_text(path)?,
        None => String::new(),
    };
    let cfg = serde_json::to_string(cfg).map_err(|e| ApdError::Format(e.to_string()))?;
    let text = format!("{name}\n{cfg}\n{backend}\n{:?}\n{}\n{target}", args.target_scale, args.whole_targets);
    // FNV-1a: the same on every machine and build, unlike std's hasher.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, byte| (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    Ok(format!("{hash:016x}"))
}

/// The line a shard's output ends with, e.g.
/// `# shard 2/3 of seeds 0..6 (sweep 1f0c…): recovered 2; not recovered 3; skipped none; 3.1 s`.
#[derive(Debug, PartialEq)]
pub struct ShardLine {
    pub k: u64,
    pub n: u64,
    pub seeds: (u64, u64),
    pub id: String,
    pub recovered: Vec<u64>,
    pub failed: Vec<u64>,
    pub skipped: Vec<u64>,
    pub seconds: f64,
}

fn list_text(seeds: &[u64]) -> String {
    if seeds.is_empty() {
        return "none".into();
    }
    seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn parse_list(text: &str, key: &str) -> Option<Vec<u64>> {
    match text.strip_prefix(key)? {
        "none" => Some(Vec::new()),
        list => list.split(',').map(|s| s.parse().ok()).collect(),
    }
}

impl std::fmt::Display for ShardLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.seeds;
        write!(
            f,
            "# shard {}/{} of seeds {a}..{b} (sweep {}): recovered {}; not recovered {}; skipped {}; {:.1} s",
            self.k,
            self.n,
            self.id,
            list_text(&self.recovered),
            list_text(&self.failed),
            list_text(&self.skipped),
            self.seconds
        )
    }
}

impl ShardLine {
    pub fn parse(line: &str) -> Option<ShardLine> {
        let rest = line.strip_prefix("# shard ")?;
        let (kn, rest) = rest.split_once(" of seeds ")?;
        let (k, n) = kn.split_once('/')?;
        let (ab, rest) = rest.split_once(" (sweep ")?;
        let (a, b) = ab.split_once("..")?;
        let (id, rest) = rest.split_once("): ")?;
        let [recovered, failed, skipped, seconds] = rest.split("; ").collect::<Vec<_>>()[..] else { return None };
        Some(ShardLine {
            k: k.parse().ok()?,
            n: n.parse().ok()?,
            seeds: (a.parse().ok()?, b.parse().ok()?),
            id: id.to_string(),
            recovered: parse_list(recovered, "recovered ")?,
            failed: parse_list(failed, "not recovered ")?,
            skipped: parse_list(skipped, "skipped ")?,
            seconds: seconds.strip_suffix(" s")?.parse().ok()?,
        })
    }
}

/// One shard's output, read back.
struct Part {
    path: String,
    /// The seeds' lines, as the shard printed them.
    body: Vec<String>,
    /// The model's name and the criterion, from the shard's summary line.
    name: String,
    criterion: String,
    line: ShardLine,
}

impl Part {
    fn read(path: &str) -> Result<Part, ApdError> {
        let text = read_text(path)?;
        let mut lines: Vec<&str> = text.lines().collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let incomplete = || {
            ApdError::Format(format!(
                "{path} does not end as the output of `apd sweep --shard K/N` does (a summary line, then `# shard K/N of seeds A..B ...`): \
                 an unfinished or failed shard, or not one"
            ))
        };
        let line = lines.pop().and_then(ShardLine::parse).ok_or_else(incomplete)?;
        let summary = lines.pop().ok_or_else(incomplete)?;
        let (name, rest) = summary.split_once(": ").ok_or_else(incomplete)?;
        let criterion = rest.split_once(" seeds recovered (").and_then(|(_, r)| r.split_once(") in ")).ok_or_else(incomplete)?.0;
        let (k, n, (a, b)) = (line.k, line.n, line.seeds);
        if !(1 <= k && k <= n && a < b && n <= b - a) {
            return Err(ApdError::Format(format!("{path}: shard {k}/{n} of seeds {a}..{b} is not a shard a sweep runs")));
        }
        let (s, t) = shard_seeds(a, b, k, n);
        let mut listed: Vec<u64> = [&line.recovered[..], &line.failed, &line.skipped].concat();
        listed.sort_unstable();
        // A seed's block starts `seed   S: ` (a residual MLP's second line too).
        let mut printed: Vec<u64> = lines.iter().filter_map(|l| l.strip_prefix("seed ")?.split_once(':')?.0.trim().parse().ok()).collect();
        printed.dedup();
        if listed != (s..t).collect::<Vec<_>>() || printed != listed {
            return Err(ApdError::Format(format!(
                "{path}: shard {k}/{n} of seeds {a}..{b} runs seeds {s}..{t}, but its output holds the lines of seeds {} \
                 and its last line lists {}",
                list_text(&printed),
                list_text(&listed)
            )));
        }
        let body = lines.iter().map(|l| l.to_string()).collect();
        Ok(Part { path: path.to_string(), body, name: name.to_string(), criterion: criterion.to_string(), line })
    }

    fn describe(&self) -> String {
        let l = &self.line;
        format!("{} is shard {}/{} of seeds {}..{} of {} (sweep {})", self.path, l.k, l.n, l.seeds.0, l.seeds.1, self.name, l.id)
    }
}

/// `apd merge PART...`: the parts' seed lines in seed order, then the
/// summary line the one sweep prints, with the parts' time added up.
pub fn cmd_merge(args: &Args) -> Result<(), ApdError> {
    if args.parts.is_empty() {
        return Err(ApdError::Format("merge needs the shards' outputs: apd merge part-1.txt part-2.txt ...".into()));
    }
    let mut parts = args.parts.iter().map(|p| Part::read(p)).collect::<Result<Vec<_>, _>>()?;
    let first = &parts[0];
    let same = |p: &Part| {
        (&p.name, &p.criterion, &p.line.id, p.line.n, p.line.seeds)
            == (&first.name, &first.criterion, &first.line.id, first.line.n, first.line.seeds)
    };
    if let Some(other) = parts.iter().find(|p| !same(p)) {
        return Err(ApdError::Mismatch(format!("not the parts of one sweep: {}, but {}", first.describe(), other.describe())));
    }
    let (n, (a, b)) = (first.line.n, first.line.seeds);
    parts.sort_by_key(|p| p.line.k);
    if let Some(w) = parts.windows(2).find(|w| w[0].line.k == w[1].line.k) {
        return Err(ApdError::Mismatch(format!("{} and {} are both shard {}/{n}", w[0].path, w[1].path, w[0].line.k)));
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| !parts.iter().any(|p| p.line.k == *k))
        .map(|k| {
            let (s, t) = shard_seeds(a, b, k, n);
            format!("{k}/{n} (seeds {s}..{t})")
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApdError::Mismatch(format!(
            "shard{} {} of seeds {a}..{b} missing",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        )));
    }
    for p in &parts {
        for l in &p.body {
            println!("{l}");
        }
    }
    let count = |f: fn(&ShardLine) -> usize| parts.iter().map(|p| f(&p.line)).sum::<usize>();
    let ok = count(|l| l.recovered.len());
    let decomposed = ok + count(|l| l.failed.len());
    let seconds: f64 = parts.iter().map(|p| p.line.seconds).sum();
    let (name, criterion) = (&parts[0].name, &parts[0].criterion);
    let note = skip_note(count(|l| l.skipped.len()));
    println!("{name}: {ok} of {decomposed} seeds recovered ({criterion}) in {seconds:.0} s over {n} shards{note}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_seeds_evenly_and_in_order() {
        let parts: Vec<_> = (1..=3).map(|k| shard_seeds(0, 8, k, 3)).collect();
        assert_eq!(parts, [(0, 3), (3, 6), (6, 8)]);
        let parts: Vec<_> = (1..=4).map(|k| shard_seeds(10, 14, k, 4)).collect();
        assert_eq!(parts, [(10, 11), (11, 12), (12, 13), (13, 14)]);
        for (a, b, n) in [(0, 10, 3), (5, 6, 1), (0, 100, 7), (3, 20, 17)] {
            let mut next = a;
            for k in 1..=n {
                let (s, t) = shard_seeds(a, b, k, n);
                assert!(s == next && t > s && t - s >= (b - a) / n && t - s <= (b - a).div_ceil(n));
                next = t;
            }
            assert_eq!(next, b);
        }
    }

    #[test]
    fn the_shard_line_reads_back() {
        let line = ShardLine {
            k: 2,
            n: 3,
            seeds: (0, 6),
            id: "00ff00ff00ff00ff".into(),
            recovered: vec![2],
            failed: vec![],
            skipped: vec![3, 4],
            seconds: 2.96,
        };
        let text = line.to_string();
        assert_eq!(text, "# shard 2/3 of seeds 0..6 (sweep 00ff00ff00ff00ff): recovered 2; not recovered none; skipped 3,4; 3.0 s");
        assert_eq!(ShardLine::parse(&text), Some(ShardLine { seconds: 3.0, ..line }));
        assert_eq!(ShardLine::parse("# shard 2/3 of seeds 0..6"), None);
    }
}
