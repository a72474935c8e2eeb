//! The view data the page draws, computed by the core so that the page,
//! the CLI (`apd views`) and the tests share one implementation, for any
//! decomposition method.

use crate::decomp::probes::{one_hot_importances, response_curve};
use crate::decomp::scale::ScaleSummary;
use crate::decomp::Decomposer;
use crate::error::ApdError;
use crate::metrics::{metrics, neuron_contributions, Metrics};
use crate::models::resid::resid_label;
use crate::models::Target;
use serde::Serialize;

/// What the page draws of a decomposition.
#[derive(Serialize, Default)]
pub struct Views {
    /// Target matrices (name, d_in, d_out, values).
    pub target: Vec<(String, usize, usize, Vec<f32>)>,
    /// Per decomposed matrix, every component as a row-major matrix.
    pub components: Vec<Vec<Vec<f32>>>,
    /// `n x C` importances (APD: attributions) of one-hot inputs.
    pub attributions: Vec<f32>,
    /// The recovery figures.
    pub metrics: Option<Metrics>,
    /// Histogram over 0..=C of active components per sample in the last batch.
    pub active_histogram: Vec<u32>,
    /// The residual MLP's views (its matrices are too large to send whole).
    pub resid: Option<ResidView>,
    /// The scale the decomposition works at.
    pub scale: Option<ScaleSummary>,
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

/// Output `feature` of the target and of the sparse model as that feature
/// alone sweeps `xs`, with the labels `x + relu(x)`.
#[derive(Serialize)]
pub struct Curve {
    /// The feature swept.
    pub feature: usize,
    /// Its values.
    pub xs: Vec<f32>,
    /// The target's output.
    pub target: Vec<f32>,
    /// The sparse (APD: top-k) model's output.
    pub topk: Vec<f32>,
    /// The labels.
    pub labels: Vec<f32>,
}

/// The view data of `method`'s decomposition of `target` as it is now;
/// `mean_active` is the last step's, `curve_feature` picks the residual
/// MLP's response curve (clamped to the features that exist).
pub async fn views(method: &impl Decomposer, target: &Target, mean_active: f32, curve_feature: usize) -> Result<Views, ApdError> {
    let d = method.decomposition().await?;
    let mut hist = vec![0u32; d.n_components + 1];
    for &k in method.last_active_counts() {
        hist[(k as usize).min(d.n_components)] += 1;
    }
    let metrics = metrics(method, target, &d, mean_active).await?;
    if let Some(rm) = &metrics.resid {
        let n = target.model.n_features();
        let (neurons_target, neurons_component) = neuron_contributions(target, &d, &rm.dedicated);
        let feature = curve_feature.min(n - 1);
        let xs: Vec<f32> = (0..41).map(|k| -1.0 + k as f32 / 20.0).collect();
        let (ty, ky) = response_curve(method, feature, &xs).await?;
        let labels = xs.iter().map(|&x| resid_label(x)).collect();
        return Ok(Views {
            active_histogram: hist,
            resid: Some(ResidView {
                n,
                neurons: neurons_target.len() / n,
                neurons_target,
                neurons_component,
                curve: Curve { feature, xs, target: ty, topk: ky, labels },
            }),
            metrics: Some(metrics),
            scale: Some(method.scale().clone()),
            ..Views::default()
        });
    }
    Ok(Views {
        target: target.layers.iter().map(|m| (m.name.clone(), m.d_in, m.d_out, m.values.clone())).collect(),
        components: d.components(),
        attributions: one_hot_importances(method, 1.0).await?,
        metrics: Some(metrics),
        active_histogram: hist,
        resid: None,
        scale: Some(method.scale().clone()),
    })
}
