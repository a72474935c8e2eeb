//! What the CLI prints: the progress line, and a report's figures.

use apd_playground::decomp::evaluation::Evaluation;
use apd_playground::decomp::{Decomposer, StepRecord};
use apd_playground::methods::{describe, score_label, spans_matrices, sparse_label};
use apd_playground::metrics::{resid_success, success};
use apd_playground::report::Report;
use apd_playground::run::Run;
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// A progress line on stderr: redrawn in place on a terminal, every 10% otherwise.
pub struct Bar {
    tty: bool,
    start: Instant,
    last_draw: Instant,
    last_decile: usize,
    quiet: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        let now = Instant::now();
        Bar { tty: std::io::stderr().is_terminal(), start: now, last_draw: now, last_decile: 0, quiet }
    }

    pub fn draw(&mut self, label: &str, done: usize, total: usize, detail: &str) {
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
            eprint!("\r{label:>9} [{}{}] {done}/{total} {rate:.0} steps/s {detail}\x1b[K", "#".repeat(filled), "-".repeat(width - filled));
            if done >= total {
                eprintln!();
            }
        } else if decile > self.last_decile || done >= total {
            self.last_decile = decile;
            eprintln!("{label}: {done}/{total} {detail}");
        }
        let _ = std::io::stderr().flush();
    }

    pub fn restart(&mut self) {
        *self = Bar::new(self.quiet);
    }
}

/// Whether a report meets its model's success criterion.
pub fn succeeded(r: &Report) -> bool {
    match &r.metrics.resid {
        Some(rm) => resid_success(rm),
        None => success(r.metrics.mmcs, r.metrics.ml2r),
    }
}

pub fn print_metrics(prefix: &str, r: &Report) {
    println!("{}", metrics_text(prefix, r));
}

/// A report's figures, one line (two for a residual MLP of several layers).
pub fn metrics_text(prefix: &str, r: &Report) -> String {
    let m = &r.metrics;
    if let Some(rm) = &m.resid {
        let mut text = format!(
            "{prefix}dedicated {}/{}  mean share {:.3}  one-active loss: {} {:.3e} target {:.3e}  mean active {:.3}  \
             {}  success {}",
            rm.n_dedicated,
            rm.dedicated.len(),
            rm.mean_share,
            sparse_label(r.config.method),
            rm.topk_loss,
            rm.target_loss,
            m.mean_active,
            loss_text(r),
            if resid_success(rm) { "yes" } else { "no" }
        );
        // Where each matrix has components of its own, k of one is unrelated to k of another: no split to show.
        if spans_matrices(r.config.method) && rm.layer_mass.first().is_some_and(|l| l.len() > 1) {
            let layers = rm.layer_mass[0].len();
            let mean: Vec<String> = (0..layers)
                .map(|l| format!("{:.2}", rm.layer_mass.iter().map(|v| v[l]).sum::<f32>() / rm.layer_mass.len() as f32))
                .collect();
            text.push_str(&format!("\n{prefix}dedicated components' weight mass per layer (mean): {}", mean.join(" / ")));
        }
        return text;
    }
    format!(
        "{prefix}MMCS {:.4}  ML2R {:.4}  mean active {:.3}  {}  success {}",
        m.mmcs,
        m.ml2r,
        m.mean_active,
        loss_text(r),
        if success(m.mmcs, m.ml2r) { "yes" } else { "no" }
    )
}

/// The last step's loss terms, and what the method says of its state.
pub fn loss_text(r: &Report) -> String {
    let Some(last) = &r.record.losses else { return String::new() };
    let about = describe(&r.record.state, &r.components, &r.config);
    let terms = terms_text(last, 3);
    if about.is_empty() {
        terms
    } else {
        format!("{terms}  {about}")
    }
}

/// A step's loss terms by name, with `digits` after the point.
pub fn terms_text(s: &StepRecord, digits: usize) -> String {
    s.terms.iter().map(|(k, v)| format!("{k} {v:.digits$e}")).collect::<Vec<_>>().join(" ")
}

/// The field's evaluation (param-decomp's handbook; `decomp::evaluation`), one line.
pub fn evaluation_text(e: &Evaluation) -> String {
    let l0: Vec<String> = e.l0.iter().map(|v| format!("{v:.2}")).collect();
    let r = &e.recon;
    let mut t = format!(
        "CI-L0 per matrix {} (true {:.2})  recon ci {:.2e} unmasked {:.2e} rounded {:.2e} stochastic {:.2e} zero {:.2e} random {:.2e} pgd {:.2e}",
        l0.join("/"),
        e.true_l0,
        r.ci,
        r.unmasked,
        r.rounded,
        r.stochastic,
        r.zero,
        r.random,
        r.pgd
    );
    if let Some(i) = &e.identity_ci_error {
        t.push_str(&format!("  identity CI error {} off the diagonal, {} on it", i.off_diagonal, i.diagonal));
    }
    t
}

pub fn print_details(prefix: &str, run: &Run) {
    if let Some(text) = details_text(prefix, run) {
        println!("{text}");
    }
}

/// What a sweep or decomposition should say beyond the metrics: the scores
/// of the restarts and the one kept; for TMS, the range of the target's
/// feature norms (a target that did not learn every feature shows here).
pub fn details_text(prefix: &str, run: &Run) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = run.trainer().filter(|t| !t.start_scores().is_empty()) {
        let scores: Vec<String> =
            t.start_scores().iter().map(|&s| if s.fract() == 0.0 { format!("{s}") } else { format!("{s:.2e}") }).collect();
        let kept = t.chosen_start().map_or("-".to_string(), |c| (c + 1).to_string());
        parts.push(format!("starts' {} {} -> kept start {kept}", score_label(t.name()), scores.join(" ")));
    }
    if let Some(norms) = run.target().map(|t| t.feature_norms()).filter(|n| !n.is_empty()) {
        let (lo, hi) = norms.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &n| (lo.min(n), hi.max(n)));
        let mut line = format!("target feature norms {lo:.2}..{hi:.2}");
        if let Some(s) = run.trainer().map(|t| t.scale()) {
            line.push_str(&format!(" (rms {:.3})", s.feature_norm));
            if s.rescaled {
                line.push_str(&format!(", decomposed at {:.3}", s.working_norm));
            }
        }
        parts.push(line);
        let live = run.target().map_or(0, |t| t.represented_features().iter().filter(|&&r| r).count());
        if live < norms.len() {
            parts.push(format!("the target represents {live} of its {} features (MMCS and ML2R count those)", norms.len()));
        }
    }
    (!parts.is_empty()).then(|| format!("{prefix}{}", parts.join("; ")))
}
