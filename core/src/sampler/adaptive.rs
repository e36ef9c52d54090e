//! Adaptive Dormand–Prince 5(4) with error control per sample.
//!
//! The state is a batch of flat rows `[batch, m]`. Every row has its own time and step size:
//! a step is accepted or rejected row by row, so a row's trajectory does not depend on the
//! other rows of its batch. Finished rows leave the batch (the active rows are gathered with
//! one `select`), so a slow row does not make the fast ones pay for its network evaluations.
//! Each step reads back one small `[active]` vector of error norms; everything else stays on
//! the device.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::Step;

/// Tolerances and limits of the adaptive solver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Smallest step size: a step this small is accepted whatever its error (counted as forced).
    pub h_min: f64,
    /// Largest step size.
    pub h_max: f64,
    /// Most right-hand-side evaluations per row before it is stopped (reported as unfinished).
    pub max_nfe: usize,
}

impl Default for AdaptiveOptions {
    fn default() -> Self {
        Self { rtol: 1e-5, atol: 1e-5, h_min: 1e-7, h_max: 1.0, max_nfe: 20_000 }
    }
}

impl AdaptiveOptions {
    /// Options with the given tolerances and default limits.
    pub fn with_tolerances(rtol: f64, atol: f64) -> Self {
        Self { rtol, atol, ..Self::default() }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), crate::CoreError> {
        let ok = self.rtol > 0.0 && self.atol > 0.0 && self.rtol.is_finite() && self.atol.is_finite();
        if !ok {
            return Err(crate::CoreError::Invalid(format!("tolerances must be positive and finite (rtol {}, atol {})", self.rtol, self.atol)));
        }
        if !(self.h_min > 0.0 && self.h_max >= self.h_min) {
            return Err(crate::CoreError::Invalid(format!("step limits need 0 < h_min <= h_max (h_min {}, h_max {})", self.h_min, self.h_max)));
        }
        if self.max_nfe < 10 {
            return Err(crate::CoreError::Invalid(format!("max_nfe {} is below 10", self.max_nfe)));
        }
        Ok(())
    }
}

/// What the solver did, per row of the batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdaptiveStats {
    /// Right-hand-side evaluations.
    pub nfe: Vec<usize>,
    /// Accepted steps.
    pub accepted: Vec<usize>,
    /// Rejected steps.
    pub rejected: Vec<usize>,
    /// Steps accepted at `h_min` although their error was too large.
    pub forced: Vec<usize>,
    /// Whether the row reached the end time (false: stopped at `max_nfe`).
    pub finished: Vec<bool>,
}

/// The right-hand side: `f(y, t, rows)` with `y` the active rows `[a, m]`, `t` their times and
/// `rows` their indices in the original batch.
pub type Rhs<'a, B> = dyn FnMut(Tensor<B, 2>, &[f64], &[usize]) -> Tensor<B, 2> + 'a;

/// A scalar functional `L(y)` of a row whose error is controlled as well (goal-oriented error
/// control): `goal(y, dy/dt, t, rows)` at a proposed new state returns the sensitivity
/// `dL/dy` (`[a, m]`) and the size of `L` (`[a, 1]`); the step's error `err` must then meet
/// `|dL/dy . err| <= rtol * size + atol`.
pub type Goal<'a, B> = dyn Fn(&Tensor<B, 2>, &Tensor<B, 2>, &[f64], &[usize]) -> (Tensor<B, 2>, Tensor<B, 2>) + 'a;

/// How a row's local error is measured.
pub struct ErrorNorm<'a, B: Backend> {
    /// `[batch, m]`: which entries enter the row's RMS norm (1 real, 0 padding; 0 on the
    /// `own` columns); every row needs at least one non-zero weight.
    pub weights: Tensor<B, 2>,
    /// The last `own` columns of each row are controlled on their own (an accumulated integral
    /// such as the likelihood's divergence column must meet the tolerance itself, not only as
    /// one entry among thousands of an RMS).
    pub own: usize,
    /// An optional functional whose error is controlled too.
    pub goal: Option<&'a Goal<'a, B>>,
}

impl<'a, B: Backend> ErrorNorm<'a, B> {
    /// The plain weighted RMS over `weights`.
    pub fn rms(weights: Tensor<B, 2>) -> Self {
        Self { weights, own: 0, goal: None }
    }
}

const C: [f64; 6] = [1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
const A: [&[f64]; 6] = [
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
    &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
    // the 5th-order solution (first same as last: its slope is the next step's first stage)
    &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
];
/// 5th-order minus embedded 4th-order weights.
const E: [f64; 7] = [71.0 / 57600.0, 0.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0];

/// A `[a, 1]` column of per-row values.
fn column<B: Backend>(v: &[f64], device: &B::Device) -> Tensor<B, 2> {
    let d: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(d, [v.len(), 1]), device)
}

