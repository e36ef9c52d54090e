//! Batch planning: how many showers fit a device at once.
//!
//! A sampling batch of `b` showers padded to `n` points holds, at its peak, the sampler's state
//! vectors and the score net's activations, all linear in `b * n` (and, for full self-attention,
//! the `b * heads * n * n` attention weights). [`BatchMemory`] is that model in bytes;
//! [`plan_batches`] cuts a run, sorted by hit count, into batches that fit a memory budget.
//! Showers do not depend on how they are batched, so the plan changes speed only.

use serde::{Deserialize, Serialize};

use crate::model::{BlockKind, ScoreNetConfig};

/// Peak memory of one sampling batch: `fixed + b * (per_shower + n * per_point + n^2 * per_pair)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMemory {
    /// Bytes per real or padded point.
    pub per_point: u64,
    /// Bytes per point pair (self-attention weights; 0 for the class-token block).
    pub per_pair: u64,
    /// Bytes per shower independent of its size (conditioning, time embeddings, class token).
    pub per_shower: u64,
    /// Bytes independent of the batch (weights and workspace).
    pub fixed: u64,
}

/// Floats per point the samplers keep alive besides the network (the adaptive solver's seven
/// stages, its state, candidate and error estimate for 4 coordinates; the fixed-step samplers
/// need fewer).
pub const SAMPLER_FLOATS_PER_POINT: u64 = 11 * 4;

/// Safety factor on the activation estimate (temporaries that the allocator has not reused).
pub const ACTIVATION_FACTOR: u64 = 2;

impl BatchMemory {
    /// The memory model of sampling with the net `cfg`, `elem_bytes` per float (4 for f32, 2 for
    /// f16/bf16) and `n_params` parameters.
    pub fn for_sampling(cfg: &ScoreNetConfig, elem_bytes: u64, n_params: u64) -> Self {
        let (e, h, heads) = (cfg.embed_dim as u64, cfg.hidden_dim as u64, cfg.n_heads as u64);
        // live per point inside one block: input and residual (2E), normalised input (E),
        // keys and values (2E), attention output (E), feed-forward hidden layer (H) and output (E)
        let block = 7 * e + h;
        let per_point = elem_bytes * (ACTIVATION_FACTOR * block + SAMPLER_FLOATS_PER_POINT);
        let per_pair = match cfg.block {
            BlockKind::ClassToken => 0,
            BlockKind::SelfAttention => elem_bytes * ACTIVATION_FACTOR * heads,
        };
        // time and energy embeddings, the class token and its feed-forward pass
        let per_shower = elem_bytes * ACTIVATION_FACTOR * (4 * e + h);
        Self { per_point, per_pair, per_shower, fixed: elem_bytes * n_params }
    }

    /// Peak bytes of a batch of `b` showers padded to `n` points.
    pub fn bytes(&self, b: usize, n: usize) -> u64 {
        let (b, n) = (b as u64, n as u64);
        self.fixed + b * (self.per_shower + n * self.per_point + n * n * self.per_pair)
    }

    /// The largest batch of showers padded to `n` points within `budget` bytes (at least 1:
    /// a single shower always runs, even over the budget).
    pub fn max_batch(&self, budget: u64, n: usize) -> usize {
        let one = self.bytes(1, n) - self.fixed;
        if budget <= self.fixed || one == 0 {
            return 1;
        }
        (((budget - self.fixed) / one) as usize).max(1)
    }
}

