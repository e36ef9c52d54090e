//! Fréchet physics distance (FPD) between two feature samples, extrapolated to infinite
//! sample size as in jetnet's `fpd` (used by the CaloChallenge on the high-level features).
//!
//! For each batch size N (evenly spaced in 1/N between `min_samples` and `max_samples`),
//! `num_batches` pairs of batches are drawn with replacement, and the Fréchet distance
//! `|mu1 - mu2|^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2))` of their means and covariances
//! (`ddof = 1`) is averaged. `FPD(N) = a + b / N` is then fitted with `a, b >= 0` by least
//! squares; `a` is the FPD and its error comes from the fit's covariance, scaled by the
//! residual variance (scipy `curve_fit`).
//!
//! Computed on the host in f64 with `threads` worker threads. (Not on a Burn backend: the
//! statistics need f64, and Burn's CPU backend shares one default float type per device
//! between its f32 and f64 variants, so an f64 computation would interfere with the f32
//! classifier in the same process.)

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::eval::linalg::trace_sqrt_product;
use crate::rng::{Purpose, Stream};

/// Divides every feature (column) of both samples by its maximum absolute value in `real`,
/// as jetnet's `normalise=True`. Columns that are zero throughout `real` are left unscaled.
pub fn normalise_by_reference(real: &mut [f64], gen: &mut [f64], d: usize) {
    if d == 0 {
        return;
    }
    let mut max = vec![0.0f64; d];
    for row in real.chunks_exact(d) {
        for (m, v) in max.iter_mut().zip(row) {
            *m = m.max(v.abs());
        }
    }
    for x in [real, gen] {
        for row in x.chunks_exact_mut(d) {
            for (v, m) in row.iter_mut().zip(&max) {
                if *m > 0.0 {
                    *v /= m;
                }
            }
        }
    }
}

/// Settings of [`fpd`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FpdConfig {
    /// Smallest batch size (CaloChallenge: 10 000).
    pub min_samples: usize,
    /// Largest batch size (50 000).
    pub max_samples: usize,
    /// Batches per size (20).
    pub num_batches: usize,
    /// Number of batch sizes (10).
    pub num_points: usize,
    /// Seed of the batch draws.
    pub seed: u64,
    /// Worker threads (0: all available cores).
    pub threads: usize,
}

impl Default for FpdConfig {
    fn default() -> Self {
        Self { min_samples: 10_000, max_samples: 50_000, num_batches: 20, num_points: 10, seed: 42, threads: 0 }
    }
}

/// The number of worker threads for `threads` (0: all available cores).
pub(crate) fn worker_threads(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

/// The extrapolated FPD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FpdResult {
    /// Extrapolated value `a` (N -> infinity).
    pub value: f64,
    /// Uncertainty of `a` from the fit.
    pub error: f64,
    /// Fitted slope `b` of `FPD(N) = a + b / N`.
    pub slope: f64,
    /// `(N, mean FPD over the batches of size N)`.
    pub points: Vec<(usize, f64)>,
}

/// Random row indices (with replacement) for batch `batch` of size `n` drawn from `len` rows.
pub(crate) fn draw_indices(seed: u64, stream: u64, sub: u64, n: usize, len: usize) -> Vec<usize> {
    let mut rng = Stream::sub(seed, stream, Purpose::Evaluate, sub);
    (0..n).map(|_| rng.below(len as u64) as usize).collect()
}

