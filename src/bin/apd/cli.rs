//! The command line proper (native only).

use apd_playground::backend::{device, BackendKind};
use apd_playground::config::{preset, ExperimentConfig, PRESET_NAMES};
use apd_playground::metrics::{resid_success, success};
use apd_playground::report::{target_from_file, Report, TargetFile};
use apd_playground::run::{Phase, Progress, Run};
use apd_playground::ApdError;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
apd: Attribution-based Parameter Decomposition of toy models

USAGE:
  apd train     --model M [--seed S] [--backend cpu|wgpu] [--set key=value]... --out target.json
  apd decompose --model M [--seed S] [--steps N] [--target target.json] [--backend cpu|wgpu]
                [--set key=value]... --out report.json
  apd bench     --model M [--backend cpu|wgpu] [--steps N] [--set key=value]...
  apd sweep     --model M --seeds A..B [--steps N] [--backend cpu|wgpu] [--set key=value]...
  apd inspect   FILE.json          (validates a target or report file and summarises it)
  apd views     REPORT.json [--feature N] --out views.json   (the view data the page draws for a report)
  apd presets                      (prints every preset's configuration as JSON)

MODELS: tms-5-2, tms-5-2-id, tms-40-10, tms-40-10-id, tms-custom,
        resid-mlp-1, resid-mlp-2, resid-mlp-3, resid-mlp-custom
--set changes one setting by its dotted name, e.g. --set apd.lr=0.01 --set model.n_features=8
";

#[derive(Default)]
struct Args {
    command: String,
    model: Option<String>,
    seed: u64,
    steps: Option<usize>,
    target: Option<String>,
    backend: Option<String>,
    out: Option<String>,
    seeds: Option<String>,
    sets: Vec<(String, String)>,
    file: Option<String>,
    feature: usize,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args { command: argv.first().cloned().ok_or("no command given")?, ..Default::default() };
    let mut it = argv[1..].iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--model" => a.model = Some(value("--model")?),
            "--seed" => a.seed = value("--seed")?.parse().map_err(|_| "--seed must be a non-negative integer")?,
            "--steps" => {
                let s: usize = value("--steps")?.parse().map_err(|_| "--steps must be a positive integer")?;
                a.steps = Some(s);
            }
            "--target" => a.target = Some(value("--target")?),
            "--backend" => a.backend = Some(value("--backend")?),
            "--out" => a.out = Some(value("--out")?),
            "--seeds" => a.seeds = Some(value("--seeds")?),
            "--feature" => a.feature = value("--feature")?.parse().map_err(|_| "--feature must be a non-negative integer")?,
            "--set" => {
                let kv = value("--set")?;
                let (k, v) = kv.split_once('=').ok_or(format!("--set expects key=value, got {kv:?}"))?;
                a.sets.push((k.to_string(), v.to_string()));
            }
            "-h" | "--help" => return Err(String::new()),
            f if !f.starts_with('-') && a.file.is_none() => a.file = Some(f.to_string()),
            f => return Err(format!("unknown argument {f:?}")),
        }
    }
    Ok(a)
}

fn config_of(args: &Args) -> Result<(String, ExperimentConfig), ApdError> {
    let name = args.model.clone().ok_or_else(|| {
        ApdError::Format(format!("--model is required (one of {})", PRESET_NAMES.join(", ")))
    })?;
    let mut cfg = preset(&name)?;
    for (k, v) in &args.sets {
        cfg.set(k, v)?;
    }
    if let Some(s) = args.steps {
        cfg.set("apd.steps", &s.to_string())?;
    }
    Ok((name, cfg))
}

fn backend_of(args: &Args) -> Result<BackendKind, ApdError> {
    BackendKind::parse(args.backend.as_deref().unwrap_or("cpu"))
}

