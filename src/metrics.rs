//! How well a decomposition recovers the known features (spec section 4).

use crate::apd::Decomposition;
use crate::models::Target;
use serde::{Deserialize, Serialize};

/// The component that best matches one true feature.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FeatureMatch {
    /// Index of the best-matching component c*.
    pub component: usize,
    /// |cos| between the feature's target vector `W[i,:]` and `P_{c*}[i,:]`.
    pub cos: f32,
    /// `||P_{c*}[i,:]|| / ||W[i,:]||`.
    pub l2_ratio: f32,
}

/// Summary figures of a decomposition. Computed in f64, stored as f32 so
/// that they survive a JSON round trip exactly.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Metrics {
    /// Mean over features of the max over components of |cos|.
    pub mmcs: f32,
    /// Mean over features of the best match's L2 ratio.
    pub ml2r: f32,
    /// Mean number of active components per sample.
    pub mean_active: f32,
    /// Per feature, its best match.
    pub features: Vec<FeatureMatch>,
}

/// The spec's success criterion for one seed.
pub fn success(mmcs: f32, ml2r: f32) -> bool {
    mmcs >= 0.98 && ml2r >= 0.85
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>().sqrt()
}

/// Per feature i, compares the target's row `W[i,:]` with every component's
/// row `P_c[i,:]` of the first decomposed matrix (the TMS encoder).
pub fn feature_matches(target: &Target, d: &Decomposition) -> Vec<FeatureMatch> {
    let w = &target.layers[0];
    let f = &d.layers[0];
    let comps: Vec<Vec<f32>> = (0..d.n_components).map(|c| f.component(c, d.n_components, d.rank)).collect();
    (0..w.d_in)
        .map(|i| {
            let wi = w.row(i);
            let wn = norm(wi);
            let mut best = (0usize, -1.0f64, 0.0f64);
            for (c, p) in comps.iter().enumerate() {
                let pi = &p[i * w.d_out..(i + 1) * w.d_out];
                let pn = norm(pi);
                let dot: f64 = wi.iter().zip(pi).map(|(&a, &b)| a as f64 * b as f64).sum();
                let cos = if wn > 0.0 && pn > 0.0 { (dot / (wn * pn)).abs() } else { 0.0 };
                if cos > best.1 {
                    best = (c, cos, if wn > 0.0 { pn / wn } else { 0.0 });
                }
            }
            FeatureMatch { component: best.0, cos: best.1 as f32, l2_ratio: best.2 as f32 }
        })
        .collect()
}

/// MMCS, ML2R and the per-feature matches.
pub fn metrics(target: &Target, d: &Decomposition, mean_active: f32) -> Metrics {
    let features = feature_matches(target, d);
    let n = features.len() as f64;
    Metrics {
        mmcs: (features.iter().map(|f| f.cos as f64).sum::<f64>() / n) as f32,
        ml2r: (features.iter().map(|f| f.l2_ratio as f64).sum::<f64>() / n) as f32,
        mean_active,
        features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apd::FactorPair;
    use crate::config::{ModelConfig, TmsConfig};
    use crate::models::Matrix;

    fn target_2x2(w: Vec<f32>) -> Target {
        Target {
            model: ModelConfig::Tms(TmsConfig { n_features: 2, n_hidden: 2, n_hidden_layers: 0, feature_prob: 0.1 }),
            layers: vec![Matrix { name: "W".into(), d_in: 2, d_out: 2, values: w }],
            bias: vec![0.0, 0.0],
        }
    }

    #[test]
    fn hand_computed_mmcs_and_ml2r() {
        // W = [[1, 0], [0, 2]]; rank-1 components P_0 = [[0.5, 0], [0, 0]]
        // and P_1 = [[0, 0], [1, 1]] (A = e_c, B = row).
        let target = target_2x2(vec![1.0, 0.0, 0.0, 2.0]);
        let d = Decomposition {
            n_components: 2,
            rank: 1,
            layers: vec![FactorPair {
                name: "W".into(),
                d_in: 2,
                d_out: 2,
                a: vec![1.0, 0.0, 0.0, 1.0],
                b: vec![0.5, 0.0, 1.0, 1.0],
            }],
        };
        let m = metrics(&target, &d, 1.0);
        // Feature 0: best is P_0 with cos 1, ratio 0.5.
        // Feature 1: P_1 row [1, 1] vs [0, 2]: cos = 2 / (sqrt2 * 2) = 0.7071, ratio sqrt2 / 2.
        assert_eq!(m.features[0].component, 0);
        assert_eq!(m.features[1].component, 1);
        let s = 0.5f32.sqrt();
        assert!((m.mmcs - (1.0 + s) / 2.0).abs() < 1e-6);
        assert!((m.ml2r - (0.5 + s) / 2.0).abs() < 1e-6);
        assert!(!success(m.mmcs, m.ml2r));
    }
}
