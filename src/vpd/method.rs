//! VPD as a [`Method`] and a [`Decomposer`]: what a run, a report, the
//! probes and the page need of it. The probes see the first site's C
//! subcomponents (TMS: the encoder `W`); its causal importances are VPD's
//! importances; masking them leaves the other sites whole and the residual
//! channel off. Its report record keeps the importance MLPs (without which
//! the subcomponents cannot be looked at again) and the one-hot importances.

use super::ci::{self, CiValues};
use super::trace::{check_held, ReconTrace};
use super::VpdTrainer;
use crate::config::{ChainLayer, ExperimentConfig, StartPlan};
use crate::data::{matrix, read_vec};
use crate::decomp::factors::read_stacked;
use crate::decomp::importance::{alive_counts, own_counts, CiView, ONE_HOT_VALUE, VIEW_BATCH};
use crate::decomp::network::stacked;
use crate::decomp::scale::ScaleSummary;
use crate::decomp::subcomponents::{check_rank_one, matrix_shapes};
use crate::decomp::{json_tree, Decomposer, Decomposition, Method, Network, Saved, StepRecord, ACTIVE_CI};
use crate::error::ApdError;
use crate::models::Target;
use crate::rng::Rng;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A VPD record's own state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VpdState {
    /// One importance MLP per decomposed matrix.
    pub ci: Vec<CiValues>,
    /// Per matrix, the causal importances (lower) of each feature alone at 0.75 (`n x C`, row-major).
    pub ci_one_hot: Vec<Vec<f32>>,
    /// The same through the upper sigmoid.
    pub ci_upper_one_hot: Vec<Vec<f32>>,
    /// Per matrix, the subcomponents alive: importance above 0.1 on some one-hot input.
    pub alive: Vec<usize>,
    /// The reconstruction under the importances', the adversary's and random masks over training.
    #[serde(default)]
    pub trace: ReconTrace,
    /// Per matrix, the adversary's sources in the first few batch slots
    /// (`k x (C + 1)`), where the worst-case view's search starts.
    #[serde(default)]
    pub held: Vec<Vec<f32>>,
}

impl VpdState {
    /// The state in a record, checked for shape.
    pub fn of(state: &Value) -> Result<VpdState, String> {
        VpdState::deserialize(state).map_err(|e| format!("the VPD record's state: {e}"))
    }
}

/// Checks that `d` and `ci` can be a VPD run of `config`: C rank-one
/// subcomponents for each matrix, in order, and importance MLPs of the
/// configured width. From the settings alone (no device).
pub fn check_fits(d: &Decomposition, ci: &[CiValues], config: &ExperimentConfig) -> Result<(), String> {
    let vpd = config.vpd.as_ref().ok_or("a VPD report needs the vpd settings")?;
    let c = vpd.n_components;
    check_rank_one(d, c, &config.model, ci.len(), "importance networks")?;
    for ((f, &(r, _)), g) in d.layers.iter().zip(&matrix_shapes(&config.model)).zip(ci) {
        if !g.fits(r, vpd.ci_hidden, c) {
            return Err(format!("the importance network of {} does not fit {r} inputs, {} hidden, {c} outputs", f.name, vpd.ci_hidden));
        }
    }
    Ok(())
}

impl VpdTrainer {
    /// The lower causal importances of every site on `x` (`B x n`, one instance), without autodiff.
    fn importances_all(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        self.only_one();
        let [b, _] = x.dims();
        let target = self.network.target_forward(x.unsqueeze());
        let p = self.split(&self.params, super::plain);
        self.logits(&target, &p, false)
            .into_iter()
            .map(|z| {
                let c = z.dims()[2];
                ci::lower_value(z).reshape([b, c])
            })
            .collect()
    }