/// `sum_j coef_j k_j` (skipping zero coefficients).
fn combine<B: Backend>(coef: &[f64], k: &[Tensor<B, 2>]) -> Tensor<B, 2> {
    let mut acc: Option<Tensor<B, 2>> = None;
    for (c, kj) in coef.iter().zip(k) {
        if *c == 0.0 {
            continue;
        }
        let term = kj.clone().mul_scalar(*c);
        acc = Some(match acc {
            None => term,
            Some(a) => a + term,
        });
    }
    acc.expect("non-zero coefficients")
}

/// Error norm per row, read back to the host in one read: the weighted RMS
/// `sqrt(sum_j w_j v_j^2 / sum_j w_j)` over the first `m - own` entries, and the largest of it
/// and `|v_j|` for each of the last `own` entries (each of those is controlled on its own).
///
/// `extra` (`[a, 1]`), when given, is one more per-row norm that enters the maximum.
///
/// # Shapes
/// - `v`, `w`: `[a, m]`, `w_sum`: `[a, 1]`, `extra`: `[a, 1]` -> `a` values
fn row_norms<B: Backend>(v: Tensor<B, 2>, w: &Tensor<B, 2>, w_sum: &Tensor<B, 2>, own: usize, extra: Option<Tensor<B, 2>>) -> Vec<f64> {
    let [a, m] = v.dims();
    let rms = (v.clone().powi_scalar(2) * w.clone()).sum_dim(1).div(w_sum.clone()).sqrt();
    let mut parts = vec![rms];
    if own > 0 {
        parts.push(v.slice([0..a, m - own..m]).abs());
    }
    parts.extend(extra);
    let r = if parts.len() == 1 { parts.pop().expect("one part") } else { Tensor::cat(parts, 1).max_dim(1) };
    r.into_data().convert::<f32>().to_vec::<f32>().expect("f32 norms").into_iter().map(|x| x as f64).collect()
}

/// Keeps the rows `keep` (positions in the current active set) of `t`.
fn keep_rows<B: Backend>(t: Tensor<B, 2>, keep: &[usize]) -> Tensor<B, 2> {
    let device = t.device();
    let idx: Vec<i64> = keep.iter().map(|&i| i as i64).collect();
    t.select(0, Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [keep.len()]), &device))
}

