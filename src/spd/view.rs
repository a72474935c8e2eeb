//! What the page draws of SPD besides the views every method shares: the
//! reference's own views (spec section 5). Per decomposed matrix, the causal
//! importances of each feature alone (lower and upper sigmoid), with the
//! columns matched to features; a histogram of the importances over a batch;
//! the alive count; and one input's importances beside a mask drawn from
//! them, which is what the stochastic losses train with.

use super::{alive_counts, own_counts, own_in_some_w_in, SpdTrainer};
use crate::data::read_vec;
pub use crate::decomp::importance::{histogram, match_columns, CiView as SpdView, MaskSample, HIST_BINS, ONE_HOT_VALUE, VIEW_BATCH};
use crate::error::ApdError;
use crate::rng::Rng;

/// The row of `x` (`rows x n`) to show: the first with two features on, or
/// failing that the one with the fewest above zero (an empty row last).
fn pick_sample(x: &[f32], n: usize) -> usize {
    let on = |r: usize| x[r * n..(r + 1) * n].iter().filter(|&&v| v != 0.0).count();
    let rows = x.len() / n;
    (0..rows).find(|&r| on(r) == 2).or_else(|| (0..rows).filter(|&r| on(r) > 0).min_by_key(|&r| on(r))).unwrap_or(0)
}

impl SpdTrainer {
    /// The views above, from fixed streams: the same state gives the same views.
    pub async fn view(&self) -> Result<SpdView, ApdError> {
        let c = self.spd.n_components;
        let n = self.network.model.n_features();
        let (ci_lower, ci_upper) = self.one_hot_ci(ONE_HOT_VALUE).await?;
        let order = ci_lower.iter().map(|m| match_columns(m, n, c)).collect();
        let alive = alive_counts(&ci_lower, c);
        let own = own_counts(&ci_lower, c);
        let own_in_some_w_in = self.network.model.is_resid().then(|| own_in_some_w_in(&ci_lower, c));
        let x = self.batch_of(&mut Rng::stream(0, "spd-view"), VIEW_BATCH);
        let xs = read_vec(x.clone()).await?;
        let row = pick_sample(&xs, n);
        let mut noise = Rng::stream(0, "spd-view-mask");
        let (mut histograms, mut ci, mut mask) = (Vec::new(), Vec::new(), Vec::new());
        for g in self.importances_all(x) {
            let g = read_vec(g).await?;
            histograms.push(histogram(&g));
            let mine = g[row * c..(row + 1) * c].to_vec();
            mask.push(mine.iter().map(|&g| g + (1.0 - g) * noise.uniform()).collect());
            ci.push(mine);
        }
        Ok(SpdView {
            names: self.matrix_names(),
            ci_lower,
            ci_upper,
            order,
            alive,
            own,
            own_in_some_w_in,
            histogram: histograms,
            sample: MaskSample { x: xs[row * n..(row + 1) * n].to_vec(), ci, mask },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
