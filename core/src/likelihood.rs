//! Exact log-densities through the probability-flow ODE (change of variables).
//!
//! The augmented ODE runs from `t = eps` to `T`:
//! `dx/dt = f(x, t) - g(t)^2 s(x, t) / 2 =: v(x, t)`, `d(delta)/dt = div_x v(x, t)`, and
//! `log p_eps(x0) = log p_T(x(T)) + delta(T)`, with the prior's log-density summed over the
//! real entries only (`D = 4 n` for a shower of `n` points).
//!
//! The divergence is computed with vector-Jacobian products on an autodiff backend: exactly
//! (one basis probe per dimension) or by the Hutchinson–Skilling estimator (Rademacher or
//! Gaussian probes drawn once per sample and solve and kept fixed). Probe replicas of a batch
//! go through the network together, and the autodiff graph of one right-hand-side
//! evaluation is dropped before the next: the solver's state lives on the inner backend, so
//! memory stays flat over long solves.

use std::f64::consts::LN_2;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::rng::{Purpose, Stream};
use crate::sampler::{dopri5, pf_drift_rows, row_coefficients, select_rows, AdaptiveOptions, ErrorNorm, RowScore, Step};
use crate::sde::{Sde, SdeConfig};

/// Share of the tolerance on log p that one solver step may use. Besides the state's RMS
/// error and the divergence column's own error, each step's error in log p itself, estimated
/// as `score . e_x + e_delta` (the score is the gradient of log p_t, so it carries an error in
/// the state at time t to the final log p), must stay within
/// `rtol * GOAL_SHARE * (|delta| + D) + atol` (`|delta| + D` stands for the size of log p, whose
/// value per dimension is of order one); the errors of the ~70 steps of a solve add up.
/// Measured on small trained models at rtol = atol = 1e-5: without a step limit, a share of 0.1
/// took the error from a 1e-8 reference from 2.4e-4 to 9.5e-5 relative for 9% more network
/// evaluations; with the step limit of `ScoreNet::time_step_limit`, from 2.7e-5 to 2.2e-5 for 5% more.
const GOAL_SHARE: f64 = 0.1;

/// Distribution of Hutchinson probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// Entries +1 or -1 with equal probability (lowest variance for a fixed Jacobian).
    Rademacher,
    /// Standard normal entries.
    Gaussian,
}

/// How the divergence of the drift is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Divergence {
    /// Exact: one vector-Jacobian product per dimension (cost grows with the dimension).
    Exact,
    /// Hutchinson–Skilling: the mean of `v^T J v` over `probes` fixed random probes.
    Hutchinson {
        /// Probes per sample.
        probes: usize,
        /// Their distribution.
        kind: ProbeKind,
    },
}

/// Options of a likelihood computation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodOptions {
    /// Divergence estimator.
    pub divergence: Divergence,
    /// ODE tolerances and limits. With a `ScoreNet` as the score, cap `h_max` at its
    /// `time_step_limit()` (as `tdsm likelihood` does): longer steps jump over the network's
    /// oscillation in `t`, which the error estimate does not see.
    pub ode: AdaptiveOptions,
    /// Start time of the ODE (the data time; the model card's `sample_eps`).
    pub eps: f64,
    /// Seed of the Hutchinson probes: sample `k`'s probes come from the stream `(seed, k, Probe)`.
    pub seed: u64,
    /// Most probe replicas of a batch sent through the network at once (bounds memory).
    pub max_replicas: usize,
}

/// The log-density of one sample in model space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogDensity {
    /// `log p(x0)` in nats.
    pub log_p: f64,
    /// `log p_T(x(T))`: the prior term.
    pub prior: f64,
    /// `delta(T)`: the integrated divergence.
    pub delta: f64,
    /// Number of real dimensions `D`.
    pub dims: usize,
    /// Right-hand-side evaluations of the ODE solver.
    pub nfe: usize,
    /// Whether the solver reached `T` (false: stopped at its evaluation limit).
    pub finished: bool,
}

impl LogDensity {
    /// Negative log-likelihood per dimension in nats.
    pub fn nats_per_dim(&self) -> f64 {
        -self.log_p / self.dims.max(1) as f64
    }

    /// Negative log-likelihood per dimension in bits (no dequantisation offset).
    pub fn bits_per_dim(&self) -> f64 {
        self.nats_per_dim() / LN_2
    }
}

/// The probes of a solve: basis vectors (exact) or fixed random vectors.
enum Probes<B: Backend> {
    /// All `m` basis vectors, weight 1.
    Basis { m: usize },
    /// `[k, batch, m]` random probes, weight `1/k`.
    Fixed(Tensor<B, 3>),
}

