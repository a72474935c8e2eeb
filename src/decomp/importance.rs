//! What every method with causal importances (SPD, VPD) reads off them:
//! which subcomponents are alive, which features own one, and how the
//! page orders and bins them.

use super::ACTIVE_CI;
use crate::rng::Rng;
use serde::Serialize;

/// Bins of the importance histogram over [0, 1] (a value below 0, from the
/// lower sigmoid's leak, counts in the first; 1 in the last).
pub const HIST_BINS: usize = 20;

/// Inputs the histogram counts.
pub const VIEW_BATCH: usize = 1000;

/// The feature value of the one-hot inputs, as the reference's views use.
pub const ONE_HOT_VALUE: f32 = 0.75;

/// Per matrix, how many subcomponents are alive: causal importance above
/// [`ACTIVE_CI`] on at least one row of `ci` (`n x C` per matrix).
pub fn alive_counts(ci: &[Vec<f32>], c: usize) -> Vec<usize> {
    ci.iter().map(|m| (0..c).filter(|&k| m.chunks(c).any(|row| row[k] > ACTIVE_CI)).count()).collect()
}

/// Per feature of one matrix's `n x C` one-hot importances `ci`, its own
/// subcomponent: `Some(k)` when k is the only subcomponent the feature
/// alone needs (importance above [`ACTIVE_CI`]) and no other feature alone
/// needs k; `None` otherwise. This is "a subcomponent of its own" in
/// that matrix: the feature's part of the matrix is one rank-one piece that
/// nothing else uses.
pub fn own_subcomponents(ci: &[f32], c: usize) -> Vec<Option<usize>> {
    let needs: Vec<Vec<usize>> = ci.chunks(c).map(|row| (0..c).filter(|&k| row[k] > ACTIVE_CI).collect()).collect();
    needs
        .iter()
        .enumerate()
        .map(|(i, mine)| match mine.as_slice() {
            [k] if !needs.iter().enumerate().any(|(j, other)| j != i && other.contains(k)) => Some(*k),
            _ => None,
        })
        .collect()
}

/// Per matrix, how many features have a subcomponent of their own ([`own_subcomponents`]).
pub fn own_counts(ci: &[Vec<f32>], c: usize) -> Vec<usize> {
    ci.iter().map(|m| own_subcomponents(m, c).iter().flatten().count()).collect()
}

/// The features of one matrix (`n x c`, row-major) without a subcomponent
/// of their own: what SPD's and VPD's restarts score a start by.
pub fn features_without_own(ci: &[f32], c: usize) -> usize {
    ci.len() / c - own_subcomponents(ci, c).iter().flatten().count()
}

/// Features with a subcomponent of their own ([`own_subcomponents`]) in at
/// least one of the matrices `ci[l]` for `l` in `among` (a residual MLP's
/// W_in matrices: a feature computed by a later layer owns one there, not in
/// the first). Each matrix is `n x c` row-major.
pub fn own_in_any(ci: &[Vec<f32>], c: usize, among: impl IntoIterator<Item = usize>) -> usize {
    let mut owns: Vec<bool> = Vec::new();
    for l in among {
        let per_feature = own_subcomponents(&ci[l], c);
        owns.resize(per_feature.len(), false);
        for (o, k) in owns.iter_mut().zip(per_feature) {
            *o |= k.is_some();
        }
    }
    owns.iter().filter(|&&o| o).count()
}

/// [`own_in_any`] over a residual MLP's W_in matrices: its decomposed
/// matrices interleave them with the W_out ones (W_in1, W_out1, W_in2, ...).
pub fn own_in_some_w_in(ci: &[Vec<f32>], c: usize) -> usize {
    own_in_any(ci, c, (0..ci.len()).step_by(2))
}

/// Columns of an `n x C` importance matrix in the order to draw: feature
/// i's subcomponent in column i where it can be, chosen greedily (the
/// largest importance left first; the reference matches with the Hungarian
/// method, which differs only where two features want the same column),
/// then the rest by their largest importance, highest first.
pub fn match_columns(ci: &[f32], n: usize, c: usize) -> Vec<usize> {
    let mut of_feature: Vec<Option<usize>> = vec![None; n];
    let mut used = vec![false; c];
    for _ in 0..n.min(c) {
        let best = (0..n)
            .filter(|&i| of_feature[i].is_none())
            .flat_map(|i| (0..c).filter(|&k| !used[k]).map(move |k| (i, k)))
            .max_by(|&(i, k), &(j, l)| ci[i * c + k].total_cmp(&ci[j * c + l]).then(j.cmp(&i)).then(l.cmp(&k)));
        let Some((i, k)) = best else { break };
        of_feature[i] = Some(k);
        used[k] = true;
    }
    let mut order: Vec<usize> = of_feature.into_iter().flatten().collect();
    let col_max = |k: usize| (0..n).map(|i| ci[i * c + k]).fold(f32::MIN, f32::max);
    let mut rest: Vec<usize> = (0..c).filter(|&k| !used[k]).collect();
    rest.sort_by(|&a, &b| col_max(b).total_cmp(&col_max(a)).then(a.cmp(&b)));
    order.extend(rest);
    order
}

