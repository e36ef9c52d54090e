//! Kernel physics distance (KPD): the unbiased squared MMD with the polynomial kernel
//! `k(x, y) = (x.y / d + 1)^4`, as jetnet's `kpd` used by the CaloChallenge on the
//! high-level features (normalised by the reference maximum, see
//! [`crate::eval::fpd::normalise_by_reference`]).
//!
//! `num_batches` pairs of batches of `batch_size` rows are drawn with replacement; the
//! result is the median over batches and, as its error, half the 16.275 - 83.725 percentile
//! range.

//!
//! Computed on the host in f64 with `threads` worker threads (see [`crate::eval::fpd`] for
//! why not on a Burn backend).

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::eval::fpd::{draw_indices, worker_threads};

/// Settings of [`kpd`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpdConfig {
    /// Number of batch pairs (CaloChallenge: 10).
    pub num_batches: usize,
    /// Rows per batch (CaloChallenge: 10 000).
    pub batch_size: usize,
    /// Seed of the batch draws.
    pub seed: u64,
    /// Worker threads (0: all available cores).
    pub threads: usize,
}

impl Default for KpdConfig {
    fn default() -> Self {
        Self { num_batches: 10, batch_size: 10_000, seed: 42, threads: 0 }
    }
}

/// The KPD over batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpdResult {
    /// Median of the per-batch MMD^2.
    pub value: f64,
    /// Half of the 16.275 - 83.725 percentile range.
    pub error: f64,
    /// MMD^2 of every batch.
    pub values: Vec<f64>,
}

/// numpy `percentile` with linear interpolation (`q` in percent) of unsorted values.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// `(a.b / d + 1)^4`.
#[inline]
fn poly4(a: &[f64], b: &[f64], inv_d: f64) -> f64 {
    // Four partial sums let the compiler vectorise the dot product.
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut dot = acc[0] + acc[1] + acc[2] + acc[3];
    for (x, y) in ra.iter().zip(rb) {
        dot += x * y;
    }
    let s = dot * inv_d + 1.0;
    let s2 = s * s;
    s2 * s2
}

/// Sum of `k(x_i, y_j)` over all pairs (`same`: `x` is `y`, and only pairs `i != j` count),
/// rows of `x` split over threads.
fn kernel_sum(x: &[f64], y: &[f64], d: usize, same: bool, threads: usize) -> f64 {
    let (m, n) = (x.len() / d, y.len() / d);
    let inv_d = 1.0 / d as f64;
    let threads = worker_threads(threads).min(m.max(1));
    // Interleaved rows balance the triangular work of `same`.
    let partial: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut total = 0.0;
                    let mut i = t;
                    while i < m {
                        let xi = &x[i * d..(i + 1) * d];
                        let mut row = 0.0;
                        if same {
                            for j in i + 1..n {
                                row += poly4(xi, &y[j * d..(j + 1) * d], inv_d);
                            }
                            row *= 2.0;
                        } else {
                            for j in 0..n {
                                row += poly4(xi, &y[j * d..(j + 1) * d], inv_d);
                            }
                        }
                        total += row;
                        i += threads;
                    }
                    total
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("kernel worker")).collect()
    });
    partial.iter().sum()
}

/// Unbiased MMD^2 of two samples (row-major, `d` columns, at least 2 rows each) with the
/// polynomial kernel of degree 4:
/// `sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(n(n-1)) - 2 mean k(x_i,y_j)`.
pub fn mmd_poly_unbiased(x: &[f64], y: &[f64], d: usize, threads: usize) -> f64 {
    let (m, n) = ((x.len() / d) as f64, (y.len() / d) as f64);
    let kxx = kernel_sum(x, x, d, true, threads) / (m * (m - 1.0));
    let kyy = kernel_sum(y, y, d, true, threads) / (n * (n - 1.0));
    let kxy = kernel_sum(x, y, d, false, threads) / (m * n);
    kxx + kyy - 2.0 * kxy
}

