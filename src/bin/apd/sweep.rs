//! `apd sweep`: many seeds, their targets trained in groups of N in one
//! batched step, their decompositions J at a time on threads (with
//! `--instances`, the decompositions in groups of N in one batched step as
//! well; by default APD's of the small TMS models on the CPU).

use crate::cli::{backend_of, config_of, run_to_end, start_target, train_targets, Args};
use crate::files::norms_note;
use crate::output::{details_text, metrics_text, succeeded};
use crate::shard::{shard_seeds, skip_note, sweep_id, ShardLine};
use apd_playground::backend::{device, BackendKind};
use apd_playground::methods::batches_small_steps;
use apd_playground::models::Target;
use apd_playground::run::Run;
use apd_playground::ApdError;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One APD step's estimated memory below which `sweep` batches
/// decompositions by default (tms-5-2: 2.1 MiB; tms-40-10: 59 MiB).
const SMALL_STEP_BYTES: usize = 4 << 20;

pub fn cmd_sweep(args: &Args) -> Result<(), ApdError> {
    let (name, cfg) = config_of(args)?;
    let spec = args.seeds.as_deref().unwrap_or("0..10");
    let (a, b) = spec
        .split_once("..")
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| a < b)
        .ok_or_else(|| ApdError::Format(format!("--seeds expects A..B with A < B, got {spec:?}")))?;
    // `--shard K/N`: only the K-th of N contiguous parts of the seeds, each
    // seed as the whole sweep runs it.
    let all = (a, b);
    let (a, b) = match args.shard {
        Some((k, n)) if n > b - a => {
            return Err(ApdError::Format(format!(
                "--shard {k}/{n}: {n} parts of the {} seeds {a}..{b} leave some empty; N can be at most {}",
                b - a,
                b - a
            )))
        }
        Some((k, n)) => shard_seeds(a, b, k, n),
        None => (a, b),
    };
    let kind = backend_of(args)?;
    let shard_id = args.shard.map(|_| sweep_id(args, &name, &cfg, kind.name())).transpose()?;
    let dev = pollster::block_on(device(kind))?;
    let mut skipped = Vec::new();
    let t = Instant::now();
    // Targets are trained in groups of `group` seeds, one batched step for
    // each group.
    let group = match (&args.target, args.instances) {
        (Some(_), Some(n)) if n > 1 => {
            return Err(ApdError::Config(apd_playground::config::ConfigError {
                field: "--instances".into(),
                message: "with --target every seed decomposes the same target: there is none to train".into(),
            }))
        }
        (Some(_), _) => 1,
        (None, Some(n)) => n as u64,
        (None, None) if cfg.model.is_resid() => 1,
        (None, None) => 12,
    };
    let jobs = match args.jobs {
        Some(j) => j,
        None if cfg.model.is_resid() || kind != BackendKind::Cpu => 1,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // `group` is 1 with `--target`: nothing to train then. Without
    // `--instances` the groups are also spread over the jobs, each on a
    // thread of its own (twelve tms-5-2 targets in one group took 7.5 s on
    // one core while the other waited; 3.9 s on two). A seed's target is the same in
    // any group (tests/instances.rs).
    let mut trained: BTreeMap<u64, Target> = BTreeMap::new();
    let seeds: Vec<u64> = (a..b).collect();
    let per = match args.instances {
        Some(_) => group as usize,
        None => (group as usize).min(seeds.len().div_ceil(jobs.max(1))),
    };
    let target_threads = jobs.clamp(1, seeds.len().div_ceil(per));
    if group > 1 {
        let chunks: Vec<&[u64]> = seeds.chunks(per).collect();
        for wave in chunks.chunks(jobs.max(1)) {
            let results: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = wave.iter().map(|&c| scope.spawn(|| train_targets(&cfg, c, &dev, true))).collect();
                handles.into_iter().map(|h| h.join().expect("a target-training thread panicked")).collect()
            });
            for (c, r) in wave.iter().zip(results) {
                trained.extend(c.iter().copied().zip(r?.into_iter().map(|t| t.target)));
            }
        }
    }
    let mut queue = Vec::new();
    let mut lines = BTreeMap::new();
    for seed in a..b {
        let target = start_target(args, &cfg, seed, &dev, trained.remove(&seed))?;
        if let Some(t) = target.as_ref().filter(|_| args.whole_targets) {
            let (kept, n) = t.reproduced_count();
            if kept < n {
                skipped.push(seed);
                lines.insert(seed, Ok((format!("seed {seed:>3}: skipped{}", norms_note(t)), false)));
                continue;
            }
        }
        queue.push((seed, target));
    }
    // Decompositions in groups of `batch` seeds, one batched step each: by
    // default only where it measured faster on the CPU (APD on tms-5-2 and its
    // kind, whose steps are small: 238 s against 286 s for 12 seeds on 2
    // cores), as many per group as spread the seeds evenly over the jobs;
    // larger steps measured slower batched (tms-40-10 at N = 3: 0.6x).
    let batch = match args.instances {
        _ if args.target.is_some() => 1,
        Some(n) => n,
        None if batches_small_steps(cfg.method)
            && kind == BackendKind::Cpu
            && !cfg.model.is_resid()
            && cfg.estimated_step_floats() * 4 <= SMALL_STEP_BYTES =>
        {
            queue.len().div_ceil(jobs).clamp(1, 12)
        }
        None => 1,
    };
    let lines_of = |seed: u64, run: &Run, wall: f64| -> SeedResult {
        let report = pollster::block_on(run.report(wall, kind.name()))?.expect("the decomposition ran");
        let mut text = metrics_text(&format!("seed {seed:>3}: "), &report);
        if let Some(d) = details_text("           ", run) {
            text = format!("{text}\n{d}");
        }
        Ok((text, succeeded(&report)))
    };
    let alone = |seed: u64, target: Option<Target>| -> SeedResult {
        let run = Run::new(&name, cfg.clone(), seed, &dev, target)?;
        let (run, wall) = run_to_end(run, true)?;
        lines_of(seed, &run, wall)
    };
    let decompose = |group: Vec<(u64, Option<Target>)>| -> Vec<(u64, SeedResult)> {
        let seeds: Vec<u64> = group.iter().map(|(s, _)| *s).collect();
        let targets: Option<Vec<Target>> = group.iter().map(|(_, t)| t.clone()).collect();
        if let (true, Some(targets)) = (group.len() > 1, targets) {
            let t = Instant::now();
            let together = pollster::block_on(Run::together(&name, &cfg, &seeds, targets, &dev, |_| {}));
            match together {
                Ok(runs) => {
                    let wall = t.elapsed().as_secs_f64();
                    return seeds.iter().zip(&runs).map(|(&s, run)| (s, lines_of(s, run, wall))).collect();
                }
                // One seed's divergence stops the batch: each seed again alone,
                // so that it is that seed's line that says so.
                Err(ApdError::Diverged { .. }) => {}
                Err(e) => return seeds.iter().map(|&s| (s, Err(e.clone()))).collect(),
            }
        }
        group.into_iter().map(|(seed, target)| (seed, alone(seed, target))).collect()
    };
    let groups: Vec<Vec<(u64, Option<Target>)>> = {
        let mut queue = queue.into_iter().peekable();
        std::iter::from_fn(|| queue.peek().is_some().then(|| queue.by_ref().take(batch).collect())).collect()
    };
    let threads = jobs.min(groups.len()).max(1);
    let batches = groups.iter().any(|g| g.len() > 1);
    let recovered = for_each_in_order(groups, jobs, lines, decompose)?;
    let criterion = if cfg.model.is_resid() { ">= 90% of features with a dedicated component" } else { "MMCS >= 0.98 and ML2R >= 0.85" };
    let mut how = String::new();
    match (per > 1, target_threads) {
        (true, 1) => how.push_str(&format!(", targets {per} per batched step")),
        (true, t) => how.push_str(&format!(", targets {per} per batched step, {t} batches at once")),
        (false, _) => {}
    }
    match (batches, threads) {
        (true, 1) => how.push_str(&format!(", decompositions up to {batch} per batched step")),
        (true, t) => how.push_str(&format!(", decompositions up to {batch} per batched step, {t} batches at once")),
        (false, 1) => {}
        (false, t) => how.push_str(&format!(", {t} seeds at once")),
    }
    let (ok, seconds, note) = (recovered.len(), t.elapsed().as_secs_f64(), skip_note(skipped.len()));
    println!("{name}: {ok} of {} seeds recovered ({criterion}) in {seconds:.0} s{how}{note}", b - a - skipped.len() as u64);
    if let (Some((k, n)), Some(id)) = (args.shard, shard_id) {
        let failed = (a..b).filter(|s| !recovered.contains(s) && !skipped.contains(s)).collect();
        println!("{}", ShardLine { k, n, seeds: all, id, recovered, failed, skipped, seconds });
    }
    Ok(())
}

