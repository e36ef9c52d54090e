//! Predictor–corrector sampling (Song et al., Algorithm 2/3).

use burn::tensor::{backend::Backend, Tensor};

use super::{time_tensor, Step};
use crate::sde::{Sde, SdeConfig};

/// Per-sample L2 norm over the real entries.
///
/// # Shapes
/// - `v`: `[batch, n, 4]` (zero on padding) -> `[batch, 1, 1]`
fn norm<B: Backend>(v: Tensor<B, 3>) -> Tensor<B, 3> {
    v.powi_scalar(2).sum_dim(1).sum_dim(2).sqrt()
}

/// Predictor–corrector sampler: at each time, `corrector_steps` Langevin steps (score
/// recomputed every step, fresh noise, per-sample step `eps_i = 2 alpha (snr |z_i| / |s_i|)^2`
/// with alpha = 1 for VE and `1 - beta(t) h` for VP/sub-VP), then one Euler–Maruyama
/// predictor step with fresh noise; returns the noise-free mean of the final predictor.
///
/// # Shapes
/// - `x_init`: `[batch, n, 4]`, `mask3`: `[batch, n, 1]` -> `[batch, n, 4]`
#[allow(clippy::too_many_arguments)]
pub fn predictor_corrector<B: Backend>(
    score: &dyn Fn(Tensor<B, 3>, Tensor<B, 1>) -> Tensor<B, 3>,
    sde: &SdeConfig,
    x_init: Tensor<B, 3>,
    mask3: Tensor<B, 3>,
    grid: &[f64],
    snr: f64,
    corrector_steps: usize,
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
        let tt = time_tensor::<B>(t, b, &device);
        let alpha = if sde.is_ve() { 1.0 } else { (1.0 - sde.beta(t) * h).max(1e-6) };
        for _ in 0..corrector_steps {
            let s = score(x.clone(), tt.clone()) * mask3.clone();
            let z = noise();
            let ratio = norm(z.clone()) / norm(s.clone()).clamp_min(1e-12);
            let step = ratio.powi_scalar(2).mul_scalar(2.0 * alpha * snr * snr); // [b,1,1]
            x = (x + s * step.clone() + z * step.mul_scalar(2.0).sqrt()) * mask3.clone();
        }
        let s = score(x.clone(), tt);
        let g = sde.diffusion(t);
        let drift = x.clone().mul_scalar(sde.drift_coef(t)) - s.mul_scalar(g * g);
        x_mean = (x - drift.mul_scalar(h)) * mask3.clone();
        x = if i + 1 < total { x_mean.clone() + noise().mul_scalar(g * h.sqrt()) } else { x_mean.clone() };
        on_step(Step { index: i, total, t: grid[i + 1] });
    }
    x_mean
}