/// Mean and covariance (`ddof = 1`) of the rows `idx` (with repetitions) of the row-major
/// matrix `x` with `d` columns. Repeated rows are weighted instead of repeated.
pub fn mean_cov(x: &[f64], d: usize, idx: &[usize], threads: usize) -> (Vec<f64>, Vec<f64>) {
    let n = idx.len();
    let mut counts: std::collections::BTreeMap<usize, f64> = std::collections::BTreeMap::new();
    for &i in idx {
        *counts.entry(i).or_insert(0.0) += 1.0;
    }
    let items: Vec<(usize, f64)> = counts.into_iter().collect();
    let mut mean = vec![0.0; d];
    for &(i, w) in &items {
        for (m, v) in mean.iter_mut().zip(&x[i * d..(i + 1) * d]) {
            *m += w * v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    // Upper triangle of sum_i w_i (x_i - mean)(x_i - mean)^T, rows split over threads.
    let threads = worker_threads(threads).min(items.len().max(1));
    let per = items.len().div_ceil(threads);
    let partials: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per.max(1))
            .map(|part| {
                let mean = &mean;
                s.spawn(move || {
                    let mut acc = vec![0.0; d * d];
                    let mut c = vec![0.0; d];
                    for &(i, w) in part {
                        for ((cj, xj), mj) in c.iter_mut().zip(&x[i * d..(i + 1) * d]).zip(mean) {
                            *cj = xj - mj;
                        }
                        for a in 0..d {
                            let ca = w * c[a];
                            if ca == 0.0 {
                                continue;
                            }
                            for (acc_ab, cb) in acc[a * d + a..(a + 1) * d].iter_mut().zip(&c[a..]) {
                                *acc_ab += ca * cb;
                            }
                        }
                    }
                    acc
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("covariance worker")).collect()
    });
    let mut cov = vec![0.0; d * d];
    for p in partials {
        for (c, v) in cov.iter_mut().zip(p) {
            *c += v;
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for a in 0..d {
        for b in a..d {
            let v = cov[a * d + b] / denom;
            cov[a * d + b] = v;
            cov[b * d + a] = v;
        }
    }
    (mean, cov)
}

/// The Fréchet distance of two Gaussians given by their means and covariances; when the
/// matrix square root fails, `1e-6 I` is added to both covariances (as jetnet).
pub fn frechet_distance(mu1: &[f64], c1: &[f64], mu2: &[f64], c2: &[f64], d: usize) -> Result<f64, CoreError> {
    let diff: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr1: f64 = (0..d).map(|i| c1[i * d + i]).sum();
    let tr2: f64 = (0..d).map(|i| c2[i * d + i]).sum();
    let ts = match trace_sqrt_product(c1, c2, d) {
        Ok(t) if t.is_finite() => t,
        _ => {
            let mut a = c1.to_vec();
            let mut b = c2.to_vec();
            for i in 0..d {
                a[i * d + i] += 1e-6;
                b[i * d + i] += 1e-6;
            }
            trace_sqrt_product(&a, &b, d)?
        }
    };
    Ok(diff + tr1 + tr2 - 2.0 * ts)
}

/// Least-squares fit of `y = a + b x` with `a, b >= 0`; returns `(a, sigma_a, b)`.
pub fn fit_nonnegative_line(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let (sx, sy) = (x.iter().sum::<f64>(), y.iter().sum::<f64>());
    let sxx: f64 = x.iter().map(|v| v * v).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    let det = n * sxx - sx * sx;
    let (mut a, mut b) = if det.abs() > 0.0 { ((sxx * sy - sx * sxy) / det, (n * sxy - sx * sy) / det) } else { (sy / n, 0.0) };
    if b < 0.0 {
        b = 0.0;
        a = (sy / n).max(0.0);
    }
    if a < 0.0 {
        a = 0.0;
        b = if sxx > 0.0 { (sxy / sxx).max(0.0) } else { 0.0 };
    }
    let rss: f64 = x.iter().zip(y).map(|(xi, yi)| (yi - a - b * xi).powi(2)).sum();
    let dof = (x.len() as f64 - 2.0).max(1.0);
    let var_a = if det.abs() > 0.0 { rss / dof * sxx / det } else { f64::NAN };
    (a, var_a.max(0.0).sqrt(), b)
}

/// FPD of `gen` against `real` (both row-major with `d` columns, already normalised, see
/// [`normalise_by_reference`]), extrapolated to infinite size.
///
/// Fails with [`CoreError::Invalid`] for empty or mismatched inputs or a bad configuration.
pub fn fpd(real: &[f64], gen: &[f64], d: usize, cfg: &FpdConfig) -> Result<FpdResult, CoreError> {
    fpd_with_progress(real, gen, d, cfg, &mut || {})
}

/// [`fpd`], calling `on_batch` after each of the `num_points * num_batches` batch pairs.
pub fn fpd_with_progress(
    real: &[f64],
    gen: &[f64],
    d: usize,
    cfg: &FpdConfig,
    on_batch: &mut dyn FnMut(),
) -> Result<FpdResult, CoreError> {
    if d == 0 || real.is_empty() || gen.is_empty() || !real.len().is_multiple_of(d) || !gen.len().is_multiple_of(d) {
        return Err(CoreError::Invalid("fpd: empty or ragged feature matrices".into()));
    }
    if cfg.num_points < 2 || cfg.num_batches == 0 || cfg.min_samples < 2 || cfg.max_samples < cfg.min_samples {
        return Err(CoreError::Invalid("fpd: need >= 2 batch sizes, >= 1 batch and 2 <= min_samples <= max_samples".into()));
    }
    let (nr, ng) = (real.len() / d, gen.len() / d);
    let (lo, hi) = (1.0 / cfg.min_samples as f64, 1.0 / cfg.max_samples as f64);
    let mut points = Vec::with_capacity(cfg.num_points);
    for p in 0..cfg.num_points {
        let inv = lo + (hi - lo) * p as f64 / (cfg.num_points - 1) as f64;
        let n = (1.0 / inv) as usize;
        let mut sum = 0.0;
        for k in 0..cfg.num_batches {
            let stream = (p * cfg.num_batches + k) as u64;
            let (m1, c1) = mean_cov(real, d, &draw_indices(cfg.seed, stream, 1, n, nr), cfg.threads);
            let (m2, c2) = mean_cov(gen, d, &draw_indices(cfg.seed, stream, 2, n, ng), cfg.threads);
            sum += frechet_distance(&m1, &c1, &m2, &c2, d)?;
            on_batch();
        }
        points.push((n, sum / cfg.num_batches as f64));
    }
    let x: Vec<f64> = points.iter().map(|(n, _)| 1.0 / *n as f64).collect();
    let y: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    let (value, error, slope) = fit_nonnegative_line(&x, &y);
    Ok(FpdResult { value, error, slope, points })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` rows of `d` correlated Gaussian features, shifted by `shift` in feature 0.
    pub(crate) fn gaussian(seed: u64, n: usize, d: usize, shift: f64) -> Vec<f64> {
        let mut rng = Stream::new(seed, 0, Purpose::Evaluate);
        let mut out = Vec::with_capacity(n * d);
        for _ in 0..n {
            let common = rng.normal();
            for j in 0..d {
                out.push(0.5 * common + rng.normal() + if j == 0 { shift } else { 0.0 });
            }
        }
        out
    }

    #[test]
    fn line_fit() {
        let x = [0.1, 0.2, 0.3, 0.4];
        let y: Vec<f64> = x.iter().map(|v| 2.0 + 3.0 * v).collect();
        let (a, sa, b) = fit_nonnegative_line(&x, &y);
        assert!((a - 2.0).abs() < 1e-12 && (b - 3.0).abs() < 1e-12 && sa < 1e-6);
        // A negative intercept is clamped to 0.
        let y: Vec<f64> = x.iter().map(|v| -1.0 + 10.0 * v).collect();
        let (a, _, b) = fit_nonnegative_line(&x, &y);
        assert_eq!(a, 0.0);
        assert!(b > 0.0);
    }

    #[test]
    fn frechet_of_known_gaussians() {
        // mu differ by (3, 4): 25; C1 = diag(4, 9), C2 = diag(1, 4): 4+9+1+4 - 2 (2+6) = 2.
        let f = frechet_distance(&[0.0, 0.0], &[4.0, 0.0, 0.0, 9.0], &[3.0, 4.0], &[1.0, 0.0, 0.0, 4.0], 2).unwrap();
        assert!((f - 27.0).abs() < 1e-12);
    }

    #[test]
    fn same_distribution_is_compatible_with_zero_and_shift_is_positive() {
        let d = 6;
        let a = gaussian(1, 6000, d, 0.0);
        let b = gaussian(2, 6000, d, 0.0);
        let c = gaussian(3, 6000, d, 0.3);
        let cfg = FpdConfig { min_samples: 1000, max_samples: 5000, num_batches: 10, num_points: 5, seed: 42, threads: 2 };
        let same = fpd(&a, &b, d, &cfg).unwrap();
        assert!(same.value <= 3.0 * same.error + 2e-3, "same: {same:?}");
        let shifted = fpd(&a, &c, d, &cfg).unwrap();
        // Expected about 0.3^2 = 0.09.
        assert!(shifted.value > 0.05 && shifted.value > 5.0 * shifted.error, "shifted: {shifted:?}");
        assert!((shifted.value - 0.09).abs() < 0.03, "shifted: {shifted:?}");
    }

    #[test]
    fn weighted_covariance_equals_repeated_rows() {
        let d = 3;
        let x = gaussian(4, 10, d, 0.0);
        let idx = [1, 1, 4, 7, 7, 7, 0];
        let rows: Vec<f64> = idx.iter().flat_map(|&i| x[i * d..(i + 1) * d].to_vec()).collect();
        let (m, c) = mean_cov(&x, d, &idx, 2);
        let (m2, c2) = mean_cov(&rows, d, &(0..idx.len()).collect::<Vec<_>>(), 1);
        assert!(m.iter().zip(&m2).all(|(a, b)| (a - b).abs() < 1e-12));
        assert!(c.iter().zip(&c2).all(|(a, b)| (a - b).abs() < 1e-12));
        // Direct check of one entry.
        let mean0 = rows.iter().step_by(d).sum::<f64>() / 7.0;
        let var0 = rows.iter().step_by(d).map(|v| (v - mean0).powi(2)).sum::<f64>() / 6.0;
        assert!((c[0] - var0).abs() < 1e-12);
    }

    #[test]
    fn normalisation_uses_reference_max() {
        let mut r = vec![1.0, -4.0, 0.0, 2.0, 2.0, 0.0];
        let mut g = vec![3.0, 8.0, 5.0];
        normalise_by_reference(&mut r, &mut g, 3);
        assert_eq!(r, vec![0.5, -1.0, 0.0, 1.0, 0.5, 0.0]);
        assert_eq!(g, vec![1.5, 2.0, 5.0]);
    }
}
