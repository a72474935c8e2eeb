//! The target architectures and the facts about them that everything else
//! needs: which matrices are decomposed, their shapes, and how the network
//! uses them. Kept with the configuration (not with the training code in
//! `models/`) so that the memory budget, the formats and the methods can
//! ask for shapes without importing a trainer.

use super::{check_count, check_range, ConfigError};
use serde::{Deserialize, Serialize};

/// A toy model of superposition: `y = relu(x W H_1 .. H_h W^T + b)`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TmsConfig {
    /// n: number of input features.
    pub n_features: usize,
    /// d: width of the hidden space.
    pub n_hidden: usize,
    /// Frozen identity layers between W and W^T.
    pub n_hidden_layers: usize,
    /// Probability that a feature is active in a sample.
    pub feature_prob: f64,
}

/// A residual MLP doing compressed computation (the APD paper, section 3.2):
/// `r = x W_E`, per layer `r <- r + relu(r W_in) W_out`, `y = r W_E^T`,
/// trained towards `y = x + relu(x)`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResidMlpConfig {
    /// n: number of input features (and outputs).
    pub n_features: usize,
    /// Width of the residual stream (1000 in the paper).
    pub d_resid: usize,
    /// ReLU neurons per layer.
    pub d_mlp: usize,
    /// Number of MLP layers.
    pub n_layers: usize,
    /// Probability that a feature is active in a sample (values uniform in [-1, 1]).
    pub feature_prob: f64,
}

/// The target network's architecture.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// Toy model of superposition.
    Tms(TmsConfig),
    /// Residual MLP (compressed computation).
    ResidMlp(ResidMlpConfig),
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

impl TmsConfig {
    /// Number of entries of all decomposed weight matrices, the tied W^T included.
    pub fn n_params(&self) -> usize {
        2 * self.n_features * self.n_hidden + self.n_hidden_layers * self.n_hidden * self.n_hidden
    }
}

impl ResidMlpConfig {
    /// Number of entries of all decomposed weight matrices (every W_in and W_out).
    pub fn n_params(&self) -> usize {
        2 * self.n_layers * self.d_resid * self.d_mlp
    }
}

impl ModelConfig {
    /// Input (= output) width.
    pub fn n_features(&self) -> usize {
        match self {
            ModelConfig::Tms(t) => t.n_features,
            ModelConfig::ResidMlp(r) => r.n_features,
        }
    }

    /// Whether this is a residual MLP.
    pub fn is_resid(&self) -> bool {
        matches!(self, ModelConfig::ResidMlp(_))
    }

    /// Probability that a feature is active in a sample.
    pub fn feature_prob(&self) -> f64 {
        match self {
            ModelConfig::Tms(t) => t.feature_prob,
            ModelConfig::ResidMlp(r) => r.feature_prob,
        }
    }

    /// Widest activation of the network.
    pub fn max_width(&self) -> usize {
        match self {
            ModelConfig::Tms(t) => t.n_features.max(t.n_hidden),
            ModelConfig::ResidMlp(r) => r.n_features.max(r.d_resid).max(r.d_mlp),
        }
    }

    /// Number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.n_features()
    }

    /// Shapes `(name, d_in, d_out)` of the decomposed matrices.
    pub fn layer_shapes(&self) -> Vec<(String, usize, usize)> {
        match self {
            ModelConfig::Tms(t) => {
                let mut v = vec![("W".to_string(), t.n_features, t.n_hidden)];
                for h in 0..t.n_hidden_layers {
                    v.push((format!("H{}", h + 1), t.n_hidden, t.n_hidden));
                }
                v
            }
            // Interleaved per layer: W_in1, W_out1, W_in2, W_out2, ...
            ModelConfig::ResidMlp(r) => (1..=r.n_layers)
                .flat_map(|l| [(format!("W_in{l}"), r.d_resid, r.d_mlp), (format!("W_out{l}"), r.d_mlp, r.d_resid)])
                .collect(),
        }
    }

    /// How often each decomposed matrix is used by the network: twice for
    /// the TMS `W` (its transpose is the tied decoder), once otherwise.
    pub fn layer_uses(&self) -> Vec<usize> {
        let mut times = vec![1usize; self.layer_shapes().len()];
        if let ModelConfig::Tms(_) = self {
            times[0] = 2;
        }
        times
    }

    /// The chain of linear layers of a TMS, input to output (empty for the
    /// residual MLP, which is not a chain).
    pub fn chain(&self) -> Vec<ChainLayer> {
        match self {
            ModelConfig::Tms(t) => {
                let mut chain: Vec<ChainLayer> = (0..=t.n_hidden_layers).map(ChainLayer::Own).collect();
                chain.push(ChainLayer::Tied(0));
                chain
            }
            ModelConfig::ResidMlp(_) => Vec::new(),
        }
    }

    /// Checks the architecture's sizes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            ModelConfig::Tms(t) => {
                check_count("model.n_features", t.n_features, 1, 4096)?;
                check_count("model.n_hidden", t.n_hidden, 1, 4096)?;
                check_count("model.n_hidden_layers", t.n_hidden_layers, 0, 8)?;
                check_range("model.feature_prob", t.feature_prob, 0.0, 1.0, true)?;
                Ok(())
            }
            ModelConfig::ResidMlp(r) => {
                check_count("model.n_features", r.n_features, 1, 4096)?;
                check_count("model.d_resid", r.d_resid, 1, 8192)?;
                check_count("model.d_mlp", r.d_mlp, 1, 4096)?;
                check_count("model.n_layers", r.n_layers, 1, 8)?;
                check_range("model.feature_prob", r.feature_prob, 0.0, 1.0, true)?;
                Ok(())
            }
        }
    }
}
