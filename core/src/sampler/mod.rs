//! Reverse-time samplers: small functions that take the score function, the SDE, the initial
//! noise, a noise source and a step callback (k-diffusion style). No host read-backs: every
//! step is tensor arithmetic on the device.

mod em;
mod ode;
mod pc;

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

pub use em::euler_maruyama;
pub use ode::{probability_flow, OdeMethod};
pub use pc::predictor_corrector;

/// Which sampler to run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerKind {
    /// Euler–Maruyama on the reverse SDE.
    Em,
    /// Predictor–corrector (Langevin corrector + Euler–Maruyama predictor), Song et al.
    Pc {
        /// Signal-to-noise ratio of the Langevin steps.
        snr: f64,
        /// Corrector steps per time step.
        corrector_steps: usize,
    },
    /// Probability-flow ODE with a fixed-step solver.
    Ode {
        /// The solver.
        method: OdeMethod,
    },
}

/// Progress of a sampler, passed to the step callback.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Index of the step just done (0-based).
    pub index: usize,
    /// Total number of steps.
    pub total: usize,
    /// Time reached.
    pub t: f64,
}

/// `t` broadcast to a batch.
///
/// # Shapes
/// - output: `[batch]`
pub fn time_tensor<B: Backend>(t: f64, batch: usize, device: &B::Device) -> Tensor<B, 1> {
    Tensor::full([batch], t as f32, device)
}

#[cfg(test)]
mod tests;
