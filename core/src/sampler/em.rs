//! Euler–Maruyama on the reverse-time SDE.

use burn::tensor::{backend::Backend, Tensor};

use super::{time_tensor, Step};
use crate::sde::{Sde, SdeConfig};

/// Integrates the reverse SDE `dx = [f - g^2 s] dt + g dw` over `grid` (decreasing times,
/// `grid[0] = T`); one score evaluation per interval; returns the noise-free mean of the last
/// step.
///
/// `score(x, t)` is the network with mask and conditioning bound; `noise()` returns fresh
/// standard normal noise, zero on padding; `mask3` is `[batch, n, 1]`.
///
/// # Shapes
/// - `x_init`: `[batch, n, 4]`, `mask3`: `[batch, n, 1]` -> `[batch, n, 4]`
pub fn euler_maruyama<B: Backend>(
    score: &dyn Fn(Tensor<B, 3>, Tensor<B, 1>) -> Tensor<B, 3>,
    sde: &SdeConfig,
    x_init: Tensor<B, 3>,
    mask3: Tensor<B, 3>,
    grid: &[f64],
    noise: &mut dyn FnMut() -> Tensor<B, 3>,
    on_step: &mut dyn FnMut(Step),
) -> Tensor<B, 3> {
    let [b, _, _] = x_init.dims();
    let device = x_init.device();
    let mut x = x_init * mask3.clone();
    let mut x_mean = x.clone();
    let total = grid.len() - 1;
    for i in 0..total {
        let (t, h) = (grid[i], grid[i] - grid[i + 1]);
        let s = score(x.clone(), time_tensor(t, b, &device));
        let g = sde.diffusion(t);
        // reverse drift f - g^2 s, stepped backwards by h
        let drift = x.clone().mul_scalar(sde.drift_coef(t)) - s.mul_scalar(g * g);
        x_mean = (x - drift.mul_scalar(h)) * mask3.clone();
        x = if i + 1 < total { x_mean.clone() + noise().mul_scalar(g * h.sqrt()) } else { x_mean.clone() };
        on_step(Step { index: i, total, t: grid[i + 1] });
    }
    x_mean
}
