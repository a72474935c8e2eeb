//! What SPD and VPD share of their subcomponents: C rank-one
//! `V[:, c] U[c, :]` for each matrix the model's forward pass uses, the
//! shapes of those matrices, and the check that saved ones fit a run.

use crate::config::{ChainLayer, ModelConfig};
use crate::decomp::Decomposition;

/// The shapes (`rows x columns`) of the matrices split into subcomponents,
/// in the order the forward pass uses them: a TMS's chain (its decoder
/// `W^T` a matrix of its own), or a residual MLP's layers.
pub fn matrix_shapes(model: &ModelConfig) -> Vec<(usize, usize)> {
    let layers = model.layer_shapes();
    match model {
        ModelConfig::Tms(_) => model
            .chain()
            .into_iter()
            .map(|l| match l {
                ChainLayer::Own(i) => (layers[i].1, layers[i].2),
                ChainLayer::Tied(i) => (layers[i].2, layers[i].1),
            })
            .collect(),
        ModelConfig::ResidMlp(_) => layers.into_iter().map(|(_, r, k)| (r, k)).collect(),
    }
}

/// Checks that `d` holds `c` rank-one subcomponents of each of `model`'s
/// matrices, in order, and that there are as many importance networks
/// (`networks`, called `what` in the message) as matrices.
pub fn check_rank_one(d: &Decomposition, c: usize, model: &ModelConfig, networks: usize, what: &str) -> Result<(), String> {
    let shapes = matrix_shapes(model);
    if d.n_components != c || d.rank != 1 {
        return Err(format!("the subcomponents are {} of rank {}; the settings say {c} of rank 1", d.n_components, d.rank));
    }
    if d.layers.len() != shapes.len() || networks != shapes.len() {
        return Err(format!("{} matrices and {networks} {what}; this model has {} matrices", d.layers.len(), shapes.len()));
    }
    for (f, &(r, k)) in d.layers.iter().zip(&shapes) {
        if (f.d_in, f.d_out, f.a.len(), f.b.len()) != (r, k, r * c, c * k) {
            return Err(format!("matrix {} has the wrong shape for {r} x {k} with {c} subcomponents", f.name));
        }
    }
    Ok(())
}