/// A progress line on stderr: redrawn in place on a terminal, every 10% otherwise.
struct Bar {
    tty: bool,
    start: Instant,
    last_draw: Instant,
    last_decile: usize,
    quiet: bool,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        let now = Instant::now();
        Bar { tty: std::io::stderr().is_terminal(), start: now, last_draw: now, last_decile: 0, quiet }
    }

    fn draw(&mut self, label: &str, done: usize, total: usize, detail: &str) {
        if self.quiet {
            return;
        }
        let frac = done as f64 / total.max(1) as f64;
        let decile = (frac * 10.0) as usize;
        if self.tty {
            if self.last_draw.elapsed().as_millis() < 100 && done < total {
                return;
            }
            self.last_draw = Instant::now();
            let width = 30;
            let filled = (frac * width as f64) as usize;
            let rate = done as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            eprint!(
                "\r{label:>9} [{}{}] {done}/{total} {rate:.0} steps/s {detail}\x1b[K",
                "#".repeat(filled),
                "-".repeat(width - filled)
            );
            if done >= total {
                eprintln!();
            }
        } else if decile > self.last_decile || done >= total {
            self.last_decile = decile;
            eprintln!("{label}: {done}/{total} {detail}");
        }
        let _ = std::io::stderr().flush();
    }

    fn restart(&mut self) {
        *self = Bar::new(self.quiet);
    }
}

fn write_json(path: &str, value: &impl serde::Serialize) -> Result<(), ApdError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ApdError::Format(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| ApdError::Format(format!("cannot write {path}: {e}")))
}

fn read_text(path: &str) -> Result<String, ApdError> {
    std::fs::read_to_string(path).map_err(|e| ApdError::Format(format!("cannot read {path}: {e}")))
}

/// Runs to the end, drawing progress; returns the run and the APD wall time.
fn run_to_end(mut run: Run, quiet: bool) -> Result<(Run, f64), ApdError> {
    let mut bar = Bar::new(quiet);
    let mut apd_start: Option<Instant> = None;
    let cfg = run.config().clone();
    loop {
        let was_target = run.phase() == Phase::Target;
        match pollster::block_on(run.step())? {
            Progress::Target { step, loss } => {
                bar.draw("target", step + 1, cfg.target.steps, &format!("loss {loss:.3e}"))
            }
            Progress::Apd(s) => {
                if apd_start.is_none() {
                    if was_target {
                        bar.restart();
                    }
                    apd_start = Some(Instant::now());
                }
                let mut detail = format!(
                    "L_f {:.2e} L_m {:.2e} L_s {:.2e}",
                    s.faithfulness, s.minimality, s.simplicity
                );
                if let Some(a) = s.activation {
                    detail.push_str(&format!(" L_a {a:.2e}"));
                }
                if let Some((i, n)) = run.apd().and_then(|a| a.start()) {
                    detail.push_str(&format!(" (start {} of {n})", i + 1));
                }
                bar.draw("decompose", s.step + 1, cfg.apd.total_steps(), &detail);
            }
            Progress::Done => break,
        }
    }
    let wall = apd_start.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
    Ok((run, wall))
}

fn load_target(path: &str, cfg: &ExperimentConfig) -> Result<apd_playground::models::Target, ApdError> {
    let text = read_text(path)?;
    let target = target_from_file(&text)?;
    if target.model != cfg.model {
        return Err(ApdError::Mismatch(format!(
            "{path} holds a target for {:?}, but the chosen model is {:?}",
            target.model, cfg.model
        )));
    }
    Ok(target)
}

fn cmd_train(args: &Args) -> Result<(), ApdError> {
    let out = args.out.as_deref().ok_or_else(|| ApdError::Format("--out is required".into()))?;
    let (name, mut cfg) = config_of(args)?;
    // Only the target phase: one APD step is the least a run can hold.
    cfg.set("apd.steps", "1")?;
    let dev = pollster::block_on(device(backend_of(args)?))?;
    let mut run = Run::new(&name, cfg.clone(), args.seed, &dev, None)?;
    let mut bar = Bar::new(false);
    while run.phase() == Phase::Target {
        match pollster::block_on(run.step())? {
            Progress::Target { step, loss } => bar.draw("target", step + 1, cfg.target.steps, &format!("loss {loss:.3e}")),
            _ => break,
        }
    }
    let target = run.target().expect("target trained");
    write_json(out, &TargetFile::new(&name, &cfg, args.seed, target))?;
    println!("final loss {:.4e}; wrote {out}", run.target_history.last().copied().unwrap_or(f32::NAN));
    Ok(())
}

/// Whether a report meets its model's success criterion.
fn succeeded(r: &Report) -> bool {
    match &r.metrics.resid {
        Some(rm) => resid_success(rm),
        None => success(r.metrics.mmcs, r.metrics.ml2r),
    }
}

