//! The score network: a transformer on point clouds (upstream "Gen" architecture).

mod block;
mod config;
mod fourier;
mod score_net;

pub use block::{ClassTokenBlock, FeedForward, SelfAttentionBlock};
pub use config::{BlockKind, ScoreNetConfig};
pub use fourier::GaussianFourier;
pub use score_net::{count_trainable, ScoreNet};