    /// Per site, the lower and upper importances of each feature alone at `value` (`n x C`).
    async fn one_hot_ci(&self, value: f32) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), ApdError> {
        self.only_one();
        let n = self.network.model.n_features();
        let x = stacked(crate::data::one_feature_rows(n, 0..n, &[value]), 1, n, n, self.network.device());
        let target = self.network.target_forward(x);
        let (mut lower, mut upper) = (Vec::new(), Vec::new());
        for z in self.logits(&target, &self.split(&self.params, super::plain), false) {
            lower.push(read_vec(ci::lower_value(z.clone())).await?);
            upper.push(read_vec(ci::upper(z)).await?);
        }
        Ok((lower, upper))
    }

    /// The sites' names; the untied TMS decoder is `W^T`.
    fn site_names(&self) -> Vec<String> {
        self.sites
            .iter()
            .map(|s| match *s {
                ChainLayer::Own(l) => self.network.names[l].clone(),
                ChainLayer::Tied(l) => format!("{}^T", self.network.names[l]),
            })
            .collect()
    }

    /// Each instance's subcomponents at its target's own scale.
    async fn decompositions(&self) -> Result<Vec<Decomposition>, ApdError> {
        let s = self.sites.len();
        let now =
            read_stacked(self.params[..s].to_vec(), self.params[s..2 * s].to_vec(), &self.site_names(), self.vpd.n_components, 1).await?;
        Ok(now.iter().zip(&self.rescales).map(|(d, r)| r.to_target_of(d, &self.sites)).collect())
    }

    /// The importance MLPs of the one instance, read back.
    async fn ci_values(&self) -> Result<Vec<CiValues>, ApdError> {
        self.only_one();
        let s = self.sites.len();
        let mut out = Vec::with_capacity(s);
        for l in 0..s {
            let at = |k: usize| self.params[2 * s + 4 * l + k].clone();
            out.push(CiValues {
                w1: read_vec(at(0)).await?,
                b1: read_vec(at(1)).await?,
                w2: read_vec(at(2)).await?,
                b2: read_vec(at(3)).await?,
            });
        }
        Ok(out)
    }

    /// The masked network of the one instance on `x` (`B x n`): `masks` per site (`1 x B x C`), residual off.
    fn masked_one(&self, x: Tensor<2>, masks: &[Tensor<3>]) -> Tensor<2> {
        self.only_one();
        let [b, _] = x.dims();
        let out = self.forward(x.unsqueeze(), &self.split(&self.params, super::plain), masks, None, false);
        let width = out.dims()[2];
        out.reshape([b, width])
    }
}

impl Method for VpdTrainer {
    fn plan(config: &ExperimentConfig) -> StartPlan {
        config.vpd.as_ref().map_or(StartPlan { steps: 0, restarts: 0, pct: 0.5 }, |v| v.plan())
    }

    fn with_seeds(config: &ExperimentConfig, targets: &[Target], seeds: &[u64], device: &Device) -> Result<Self, ApdError> {
        VpdTrainer::with_seeds(config, targets, seeds, device)
    }

    /// Looking and resuming are the same for VPD: optimiser moments and the
    /// adversary's sources start afresh either way, but for the sources of
    /// the first slots, which the report keeps for the worst-case view, and
    /// the trace.
    fn of_saved(
        config: &ExperimentConfig,
        target: &Target,
        seed: u64,
        device: &Device,
        saved: Saved,
        _resume: bool,
    ) -> Result<Self, ApdError> {
        let state = VpdState::of(saved.state).map_err(ApdError::Mismatch)?;
        let mut t = VpdTrainer::with_saved(config, target, seed, device, saved.components, &state.ci, saved.step)?;
        t.traces = vec![state.trace];
        t.restore_held(&state.held).map_err(ApdError::Mismatch)?;
        Ok(t)
    }

    fn check_saved(components: &Decomposition, state: &Value, config: &ExperimentConfig) -> Result<(), String> {
        let state = VpdState::of(state)?;
        check_fits(components, &state.ci, config)?;
        let vpd = config.vpd.as_ref().ok_or("a VPD report needs the vpd settings")?;
        check_held(&state.held, components.layers.len(), vpd)?;
        state.trace.check()
    }

    fn step_count(&self) -> usize {
        self.step
    }

    fn settings(&self) -> &ExperimentConfig {
        &self.config
    }

    async fn train_step(&mut self) -> Result<Vec<StepRecord>, ApdError> {
        self.step_all().await
    }

    fn split(self) -> Vec<Self> {
        let n = self.seeds.len();
        let mut restarts = self.restarts.split().into_iter();
        (0..n)
            .map(|i| {
                let one = |t: &Tensor<3>| t.clone().narrow(0, i, 1);
                VpdTrainer {
                    config: self.config.clone(),
                    vpd: self.vpd.clone(),
                    network: self.network.instance(i),
                    single: self.network.single(i),
                    rescales: vec![self.rescales[i].clone()],
                    sites: self.sites.clone(),
                    shapes: self.shapes.clone(),
                    params: self.params.iter().map(one).collect(),
                    optims: (self.optims.0.instance(i), self.optims.1.instance(i)),
                    adversary: self.adversary.instance(i),
                    rngs: vec![self.rngs[i].clone()],
                    noises: vec![self.noises[i].clone()],
                    device: self.device.clone(),
                    step: self.step,
                    last_active: vec![self.last_active[i].clone()],
                    warmed_up: self.warmed_up,
                    seeds: vec![self.seeds[i]],
                    restarts: restarts.next().expect("one per instance"),
                    traces: vec![self.traces[i].clone()],
                }
            })
            .collect()
    }

    fn start(&self) -> Option<(usize, usize)> {
        let p = self.vpd.plan();
        (p.restarts > 0 && self.step < p.selection_step()).then_some((self.restarts.each[0].start, p.restarts + 1))
    }

    /// Each finished start's count of features without a subcomponent of their own in the first matrix.
    fn start_scores(&self) -> &[f64] {
        self.only_one();
        &self.restarts.each[0].scores
    }

    fn chosen_start(&self) -> Option<usize> {
        self.only_one();
        self.restarts.each[0].chosen
    }