fn print_metrics(prefix: &str, r: &Report) {
    let m = &r.metrics;
    if let Some(rm) = &m.resid {
        println!(
            "{prefix}dedicated {}/{}  mean share {:.3}  one-active loss: top-k {:.3e} target {:.3e}  mean active {:.3}  \
             L_f {:.3e}  L_m {:.3e}  L_s {:.3e}  L_a {:.3e}  success {}",
            rm.n_dedicated,
            rm.dedicated.len(),
            rm.mean_share,
            rm.topk_loss,
            rm.target_loss,
            m.mean_active,
            r.losses.faithfulness,
            r.losses.minimality,
            r.losses.simplicity,
            r.losses.activation.unwrap_or(f32::NAN),
            if resid_success(rm) { "yes" } else { "no" }
        );
        if rm.layer_mass.first().is_some_and(|l| l.len() > 1) {
            let layers = rm.layer_mass[0].len();
            let mean: Vec<String> = (0..layers)
                .map(|l| format!("{:.2}", rm.layer_mass.iter().map(|v| v[l]).sum::<f32>() / rm.layer_mass.len() as f32))
                .collect();
            println!("{prefix}dedicated components' weight mass per layer (mean): {}", mean.join(" / "));
        }
        return;
    }
    println!(
        "{prefix}MMCS {:.4}  ML2R {:.4}  mean active {:.3}  L_f {:.3e}  L_m {:.3e}  L_s {:.3e}  success {}",
        m.mmcs,
        m.ml2r,
        m.mean_active,
        r.losses.faithfulness,
        r.losses.minimality,
        r.losses.simplicity,
        if success(m.mmcs, m.ml2r) { "yes" } else { "no" }
    );
}

/// What a sweep or decomposition should say beyond the metrics: the scores
/// of the restarts and the one kept; for TMS, the range of the target's
/// feature norms (a target that did not learn every feature shows here).
fn print_details(prefix: &str, run: &Run) {
    let mut parts = Vec::new();
    if let Some(apd) = run.apd().filter(|a| !a.start_scores().is_empty()) {
        let scores: Vec<String> = apd.start_scores().iter().map(|s| format!("{s:.2e}")).collect();
        let kept = apd.chosen_start().map_or("-".to_string(), |c| (c + 1).to_string());
        parts.push(format!("starts' L_m {} -> kept start {kept}", scores.join(" ")));
    }
    if let (Some(t), false) = (run.target(), run.config().model.is_resid()) {
        let norms: Vec<f32> = (0..t.layers[0].d_in).map(|i| t.layers[0].row(i).iter().map(|v| v * v).sum::<f32>().sqrt()).collect();
        let (lo, hi) = norms.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &n| (lo.min(n), hi.max(n)));
        parts.push(format!("target feature norms {lo:.2}..{hi:.2}"));
    }
    if !parts.is_empty() {
        println!("{prefix}{}", parts.join("; "));
    }
}

fn cmd_decompose(args: &Args) -> Result<(), ApdError> {
    let out = args.out.as_deref().ok_or_else(|| ApdError::Format("--out is required".into()))?;
    let (name, cfg) = config_of(args)?;
    let kind = backend_of(args)?;
    let target = args.target.as_deref().map(|p| load_target(p, &cfg)).transpose()?;
    let dev = pollster::block_on(device(kind))?;
    let run = Run::new(&name, cfg, args.seed, &dev, target)?;
    let (run, wall) = run_to_end(run, false)?;
    let report = pollster::block_on(run.report(wall, kind.name()))?.expect("APD ran");
    print_metrics("", &report);
    print_details("", &run);
    println!("{:.1} steps/s, {wall:.1} s; wrote {out}", report.timing.steps_per_sec);
    write_json(out, &report)
}

fn cmd_bench(args: &Args) -> Result<(), ApdError> {
    let (name, mut cfg) = config_of(args)?;
    let steps = args.steps.unwrap_or(200);
    let warmup = 20.min(steps);
    cfg.set("apd.steps", &(steps + warmup).to_string())?;
    // The target's quality does not change the cost of an APD step.
    cfg.set("target.steps", "1")?;
    let kind = backend_of(args)?;
    let dev = pollster::block_on(device(kind))?;
    let mut run = Run::new(&name, cfg, args.seed, &dev, None)?;
    pollster::block_on(run.step())?; // the one target step
    for _ in 0..warmup {
        pollster::block_on(run.step())?;
    }
    let t = Instant::now();
    for _ in 0..steps {
        pollster::block_on(run.step())?;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "estimated peak memory of one APD step: {:.1} MiB (the figure the page checks against its budget)",
        run.config().estimated_step_floats() as f64 * 4.0 / 1048576.0
    );
    println!(
        "{name} on {}: {steps} APD steps in {s:.3} s: {:.1} steps/s, {:.3} ms/step (warm-up of {warmup} steps excluded)",
        kind.name(),
        steps as f64 / s,
        1000.0 * s / steps as f64
    );
    Ok(())
}

