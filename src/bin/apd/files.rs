//! The commands that read and write files: `inspect`, `views`, and the
//! JSON helpers the others share.

use crate::cli::Args;
use crate::output::{evaluation_text, print_metrics};
use apd_playground::methods::plan;
use apd_playground::metrics::Metrics;
use apd_playground::models::Target;
use apd_playground::report::{Report, TargetFile};
use apd_playground::run::Run;
use apd_playground::ApdError;

pub fn write_json(path: &str, value: &impl serde::Serialize) -> Result<(), ApdError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ApdError::Format(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| ApdError::Format(format!("cannot write {path}: {e}")))
}

pub fn read_text(path: &str) -> Result<String, ApdError> {
    std::fs::read_to_string(path).map_err(|e| ApdError::Format(format!("cannot read {path}: {e}")))
}

pub fn cmd_inspect(args: &Args) -> Result<(), ApdError> {
    let path = args.file.as_deref().ok_or_else(|| ApdError::Format("inspect needs a file".into()))?;
    if let Some(i) = crate::foreign::imported(path)? {
        crate::foreign::inspect(&i);
        return Ok(());
    }
    let text = read_text(path)?;
    match TargetFile::parse(&text) {
        Ok((name, t)) => {
            println!("target file for {name}: {} decomposed matrices, {:?}{}", t.layers.len(), t.model, norms_note(&t));
            Ok(())
        }
        Err(target_err) => match Report::parse(&text) {
            Ok(r) => {
                let (method, steps) = (r.config.method.name().to_uppercase(), plan(&r.config).total_steps());
                println!("{method} report for {} seed {} ({steps} steps on {})", r.model, r.seed, r.timing.backend);
                print_metrics("stored:     ", &r);
                // Recompute every figure from the components and the target
                // (on the CPU, for the residual MLP's probes) rather than
                // trusting the file, and say whether they agree.
                let run = Run::of_report(&r, &burn::tensor::Device::flex())?;
                let m = pollster::block_on(run.metrics())?.expect("a report holds a decomposition");
                let recomputed = Report { metrics: m.clone(), ..r.clone() };
                print_metrics("recomputed: ", &recomputed);
                let e = pollster::block_on(apd_playground::decomp::evaluation::evaluation(
                    run.trainer().expect("a report holds a decomposition"),
                    &r.config.model,
                ))?;
                println!("evaluation: {}", evaluation_text(&e));
                if !metrics_agree(&r.metrics, &m) {
                    return Err(ApdError::Mismatch(format!("{path}: the stored figures differ from the ones its components give")));
                }
                Ok(())
            }
            Err(report_err) => {
                Err(ApdError::Format(format!("{path} is neither a valid target file ({target_err}) nor a valid report ({report_err})")))
            }
        },
    }
}

/// TMS: the target's feature norms (rows of W) and their root mean square,
/// the figure the decomposition's scale is set by.
pub fn norms_note(t: &Target) -> String {
    let norms = t.feature_norms();
    if norms.is_empty() {
        return String::new();
    }
    let list: Vec<String> = norms.iter().map(|n| format!("{n:.3}")).collect();
    let (kept, n) = t.reproduced_count();
    let whole = if kept < n { format!("; reproduces only {kept} of its {n} features alone") } else { String::new() };
    format!("; feature norms {} (rms {:.3}){whole}", list.join(" "), apd_playground::decomp::scale::rms_feature_norm(t))
}

/// Whether stored and recomputed figures agree (to float rounding: the
/// page may have computed them on WebGPU).
fn metrics_agree(stored: &Metrics, recomputed: &Metrics) -> bool {
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(1e-3);
    let resid_ok = match (&stored.resid, &recomputed.resid) {
        (Some(s), Some(r)) => s.n_dedicated == r.n_dedicated && close(s.mean_share, r.mean_share) && close(s.topk_loss, r.topk_loss),
        (None, None) => true,
        _ => false,
    };
    close(stored.mmcs, recomputed.mmcs) && close(stored.ml2r, recomputed.ml2r) && resid_ok
}

pub fn cmd_views(args: &Args) -> Result<(), ApdError> {
    let path = args.file.as_deref().ok_or_else(|| ApdError::Format("views needs a report file".into()))?;
    let out = args.out.as_deref().ok_or_else(|| ApdError::Format("--out is required".into()))?;
    let report = Report::parse(&read_text(path)?)?;
    if args.gallery {
        // Compact: the page loads it before anything else.
        let entry = pollster::block_on(apd_playground::gallery::entry(report, args.feature, args.trim))?;
        return std::fs::write(out, entry.to_json()?).map_err(|e| ApdError::Format(format!("cannot write {out}: {e}")));
    }
    let run = Run::of_report(&report, &burn::tensor::Device::flex())?;
    write_json(out, &pollster::block_on(run.snapshot(args.feature))?)
}
