//! Backend types used by the CLI.

/// CPU inference backend.
pub type Cpu = burn::backend::NdArray<f32>;
/// CPU training backend.
pub type CpuAutodiff = burn::backend::Autodiff<Cpu>;
