//! This project's addition to VPD, as to SPD (`vpd.restarts`,
//! `vpd.restart_pct`): VPD's failures on the small TMS models are SPD's,
//! two features sharing one subcomponent of W, settled early in a start
//! (docs/vpd.md). So several starts train for a share of the steps each,
//! and the one in which the most features alone each need a subcomponent of
//! the first matrix of their own goes on through the rest of its schedule;
//! between starts with as many, the lower mean loss over the start's last
//! quarter. They do not change a step, only which parameters (and which
//! adversary) a step starts from.

use super::adversary::Adversary;
use super::{fresh, uniform, VpdTrainer, VpdValues};
use crate::data::read_vec;
use crate::decomp::adam::Adam;
use crate::decomp::importance::ONE_HOT_VALUE;
use crate::decomp::network::stacked;
use crate::decomp::restarts::{end_start, InstanceStarts, PerInstance, ScoredStarts};
use crate::error::ApdError;
use crate::rng::Rng;
use burn::tensor::Tensor;

/// What a start holds: its parameters, both optimisers' moments and its adversary.
pub(crate) struct SavedStart {
    params: Vec<Tensor<3>>,
    optims: (Adam, Adam),
    adversary: Adversary,
}

impl PerInstance for SavedStart {
    fn instance(&self, i: usize) -> SavedStart {
        SavedStart {
            params: self.params.iter().map(|t| t.clone().narrow(0, i, 1)).collect(),
            optims: (self.optims.0.instance(i), self.optims.1.instance(i)),
            adversary: self.adversary.instance(i),
        }
    }

    fn join(parts: Vec<SavedStart>) -> SavedStart {
        let params = (0..parts[0].params.len()).map(|k| Tensor::cat(parts.iter().map(|p| p.params[k].clone()).collect(), 0)).collect();
        let (a, b): (Vec<Adam>, Vec<Adam>) = parts.iter().map(|p| (p.optims.0.clone(), p.optims.1.clone())).unzip();
        let adversary = Adversary::join(parts.iter().map(|p| p.adversary.clone()).collect());
        SavedStart { params, optims: (Adam::join(&a), Adam::join(&b)), adversary }
    }
}

/// Where the instances' restarts stand: each scores its starts by their
/// count of features without a subcomponent of their own, then by their
/// mean total loss over their last quarter.
pub(crate) type VpdRestarts = InstanceStarts<SavedStart, (usize, f64)>;

impl ScoredStarts for VpdTrainer {
    type Saved = SavedStart;

    fn starts(&mut self) -> &mut VpdRestarts {
        &mut self.restarts
    }

    fn save(&self) -> SavedStart {
        SavedStart { params: self.params.clone(), optims: self.optims.clone(), adversary: self.adversary.clone() }
    }

    fn begin(&mut self, start: usize) -> SavedStart {
        let (params, adversary) = self.fresh_start(start);
        self.warmed_up = false;
        SavedStart {
            params: std::mem::replace(&mut self.params, params),
            optims: std::mem::replace(&mut self.optims, (Adam::new(), Adam::new())),
            adversary: std::mem::replace(&mut self.adversary, adversary),
        }
    }

    fn restore(&mut self, saved: SavedStart) {
        self.params = saved.params;
        self.optims = saved.optims;
        self.adversary = saved.adversary;
    }
}

impl VpdTrainer {
    /// Start `start`'s fresh parameters and adversary for every instance:
    /// start 0 draws from the streams runs without restarts use.
    pub(super) fn fresh_start(&self, start: usize) -> (Vec<Tensor<3>>, Adversary) {
        let tag = |name: &str| if start == 0 { name.to_string() } else { format!("{name}-start-{start}") };
        let parts: Vec<VpdValues> =
            self.seeds.iter().map(|&s| fresh(&self.vpd, &self.shapes, &mut Rng::stream(s, &tag("vpd-init")))).collect();
        let mut noises: Vec<Rng> = self.seeds.iter().map(|&s| Rng::stream(s, &tag("vpd-sources"))).collect();
        let (bsz, c, dev) = (self.vpd.batch_size, self.vpd.n_components, self.network.device());
        let sources = (0..self.sites.len()).map(|_| uniform(&mut noises, bsz, c + 1, dev)).collect();
        (self.upload(&parts), Adversary::new(sources))
    }

    /// The step within the schedule of the current start: the losing
    /// starts' steps do not count.
    pub(super) fn schedule_step(&self) -> usize {
        self.step - self.restarts.each[0].start * self.vpd.plan().restart_len()
    }

    /// Per instance, the first site's lower importances of each feature alone (`n x C`).
    async fn one_hot_first(&self) -> Result<Vec<Vec<f32>>, ApdError> {
        let (inst, n) = (self.seeds.len(), self.network.model.n_features());
        let one: Vec<f32> = crate::data::one_feature_rows(n, 0..n, &[ONE_HOT_VALUE]);
        let x = stacked(one.repeat(inst), inst, n, n, self.network.device());
        let target = self.network.target_forward(x);
        let z = self.logits(&target, &self.split(&self.params, super::plain), false).swap_remove(0);
        let all = read_vec(super::ci::lower_value(z)).await?;
        Ok(all.chunks(all.len() / inst).map(|c| c.to_vec()).collect())
    }

    /// Called after each step while starts are compared, with each
    /// instance's total loss: keeps score of this start and, at its end,
    /// sets it aside, then begins the next start or, after the last,
    /// continues each instance's best.
    pub(super) async fn track_start(&mut self, totals: &[f32]) -> Result<(), ApdError> {
        let len = self.vpd.plan().restart_len();
        let s = self.schedule_step();
        let values: Vec<f64> = totals.iter().map(|&v| v as f64).collect();
        if !self.restarts.record(s, len, &values) {
            return Ok(());
        }
        let ci = self.one_hot_first().await?;
        end_start(self, &ci, self.vpd.n_components, self.vpd.restarts);
        Ok(())
    }
}
