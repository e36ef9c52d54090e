//! The hit-count model P(n | E_inc): a 2-D histogram over (conditioning value, number of
//! hits), fitted on training data, each energy row normalised, sampled by inverse CDF.

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::rng::Stream;

/// A conditional histogram of hit counts given the conditioning value `c` in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitCountModel {
    /// Number of bins in the conditioning value over [c_min, c_max].
    pub n_energy_bins: usize,
    /// Lower edge of the conditioning range.
    pub c_min: f32,
    /// Upper edge of the conditioning range.
    pub c_max: f32,
    /// Hit-count bin edges (integers, increasing; a bin holds [lo, hi) hits).
    pub n_edges: Vec<u32>,
    /// Counts, row-major `[energy bin][hit bin]`.
    pub counts: Vec<u64>,
}

impl HitCountModel {
    /// Fits the model on `(c, n)` pairs with `n_energy_bins` x up to `n_hit_bins` bins.
    pub fn fit(pairs: &[(f32, usize)], n_energy_bins: usize, n_hit_bins: usize) -> Result<Self, CoreError> {
        if pairs.is_empty() {
            return Err(CoreError::Data("cannot fit the hit-count model on no showers".into()));
        }
        let c_min = pairs.iter().map(|p| p.0).fold(f32::INFINITY, f32::min);
        let c_max = pairs.iter().map(|p| p.0).fold(f32::NEG_INFINITY, f32::max);
        let n_min = pairs.iter().map(|p| p.1).min().unwrap() as u32;
        let n_max = pairs.iter().map(|p| p.1).max().unwrap() as u32 + 1;
        let width = ((n_max - n_min) as f64 / n_hit_bins.max(1) as f64).ceil().max(1.0) as u32;
        let mut n_edges = vec![n_min];
        while *n_edges.last().unwrap() < n_max {
            let next = n_edges.last().unwrap() + width;
            n_edges.push(next.min(n_max));
        }
        let nb = n_edges.len() - 1;
        let mut m = Self { n_energy_bins: n_energy_bins.max(1), c_min, c_max, n_edges, counts: vec![] };
        m.counts = vec![0; m.n_energy_bins * nb];
        for &(c, n) in pairs {
            let eb = m.energy_bin(c);
            let hb = m.n_edges.partition_point(|&e| e <= n as u32) - 1;
            m.counts[eb * nb + hb.min(nb - 1)] += 1;
        }
        Ok(m)
    }

    fn energy_bin(&self, c: f32) -> usize {
        let span = (self.c_max - self.c_min).max(1e-12);
        let b = ((c - self.c_min) / span * self.n_energy_bins as f32).floor();
        (b.max(0.0) as usize).min(self.n_energy_bins - 1)
    }

    fn row(&self, eb: usize) -> &[u64] {
        let nb = self.n_edges.len() - 1;
        &self.counts[eb * nb..(eb + 1) * nb]
    }

    /// The energy row used for conditioning value `c`: its own bin, or the nearest non-empty
    /// one when it holds no training shower.
    fn row_for(&self, c: f32) -> &[u64] {
        let eb0 = self.energy_bin(c);
        for d in 0..self.n_energy_bins {
            let cands = [eb0.checked_sub(d), Some(eb0 + d)];
            if let Some(&b) = cands.iter().flatten().find(|&&b| b < self.n_energy_bins && self.row(b).iter().sum::<u64>() > 0) {
                return self.row(b);
            }
        }
        self.row(eb0)
    }

    /// Weights of the hit bins of `row`: the counts plus one pseudo-shower spread evenly over
    /// the bins (so every count within the fitted range has a non-zero probability), scaled
    /// by the number of bins to stay in integers. Returns the weights' total too.
    fn weights(row: &[u64]) -> (impl Iterator<Item = u64> + '_, u64) {
        let nb = row.len() as u64;
        let total = row.iter().sum::<u64>() * nb + nb;
        (row.iter().map(move |&c| c * nb + 1), total)
    }

