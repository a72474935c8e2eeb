//! Target networks and their training.

pub mod tms;

use crate::config::ModelConfig;

/// One weight matrix of a target, row-major `d_in x d_out` (row-vector
/// convention: `out = x @ W`).
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Name used in the JSON formats (`W`, `H1`, ...).
    pub name: String,
    /// Rows.
    pub d_in: usize,
    /// Columns.
    pub d_out: usize,
    /// Row-major values.
    pub values: Vec<f32>,
}

impl Matrix {
    /// Row i.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.d_out..(i + 1) * self.d_out]
    }
}

/// A trained target network, held on the host: the matrices APD decomposes
/// and the frozen parts it copies.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Architecture.
    pub model: ModelConfig,
    /// Decomposed matrices, in the order of [`Target::chain`]'s `Own` entries.
    pub layers: Vec<Matrix>,
    /// Output bias (frozen, not decomposed).
    pub bias: Vec<f32>,
}

/// One step of a linear chain: a decomposed matrix used as is, or transposed
/// (the tied TMS decoder, which shares its components with `W`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainLayer {
    /// `x @ W_l`.
    Own(usize),
    /// `x @ W_l^T`.
    Tied(usize),
}

impl Target {
    /// The linear layers between input and output bias, in order.
    pub fn chain(&self) -> Vec<ChainLayer> {
        chain_of(&self.model)
    }
}

/// The chain of linear layers of an architecture.
pub fn chain_of(model: &ModelConfig) -> Vec<ChainLayer> {
    match model {
        ModelConfig::Tms(t) => {
            let mut chain: Vec<ChainLayer> = (0..=t.n_hidden_layers).map(ChainLayer::Own).collect();
            chain.push(ChainLayer::Tied(0));
            chain
        }
    }
}

/// Shapes `(name, d_in, d_out)` of the decomposed matrices of an architecture.
pub fn layer_shapes(model: &ModelConfig) -> Vec<(String, usize, usize)> {
    match model {
        ModelConfig::Tms(t) => {
            let mut v = vec![("W".to_string(), t.n_features, t.n_hidden)];
            for h in 0..t.n_hidden_layers {
                v.push((format!("H{}", h + 1), t.n_hidden, t.n_hidden));
            }
            v
        }
    }
}
