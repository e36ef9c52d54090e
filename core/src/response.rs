//! Shower-level calibration: a conditional model of (number of hits, E_tot / E_inc) given the
//! incident energy, used to set each generated shower's total energy (as point-cloud
//! generators such as CaloClouds do with their "shower flow"). The point-cloud model then
//! only distributes that energy over the hits.
//!
//! The model is empirical: for each of `n_bins` conditioning bins it keeps up to `per_bin`
//! training pairs (evenly subsampled), and draws a stored pair with Gaussian kernel smoothing
//! of the response (Silverman's bandwidth per bin).

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::rng::Stream;

/// Conditional empirical model of `(n_hits, response = E_tot / E_inc)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseModel {
    /// Lower edge of the conditioning range.
    pub c_min: f32,
    /// Upper edge of the conditioning range.
    pub c_max: f32,
    /// Per conditioning bin: stored `(n_hits, response)` pairs.
    pub bins: Vec<Vec<(u32, f32)>>,
    /// Per conditioning bin: kernel bandwidth of the response.
    pub bandwidth: Vec<f32>,
}

impl ResponseModel {
    /// Fits on `(c, n_hits, response)` triples.
    pub fn fit(data: &[(f32, usize, f64)], n_bins: usize, per_bin: usize) -> Result<Self, CoreError> {
        if data.is_empty() {
            return Err(CoreError::Data("cannot fit the response model on no showers".into()));
        }
        let n_bins = n_bins.max(1);
        let c_min = data.iter().map(|d| d.0).fold(f32::INFINITY, f32::min);
        let c_max = data.iter().map(|d| d.0).fold(f32::NEG_INFINITY, f32::max);
        let mut m = Self { c_min, c_max, bins: vec![Vec::new(); n_bins], bandwidth: vec![0.0; n_bins] };
        let mut all: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_bins];
        for &(c, n, r) in data {
            all[m.bin(c)].push((n as u32, r as f32));
        }
        for (b, v) in all.into_iter().enumerate() {
            let stride = (v.len() as f64 / per_bin.max(1) as f64).max(1.0);
            let kept: Vec<(u32, f32)> = (0..v.len().min(per_bin)).map(|i| v[(i as f64 * stride) as usize]).collect();
            let k = kept.len() as f64;
            if k >= 2.0 {
                let mean = kept.iter().map(|p| p.1 as f64).sum::<f64>() / k;
                let sd = (kept.iter().map(|p| (p.1 as f64 - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
                m.bandwidth[b] = (1.06 * sd * k.powf(-0.2)) as f32;
            }
            m.bins[b] = kept;
        }
        Ok(m)
    }

    fn bin(&self, c: f32) -> usize {
        let n = self.bins.len();
        let span = (self.c_max - self.c_min).max(1e-12);
        let b = ((c - self.c_min) / span * n as f32).floor();
        (b.max(0.0) as usize).min(n - 1)
    }

    /// Draws `(n_hits, response)` for conditioning value `c`; an empty bin falls back to the
    /// nearest non-empty one.
    pub fn sample(&self, c: f32, rng: &mut Stream) -> (usize, f64) {
        let b0 = self.bin(c);
        let n = self.bins.len();
        let b = (0..n)
            .flat_map(|d| [b0.checked_sub(d), Some(b0 + d)])
            .flatten()
            .find(|&b| b < n && !self.bins[b].is_empty())
            .unwrap_or(b0);
        let row = &self.bins[b];
        if row.is_empty() {
            return (1, 1.0);
        }
        let (hits, r) = row[rng.below(row.len() as u64) as usize];
        let r = (r as f64 + self.bandwidth[b] as f64 * rng.normal()).max(0.0);
        (hits.max(1) as usize, r)
    }
}

/// Rescales the energies of `points` so that they sum to `total` (no-op when they sum to 0).
pub fn calibrate(points: &mut [crate::pointcloud::Point], total: f64) {
    let sum: f64 = points.iter().map(|p| p[0] as f64).sum();
    if sum > 0.0 && total.is_finite() {
        let f = (total / sum) as f32;
        points.iter_mut().for_each(|p| p[0] *= f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn conditional_draws_follow_the_training_pairs() {
        let mut s = Stream::new(1, 0, Purpose::HitCount);
        let mut data = vec![];
        for _ in 0..4000 {
            data.push((0.05 * s.uniform() as f32, 20 + s.below(5) as usize, 0.8 + 0.05 * s.normal()));
            data.push((0.95 + 0.05 * s.uniform() as f32, 300 + s.below(10) as usize, 0.99 + 0.005 * s.normal()));
        }
        let m = ResponseModel::fit(&data, 20, 500).unwrap();
        let mut r = Stream::new(2, 0, Purpose::HitCount);
        let lo: Vec<(usize, f64)> = (0..4000).map(|_| m.sample(0.02, &mut r)).collect();
        let hi: Vec<(usize, f64)> = (0..4000).map(|_| m.sample(0.99, &mut r)).collect();
        assert!(lo.iter().all(|p| (20..25).contains(&p.0)));
        assert!(hi.iter().all(|p| (300..310).contains(&p.0)));
        let mean = |v: &[(usize, f64)]| v.iter().map(|p| p.1).sum::<f64>() / v.len() as f64;
        let sd = |v: &[(usize, f64)]| (v.iter().map(|p| (p.1 - mean(v)).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((mean(&lo) - 0.8).abs() < 0.005 && (sd(&lo) - 0.05).abs() < 0.006, "{} {}", mean(&lo), sd(&lo));
        assert!((mean(&hi) - 0.99).abs() < 0.001 && (sd(&hi) - 0.005).abs() < 0.001, "{} {}", mean(&hi), sd(&hi));
        let mut pts = vec![[1.0f32, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 1.0]];
        calibrate(&mut pts, 8.0);
        assert_eq!((pts[0][0], pts[1][0]), (2.0, 6.0));
        // energies that sum to zero stay zero (no NaN), an empty cloud is fine
        let mut zero = vec![[0.0f32, 1.0, 1.0, 2.0]; 3];
        calibrate(&mut zero, 5.0);
        assert!(zero.iter().all(|p| p[0] == 0.0));
        calibrate(&mut [], 5.0);
    }
}