    async fn state(&self) -> Result<Value, ApdError> {
        let (ci_one_hot, ci_upper_one_hot) = self.one_hot_ci(ONE_HOT_VALUE).await?;
        let alive = alive_counts(&ci_one_hot, self.vpd.n_components);
        json_tree(&VpdState {
            ci: self.ci_values().await?,
            ci_one_hot,
            ci_upper_one_hot,
            alive,
            trace: self.traces[0].clone(),
            held: self.held_sources().await?,
        })
    }

    /// The same views as SPD's (importances of each feature alone, their
    /// histogram over a batch, one input's importances and a random mask),
    /// and the adversary at work (`trace`).
    async fn own_view(&self) -> Result<Option<Value>, ApdError> {
        let n = self.network.model.n_features();
        let (ci_lower, ci_upper) = self.one_hot_ci(ONE_HOT_VALUE).await?;
        let xs = crate::data::training_batch(&self.config.model, &mut Rng::stream(0, "vpd-view"), VIEW_BATCH);
        let mut batch_ci = Vec::new();
        for g in self.importances_all(matrix(xs.clone(), VIEW_BATCH, n, self.network.device())) {
            batch_ci.push(read_vec(g).await?);
        }
        let resid = self.network.model.is_resid();
        let c = self.vpd.n_components;
        let names = self.site_names();
        let adversary = self.adversary_view(&xs, names[0].clone()).await?;
        let view = CiView::of(names, ci_lower, ci_upper, resid, c, &xs, &batch_ci, &mut Rng::stream(0, "vpd-view-mask"));
        let mut tree = json_tree(&view)?;
        tree["adversary"] = json_tree(&adversary)?;
        Ok(Some(tree))
    }

    fn describe(state: &Value, components: &Decomposition, config: &ExperimentConfig) -> String {
        let Ok(s) = VpdState::of(state) else { return String::new() };
        let c = components.n_components;
        let list = |v: &[usize]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("/");
        format!(
            "alive {} of {c} per matrix  own {} of {} features per matrix",
            list(&s.alive),
            list(&own_counts(&s.ci_one_hot, c)),
            config.model.n_features()
        )
    }

    fn sparse_label() -> &'static str {
        "CI-masked"
    }

    fn score_label() -> &'static str {
        "features without their own subcomponent"
    }

    fn spans_matrices() -> bool {
        false
    }
}

impl Decomposer for VpdTrainer {
    fn network(&self) -> &Network {
        self.only_one();
        &self.single
    }

    fn n_components(&self) -> usize {
        self.vpd.n_components
    }

    async fn decomposition(&self) -> Result<Decomposition, ApdError> {
        self.only_one();
        Ok(self.decompositions().await?.swap_remove(0))
    }

    /// The first site's causal importances (lower) on `x`.
    async fn importances(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        read_vec(self.importances_all(x).swap_remove(0)).await
    }

    /// Every site masked by its causal importances, the residual off.
    async fn sparse_output(&self, x: Tensor<2>) -> Result<Tensor<2>, ApdError> {
        let masks: Vec<Tensor<3>> = self.importances_all(x.clone()).into_iter().map(|m| m.unsqueeze()).collect();
        Ok(self.masked_one(x, &masks))
    }

    /// The first site's subcomponents with importance above [`ACTIVE_CI`].
    async fn selection(&self, x: Tensor<2>) -> Result<Vec<f32>, ApdError> {
        let ci = self.importances(x).await?;
        Ok(ci.iter().map(|&g| if g > ACTIVE_CI { 1.0 } else { 0.0 }).collect())
    }

    async fn masked_output(&self, x: Tensor<2>, mask: Vec<f32>) -> Result<Tensor<2>, ApdError> {
        let bsz = x.dims()[0];
        let c = self.vpd.n_components;
        let mut masks = vec![matrix(mask, bsz, c, self.network.device()).unsqueeze()];
        for _ in 1..self.sites.len() {
            masks.push(Tensor::ones([1, bsz, c], self.network.device()));
        }
        Ok(self.masked_one(x, &masks))
    }

    async fn eval_importances(&self, x: Tensor<2>) -> Result<Vec<Tensor<2>>, ApdError> {
        Ok(self.importances_all(x))
    }

    fn eval_output(&self, x: Tensor<2>, masks: &[Tensor<2>], autodiff: bool) -> Tensor<2> {
        self.only_one();
        let [b, _] = x.dims();
        let p = self.split(&self.params, if autodiff { super::constant } else { super::plain });
        let masks: Vec<Tensor<3>> = masks.iter().map(|m| m.clone().unsqueeze()).collect();
        let out = self.forward(x.unsqueeze(), &p, &masks, None, autodiff);
        let width = out.dims()[2];
        out.reshape([b, width])
    }

    fn last_active_counts(&self) -> &[u16] {
        self.only_one();
        &self.last_active[0]
    }

    fn scale(&self) -> &ScaleSummary {
        self.only_one();
        &self.rescales[0].summary
    }

    fn matches_by_importance(&self) -> bool {
        true
    }
}