/// KPD of `gen` against `real` (row-major, `d` columns, normalised).
///
/// Fails with [`CoreError::Invalid`] for empty or mismatched inputs or a bad configuration.
pub fn kpd(real: &[f64], gen: &[f64], d: usize, cfg: &KpdConfig) -> Result<KpdResult, CoreError> {
    kpd_with_progress(real, gen, d, cfg, &mut || {})
}

/// [`kpd`], calling `on_batch` after each batch pair.
pub fn kpd_with_progress(
    real: &[f64],
    gen: &[f64],
    d: usize,
    cfg: &KpdConfig,
    on_batch: &mut dyn FnMut(),
) -> Result<KpdResult, CoreError> {
    if d == 0 || real.is_empty() || gen.is_empty() || !real.len().is_multiple_of(d) || !gen.len().is_multiple_of(d) {
        return Err(CoreError::Invalid("kpd: empty or ragged feature matrices".into()));
    }
    if cfg.num_batches == 0 || cfg.batch_size < 2 {
        return Err(CoreError::Invalid("kpd: need >= 1 batch of >= 2 rows".into()));
    }
    let (nr, ng) = (real.len() / d, gen.len() / d);
    let n = cfg.batch_size;
    let mut values = Vec::with_capacity(cfg.num_batches);
    for i in 0..cfg.num_batches {
        let stream = 1_000_000 + i as u64;
        let pick = |x: &[f64], sub: u64, len: usize| -> Vec<f64> {
            draw_indices(cfg.seed, stream, sub, n, len).into_iter().flat_map(|r| x[r * d..(r + 1) * d].iter().copied()).collect()
        };
        let (a, b) = (pick(real, 1, nr), pick(gen, 2, ng));
        values.push(mmd_poly_unbiased(&a, &b, d, cfg.threads));
        on_batch();
    }
    let value = percentile(&values, 50.0);
    let error = (percentile(&values, 83.725) - percentile(&values, 16.275)) / 2.0;
    Ok(KpdResult { value, error, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::fpd::tests::gaussian;

    #[test]
    fn percentiles_like_numpy() {
        let v = [3.0, 1.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 16.275) - 1.48825).abs() < 1e-12);
    }

    #[test]
    fn mmd_matches_direct_formula() {
        let a = gaussian(7, 5, 3, 0.0);
        let b = gaussian(8, 4, 3, 0.5);
        let k = |x: &[f64], y: &[f64]| (x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>() / 3.0 + 1.0).powi(4);
        let (m, n) = (5, 4);
        let row = |v: &[f64], i: usize| v[i * 3..(i + 1) * 3].to_vec();
        let mut xx = 0.0;
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    xx += k(&row(&a, i), &row(&a, j));
                }
            }
        }
        let mut yy = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    yy += k(&row(&b, i), &row(&b, j));
                }
            }
        }
        let mut xy = 0.0;
        for i in 0..m {
            for j in 0..n {
                xy += k(&row(&a, i), &row(&b, j));
            }
        }
        let direct = xx / 20.0 + yy / 12.0 - 2.0 * xy / 20.0;
        let got = mmd_poly_unbiased(&a, &b, 3, 2);
        assert!((got - direct).abs() < 1e-10 * direct.abs().max(1.0), "{got} vs {direct}");
    }

    #[test]
    fn same_distribution_is_compatible_with_zero_and_shift_is_positive() {
        let d = 6;
        let mut a = gaussian(1, 6000, d, 0.0);
        let mut b = gaussian(2, 6000, d, 0.0);
        let mut c = gaussian(3, 6000, d, 0.5);
        let mut a2 = a.clone();
        crate::eval::fpd::normalise_by_reference(&mut a, &mut b, d);
        crate::eval::fpd::normalise_by_reference(&mut a2, &mut c, d);
        let cfg = KpdConfig { num_batches: 10, batch_size: 2000, seed: 42, threads: 2 };
        let same = kpd(&a, &b, d, &cfg).unwrap();
        assert!(same.value.abs() <= 3.0 * same.error, "same: {same:?}");
        let shifted = kpd(&a2, &c, d, &cfg).unwrap();
        assert!(shifted.value > 5.0 * shifted.error && shifted.value > 0.0, "shifted: {shifted:?}");
    }
}
