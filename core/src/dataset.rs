//! Training data as point clouds: conversion from voxels, splits, batches grouped by hit count.

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::geometry::Geometry;
use crate::pointcloud::{Point, VoxelTable};
use crate::rng::{Purpose, Stream};
use crate::transform::Transform;

/// Showers as physical point clouds with their incident energies.
#[derive(Debug, Clone, Default)]
pub struct PointDataset {
    /// Physical points `[E MeV, x mm, y mm, layer]` of each shower (at least one each).
    pub showers: Vec<Vec<Point>>,
    /// Incident energy of each shower, MeV.
    pub e_inc: Vec<f64>,
    /// Index of each shower in the source file.
    pub source_index: Vec<usize>,
}

impl PointDataset {
    /// Converts voxel showers (row-major, MeV) to point clouds, keeping voxels above
    /// `threshold` MeV; showers left without hits are skipped.
    pub fn from_voxels(geometry: &Geometry, energies: &[f64], voxels: &[f32], threshold: f32) -> Result<Self, CoreError> {
        let nv = geometry.n_voxels;
        if voxels.len() != energies.len() * nv {
            return Err(CoreError::Data(format!("{} voxel values for {} showers of {nv} voxels", voxels.len(), energies.len())));
        }
        let table = VoxelTable::new(geometry);
        let mut ds = PointDataset::default();
        for (i, (row, &e)) in voxels.chunks(nv).zip(energies).enumerate() {
            let pts = table.to_points(row, threshold);
            if !pts.is_empty() {
                ds.showers.push(pts);
                ds.e_inc.push(e);
                ds.source_index.push(i);
            }
        }
        if ds.showers.is_empty() {
            return Err(CoreError::Data(format!("no shower has a voxel above {threshold} MeV")));
        }
        Ok(ds)
    }

    /// Number of showers.
    pub fn len(&self) -> usize {
        self.showers.len()
    }

    /// Whether there are no showers.
    pub fn is_empty(&self) -> bool {
        self.showers.is_empty()
    }

    /// The sub-dataset at `idx`.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            showers: idx.iter().map(|&i| self.showers[i].clone()).collect(),
            e_inc: idx.iter().map(|&i| self.e_inc[i]).collect(),
            source_index: idx.iter().map(|&i| self.source_index[i]).collect(),
        }
    }

    /// Splits into (train, validation) once, by seed: `val_fraction` of the showers (at least
    /// one when there are two or more) go to validation.
    pub fn split(&self, val_fraction: f64, seed: u64) -> (Self, Self) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        shuffle(&mut idx, &mut Stream::new(seed, 0, Purpose::Split));
        let mut n_val = (self.len() as f64 * val_fraction).round() as usize;
        if val_fraction > 0.0 && n_val == 0 && self.len() >= 2 {
            n_val = 1;
        }
        let (val, train) = idx.split_at(n_val.min(self.len()));
        let (mut train, mut val) = (train.to_vec(), val.to_vec());
        train.sort_unstable();
        val.sort_unstable();
        (self.subset(&train), self.subset(&val))
    }
}

/// Fisher–Yates shuffle with a tdsm stream.
pub fn shuffle<T>(v: &mut [T], rng: &mut Stream) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// A padded batch on the host, ready to upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostBatch {
    /// Number of showers.
    pub batch: usize,
    /// Padded number of points.
    pub n_points: usize,
    /// Model-space points, `[batch, n_points, 4]` row-major, zero on padding.
    pub x: Vec<f32>,
    /// `[batch, n_points]`: 1 real, 0 padding.
    pub mask: Vec<f32>,
    /// Conditioning value per shower.
    pub cond: Vec<f32>,
    /// Number of real points per shower.
    pub n_real: Vec<usize>,
}

impl HostBatch {
    /// Pads transformed showers into one batch.
    pub fn collate(ds: &PointDataset, idx: &[usize], transform: &Transform) -> Self {
        let n_points = idx.iter().map(|&i| ds.showers[i].len()).max().unwrap_or(1).max(1);
        let b = idx.len();
        let mut x = vec![0f32; b * n_points * 4];
        let mut mask = vec![0f32; b * n_points];
        let mut cond = Vec::with_capacity(b);
        let mut n_real = Vec::with_capacity(b);
        for (r, &i) in idx.iter().enumerate() {
            let e = ds.e_inc[i];
            for (j, p) in ds.showers[i].iter().enumerate() {
                let q = transform.forward(p, e);
                x[(r * n_points + j) * 4..(r * n_points + j) * 4 + 4].copy_from_slice(&q);
                mask[r * n_points + j] = 1.0;
            }
            cond.push(transform.condition(e));
            n_real.push(ds.showers[i].len());
        }
        Self { batch: b, n_points, x, mask, cond, n_real }
    }