/// A seed's lines of a sweep and whether it succeeded.
type SeedResult = Result<(String, bool), ApdError>;

/// Runs `work` on each queued group of seeds, `jobs` groups at a time on
/// threads of their own, and prints each seed's lines in seed order as
/// soon as every seed before it is done (the seeds in `done`, already
/// decided, among them); returns those that succeeded, in order. The first error stops
/// the queue and is returned once the groups under way have finished.
fn for_each_in_order<F>(
    queue: Vec<Vec<(u64, Option<Target>)>>,
    jobs: usize,
    mut done: BTreeMap<u64, SeedResult>,
    work: F,
) -> Result<Vec<u64>, ApdError>
where
    F: Fn(Vec<(u64, Option<Target>)>) -> Vec<(u64, SeedResult)> + Sync,
{
    let mut order: Vec<u64> = queue.iter().flatten().map(|(s, _)| *s).chain(done.keys().copied()).collect();
    order.sort_unstable();
    let threads = jobs.clamp(1, queue.len().max(1));
    let queue = Mutex::new(VecDeque::from(queue));
    let stop = AtomicBool::new(false);
    let (mut ok, mut next, mut error) = (Vec::new(), 0, None);
    let mut flush = |done: &mut BTreeMap<u64, SeedResult>| {
        while let Some((&seed, result)) = order.get(next).and_then(|s| Some((s, done.remove(s)?))) {
            next += 1;
            match result {
                Ok((text, good)) => {
                    println!("{text}");
                    if good {
                        ok.push(seed);
                    }
                }
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
    };
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..threads {
            let (tx, queue, stop, work) = (tx.clone(), &queue, &stop, &work);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(group) = queue.lock().expect("queue").pop_front() else { break };
                    for (seed, result) in work(group) {
                        if result.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        if tx.send((seed, result)).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        flush(&mut done);
        for (seed, result) in rx {
            done.insert(seed, result);
            flush(&mut done);
        }
    });
    // A seed stopped by an error leaves the ones after it unprinted.
    let first_error = done.into_values().find_map(|r| r.err());
    match error.or(first_error) {
        Some(e) => Err(e),
        None => Ok(ok),
    }
}
