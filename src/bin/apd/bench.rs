//! `apd bench`: decomposition steps per second, transfers per step and,
//! with `--instances`, the decomposition (its method's) and target training at
//! N beside N = 1.

use crate::cli::{backend_of, config_of, Args};
use apd_playground::backend::device;
use apd_playground::config::ExperimentConfig;
use apd_playground::data::transfers;
use apd_playground::methods::Trainer;
use apd_playground::models::TargetTrainer;
use apd_playground::run::Run;
use apd_playground::ApdError;
use std::time::Instant;

/// Untimed steps before the timed ones (compilation, allocation, caches).
const WARMUP: usize = 20;

pub fn cmd_bench(args: &Args) -> Result<(), ApdError> {
    let (name, mut cfg) = config_of(args)?;
    let steps = args.steps.unwrap_or(200);
    let warmup = WARMUP.min(steps);
    cfg.set(&format!("{}.steps", cfg.method.name()), &(steps + warmup).to_string())?;
    // The target's quality does not change the cost of a decomposition step.
    cfg.set("target.steps", "1")?;
    let kind = backend_of(args)?;
    let dev = pollster::block_on(device(kind))?;
    let mut run = Run::new(&name, cfg, args.seed, &dev, None)?;
    pollster::block_on(run.step())?; // the one target step
    let (s, up, read) = timed(warmup, steps, || pollster::block_on(run.step()).map(|_| ()))?;
    println!(
        "estimated peak memory of one {} step: {:.1} MiB (the figure the page checks against its budget)",
        run.config().method.name().to_uppercase(),
        run.config().estimated_step_floats() as f64 * 4.0 / 1048576.0
    );
    println!(
        "{name} on {}: {steps} {} steps in {s:.3} s: {:.1} steps/s, {:.3} ms/step (warm-up of {warmup} steps excluded)",
        kind.name(),
        run.config().method.name().to_uppercase(),
        steps as f64 / s,
        1000.0 * s / steps as f64
    );
    println!("per step: {up:.2} uploads to the device, {read:.2} readbacks to the host (each a wait for the device on a GPU)");
    if let Some(n) = args.instances {
        let (name, cfg) = config_of(args)?;
        let compare = |what: &str, bench: &dyn Fn(usize) -> Result<(f64, f64, f64), ApdError>| -> Result<(), ApdError> {
            let (alone, _, _) = bench(1)?;
            let (batched, up, read) = bench(n)?;
            let (alone, batched) = (1000.0 * alone / steps as f64, 1000.0 * batched / steps as f64);
            println!(
                "{name} {what} on {}: N = {n}: {batched:.3} ms per step, {:.3} ms per instance-step ({up:.2} uploads, {read:.2} readbacks per step); N = 1: {alone:.3} ms per step; {:.1}x as fast per instance as alone",
                kind.name(),
                batched / n as f64,
                alone * n as f64 / batched
            );
            Ok(())
        };
        compare(&cfg.method.name().to_uppercase(), &|n| bench_method_steps(&cfg, n, steps, &dev))?;
        compare("target training", &|n| bench_target_steps(&cfg, n, steps, &dev))?;
    }
    Ok(())
}

/// `steps` batched decomposition steps of `n` instances (seeds 0..n, their
/// targets trained for one step), after the same warm-up as the figures for
/// one run.
fn bench_method_steps(cfg: &ExperimentConfig, n: usize, steps: usize, dev: &burn::tensor::Device) -> Result<(f64, f64, f64), ApdError> {
    let warmup = WARMUP.min(steps);
    let mut cfg = cfg.clone();
    cfg.set(&format!("{}.steps", cfg.method.name()), &(steps + warmup).to_string())?;
    cfg.set("target.steps", "1")?;
    let seeds: Vec<u64> = (0..n as u64).collect();
    let mut targets = TargetTrainer::with_seeds(&cfg, &seeds, dev)?;
    pollster::block_on(targets.step_all())?;
    let targets = pollster::block_on(targets.targets())?;
    let mut trainer = Trainer::with_seeds(&cfg, &targets, &seeds, dev)?;
    timed(warmup, steps, || pollster::block_on(trainer.train_step()).map(|_| ()))
}

/// `steps` batched target-training steps of `n` instances, timed as [`timed`] does.
fn bench_target_steps(cfg: &ExperimentConfig, n: usize, steps: usize, dev: &burn::tensor::Device) -> Result<(f64, f64, f64), ApdError> {
    let warmup = WARMUP.min(steps);
    let mut cfg = cfg.clone();
    cfg.set("target.steps", &(steps + warmup).to_string())?;
    let seeds: Vec<u64> = (0..n as u64).collect();
    let mut trainer = TargetTrainer::with_seeds(&cfg, &seeds, dev)?;
    timed(warmup, steps, || pollster::block_on(trainer.step_all()).map(|_| ()))
}

/// Runs `step` `warmup` times untimed, then `steps` times: the seconds
/// those took, and the uploads and readbacks per step.
fn timed(warmup: usize, steps: usize, mut step: impl FnMut() -> Result<(), ApdError>) -> Result<(f64, f64, f64), ApdError> {
    for _ in 0..warmup {
        step()?;
    }
    let (up0, read0) = transfers();
    let t = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let s = t.elapsed().as_secs_f64();
    let (up1, read1) = transfers();
    let per = |n: u64| n as f64 / steps as f64;
    Ok((s, per(up1 - up0), per(read1 - read0)))
}