fn cmd_sweep(args: &Args) -> Result<(), ApdError> {
    let (name, cfg) = config_of(args)?;
    let spec = args.seeds.as_deref().unwrap_or("0..10");
    let (a, b) = spec
        .split_once("..")
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| a < b)
        .ok_or_else(|| ApdError::Format(format!("--seeds expects A..B with A < B, got {spec:?}")))?;
    let kind = backend_of(args)?;
    let dev = pollster::block_on(device(kind))?;
    let mut ok = 0;
    let t = Instant::now();
    for seed in a..b {
        let run = Run::new(&name, cfg.clone(), seed, &dev, None)?;
        let (run, wall) = run_to_end(run, true)?;
        let report = pollster::block_on(run.report(wall, kind.name()))?.expect("APD ran");
        ok += succeeded(&report) as usize;
        print_metrics(&format!("seed {seed:>3}: "), &report);
        print_details("           ", &run);
    }
    let criterion = if cfg.model.is_resid() { ">= 90% of features with a dedicated component" } else { "MMCS >= 0.98 and ML2R >= 0.85" };
    println!("{name}: {ok} of {} seeds recovered ({criterion}) in {:.0} s", b - a, t.elapsed().as_secs_f64());
    Ok(())
}

fn cmd_inspect(args: &Args) -> Result<(), ApdError> {
    let path = args.file.as_deref().ok_or_else(|| ApdError::Format("inspect needs a file".into()))?;
    let text = read_text(path)?;
    match TargetFile::parse(&text) {
        Ok((name, t)) => {
            println!("target file for {name}: {} decomposed matrices, {:?}", t.layers.len(), t.model);
            Ok(())
        }
        Err(target_err) => match Report::parse(&text) {
            Ok(r) => {
                println!("report for {} seed {} ({} steps on {})", r.model, r.seed, r.config.apd.total_steps(), r.timing.backend);
                if r.config.model.is_resid() {
                    // Recomputing these needs the network on a device; the file's figures are shown as stored.
                    print_metrics("stored: ", &r);
                    return Ok(());
                }
                // Recompute the metrics from the components rather than trusting the file.
                let m = apd_playground::metrics::metrics(&r.target()?, &r.components, r.metrics.mean_active);
                println!("recomputed: MMCS {:.4}  ML2R {:.4}  success {}", m.mmcs, m.ml2r, if success(m.mmcs, m.ml2r) { "yes" } else { "no" });
                Ok(())
            }
            Err(report_err) => Err(ApdError::Format(format!(
                "{path} is neither a valid target file ({target_err}) nor a valid report ({report_err})"
            ))),
        },
    }
}

fn cmd_views(args: &Args) -> Result<(), ApdError> {
    let path = args.file.as_deref().ok_or_else(|| ApdError::Format("views needs a report file".into()))?;
    let out = args.out.as_deref().ok_or_else(|| ApdError::Format("--out is required".into()))?;
    let report = Report::parse(&read_text(path)?)?;
    let run = Run::resume(&report, &burn::tensor::Device::flex())?;
    let views = pollster::block_on(apd_playground::views::snapshot(&run, args.feature))?;
    write_json(out, &views)
}

pub fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprint!("{USAGE}");
            return if e.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    let result = match args.command.as_str() {
        "train" => cmd_train(&args),
        "decompose" => cmd_decompose(&args),
        "bench" => cmd_bench(&args),
        "sweep" => cmd_sweep(&args),
        "inspect" => cmd_inspect(&args),
        "views" => cmd_views(&args),
        "presets" => {
            for name in PRESET_NAMES {
                println!("{name}: {}", serde_json::to_string(&preset(name).unwrap()).unwrap());
            }
            Ok(())
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(ApdError::Format(format!("unknown command {other:?}\n\n{USAGE}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
