//! What is read back from an SPD run, per instance or of the one: the
//! causal importances on given and on one-hot inputs, the subcomponents,
//! the gates.

use super::ci::{upper_leaky, GateValues};
use super::SpdTrainer;
use crate::config::ChainLayer;
use crate::data::read_vec;
use crate::decomp::factors::read_stacked;
use crate::decomp::network::stacked;
use crate::decomp::Decomposition;
use crate::error::ApdError;
use burn::tensor::Tensor;

impl SpdTrainer {
    /// The causal-importance MLPs, read back (one instance).
    pub async fn gate_values(&self) -> Result<Vec<GateValues>, ApdError> {
        self.only_one();
        Ok(self.gate_values_all().await?.swap_remove(0))
    }

    /// The causal-importance MLPs of every instance, read back: per
    /// instance, per matrix.
    pub async fn gate_values_all(&self) -> Result<Vec<Vec<GateValues>>, ApdError> {
        let mut out: Vec<Vec<GateValues>> = vec![Vec::new(); self.seeds.len()];
        for g in &self.model.gates {
            for (i, v) in g.values().await?.into_iter().enumerate() {
                out[i].push(v);
            }
        }
        Ok(out)
    }

    /// The causal importances (lower sigmoid) of every matrix on `x` (one
    /// instance, `B x n`), without autodiff.
    pub fn importances_all(&self, x: Tensor<2>) -> Vec<Tensor<2>> {
        self.only_one();
        let [b, _] = x.dims();
        let target = self.network.target_forward(x.unsqueeze());
        let (v, _) = self.model.factors();
        self.gate_logits(&target, &v, false)
            .into_iter()
            .map(|z| {
                let c = z.dims()[2];
                self.lower(z).reshape([b, c])
            })
            .collect()
    }

    /// Per matrix, the causal importances of the inputs with one feature on
    /// at `value` (`n x C`, row-major): lower (the masks') and upper (the
    /// penalised) sigmoid. One instance.
    pub async fn one_hot_ci(&self, value: f32) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), ApdError> {
        self.only_one();
        let (lower, upper) = self.one_hot_ci_of(value, self.matrices.len(), true).await?;
        Ok((lower.into_iter().next().expect("one instance"), upper.into_iter().next().expect("one instance")))
    }

    /// Per instance, the lower (and with `upper` the upper) sigmoid's
    /// importances of the first `matrices` matrices on the one-hot inputs
    /// at `value`, `n x C` row-major each.
    #[allow(clippy::type_complexity)]
    pub(super) async fn one_hot_ci_of(
        &self,
        value: f32,
        matrices: usize,
        upper: bool,
    ) -> Result<(Vec<Vec<Vec<f32>>>, Vec<Vec<Vec<f32>>>), ApdError> {
        let (inst, n) = (self.seeds.len(), self.network.model.n_features());
        let one: Vec<f32> = crate::data::one_feature_rows(n, 0..n, &[value]);
        let x = stacked(one.repeat(inst), inst, n, n, self.network.device());
        let target = self.network.target_forward(x);
        let (v, _) = self.model.factors();
        let (mut lower, mut up) = (vec![Vec::new(); inst], vec![Vec::new(); inst]);
        let split = |all: Vec<f32>, into: &mut Vec<Vec<Vec<f32>>>| {
            let each = all.len() / inst;
            for (i, part) in all.chunks(each).enumerate() {
                into[i].push(part.to_vec());
            }
        };
        for z in self.gate_logits(&target, &v, false).into_iter().take(matrices) {
            split(read_vec(self.lower(z.clone())).await?, &mut lower);
            if upper {
                split(read_vec(upper_leaky(z)).await?, &mut up);
            }
        }
        Ok((lower, up))
    }

    /// The decomposed matrices' names; the untied TMS decoder is `W^T`.
    pub fn matrix_names(&self) -> Vec<String> {
        self.matrices
            .iter()
            .map(|src| match *src {
                ChainLayer::Own(l) => self.network.names[l].clone(),
                ChainLayer::Tied(l) => format!("{}^T", self.network.names[l]),
            })
            .collect()
    }

    /// The factors at the working scale, read back, one decomposition per
    /// instance: one rank-one subcomponent per column of `V` and row of `U`.
    pub(super) async fn decompositions_now(&self) -> Result<Vec<Decomposition>, ApdError> {
        let (v, u) = self.model.factors();
        read_stacked(v, u, &self.matrix_names(), self.spd.n_components, 1).await
    }

    /// Each instance's subcomponents at its target's own scale, in seed order.
    pub async fn decompositions(&self) -> Result<Vec<Decomposition>, ApdError> {
        let now = self.decompositions_now().await?;
        Ok(now.iter().zip(&self.rescales).map(|(d, r)| r.to_target_of(d, &self.matrices)).collect())
    }
}
