//! tdsm-core: the math and the model of tdsm, a score-based generative model for calorimeter
//! showers. Backend-agnostic (Burn generic API); no I/O beyond parsing text given to it.

pub mod error;
pub mod geometry;
pub mod rng;
pub mod simulator;
pub mod special;

pub use error::CoreError;
pub use geometry::{Geometry, GeometryKind};
pub mod hitcount;
pub mod pointcloud;
pub mod transform;
pub mod model;
pub mod sde;
pub mod loss;
pub mod sampler;
pub mod dataset;
pub mod train;
pub mod eval;
pub mod bundle;
pub mod generate;
pub mod preset;
pub mod response;
pub mod likelihood;
pub mod planner;
