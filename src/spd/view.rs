//! What the page draws of SPD besides the views every method shares: the
//! reference's own views (docs/spd.md). Per decomposed matrix, the causal
//! importances of each feature alone (lower and upper sigmoid), with the
//! columns matched to features; a histogram of the importances over a batch;
//! the alive count; and one input's importances beside a mask drawn from
//! them, which is what the stochastic losses train with.

use super::SpdTrainer;
use crate::data::read_vec;
pub use crate::decomp::importance::{histogram, match_columns, CiView as SpdView, MaskSample, HIST_BINS, ONE_HOT_VALUE, VIEW_BATCH};
use crate::error::ApdError;
use crate::rng::Rng;

impl SpdTrainer {
    /// The views above, from fixed streams: the same state gives the same views.
    pub async fn view(&self) -> Result<SpdView, ApdError> {
        let (ci_lower, ci_upper) = self.one_hot_ci(ONE_HOT_VALUE).await?;
        let x = self.batch_of(&mut Rng::stream(0, "spd-view"), VIEW_BATCH);
        let xs = read_vec(x.clone()).await?;
        let mut batch_ci = Vec::new();
        for g in self.importances_all(x) {
            batch_ci.push(read_vec(g).await?);
        }
        let resid = self.network.model.is_resid();
        let c = self.spd.n_components;
        Ok(SpdView::of(self.matrix_names(), ci_lower, ci_upper, resid, c, &xs, &batch_ci, &mut Rng::stream(0, "spd-view-mask")))
    }
}
