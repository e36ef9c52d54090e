//! Sharded generation: which slice of shower indices a shard generates, and the sidecar JSON
//! that records which run a shard file belongs to (the HDF5 file itself holds only the two
//! CaloChallenge datasets).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

/// A shard selector `i/N` (0-based `i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Index of this shard, 0-based.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('/').ok_or_else(|| format!("--shard '{s}': expected i/N, e.g. 0/4"))?;
        let index: usize = a.trim().parse().map_err(|_| format!("--shard '{s}': bad index"))?;
        let count: usize = b.trim().parse().map_err(|_| format!("--shard '{s}': bad count"))?;
        if count == 0 || index >= count {
            return Err(format!("--shard '{s}': need 0 <= i < N"));
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// The contiguous global index range of this shard among `total` showers.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let lo = total * self.index / self.count;
        let hi = total * (self.index + 1) / self.count;
        lo..hi
    }
}

/// The sidecar `FILE.json` of a generated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Identifies the run: hash of model, seed, sampler settings and total count.
    pub run_id: String,
    /// Run seed.
    pub seed: u64,
    /// Hash of the model card and weights.
    pub model_hash: String,
    /// Shard index (0-based).
    pub shard_index: usize,
    /// Number of shards of the run.
    pub shard_count: usize,
    /// First global shower index in this file.
    pub first: usize,
    /// Showers in this file.
    pub count: usize,
    /// Showers in the whole run.
    pub total: usize,
}

/// FNV-1a 64-bit hash, hex.
pub fn fnv_hex(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Path of the sidecar of `file`.
pub fn sidecar_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// Reads the sidecar of `file`.
pub fn read_sidecar(file: &Path) -> Result<Sidecar> {
    let p = sidecar_path(file);
    let text = std::fs::read_to_string(&p).with_context(|| format!("{}: no sidecar {} (was it written by tdsm sample --shard?)", file.display(), p.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{}: corrupt sidecar: {e}", p.display()))
}

/// Orders and checks shard sidecars: one run, every shard exactly once, contiguous.
pub fn check_shards(items: &[(PathBuf, Sidecar)]) -> Result<Vec<usize>> {
    if items.is_empty() {
        bail!("no shard files given");
    }
    let first = &items[0].1;
    for (p, s) in items {
        if s.run_id != first.run_id || s.model_hash != first.model_hash || s.seed != first.seed || s.shard_count != first.shard_count || s.total != first.total {
            bail!("{} belongs to another run than {} (run {} vs {})", p.display(), items[0].0.display(), s.run_id, first.run_id);
        }
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].1.shard_index);
    for w in order.windows(2) {
        if items[w[0]].1.shard_index == items[w[1]].1.shard_index {
            bail!("shard {} given twice ({} and {})", items[w[0]].1.shard_index, items[w[0]].0.display(), items[w[1]].0.display());
        }
    }
    let have: Vec<usize> = order.iter().map(|&i| items[i].1.shard_index).collect();
    let missing: Vec<String> = (0..first.shard_count).filter(|i| !have.contains(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        bail!("missing shard(s) {} of {}", missing.join(", "), first.shard_count);
    }
    let mut next = 0;
    for &i in &order {
        if items[i].1.first != next {
            bail!("{}: starts at shower {} but {} was expected", items[i].0.display(), items[i].1.first, next);
        }
        next += items[i].1.count;
    }
    if next != first.total {
        bail!("shards hold {next} showers but the run has {}", first.total);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ranges_tile_the_run() {
        for total in [0usize, 1, 7, 100, 1001] {
            for count in [1usize, 3, 4, 16] {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.range(total);
                    assert_eq!(r.start, next);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
        assert!("4/4".parse::<Shard>().is_err());
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard { index: 1, count: 4 });
    }

    #[test]
    fn shard_checks() {
        let sc = |i: usize, first: usize, count: usize| Sidecar { run_id: "r".into(), seed: 1, model_hash: "m".into(), shard_index: i, shard_count: 3, first, count, total: 9 };
        let ok = vec![(PathBuf::from("c"), sc(2, 6, 3)), (PathBuf::from("a"), sc(0, 0, 3)), (PathBuf::from("b"), sc(1, 3, 3))];
        assert_eq!(check_shards(&ok).unwrap(), vec![1, 2, 0]);
        let e = check_shards(&ok[..2]).unwrap_err().to_string();
        assert!(e.contains("missing shard(s) 1"), "{e}");
        let dup = vec![ok[0].clone(), ok[1].clone(), ok[1].clone()];
        assert!(check_shards(&dup).unwrap_err().to_string().contains("twice"));
        let mut other = ok.clone();
        other[0].1.run_id = "x".into();
        assert!(check_shards(&other).unwrap_err().to_string().contains("another run"));
    }
}
