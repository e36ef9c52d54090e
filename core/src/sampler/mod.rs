//! Reverse-time samplers: small functions that take the score function, the SDE, the initial
//! noise, a noise source and a step callback (k-diffusion style). No host read-backs: every
//! step is tensor arithmetic on the device.

pub mod adaptive;
mod em;
mod ode;
mod ode_adaptive;
mod pc;

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use em::euler_maruyama;
pub use adaptive::{dopri5, AdaptiveOptions, AdaptiveStats, ErrorNorm, Goal};
pub use ode::{probability_flow, OdeMethod};
pub use ode_adaptive::{pf_drift_rows, probability_flow_adaptive, row_coefficients, RowScore};
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
    /// Probability-flow ODE with the adaptive Dormand–Prince 5(4) solver (the step count is
    /// chosen per shower; `steps` is ignored).
    OdeAdaptive {
        /// Relative tolerance.
        rtol: f64,
        /// Absolute tolerance.
        atol: f64,
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

/// Selects `rows` of `t` along dimension 0 (no copy when `rows` is `0..len`).
///
/// # Shapes
/// - `t`: `[batch, ...]` -> `[rows.len(), ...]`
pub fn select_rows<B: Backend, const D: usize>(t: Tensor<B, D>, rows: &[usize]) -> Tensor<B, D> {
    let n = t.dims()[0];
    if rows.len() == n && rows.iter().enumerate().all(|(i, &r)| i == r) {
        return t;
    }
    let device = t.device();
    let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    t.select(0, Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [rows.len()]), &device))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod adaptive_tests;