    /// The showers `rows` of this batch, with the same padding.
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Self {
        let (n, r) = (self.n_points, rows.clone());
        Self {
            batch: r.len(),
            n_points: n,
            x: self.x[r.start * n * 4..r.end * n * 4].to_vec(),
            mask: self.mask[r.start * n..r.end * n].to_vec(),
            cond: self.cond[rows.clone()].to_vec(),
            n_real: self.n_real[rows].to_vec(),
        }
    }

    /// Fraction of padded entries.
    pub fn padding_fraction(&self) -> f64 {
        1.0 - self.n_real.iter().sum::<usize>() as f64 / (self.batch * self.n_points).max(1) as f64
    }
}

/// The batches of one epoch: shuffled, then grouped by hit count inside windows of
/// `window` batches so padding stays small while the order stays random.
pub fn epoch_batches(n_hits: &[usize], batch: usize, window: usize, seed: u64, epoch: u64) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut rng = Stream::sub(seed, epoch, Purpose::Train, 0xBA7C);
    let mut idx: Vec<usize> = (0..n_hits.len()).collect();
    shuffle(&mut idx, &mut rng);
    let mut out = Vec::new();
    for w in idx.chunks(batch * window.max(1)) {
        let mut w = w.to_vec();
        w.sort_by_key(|&i| n_hits[i]);
        out.extend(w.chunks(batch).map(|c| c.to_vec()));
    }
    shuffle(&mut out, &mut rng);
    out
}

/// Batches for evaluation or generation: sorted by hit count, cut into `batch`-sized groups.
pub fn sorted_batches(n_hits: &[usize], batch: usize) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n_hits.len()).collect();
    idx.sort_by_key(|&i| (n_hits[i], i));
    idx.chunks(batch.max(1)).map(|c| c.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::GeometryKind;

    #[test]
    fn grouped_batches_keep_padding_small_and_cover_everything() {
        let mut s = Stream::new(4, 0, Purpose::Simulate);
        let n: Vec<usize> = (0..5000).map(|_| 1 + s.below(400) as usize).collect();
        let batches = epoch_batches(&n, 64, 20, 1, 0);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..5000).collect::<Vec<_>>());
        let (mut real, mut padded) = (0usize, 0usize);
        for b in &batches {
            let m = b.iter().map(|&i| n[i]).max().unwrap();
            real += b.iter().map(|&i| n[i]).sum::<usize>();
            padded += m * b.len();
        }
        let frac = 1.0 - real as f64 / padded as f64;
        assert!(frac < 0.2, "padding fraction {frac}");
        assert_ne!(epoch_batches(&n, 64, 20, 1, 0), epoch_batches(&n, 64, 20, 1, 1));
        assert_eq!(epoch_batches(&n, 64, 20, 1, 3), epoch_batches(&n, 64, 20, 1, 3));
    }

    #[test]
    fn split_is_fixed_by_seed_and_disjoint() {
        let g = GeometryKind::Ds1Photons.geometry();
        let e: Vec<f64> = (0..50).map(|i| 1000.0 + i as f64).collect();
        let mut v = vec![0f32; 50 * 368];
        for i in 0..50 {
            v[i * 368 + (i % 368)] = 5.0;
        }
        v[3 * 368 + 3] = 0.0; // shower 3 has no hit: skipped
        let ds = PointDataset::from_voxels(&g, &e, &v, 1.0).unwrap();
        assert_eq!(ds.len(), 49);
        let (a, b) = ds.split(0.2, 7);
        let (a2, b2) = ds.split(0.2, 7);
        assert_eq!(a.source_index, a2.source_index);
        assert_eq!(b.source_index, b2.source_index);
        assert_eq!(a.len() + b.len(), 49);
        assert_eq!(b.len(), 10);
        assert!(a.source_index.iter().all(|i| !b.source_index.contains(i)));
        let hb = HostBatch::collate(&ds, &[0, 1], &Transform::for_geometry(GeometryKind::Ds1Photons));
        assert_eq!((hb.batch, hb.n_points, hb.mask.clone()), (2, 1, vec![1.0, 1.0]));
    }
}
