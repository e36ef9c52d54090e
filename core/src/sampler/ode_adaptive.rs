//! The probability-flow ODE with the adaptive Dormand–Prince solver.

use burn::tensor::{backend::Backend, Tensor, TensorData};

use super::adaptive::{dopri5, AdaptiveOptions, AdaptiveStats, ErrorNorm};
use super::{select_rows, Step};
use crate::sde::{Sde, SdeConfig};

/// A score function that is told which rows of the original batch it sees:
/// `score(x, t, rows)` with `x` `[a, n, 4]`, `t` `[a]` and `rows.len() == a`.
pub type RowScore<'a, B> = dyn Fn(Tensor<B, 3>, Tensor<B, 1>, &[usize]) -> Tensor<B, 3> + 'a;

/// Per-row SDE coefficients `(a(t_i), g(t_i)^2)` as `[rows, 1, 1]` tensors, and `t` as `[rows]`.
pub fn row_coefficients<B: Backend>(sde: &SdeConfig, t: &[f64], device: &B::Device) -> (Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 1>) {
    let n = t.len();
    let a: Vec<f32> = t.iter().map(|&s| sde.drift_coef(s) as f32).collect();
    let g2: Vec<f32> = t.iter().map(|&s| sde.diffusion(s).powi(2) as f32).collect();
    let tt: Vec<f32> = t.iter().map(|&s| s as f32).collect();
    (
        Tensor::from_data(TensorData::new(a, [n, 1, 1]), device),
        Tensor::from_data(TensorData::new(g2, [n, 1, 1]), device),
        Tensor::from_data(TensorData::new(tt, [n]), device),
    )
}

/// The probability-flow drift `a(t) x - g(t)^2 s(x, t) / 2` with one time per row, masked.
///
/// # Shapes
/// - `x`: `[a, n, 4]`, `mask3`: `[a, n, 1]` -> `[a, n, 4]`
pub fn pf_drift_rows<B: Backend>(score: &RowScore<'_, B>, sde: &SdeConfig, x: Tensor<B, 3>, t: &[f64], rows: &[usize], mask3: Tensor<B, 3>) -> Tensor<B, 3> {
    let (a, g2, tt) = row_coefficients::<B>(sde, t, &x.device());
    let s = score(x.clone(), tt, rows);
    (x * a - s * g2.mul_scalar(0.5)) * mask3
}

/// Integrates the probability-flow ODE from `T` down to `eps` with per-sample error control.
/// Returns the final state and the solver's per-sample statistics (NFE, steps).
///
/// # Shapes
/// - `x_init`: `[batch, n, 4]`, `mask3`: `[batch, n, 1]` -> `[batch, n, 4]`
pub fn probability_flow_adaptive<B: Backend>(
    score: &RowScore<'_, B>,
    sde: &SdeConfig,
    x_init: Tensor<B, 3>,
    mask3: Tensor<B, 3>,
    eps: f64,
    opts: &AdaptiveOptions,
    on_step: &mut dyn FnMut(Step),
) -> (Tensor<B, 3>, AdaptiveStats) {
    let [b, n, d] = x_init.dims();
    let weights = mask3.clone().repeat_dim(2, d).reshape([b, n * d]);
    let y0 = (x_init * mask3.clone()).reshape([b, n * d]);
    let mut f = |y: Tensor<B, 2>, t: &[f64], rows: &[usize]| {
        let a = rows.len();
        let x = y.reshape([a, n, d]);
        pf_drift_rows(score, sde, x, t, rows, select_rows(mask3.clone(), rows)).reshape([a, n * d])
    };
    let (y, stats) = dopri5(&mut f, y0, ErrorNorm::rms(weights), sde.t_max(), eps, opts, on_step);
    (y.reshape([b, n, d]), stats)
}
