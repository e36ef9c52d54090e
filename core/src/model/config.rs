//! Score-network configuration (saved as JSON next to the weights).

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// Which transformer block the network stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BlockKind {
    /// Upstream: one learned class token attends over the points and is added back to every
    /// point (set pooling + broadcast; cost linear in the number of points).
    #[default]
    ClassToken,
    /// Full multi-head self-attention between points (quadratic cost), for comparison.
    SelfAttention,
}

/// Hyper-parameters of [`super::ScoreNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreNetConfig {
    /// Embedding width E (even; divisible by `n_heads`).
    pub embed_dim: usize,
    /// Feed-forward hidden width H.
    pub hidden_dim: usize,
    /// Number of blocks L.
    pub n_layers: usize,
    /// Number of attention heads.
    pub n_heads: usize,
    /// Dropout probability (only active while training).
    pub dropout: f64,
    /// Block type.
    #[serde(default)]
    pub block: BlockKind,
    /// Scale of the frozen Gaussian Fourier projections (30 upstream).
    pub fourier_scale: f64,
}

impl ScoreNetConfig {
    /// The upstream size: E = 512, H = 128, L = 8, 16 heads (11,076,614 trainable parameters).
    pub fn upstream() -> Self {
        Self { embed_dim: 512, hidden_dim: 128, n_layers: 8, n_heads: 16, dropout: 0.0, block: BlockKind::ClassToken, fourier_scale: 30.0 }
    }

    /// Checks the constraints (E even and > 0, heads divide E, dropout in [0, 1)).
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.embed_dim == 0 || self.embed_dim % 2 != 0 {
            return Err(CoreError::Invalid(format!("embed_dim must be even and positive, got {}", self.embed_dim)));
        }
        if self.n_heads == 0 || self.embed_dim % self.n_heads != 0 {
            return Err(CoreError::Invalid(format!("n_heads ({}) must divide embed_dim ({})", self.n_heads, self.embed_dim)));
        }
        if self.hidden_dim == 0 || self.n_layers == 0 {
            return Err(CoreError::Invalid("hidden_dim and n_layers must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(CoreError::Invalid(format!("dropout must be in [0, 1), got {}", self.dropout)));
        }
        Ok(())
    }

    /// The closed-form trainable parameter count of the class-token architecture
    /// (reference spec, section 3.4).
    pub fn upstream_param_formula(&self) -> usize {
        let (e, h, l) = (self.embed_dim, self.hidden_dim, self.n_layers);
        5 * e + 2 * (e * e + e) + 2 * (e + 1) + l * (4 * e * e + 4 * e + 2 * (2 * e * h + h + e) + 8 * e) + (4 * e + 4) + e
    }
}