    /// Samples a hit count for conditioning value `c` (at least 1) from the smoothed row of
    /// `c` (see [`HitCountModel::log_prob`]); within a hit bin the count is uniform.
    pub fn sample(&self, c: f32, rng: &mut Stream) -> usize {
        let (weights, total) = Self::weights(self.row_for(c));
        let mut u = rng.below(total);
        let mut hb = 0;
        for (i, w) in weights.enumerate() {
            if u < w {
                hb = i;
                break;
            }
            u -= w;
        }
        let (lo, hi) = (self.n_edges[hb], self.n_edges[hb + 1]);
        (lo as u64 + rng.below((hi - lo).max(1) as u64)).max(1) as usize
    }

    /// Largest hit count the model can produce.
    pub fn max_hits(&self) -> usize {
        *self.n_edges.last().unwrap() as usize - 1
    }

    /// `ln P(n | c)` of the distribution [`HitCountModel::sample`] draws from: the energy row
    /// of `c` (the nearest non-empty one if it has no shower), each hit bin's count plus
    /// `1/n_bins` of a pseudo-shower, normalised, and spread uniformly over the bin's integers.
    /// Finite for every `n` in the fitted range `[n_min, n_max]`, -inf outside it.
    pub fn log_prob(&self, c: f32, n: usize) -> f64 {
        let n = n as u32;
        if n < self.n_edges[0] || n >= *self.n_edges.last().unwrap() {
            return f64::NEG_INFINITY;
        }
        let hb = self.n_edges.partition_point(|&e| e <= n) - 1;
        let (mut weights, total) = Self::weights(self.row_for(c));
        let w = weights.nth(hb).expect("hit bin in range") as f64;
        let width = (self.n_edges[hb + 1] - self.n_edges[hb]) as f64;
        (w / total as f64 / width).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn conditional_sampling_follows_the_training_distribution() {
        // low c: 10..20 hits; high c: 200..220 hits
        let mut s = Stream::new(1, 0, Purpose::HitCount);
        let mut pairs = vec![];
        for _ in 0..2000 {
            pairs.push((0.1 * s.uniform() as f32, 10 + s.below(10) as usize));
            pairs.push((0.9 + 0.1 * s.uniform() as f32, 200 + s.below(20) as usize));
        }
        let m = HitCountModel::fit(&pairs, 10, 50).unwrap();
        let mut r = Stream::new(2, 0, Purpose::HitCount);
        let lo: Vec<usize> = (0..2000).map(|_| m.sample(0.05, &mut r)).collect();
        let hi: Vec<usize> = (0..2000).map(|_| m.sample(0.95, &mut r)).collect();
        // one pseudo-shower in ~2000 is spread over the row: a handful of draws may land outside
        let outside_lo = lo.iter().filter(|&&n| !(10..20).contains(&n)).count();
        let outside_hi = hi.iter().filter(|&&n| !(196..225).contains(&n)).count();
        assert!(outside_lo <= 6 && outside_hi <= 6, "{outside_lo} {outside_hi}");
        let mean_lo = lo.iter().sum::<usize>() as f64 / 2000.0;
        assert!((mean_lo - 14.5).abs() < 2.5, "{mean_lo}");
        // an empty middle row falls back to a neighbour
        let mid = m.sample(0.5, &mut r);
        assert!((10..225).contains(&mid));
        // probabilities normalise over n, in full and in empty energy rows alike
        for c in [0.05, 0.5, 0.95] {
            let total: f64 = (0..300).map(|n| m.log_prob(c, n).exp()).sum();
            assert!((total - 1.0).abs() < 1e-9, "{c}: {total}");
        }
        // a count never seen in its row but inside the fitted range is unlikely, not impossible
        let unseen = m.log_prob(0.95, 100);
        assert!(unseen.is_finite() && unseen < m.log_prob(0.95, 210) - 5.0, "{unseen}");
        assert_eq!(m.log_prob(0.95, 5), f64::NEG_INFINITY);
        // empty rows use the same neighbour for densities as for sampling
        assert_eq!(m.log_prob(0.5, 15).is_finite(), true);
    }
}