/// Integrates `dy/dt = f(y, t)` from `t0` to `t1` (either direction) with Dormand–Prince 5(4)
/// and per-row step-size control, each row's local error measured by `norm` (see
/// [`ErrorNorm`]): a step is accepted when that error is within the tolerances.
/// `on_step` is called once per solver iteration with `t` the time of the least advanced row
/// and `total = 0` (the step count is not known in advance).
///
/// # Shapes
/// - `y0`, `weights`: `[batch, m]` -> `[batch, m]`
pub fn dopri5<B: Backend>(
    f: &mut Rhs<'_, B>,
    y0: Tensor<B, 2>,
    norm: ErrorNorm<'_, B>,
    t0: f64,
    t1: f64,
    opts: &AdaptiveOptions,
    on_step: &mut dyn FnMut(Step),
) -> (Tensor<B, 2>, AdaptiveStats) {
    let [batch, _] = y0.dims();
    let device = y0.device();
    let span = t1 - t0;
    let dir = span.signum();
    let mut stats = AdaptiveStats {
        nfe: vec![0; batch],
        accepted: vec![0; batch],
        rejected: vec![0; batch],
        forced: vec![0; batch],
        finished: vec![false; batch],
    };
    if batch == 0 || span == 0.0 {
        stats.finished.iter_mut().for_each(|f| *f = true);
        return (y0, stats);
    }
    let h_max = opts.h_max.min(span.abs());
    let h_min = opts.h_min.min(h_max);
    let mut rows: Vec<usize> = (0..batch).collect();
    let mut t: Vec<f64> = vec![t0; batch];
    let mut y = y0;
    let ErrorNorm { weights: mut w, own, goal } = norm;
    let mut w_sum = w.clone().sum_dim(1);
    let mut done: Vec<Option<Tensor<B, 2>>> = vec![None; batch];
    let scale = |y: &Tensor<B, 2>| y.clone().abs().mul_scalar(opts.rtol).add_scalar(opts.atol);

    // first slope and Hairer's initial step size per row
    let mut k1 = f(y.clone(), &t, &rows);
    let sc = scale(&y);
    let d0 = row_norms(y.clone().div(sc.clone()), &w, &w_sum, own, None);
    let d1 = row_norms(k1.clone().div(sc.clone()), &w, &w_sum, own, None);
    let h0: Vec<f64> = d0.iter().zip(&d1).map(|(&a, &b)| if a < 1e-5 || b < 1e-5 { 1e-6 } else { 0.01 * a / b }).map(|h| h.clamp(h_min, h_max)).collect();
    let y1 = y.clone() + k1.clone().mul(column::<B>(&h0, &device).mul_scalar(dir));
    let t_probe: Vec<f64> = t.iter().zip(&h0).map(|(&ti, &h)| ti + dir * h).collect();
    let k_probe = f(y1, &t_probe, &rows);
    let d2: Vec<f64> = row_norms((k_probe - k1.clone()).div(sc), &w, &w_sum, own, None).iter().zip(&h0).map(|(&d, &h)| d / h).collect();
    let mut h: Vec<f64> = (0..batch)
        .map(|r| {
            let m = d1[r].max(d2[r]);
            let h1 = if m <= 1e-15 { (h0[r] * 1e-3).max(1e-6) } else { (0.01 / m).powf(0.2) };
            (100.0 * h0[r]).min(h1).clamp(h_min, h_max)
        })
        .collect();
    stats.nfe.iter_mut().for_each(|n| *n += 2);

    let mut iteration = 0usize;
    while !rows.is_empty() {
        // do not step past the end
        for (i, hi) in h.iter_mut().enumerate() {
            let left = (t1 - t[i]).abs();
            if *hi > left || left - *hi < 1e-9 * span.abs() {
                *hi = left;
            }
        }
        let dt = column::<B>(&h.iter().map(|&x| dir * x).collect::<Vec<_>>(), &device);
        let mut k = vec![k1.clone()];
        for (s, a) in A.iter().enumerate() {
            let ys = y.clone() + combine(a, &k).mul(dt.clone());
            let ts: Vec<f64> = t.iter().zip(&h).map(|(&ti, &hi)| ti + dir * C[s] * hi).collect();
            let ks = f(ys.clone(), &ts, &rows);
            k.push(ks);
            if s == A.len() - 1 {
                // ys is the 5th-order solution, k[6] its slope
                let err = combine(&E, &k).mul(dt.clone());
                let sc = y.clone().abs().max_pair(ys.clone().abs()).mul_scalar(opts.rtol).add_scalar(opts.atol);
                let extra = goal.map(|g| {
                    let (grad, size) = g(&ys, &k[6], &ts, &rows);
                    (grad * err.clone()).sum_dim(1).abs().div(size.abs().mul_scalar(opts.rtol).add_scalar(opts.atol))
                });
                let norms = row_norms(err.div(sc), &w, &w_sum, own, extra);
                for &r in &rows {
                    stats.nfe[r] += 6;
                }
                // per-row decisions on the host
                let mut accept = vec![0f64; rows.len()];
                for (i, &en) in norms.iter().enumerate() {
                    let r = rows[i];
                    let ok = en <= 1.0;
                    let forced = !ok && h[i] <= h_min * (1.0 + 1e-12);
                    let factor = if en == 0.0 {
                        5.0
                    } else if !en.is_finite() {
                        0.2
                    } else {
                        (0.9 * en.powf(-0.2)).clamp(0.2, 5.0)
                    };
                    if ok || forced {
                        accept[i] = 1.0;
                        t[i] += dir * h[i];
                        stats.accepted[r] += 1;
                        stats.forced[r] += forced as usize;
                        h[i] = (h[i] * factor).clamp(h_min, h_max);
                    } else {
                        stats.rejected[r] += 1;
                        h[i] = (h[i] * factor.min(1.0)).clamp(h_min, h_max);
                    }
                }
                let a = column::<B>(&accept, &device);
                let not_a = a.clone().neg().add_scalar(1.0);
                y = ys * a.clone() + y.clone() * not_a.clone();
                k1 = k[6].clone() * a + k1.clone() * not_a;
            }
        }
        iteration += 1;
        // retire finished rows (and rows out of evaluations)
        let mut keep = Vec::with_capacity(rows.len());
        for (i, &r) in rows.iter().enumerate() {
            let finished = (t1 - t[i]).abs() <= 1e-12 * span.abs().max(1.0);
            if finished || stats.nfe[r] + 6 > opts.max_nfe {
                stats.finished[r] = finished;
                done[r] = Some(y.clone().slice([i..i + 1]));
            } else {
                keep.push(i);
            }
        }
        if keep.len() != rows.len() && !keep.is_empty() {
            y = keep_rows(y, &keep);
            k1 = keep_rows(k1, &keep);
            w = keep_rows(w, &keep);
            w_sum = w.clone().sum_dim(1);
            rows = keep.iter().map(|&i| rows[i]).collect();
            t = keep.iter().map(|&i| t[i]).collect();
            h = keep.iter().map(|&i| h[i]).collect();
        } else if keep.is_empty() {
            rows.clear();
        }
        let t_least = t.iter().copied().fold(t1, |m, x| if dir > 0.0 { m.min(x) } else { m.max(x) });
        on_step(Step { index: iteration - 1, total: 0, t: t_least });
    }
    let parts: Vec<Tensor<B, 2>> = done.into_iter().map(|p| p.expect("every row retired")).collect();
    (Tensor::cat(parts, 0), stats)
}