/// Draws `k` probes per sample, zero on padding: sample `r` (global index `indices[r]`)
/// uses the stream `(seed, indices[r], Probe)`.
///
/// # Shapes
/// - `mask_flat`: `batch * m` values -> `[k, batch, m]`
pub fn draw_probes<B: Backend>(kind: ProbeKind, k: usize, seed: u64, indices: &[u64], mask_flat: &[f32], m: usize, device: &B::Device) -> Tensor<B, 3> {
    let b = indices.len();
    let mut v = vec![0f32; k * b * m];
    for (r, &idx) in indices.iter().enumerate() {
        let mut s = Stream::new(seed, idx, Purpose::Probe);
        for p in 0..k {
            for j in 0..m {
                if mask_flat[r * m + j] != 0.0 {
                    v[(p * b + r) * m + j] = match kind {
                        ProbeKind::Rademacher => s.rademacher() as f32,
                        ProbeKind::Gaussian => s.normal() as f32,
                    };
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [k, b, m]), device)
}

/// `f(x)` and the estimate `sum_p w v_p^T J_f(x) v_p` per row, for probe tensors `v`
/// `[p, a, m]`: the `p` replicas of `x` go through `f` as one batch of `p * a` rows (row
/// `q * a + i` is replica `q` of row `i`) and one backward pass gives all products.
///
/// # Shapes
/// - `x`: `[a, m]`, `v`: `[p, a, m]` -> (`[a, m]`, `[a]`)
pub fn vjp_divergence<A: AutodiffBackend>(
    f: &mut dyn FnMut(Tensor<A, 2>) -> Tensor<A, 2>,
    x: Tensor<A::InnerBackend, 2>,
    v: Tensor<A::InnerBackend, 3>,
    weight: f64,
) -> (Tensor<A::InnerBackend, 2>, Tensor<A::InnerBackend, 1>) {
    let [p, a, m] = v.dims();
    let x_rep = x.unsqueeze_dim::<3>(0).repeat_dim(0, p).reshape([p * a, m]);
    let xa = Tensor::<A, 2>::from_inner(x_rep).require_grad();
    let va = Tensor::<A, 2>::from_inner(v.clone().reshape([p * a, m]));
    let out = f(xa.clone());
    let value = out.clone().inner().slice([0..a, 0..m]);
    let grads = (out * va).sum().backward();
    let gx = xa.grad(&grads).expect("the input takes part in f").reshape([p, a, m]);
    let div = (gx * v).sum_dim(2).sum_dim(0).reshape([a]).mul_scalar(weight);
    (value, div)
}

/// Basis probes `e_j` for `j` in `range`, for all `a` rows.
///
/// # Shapes
/// - output: `[range.len(), a, m]`
fn basis<B: Backend>(range: std::ops::Range<usize>, a: usize, m: usize, device: &B::Device) -> Tensor<B, 3> {
    let p = range.len();
    let mut v = vec![0f32; p * a * m];
    for (q, j) in range.enumerate() {
        for i in 0..a {
            v[(q * a + i) * m + j] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(v, [p, a, m]), device)
}

/// Log-densities in model space of a padded batch of point clouds `x0` (`[batch, n, 4]`, mask
/// `[batch, n]`), with `score(x, t, rows)` the score on an autodiff backend (dropout off).
/// `indices` are the samples' global indices (they key the Hutchinson probes).
///
/// # Shapes
/// - `x0`: `[batch, n, 4]`, `mask`: `[batch, n]` -> `batch` results
#[allow(clippy::too_many_arguments)]
pub fn log_density<A: AutodiffBackend>(
    score: &RowScore<'_, A>,
    sde: &SdeConfig,
    x0: Tensor<A::InnerBackend, 3>,
    mask: Tensor<A::InnerBackend, 2>,
    indices: &[u64],
    opts: &LikelihoodOptions,
    on_step: &mut dyn FnMut(Step),
) -> Vec<LogDensity> {
    let [b, n, d] = x0.dims();
    let m = n * d;
    let device = x0.device();
    let mask_host: Vec<f32> = mask.clone().into_data().convert::<f32>().to_vec().expect("f32 mask");
    let mask3 = mask.unsqueeze_dim::<3>(2);
    let mask_flat = mask3.clone().repeat_dim(2, d).reshape([b, m]);
    let mask_flat_host: Vec<f32> = mask_host.iter().flat_map(|&v| [v; 4].into_iter().take(d)).collect();
    let probes: Probes<A::InnerBackend> = match opts.divergence {
        Divergence::Exact => Probes::Basis { m },
        Divergence::Hutchinson { probes, kind } => Probes::Fixed(draw_probes(kind, probes.max(1), opts.seed, indices, &mask_flat_host, m, &device)),
    };
    let mask3_ad = Tensor::<A, 3>::from_inner(mask3.clone());
    let max_rep = opts.max_replicas.max(1);
    let mut rhs = |y: Tensor<A::InnerBackend, 2>, t: &[f64], rows: &[usize]| -> Tensor<A::InnerBackend, 2> {
        let a = rows.len();
        let x = y.slice([0..a, 0..m]);
        let chunk = (max_rep / a).max(1);
        let (total, weight) = match &probes {
            Probes::Basis { m } => (*m, 1.0),
            Probes::Fixed(v) => (v.dims()[0], 1.0 / v.dims()[0] as f64),
        };
        let mut value = None;
        let mut div: Option<Tensor<A::InnerBackend, 1>> = None;
        let mut start = 0;
        while start < total {
            let end = (start + chunk).min(total);
            let p = end - start;
            let v = match &probes {
                Probes::Basis { m } => basis::<A::InnerBackend>(start..end, a, *m, &device),
                Probes::Fixed(all) => {
                    let sel = all.clone().slice([start..end, 0..b, 0..m]).swap_dims(0, 1);
                    select_rows(sel, rows).swap_dims(0, 1)
                }
            };
            let rows_rep: Vec<usize> = (0..p).flat_map(|_| rows.iter().copied()).collect();
            let t_rep: Vec<f64> = (0..p).flat_map(|_| t.iter().copied()).collect();
            let mask_rep = select_rows(mask3_ad.clone(), &rows_rep);
            let mut f = |xa: Tensor<A, 2>| -> Tensor<A, 2> {
                let r = xa.dims()[0];
                pf_drift_rows(score, sde, xa.reshape([r, n, d]), &t_rep, &rows_rep, mask_rep.clone()).reshape([r, m])
            };
            let (val, dv) = vjp_divergence::<A>(&mut f, x.clone(), v, weight);
            if value.is_none() {
                value = Some(val);
            }
            div = Some(match div {
                None => dv,
                Some(acc) => acc + dv,
            });
            start = end;
        }
        Tensor::cat(vec![value.expect("at least one probe"), div.expect("at least one probe").unsqueeze_dim(1)], 1)
    };
    let y0 = Tensor::cat(vec![(x0 * mask3).reshape([b, m]), Tensor::zeros([b, 1], &device)], 1);
    let weights = Tensor::cat(vec![mask_flat, Tensor::zeros([b, 1], &device)], 1);
    // Goal-oriented control of log p itself (see `GOAL_SHARE`): an error `e` in the state at
    // time t changes the final log p by `grad_x log p_t(x) . e_x + e_delta`, and `grad_x log p_t`
    // is the score, which the drift gives back: s = 2 (a(t) x - v) / g(t)^2.
    let dims_host: Vec<f64> = (0..b).map(|r| mask_flat_host[r * m..(r + 1) * m].iter().filter(|&&v| v != 0.0).count() as f64).collect();
    let dims_col = Tensor::<A::InnerBackend, 2>::from_data(TensorData::new(dims_host.iter().map(|&d| d as f32).collect::<Vec<_>>(), [b, 1]), &device);
    let goal = |y: &Tensor<A::InnerBackend, 2>, k: &Tensor<A::InnerBackend, 2>, t: &[f64], rows: &[usize]| {
        let a = rows.len();
        let (coef, g2, _) = row_coefficients::<A::InnerBackend>(sde, t, &device);
        let (coef, g2) = (coef.reshape([a, 1]), g2.reshape([a, 1]));
        let x = y.clone().slice([0..a, 0..m]);
        let v = k.clone().slice([0..a, 0..m]);
        let s = (x * coef - v).mul_scalar(2.0).div(g2);
        let grad = Tensor::cat(vec![s, Tensor::ones([a, 1], &device)], 1);
        let size = (y.clone().slice([0..a, m..m + 1]).abs() + select_rows(dims_col.clone(), rows)).mul_scalar(GOAL_SHARE);
        (grad, size)
    };
    let norm = ErrorNorm { weights, own: 1, goal: Some(&goal) };
    let (y, stats) = dopri5(&mut rhs, y0, norm, opts.eps, sde.t_max(), &opts.ode, on_step);
    let yh: Vec<f32> = y.into_data().convert::<f32>().to_vec().expect("f32 state");
    (0..b)
        .map(|r| {
            let row = &yh[r * (m + 1)..(r + 1) * (m + 1)];
            let dims = dims_host[r] as usize;
            let sq: f64 = row[..m].iter().zip(&mask_flat_host[r * m..(r + 1) * m]).map(|(&x, &w)| (x as f64).powi(2) * w as f64).sum();
            let prior = sde.prior_log_density(sq, dims);
            let delta = row[m] as f64;
            LogDensity { log_p: prior + delta, prior, delta, dims, nfe: stats.nfe[r], finished: stats.finished[r] }
        })
        .collect()
}

#[cfg(test)]
#[path = "likelihood_tests.rs"]
mod tests;