/// Cuts showers with hit counts `n_hits` into batches within `budget` bytes and at most `cap`
/// showers each, sorted by hit count (ties by index) so that padding stays small: each batch
/// takes the next showers in that order as long as the batch, padded to its largest shower,
/// still fits.
pub fn plan_batches(n_hits: &[usize], mem: &BatchMemory, budget: u64, cap: usize) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n_hits.len()).collect();
    idx.sort_by_key(|&i| (n_hits[i], i));
    let cap = cap.max(1);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    for i in idx {
        // sorted ascending: the padded size of the batch with `i` is `n_hits[i]`
        let fits = cur.len() < cap && mem.bytes(cur.len() + 1, n_hits[i].max(1)) <= budget;
        if !cur.is_empty() && !fits {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(i);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(block: BlockKind) -> ScoreNetConfig {
        ScoreNetConfig { embed_dim: 64, hidden_dim: 128, n_layers: 4, n_heads: 4, dropout: 0.0, block, fourier_scale: 30.0 }
    }

    #[test]
    fn memory_model_arithmetic() {
        let m = BatchMemory::for_sampling(&cfg(BlockKind::ClassToken), 4, 1000);
        // per point: 4 bytes * (2 * (7*64 + 128) + 44) = 4 * 1196
        assert_eq!(m.per_point, 4784);
        assert_eq!(m.per_pair, 0);
        // per shower: 4 * 2 * (4*64 + 128) = 3072
        assert_eq!(m.per_shower, 3072);
        assert_eq!(m.fixed, 4000);
        assert_eq!(m.bytes(10, 100), 4000 + 10 * (3072 + 100 * 4784));
        let half = BatchMemory::for_sampling(&cfg(BlockKind::ClassToken), 2, 1000);
        assert_eq!(2 * (half.bytes(10, 100) - half.fixed), m.bytes(10, 100) - m.fixed);
        let sa = BatchMemory::for_sampling(&cfg(BlockKind::SelfAttention), 4, 1000);
        assert_eq!(sa.per_pair, 4 * 2 * 4);
        assert_eq!(sa.bytes(2, 50) - m.bytes(2, 50), 2 * 50 * 50 * 32);
    }

    #[test]
    fn max_batch_is_the_largest_that_fits() {
        let m = BatchMemory::for_sampling(&cfg(BlockKind::ClassToken), 4, 1000);
        for (budget, n) in [(1u64 << 30, 100usize), (50 << 20, 600), (123_456_789, 7)] {
            let b = m.max_batch(budget, n);
            assert!(m.bytes(b, n) <= budget, "{budget} {n}");
            assert!(m.bytes(b + 1, n) > budget, "{budget} {n}");
        }
        // 1 GiB, 100 points: (2^30 - 4000) / (3072 + 478400) = 2230
        assert_eq!(m.max_batch(1 << 30, 100), 2230);
        // a budget below one shower still runs one
        assert_eq!(m.max_batch(10, 100), 1);
        assert_eq!(m.max_batch(m.bytes(1, 100) - 1, 100), 1);
    }

    #[test]
    fn planned_batches_fit_cover_everything_and_sort_by_size() {
        let m = BatchMemory::for_sampling(&cfg(BlockKind::ClassToken), 4, 1000);
        let n_hits: Vec<usize> = (0..1000).map(|i| 1 + (i * 7919) % 500).collect();
        let budget = 20 << 20;
        let plan = plan_batches(&n_hits, &m, budget, 256);
        let mut seen: Vec<usize> = plan.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        let mut last = 0;
        for b in &plan {
            let n = b.iter().map(|&i| n_hits[i]).max().unwrap();
            assert!(b.len() <= 256);
            assert!(b.len() == 1 || m.bytes(b.len(), n) <= budget);
            assert!(b.iter().all(|&i| n_hits[i] >= last));
            last = n;
        }
        // each batch is maximal: the next shower would break the budget or the cap
        for w in plan.windows(2) {
            let next = w[1][0];
            let n = w[0].iter().map(|&i| n_hits[i]).max().unwrap().max(n_hits[next]);
            assert!(w[0].len() == 256 || m.bytes(w[0].len() + 1, n) > budget);
        }
        // the first batch by hand: the k smallest showers (about k/2 hits each, two per count)
        // fit 20 MiB up to k = 92, padded to 46 points: 4000 + 92 * (3072 + 46 * 4784) bytes
        assert_eq!(plan[0].len(), 92);
        assert_eq!(plan[0].iter().map(|&i| n_hits[i]).max(), Some(46));
        assert!(m.bytes(92, 46) <= budget && m.bytes(93, 47) > budget);
        // larger showers give smaller batches; a roomy budget fills batches to the cap
        assert!(plan.last().unwrap().len() < plan[0].len());
        assert_eq!(plan_batches(&n_hits, &m, 1 << 30, 256)[0].len(), 256);
        // a huge budget gives the cap; cap 1 gives single showers
        assert!(plan_batches(&n_hits, &m, u64::MAX / 4, 100).iter().all(|b| b.len() <= 100));
        assert_eq!(plan_batches(&n_hits, &m, budget, 1).len(), 1000);
        // over-budget single showers still run
        assert_eq!(plan_batches(&[10_000], &m, 1, 8), vec![vec![0]]);
    }
}
