//! Probability-flow ODE with fixed-step solvers.

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use super::{time_tensor, Step};
use crate::sde::{Sde, SdeConfig};

/// Fixed-step ODE solver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OdeMethod {
    /// Heun's method (2 evaluations per step).
    Heun,
    /// Classic Runge–Kutta 4 (4 evaluations per step).
    Rk4,
}

/// The probability-flow drift `f(x, t) - g(t)^2 s(x, t) / 2`, masked.
///
/// # Shapes
/// - `x`: `[batch, n, 4]` -> `[batch, n, 4]`
pub fn pf_drift<B: Backend>(
    score: &dyn Fn(Tensor<B, 3>, Tensor<B, 1>) -> Tensor<B, 3>,
    sde: &SdeConfig,
    x: Tensor<B, 3>,
    t: f64,
    mask3: &Tensor<B, 3>,
) -> Tensor<B, 3> {
    let [b, _, _] = x.dims();
    let g = sde.diffusion(t);
    let s = score(x.clone(), time_tensor(t, b, &x.device()));
    (x.mul_scalar(sde.drift_coef(t)) - s.mul_scalar(0.5 * g * g)) * mask3.clone()
}

/// Integrates the probability-flow ODE over `grid` (from `T` down to `eps`).
///
/// # Shapes
/// - `x_init`: `[batch, n, 4]`, `mask3`: `[batch, n, 1]` -> `[batch, n, 4]`
pub fn probability_flow<B: Backend>(
    score: &dyn Fn(Tensor<B, 3>, Tensor<B, 1>) -> Tensor<B, 3>,
    sde: &SdeConfig,
    x_init: Tensor<B, 3>,
    mask3: Tensor<B, 3>,
    grid: &[f64],
    method: OdeMethod,
    on_step: &mut dyn FnMut(Step),
) -> Tensor<B, 3> {
    let mut x = x_init * mask3.clone();
    let total = grid.len() - 1;
    for i in 0..total {
        let (t0, t1) = (grid[i], grid[i + 1]);
        let dt = t1 - t0;
        let f = |x: Tensor<B, 3>, t: f64| pf_drift(score, sde, x, t, &mask3);
        x = match method {
            OdeMethod::Heun => {
                let k1 = f(x.clone(), t0);
                let k2 = f(x.clone() + k1.clone().mul_scalar(dt), t1);
                x + (k1 + k2).mul_scalar(0.5 * dt)
            }
            OdeMethod::Rk4 => {
                let tm = t0 + 0.5 * dt;
                let k1 = f(x.clone(), t0);
                let k2 = f(x.clone() + k1.clone().mul_scalar(0.5 * dt), tm);
                let k3 = f(x.clone() + k2.clone().mul_scalar(0.5 * dt), tm);
                let k4 = f(x.clone() + k3.clone().mul_scalar(dt), t1);
                x + (k1 + k2.mul_scalar(2.0) + k3.mul_scalar(2.0) + k4).mul_scalar(dt / 6.0)
            }
        };
        on_step(Step { index: i, total, t: t1 });
    }
    x
}
