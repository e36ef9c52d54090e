//! Named training presets (network, SDE and optimisation settings).

use serde::{Deserialize, Serialize};

use crate::model::{BlockKind, ScoreNetConfig};
use crate::sde::SdeConfig;
use crate::train::TrainConfig;

/// A complete training configuration; also the format of `tdsm train --config FILE` (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    /// Score network.
    pub net: ScoreNetConfig,
    /// SDE.
    pub sde: SdeConfig,
    /// Optimisation.
    pub train: TrainConfig,
    /// Smallest diffusion time when sampling.
    #[serde(default = "default_sample_eps")]
    pub sample_eps: f64,
}

fn default_sample_eps() -> f64 {
    1e-3
}

/// Names of the built-in presets.
pub const PRESETS: [&str; 3] = ["demo", "small", "upstream"];

/// The built-in preset `name`:
/// - `demo`: a small class-token network that trains in minutes on a laptop CPU;
/// - `small`: a larger CPU/GPU model (E=128, H=256, L=4);
/// - `upstream`: the upstream size E=512, H=128, L=8, 16 heads (11,076,614 parameters), batch 128.
pub fn preset(name: &str) -> Option<Preset> {
    let vp = SdeConfig::Vp { beta_min: 0.1, beta_max: 20.0 };
    let p = match name {
        "demo" => Preset {
            net: ScoreNetConfig { embed_dim: 32, hidden_dim: 64, n_layers: 3, n_heads: 4, dropout: 0.0, block: BlockKind::ClassToken, fourier_scale: 30.0 },
            sde: vp,
            train: TrainConfig { lr: 2e-3, warmup_steps: 100, steps: 2000, batch_size: 64, ema_decay: 0.995, checkpoint_every: 500, log_every: 100, ..TrainConfig::default() },
            sample_eps: 1e-3,
        },
        "small" => Preset {
            net: ScoreNetConfig { embed_dim: 128, hidden_dim: 256, n_layers: 4, n_heads: 8, dropout: 0.0, block: BlockKind::ClassToken, fourier_scale: 30.0 },
            sde: vp,
            train: TrainConfig { lr: 1e-3, warmup_steps: 500, steps: 20_000, batch_size: 128, checkpoint_every: 1000, log_every: 200, ..TrainConfig::default() },
            sample_eps: 1e-3,
        },
        "upstream" => Preset {
            net: ScoreNetConfig::upstream(),
            sde: vp,
            train: TrainConfig { lr: 5e-4, warmup_steps: 1000, steps: 100_000, batch_size: 128, checkpoint_every: 2000, log_every: 500, ..TrainConfig::default() },
            sample_eps: 1e-3,
        },
        _ => return None,
    };
    Some(p)
}