/// Counts of `values` in [`HIST_BINS`] equal bins of [0, 1].
pub fn histogram(values: &[f32]) -> Vec<u32> {
    let mut h = vec![0u32; HIST_BINS];
    for &v in values {
        let bin = (v * HIST_BINS as f32).floor().clamp(0.0, (HIST_BINS - 1) as f32) as usize;
        h[bin] += 1;
    }
    h
}

/// The views of a method with causal importances (SPD's, VPD's), under
/// its name in the page's views.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct CiView {
    /// Per decomposed matrix, its name (`W^T`: the TMS decoder, untied).
    pub names: Vec<String>,
    /// Per matrix, `n x C` (row-major): importance (lower sigmoid, the
    /// masks') of each subcomponent with feature i alone at [`ONE_HOT_VALUE`].
    pub ci_lower: Vec<Vec<f32>>,
    /// The same through the upper sigmoid (the penalised one).
    pub ci_upper: Vec<Vec<f32>>,
    /// Per matrix, the columns in the order to draw them ([`match_columns`]).
    pub order: Vec<Vec<usize>>,
    /// Per matrix, subcomponents with importance above 0.1 for some feature alone.
    pub alive: Vec<usize>,
    /// Per matrix, the features with a subcomponent of their own
    /// ([`own_subcomponents`]).
    pub own: Vec<usize>,
    /// Residual MLPs: the features with a subcomponent of their own in at
    /// least one layer's W_in ([`own_in_some_w_in`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_in_some_w_in: Option<usize>,
    /// Per matrix, [`HIST_BINS`] counts of the `VIEW_BATCH x C` importances.
    pub histogram: Vec<Vec<u32>>,
    /// One input of that batch with two features on (or the fewest above zero).
    pub sample: MaskSample,
}

/// One input, the importance of every subcomponent for it, and one mask
/// `m = g + (1 - g) u` drawn from them.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct MaskSample {
    /// The input.
    pub x: Vec<f32>,
    /// Per matrix, its `C` importances.
    pub ci: Vec<Vec<f32>>,
    /// Per matrix, one mask drawn from them.
    pub mask: Vec<Vec<f32>>,
}

/// The row of `x` (`rows x n`) to show: the first with two features on, or
/// failing that the one with the fewest above zero (an empty row last).
fn pick_sample(x: &[f32], n: usize) -> usize {
    let on = |r: usize| x[r * n..(r + 1) * n].iter().filter(|&&v| v != 0.0).count();
    let rows = x.len() / n;
    (0..rows).find(|&r| on(r) == 2).or_else(|| (0..rows).filter(|&r| on(r) > 0).min_by_key(|&r| on(r))).unwrap_or(0)
}

