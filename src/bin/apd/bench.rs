//! `apd bench`: decomposition steps per second, transfers per step and,
//! with `--instances`, target training at N beside N = 1.

use crate::cli::{backend_of, config_of, Args};
use apd_playground::backend::device;
use apd_playground::config::{ExperimentConfig, Method};
use apd_playground::data::transfers;
use apd_playground::models::TargetTrainer;
use apd_playground::run::Run;
use apd_playground::ApdError;
use std::time::Instant;

pub fn cmd_bench(args: &Args) -> Result<(), ApdError> {
    let (name, mut cfg) = config_of(args)?;
    let steps = args.steps.unwrap_or(200);
    let warmup = 20.min(steps);
    let key = if cfg.method == Method::Spd { "spd.steps" } else { "apd.steps" };
    cfg.set(key, &(steps + warmup).to_string())?;
    // The target's quality does not change the cost of a decomposition step.
    cfg.set("target.steps", "1")?;
    let kind = backend_of(args)?;
    let dev = pollster::block_on(device(kind))?;
    let mut run = Run::new(&name, cfg, args.seed, &dev, None)?;
    pollster::block_on(run.step())?; // the one target step
    for _ in 0..warmup {
        pollster::block_on(run.step())?;
    }
    let t = Instant::now();
    let (up0, read0) = transfers();
    for _ in 0..steps {
        pollster::block_on(run.step())?;
    }
    let s = t.elapsed().as_secs_f64();
    let (up1, read1) = transfers();
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
    let per = |n: u64| n as f64 / steps as f64;
    println!(
        "per step: {:.2} uploads to the device, {:.2} readbacks to the host (each a wait for the device on a GPU)",
        per(up1 - up0),
        per(read1 - read0)
    );
    if let Some(n) = args.instances {
        let (name, cfg) = config_of(args)?;
        let (alone, _, _) = bench_target_steps(&cfg, 1, steps, &dev)?;
        let (batched, up, read) = bench_target_steps(&cfg, n, steps, &dev)?;
        println!(
            "{name} target training on {}: N = {n}: {:.3} ms per step, {:.3} ms per instance-step ({:.2} uploads, {:.2} readbacks per step); N = 1: {alone:.3} ms per step; {:.1}x as fast per instance as alone",
            kind.name(),
            batched,
            batched / n as f64,
            up,
            read,
            alone * n as f64 / batched
        );
        println!("(decompositions have no instance dimension yet: the figures above are for N = 1)");
    }
    Ok(())
}

/// ms per batched target-training step of `n` instances (warm-up
/// excluded), and uploads and readbacks per step.
fn bench_target_steps(cfg: &ExperimentConfig, n: usize, steps: usize, dev: &burn::tensor::Device) -> Result<(f64, f64, f64), ApdError> {
    let warmup = 20;
    let mut cfg = cfg.clone();
    cfg.set("target.steps", &(steps + warmup).to_string())?;
    let seeds: Vec<u64> = (0..n as u64).collect();
    let mut trainer = TargetTrainer::with_seeds(&cfg, &seeds, dev)?;
    for _ in 0..warmup {
        pollster::block_on(trainer.step_all())?;
    }
    let (up0, read0) = transfers();
    let t = Instant::now();
    for _ in 0..steps {
        pollster::block_on(trainer.step_all())?;
    }
    let ms = 1000.0 * t.elapsed().as_secs_f64() / steps as f64;
    let (up1, read1) = transfers();
    Ok((ms, (up1 - up0) as f64 / steps as f64, (read1 - read0) as f64 / steps as f64))
}
