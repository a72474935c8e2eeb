//! What the page draws: the view data of a run, computed by the core so the
//! page and the CLI (`apd views`) share it.

use crate::run::{Phase, Run};
use crate::ApdError;
use serde::Serialize;

/// What the page draws, refreshed a few times a second.
#[derive(Serialize)]
pub struct Snapshot {
    pub phase: Phase,
    /// Target matrices (name, d_in, d_out, values).
    pub target: Vec<(String, usize, usize, Vec<f32>)>,
    /// Per decomposed matrix, every component as a row-major matrix.
    pub components: Vec<Vec<Vec<f32>>>,
    /// `n x C` attributions of one-hot inputs.
    pub attributions: Vec<f32>,
    pub metrics: Option<crate::metrics::Metrics>,
    /// Histogram over 0..=C of active components per sample in the last batch.
    pub active_histogram: Vec<u32>,
    /// The residual MLP's views (its matrices are too large to send whole).
    pub resid: Option<ResidView>,
}

/// What the residual MLP views draw besides the metrics.
#[derive(Serialize)]
pub struct ResidView {
    /// Features (rows of the neuron maps).
    pub n: usize,
    /// Neurons of all layers side by side (columns of the neuron maps).
    pub neurons: usize,
    /// `n x neurons`: each neuron's direct contribution to feature i's output, target.
    pub neurons_target: Vec<f32>,
    /// The same through feature i's dedicated component.
    pub neurons_component: Vec<f32>,
    /// The response curve of one feature.
    pub curve: Curve,
}

/// Output `feature` of the target and of the top-k model as that feature
/// alone sweeps `xs`, with the labels `x + relu(x)`.
#[derive(Serialize)]
pub struct Curve {
    pub feature: usize,
    pub xs: Vec<f32>,
    pub target: Vec<f32>,
    pub topk: Vec<f32>,
    pub labels: Vec<f32>,
}

/// The view data of `run` as it is now; `curve_feature` picks the residual
/// MLP's response curve (clamped to the features that exist).
pub async fn snapshot(run: &Run, curve_feature: usize) -> Result<Snapshot, ApdError> {
    let (Some(apd), Some(target)) = (run.apd(), run.target()) else {
        return Ok(Snapshot {
            phase: run.phase(),
            target: Vec::new(),
            components: Vec::new(),
            attributions: Vec::new(),
            metrics: None,
            active_histogram: Vec::new(),
            resid: None,
        });
    };
    let d = apd.decomposition().await?;
    let mut hist = vec![0u32; d.n_components + 1];
    for &k in apd.last_active_counts() {
        hist[(k as usize).min(d.n_components)] += 1;
    }
    let mean_active = run.history.last().map(|s| s.mean_active).unwrap_or(0.0);
    let metrics = run.metrics_of(apd, target, &d, mean_active).await?;
    if let Some(rm) = &metrics.resid {
        let n = target.model.n_features();
        let (neurons_target, neurons_component) = crate::metrics::neuron_contributions(target, &d, &rm.dedicated);
        let feature = curve_feature.min(n - 1);
        let xs: Vec<f32> = (0..41).map(|k| -1.0 + k as f32 / 20.0).collect();
        let (ty, ky) = apd.response_curve(feature, &xs).await?;
        let labels = xs.iter().map(|&x| x + x.max(0.0)).collect();
        return Ok(Snapshot {
            phase: run.phase(),
            target: Vec::new(),
            components: Vec::new(),
            attributions: Vec::new(),
            active_histogram: hist,
            resid: Some(ResidView {
                n,
                neurons: neurons_target.len() / n,
                neurons_target,
                neurons_component,
                curve: Curve { feature, xs, target: ty, topk: ky, labels },
            }),
            metrics: Some(metrics),
        });
    }
    let components = d
        .layers
        .iter()
        .map(|f| (0..d.n_components).map(|c| f.component(c, d.n_components, d.rank)).collect())
        .collect();
    Ok(Snapshot {
        phase: run.phase(),
        target: target.layers.iter().map(|m| (m.name.clone(), m.d_in, m.d_out, m.values.clone())).collect(),
        components,
        attributions: apd.one_hot_attributions(1.0).await?,
        metrics: Some(metrics),
        active_histogram: hist,
        resid: None,
    })
}