impl CiView {
    /// The view of one decomposition with `c` subcomponents per matrix
    /// (`names`): its one-hot importances (per matrix, lower and upper,
    /// `n x C`), a batch `xs` of [`VIEW_BATCH`] inputs `n` wide and each
    /// matrix's importances on it (`VIEW_BATCH x C`), one row's mask drawn
    /// from `noise`. `resid`: count the features owning a subcomponent in
    /// some layer's W_in too.
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        names: Vec<String>,
        ci_lower: Vec<Vec<f32>>,
        ci_upper: Vec<Vec<f32>>,
        resid: bool,
        c: usize,
        xs: &[f32],
        batch_ci: &[Vec<f32>],
        noise: &mut Rng,
    ) -> CiView {
        let n = ci_lower.first().map_or(0, |m| m.len() / c);
        let row = pick_sample(xs, n);
        let ci: Vec<Vec<f32>> = batch_ci.iter().map(|g| g[row * c..(row + 1) * c].to_vec()).collect();
        let mask = ci.iter().map(|mine| mine.iter().map(|&g| g + (1.0 - g) * noise.uniform()).collect()).collect();
        CiView {
            names,
            order: ci_lower.iter().map(|m| match_columns(m, n, c)).collect(),
            alive: alive_counts(&ci_lower, c),
            own: own_counts(&ci_lower, c),
            own_in_some_w_in: resid.then(|| own_in_some_w_in(&ci_lower, c)),
            histogram: batch_ci.iter().map(|g| histogram(g)).collect(),
            sample: MaskSample { x: xs[row * n..(row + 1) * n].to_vec(), ci, mask },
            ci_lower,
            ci_upper,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_subcomponents_by_hand() {
        // 4 features, 4 subcomponents. Feature 0 needs only 1: its own.
        // Feature 1 needs 0 and 2: two, not one. Feature 2 needs only 3, and
        // so does feature 3: shared, so neither owns it. 0.1 itself is not above.
        let ci = [
            0.0, 0.9, 0.1, 0.0, //
            0.5, 0.0, 0.2, 0.05, //
            0.0, 0.0, 0.0, 1.0, //
            0.0, 0.1, 0.0, 0.3,
        ];
        assert_eq!(own_subcomponents(&ci, 4), vec![Some(1), None, None, None]);
        // Feature 1's second need gone: 0 is its own, and feature 0 keeps 1.
        let ci2 = [0.0, 0.9, 0.1, 0.0, 0.5, 0.0, 0.05, 0.05];
        assert_eq!(own_subcomponents(&ci2, 4), vec![Some(1), Some(0)]);
        assert_eq!(own_counts(&[ci.to_vec(), ci2.to_vec()], 4), vec![1, 2]);
        // A feature that needs nothing owns nothing.
        assert_eq!(own_subcomponents(&[0.0, 0.05], 2), vec![None]);
    }

    #[test]
    fn own_in_any_matrix_by_hand() {
        // 3 features, 2 subcomponents per matrix. Matrix 0: feature 0 owns
        // subcomponent 0; features 1 and 2 share 1. Matrix 1: feature 2 owns
        // 0, the others need none. Matrix 2: feature 1 owns 1.
        let m0 = vec![0.9, 0.0, 0.0, 0.8, 0.0, 0.7];
        let m1 = vec![0.0, 0.0, 0.0, 0.05, 0.6, 0.0];
        let m2 = vec![0.0, 0.0, 0.0, 0.9, 0.0, 0.0];
        let ci = [m0, m1, m2];
        assert_eq!(own_counts(&ci, 2), vec![1, 1, 1]);
        assert_eq!(own_in_any(&ci, 2, [0]), 1, "the first matrix alone");
        assert_eq!(own_in_any(&ci, 2, [0, 1]), 2, "features 0 and 2, each in one of them");
        assert_eq!(own_in_any(&ci, 2, [0, 1, 2]), 3);
        assert_eq!(own_in_any(&ci, 2, []), 0);
        assert_eq!(own_in_some_w_in(&ci, 2), 2, "matrices 0 and 2, as W_in1 and W_in2");
    }

    #[test]
    fn columns_matched_by_hand() {
        // 2 features, 4 columns. Feature 1 wants column 2 most (0.9); feature
        // 0 wants column 2 too (0.8) but gets its next best, column 0 (0.5).
        // The rest by their largest value: column 3 (0.3), then 1 (0.1).
        let ci = [0.5, 0.1, 0.8, 0.0, 0.0, 0.0, 0.9, 0.3];
        assert_eq!(match_columns(&ci, 2, 4), vec![0, 2, 3, 1]);
        // More features than columns: the unmatched feature gets none.
        assert_eq!(match_columns(&[0.2, 0.9, 0.5], 3, 1), vec![0]);
    }

    #[test]
    fn histogram_bins_by_hand() {
        let h = histogram(&[-0.01, 0.0, 0.049, 0.05, 0.5, 0.999, 1.0, 1.2]);
        assert_eq!(h.len(), HIST_BINS);
        assert_eq!((h[0], h[1], h[10], h[19]), (3, 1, 1, 3));
        assert_eq!(h.iter().sum::<u32>(), 8);
    }

    #[test]
    fn the_sample_has_two_features_on_when_one_does() {
        let x = [0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.1, 0.2, 0.0, 0.4, 0.5, 0.0];
        assert_eq!(pick_sample(&x, 3), 2);
        assert_eq!(pick_sample(&[0.4, 0.5, 0.3, 0.0, 0.1, 0.0], 3), 1);
        assert_eq!(pick_sample(&[0.0; 4], 2), 0);
    }
}
