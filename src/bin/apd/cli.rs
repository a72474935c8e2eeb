//! The command line proper (native only).

use crate::files::{cmd_inspect, cmd_views, norms_note, write_json};
use crate::output::{terms_text, Bar};
use apd_playground::backend::{device, BackendKind};
use apd_playground::config::settings::{Group, SETTINGS};
use apd_playground::config::{apply_recipe, paper_variant, preset, with_method, ExperimentConfig, Method, PRESET_NAMES, RECIPES};
use apd_playground::methods::plan;
use apd_playground::models::{Target, TargetTrainer};
use apd_playground::report::TargetFile;
use apd_playground::run::{Phase, Progress, Run};
use apd_playground::ApdError;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
apd: Attribution-based Parameter Decomposition of toy models

USAGE:
  apd train     --model M [--seed S] [--instances N] [--recipe R] [--backend cpu|wgpu] [--set key=value]...
                --out target.json
  apd decompose --model M [--method apd|spd|vpd] [--seed S] [--instances N] [--steps N] [--target FILE | --recipe R]
                [--target-scale K] [--backend cpu|wgpu] [--set key=value]... --out report.json
  apd bench     --model M [--method apd|spd|vpd] [--instances N] [--backend cpu|wgpu] [--steps N] [--set key=value]...
  apd sweep     --model M [--method apd|spd|vpd] --seeds A..B [--instances N] [--jobs J] [--steps N] [--recipe R] [--target-scale K]
                [--whole-targets] [--backend cpu|wgpu] [--set key=value]... [--shard K/N]
  apd merge     PART...            (joins the outputs of `sweep --shard K/N`, K = 1..N, into the sweep's)
  apd inspect   FILE               (validates a target, report, .safetensors or PyTorch .pth file and summarises it)
  apd export    FILE --out NAME.safetensors
                (FILE's target, and a report's components and importance functions, under param-decomp's
                PyTorch names; its settings in param-decomp's form in NAME.yaml)
  apd views     REPORT.json [--feature N] [--gallery [--trim]] --out views.json
                (the view data the page draws for a report; --gallery: a page gallery entry;
                --trim: its report without target and components, which the views keep)
  apd presets [--explain]          (every preset's configuration as JSON; --explain: what each setting means)

MODELS: tms-5-2, tms-5-2-id, tms-40-10, tms-40-10-id, tms-custom,
        resid-mlp-1, resid-mlp-2, resid-mlp-3, resid-mlp-custom
--target FILE: a target file or report (.json), a .safetensors file, or a torch.save state dict
  (.pt, .pth), under this project's names or param-decomp's (docs/formats.md); without --model,
  the preset whose architecture the file has
--set changes one setting by its dotted name, e.g. --set apd.lr=0.01 --set model.n_features=8
--method spd decomposes with Stochastic Parameter Decomposition instead of APD (settings spd.*),
  --method vpd with VPD, SPD against an adversary (settings vpd.*)
--paper turns this project's additions off (spare components, restarts, scale), and SPD's
  later reference additions (delta component, warmup, revive sigmoid): APD and SPD as published
  (SPD's shorter schedule of the small TMS models stays; the paper's: --set spd.batch_size=4096
  --set spd.lr=0.001 --steps 40000; so does APD's of tms-5-2: --steps 20000 --set
  apd.lr_warmup_pct=0.05)
--recipe trains the target with this project's recipe (project, the default) or the SPD
  reference code's train_tms (reference: constant lr, 10,000 steps)
--whole-targets (sweep, TMS) skips seeds whose target does not reproduce every feature alone
  (fed at 0.75, back within 0.1: the reference train_tms's own check), and says so
--instances N runs N seeds (S..S+N) in one batched step, each exactly as alone: train writes
  one target per seed (target.json becomes target-seedS.json when N > 1); decompose (APD or
  SPD) trains N targets, or takes --target for all, and writes one report per seed the same way;
  sweep trains its targets in groups of N (default: up to 12 for TMS, spread over the jobs,
  each group on a thread; 1 for the residual MLPs) and
  decomposes them in groups of N too (default: APD on the CPU, the small TMS models' seeds
  spread evenly over the jobs, where it measured 1.2x faster; otherwise 1: larger steps
  measured slower batched); bench times the decomposition and target training at N and at 1.
  A target that diverges stops the command, naming its seed; a decomposition that diverges
  stops its batch, and sweep then runs that batch's seeds one by one.
--jobs J (sweep) decomposes J seeds (or batches of seeds) at once, one thread each (default:
  the CPU's cores for TMS on the CPU backend, 1 for the residual MLPs, whose products use the
  cores already, and on wgpu); the seeds' lines come out in seed order and are the same for
  any J and N
--shard K/N (sweep) runs only the K-th of N contiguous, equal parts of the seeds (1 <= K <= N),
  each seed as the whole sweep runs it, and ends with a `# shard K/N ...` line for `apd merge`,
  which prints the seeds' lines in order and the sweep's summary (docs/cli.md: a Slurm array)
--target-scale K decomposes the trained (or given) target with its weights scaled by K
  (TMS: W times K; residual MLP: W_in times K, W_out divided by K)
";

#[derive(Default)]
pub struct Args {
    pub command: String,
    pub model: Option<String>,
    pub seed: u64,
    pub steps: Option<usize>,
    pub target: Option<String>,
    pub backend: Option<String>,
    pub out: Option<String>,
    pub seeds: Option<String>,
    pub sets: Vec<(String, String)>,
    pub file: Option<String>,
    pub feature: usize,
    pub recipe: Option<String>,
    pub target_scale: Option<f32>,
    pub paper: bool,
    pub method: Option<String>,
    pub explain: bool,
    pub gallery: bool,
    pub trim: bool,
    pub whole_targets: bool,
    pub instances: Option<usize>,
    pub jobs: Option<usize>,
    pub shard: Option<(u64, u64)>,
    /// `merge`'s files.
    pub parts: Vec<String>,
}

/// The most instances one batched step may hold.
const MAX_INSTANCES: usize = 64;

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
            "--recipe" => a.recipe = Some(value("--recipe")?),
            "--paper" => a.paper = true,
            "--method" => a.method = Some(value("--method")?),
            "--explain" => a.explain = true,
            "--gallery" => a.gallery = true,
            "--trim" => a.trim = true,
            "--whole-targets" => a.whole_targets = true,
            "--instances" => {
                let n: usize = value("--instances")?.parse().map_err(|_| "--instances must be a positive integer")?;
                if !(1..=MAX_INSTANCES).contains(&n) {
                    return Err(format!("--instances must be in 1..={MAX_INSTANCES}, got {n}"));
                }
                a.instances = Some(n);
            }
            "--jobs" => {
                let j: usize = value("--jobs")?.parse().map_err(|_| "--jobs must be a positive integer")?;
                if !(1..=MAX_INSTANCES).contains(&j) {
                    return Err(format!("--jobs must be in 1..={MAX_INSTANCES}, got {j}"));
                }
                a.jobs = Some(j);
            }
            "--target-scale" => {
                let k: f32 = value("--target-scale")?.parse().map_err(|_| "--target-scale must be a number")?;
                if !(k.is_finite() && k > 0.0 && k <= 100.0) {
                    return Err(format!("--target-scale must be in (0, 100], got {k}"));
                }
                a.target_scale = Some(k);
            }
            "--set" => {
                let kv = value("--set")?;
                let (k, v) = kv.split_once('=').ok_or(format!("--set expects key=value, got {kv:?}"))?;
                a.sets.push((k.to_string(), v.to_string()));
            }
            "-h" | "--help" => return Err(String::new()),
            "--shard" => {
                let s = value("--shard")?;
                let kn = s.split_once('/').and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
                a.shard = Some(kn.filter(|&(k, n)| 1 <= k && k <= n).ok_or(format!("--shard expects K/N with 1 <= K <= N, got {s:?}"))?);
            }
            f if !f.starts_with('-') && a.command == "merge" => a.parts.push(f.to_string()),
            f if !f.starts_with('-') && a.file.is_none() => a.file = Some(f.to_string()),
            f => return Err(format!("unknown argument {f:?}")),
        }
    }
    Ok(a)
}

pub(crate) fn config_of(args: &Args) -> Result<(String, ExperimentConfig), ApdError> {
    // Without --model, a --target file says which preset and architecture.
    let (name, mut cfg) = match (&args.model, &args.target) {
        (Some(name), _) => (name.clone(), preset(name)?),
        (None, Some(path)) => crate::foreign::preset_of_target(path)?,
        (None, None) => return Err(ApdError::Format(format!("--model is required (one of {})", PRESET_NAMES.join(", ")))),
    };
    if let Some(m) = &args.method {
        cfg = with_method(&cfg, &name, Method::parse(m)?)?;
    }
    if args.paper {
        cfg = paper_variant(&cfg);
    }
    if let Some(r) = &args.recipe {
        if !RECIPES.contains(&r.as_str()) {
            return Err(ApdError::Format(format!("unknown --recipe {r:?}; known: {}", RECIPES.join(", "))));
        }
        apply_recipe(&mut cfg, r)?;
    }
    for (k, v) in &args.sets {
        cfg.set(k, v)?;
    }
    if let Some(s) = args.steps {
        cfg.set(&format!("{}.steps", cfg.method.name()), &s.to_string())?;
    }
    Ok((name, cfg))
}

/// A target trained here, with its loss before the last step (`train` prints it).
pub(crate) struct Trained {
    pub target: Target,
    pub final_loss: f32,
}

/// Trains one target per seed, all in one batched step.
pub(crate) fn train_targets(
    cfg: &ExperimentConfig,
    seeds: &[u64],
    dev: &burn::tensor::Device,
    quiet: bool,
) -> Result<Vec<Trained>, ApdError> {
    let mut trainer = TargetTrainer::with_seeds(cfg, seeds, dev)?;
    let mut last = vec![f32::NAN; seeds.len()];
    let mut bar = Bar::new(quiet);
    let label = if seeds.len() > 1 { format!("targets of seeds {}..{}", seeds[0], seeds[seeds.len() - 1] + 1) } else { "target".into() };
    while !trainer.done() {
        last = pollster::block_on(trainer.step_all())?;
        let mean = last.iter().sum::<f32>() / last.len() as f32;
        bar.draw(&label, trainer.step_count(), cfg.target.steps, &format!("loss {mean:.3e}"));
    }
    let targets = pollster::block_on(trainer.targets())?;
    Ok(targets.into_iter().zip(last).map(|(target, final_loss)| Trained { target, final_loss }).collect())
}

/// The target a decomposition starts from: the `--target` file, or the
/// one `trained` here for its seed (by `sweep`, in a group), or one trained
/// here when `--target-scale` or `--whole-targets` needs it before the run
/// (otherwise the run trains its own); scaled by `--target-scale`.
pub(crate) fn start_target(
    args: &Args,
    cfg: &ExperimentConfig,
    seed: u64,
    dev: &burn::tensor::Device,
    trained: Option<Target>,
) -> Result<Option<Target>, ApdError> {
    let target = match (&args.target, trained) {
        (Some(path), _) => crate::foreign::load_target(path, cfg)?,
        (None, Some(t)) => t,
        // Trained here rather than by the run, to change or check it first.
        (None, None) if args.target_scale.is_some() || args.whole_targets => train_targets(cfg, &[seed], dev, true)?.remove(0).target,
        (None, None) => return Ok(None),
    };
    Ok(Some(match args.target_scale {
        Some(k) => target.scaled(k),
        None => target,
    }))
}

pub(crate) fn backend_of(args: &Args) -> Result<BackendKind, ApdError> {
    BackendKind::parse(args.backend.as_deref().unwrap_or("cpu"))
}

/// Runs to the end, drawing progress; returns the run and the APD wall time.
pub(crate) fn run_to_end(mut run: Run, quiet: bool) -> Result<(Run, f64), ApdError> {
    let mut bar = Bar::new(quiet);
    let mut apd_start: Option<Instant> = None;
    let cfg = run.config().clone();
    let total = plan(&cfg).total_steps();
    let label = format!("decompose ({})", cfg.method.name().to_uppercase());
    loop {
        let was_target = run.phase() == Phase::Target;
        match pollster::block_on(run.step())? {
            Progress::Target { step, loss } => bar.draw("target", step + 1, cfg.target.steps, &format!("loss {loss:.3e}")),
            Progress::Decompose(s) => {
                if apd_start.is_none() {
                    if was_target {
                        bar.restart();
                    }
                    apd_start = Some(Instant::now());
                }
                let mut detail = terms_text(&s, 2);
                if let Some((i, n)) = run.start() {
                    detail.push_str(&format!(" (start {} of {n})", i + 1));
                }
                bar.draw(&label, s.step + 1, total, &detail);
            }
            Progress::Done => break,
        }
    }
    let wall = apd_start.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
    Ok((run, wall))
}

fn cmd_train(args: &Args) -> Result<(), ApdError> {
    let out = args.out.as_deref().ok_or_else(|| ApdError::Format("--out is required".into()))?;
    let (name, cfg) = config_of(args)?;
    let dev = pollster::block_on(device(backend_of(args)?))?;
    let n = args.instances.unwrap_or(1) as u64;
    let seeds: Vec<u64> = (args.seed..args.seed + n).collect();
    let t = Instant::now();
    let trained = train_targets(&cfg, &seeds, &dev, false)?;
    for (seed, tr) in seeds.iter().zip(&trained) {
        let path = if n == 1 { out.to_string() } else { crate::decompose::instance_path(out, *seed) };
        write_json(&path, &TargetFile::new(&name, &cfg, *seed, &tr.target))?;
        let prefix = if n == 1 { String::new() } else { format!("seed {seed:>3}: ") };
        println!("{prefix}final loss {:.4e}{}; wrote {path}", tr.final_loss, norms_note(&tr.target));
    }
    println!("{} target{} trained in {:.1} s", n, if n == 1 { "" } else { "s" }, t.elapsed().as_secs_f64());
    Ok(())
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
        "decompose" => crate::decompose::cmd_decompose(&args),
        "bench" => crate::bench::cmd_bench(&args),
        "sweep" => crate::sweep::cmd_sweep(&args),
        "merge" => crate::shard::cmd_merge(&args),
        "inspect" => cmd_inspect(&args),
        "export" => crate::foreign::cmd_export(&args),
        "views" => cmd_views(&args),
        "presets" if args.explain => {
            for s in SETTINGS {
                let symbol = if s.symbol.is_empty() { String::new() } else { format!(", {}", s.symbol) };
                let addition = match s.group {
                    Group::Addition => " [this project's addition]",
                    Group::SpdLater => " [added by the SPD reference code after its paper]",
                    _ => "",
                };
                println!("{:<24} {}{symbol}{addition}: {} ({})", s.path, s.label, s.description, s.range);
            }
            Ok(())
        }
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
