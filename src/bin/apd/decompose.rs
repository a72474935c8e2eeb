//! `apd decompose`: one seed's decomposition, or with `--instances N`
//! seeds S..S+N in one batched step, one report each.

use crate::cli::{backend_of, config_of, run_to_end, start_target, train_targets, Args};
use crate::files::write_json;
use crate::output::{evaluation_text, print_details, print_metrics, Bar};
use apd_playground::backend::{device, BackendKind};
use apd_playground::config::ExperimentConfig;
use apd_playground::methods::plan;
use apd_playground::models::Target;
use apd_playground::run::Run;
use apd_playground::ApdError;
use std::time::Instant;

/// Where seed `seed`'s file of `train` or `decompose --instances` goes:
/// `out` with `-seed<S>` before its `.json`.
pub(crate) fn instance_path(out: &str, seed: u64) -> String {
    match out.strip_suffix(".json") {
        Some(stem) => format!("{stem}-seed{seed}.json"),
        None => format!("{out}-seed{seed}"),
    }
}

pub(crate) fn cmd_decompose(args: &Args) -> Result<(), ApdError> {
    let out = args.out.as_deref().ok_or_else(|| ApdError::Format("--out is required".into()))?;
    let (name, cfg) = config_of(args)?;
    let kind = backend_of(args)?;
    let dev = pollster::block_on(device(kind))?;
    if let Some(n) = args.instances.filter(|&n| n > 1) {
        return decompose_together(args, &name, &cfg, n, out, &dev, kind);
    }
    let target = start_target(args, &cfg, args.seed, &dev, None)?;
    let run = Run::new(&name, cfg, args.seed, &dev, target)?;
    let (run, wall) = run_to_end(run, false)?;
    let report = pollster::block_on(run.report(wall, kind.name()))?.expect("APD ran");
    print_metrics("", &report);
    if let Some(e) = &report.evaluation {
        println!("evaluation: {}", evaluation_text(e));
    }
    print_details("", &run);
    println!("{:.1} steps/s, {wall:.1} s; wrote {out}", report.timing.steps_per_sec);
    write_json(out, &report)
}

/// `decompose --instances N`: seeds S..S+N decomposed in one batched step.
fn decompose_together(
    args: &Args,
    name: &str,
    cfg: &ExperimentConfig,
    n: usize,
    out: &str,
    dev: &burn::tensor::Device,
    kind: BackendKind,
) -> Result<(), ApdError> {
    let seeds: Vec<u64> = (args.seed..args.seed + n as u64).collect();
    let mut trained: Vec<Target> = match &args.target {
        Some(_) => Vec::new(),
        None => train_targets(cfg, &seeds, dev, false)?.into_iter().rev().map(|t| t.target).collect(),
    };
    let mut targets = Vec::with_capacity(n);
    for &seed in &seeds {
        targets.push(start_target(args, cfg, seed, dev, trained.pop())?.expect("a target for every seed"));
    }
    let mut bar = Bar::new(false);
    let label = format!("{} of seeds {}..{}", cfg.method.name().to_uppercase(), seeds[0], seeds[n - 1] + 1);
    let mut step = 0;
    let t = Instant::now();
    let total = plan(cfg).total_steps();
    let runs = pollster::block_on(Run::together(name, cfg, &seeds, targets, dev, |records| {
        step += 1;
        let mean = records.iter().map(|s| s.total).sum::<f32>() / records.len() as f32;
        bar.draw(&label, step, total, &format!("mean total loss {mean:.2e}"));
    }))?;
    let wall = t.elapsed().as_secs_f64();
    for (seed, run) in seeds.iter().zip(&runs) {
        let report = pollster::block_on(run.report(wall, kind.name()))?.expect("the decomposition ran");
        let path = instance_path(out, *seed);
        print_metrics(&format!("seed {seed:>3}: "), &report);
        print_details("           ", run);
        write_json(&path, &report)?;
        println!("           wrote {path}");
    }
    println!("{n} seeds decomposed in one batched step in {wall:.1} s ({:.1} steps/s)", total as f64 / wall);
    Ok(())
}
