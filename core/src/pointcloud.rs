//! Voxel showers <-> point clouds.
//!
//! A point is `[E (MeV), x (mm), y (mm), layer id]`, one per voxel above a threshold, at the
//! voxel centre. Back to voxels, a point is binned by radius `r = sqrt(x^2 + y^2)` into
//! half-open intervals `[r_i, r_{i+1})`, by angle `atan2(y, x)` into `n_alpha` equal half-open
//! bins starting at -pi (an angle of exactly +pi wraps to bin 0, since it equals -pi), and by
//! layer to the nearest integer layer id. Points outside the geometry (radius at or beyond the
//! last edge, a layer id without voxels, non-finite coordinates) are dropped and counted.
//! Points that land in the same voxel have their energies summed. Every bin is kept — including
//! index 1, which the upstream digitiser dropped by mistake.

use std::f64::consts::PI;

use crate::geometry::Geometry;

/// A point of a shower: `[E (MeV), x (mm), y (mm), layer id]`.
pub type Point = [f32; 4];

/// Per-voxel centre coordinates of a geometry, for fast voxel -> point conversion.
#[derive(Debug, Clone)]
pub struct VoxelTable {
    /// x of each voxel centre, mm.
    pub x: Vec<f32>,
    /// y of each voxel centre, mm.
    pub y: Vec<f32>,
    /// Layer id of each voxel.
    pub layer: Vec<f32>,
}

impl VoxelTable {
    /// Builds the table for `geometry`.
    pub fn new(geometry: &Geometry) -> Self {
        let v = geometry.voxels();
        Self {
            x: v.iter().map(|v| v.x as f32).collect(),
            y: v.iter().map(|v| v.y as f32).collect(),
            layer: v.iter().map(|v| v.layer as f32).collect(),
        }
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The points of one shower: every voxel with energy strictly above `threshold` (MeV).
    pub fn to_points(&self, voxels: &[f32], threshold: f32) -> Vec<Point> {
        voxels
            .iter()
            .enumerate()
            .filter(|(_, &e)| e > threshold)
            .map(|(i, &e)| [e, self.x[i], self.y[i], self.layer[i]])
            .collect()
    }

    /// Number of voxels of one shower strictly above `threshold`.
    pub fn count_hits(voxels: &[f32], threshold: f32) -> usize {
        voxels.iter().filter(|&&e| e > threshold).count()
    }
}

/// Bins points back into a geometry.
#[derive(Debug, Clone)]
pub struct Voxelizer {
    /// For each layer id up to the maximum: (offset, r_edges, n_alpha), or None if no voxels.
    layers: Vec<Option<(usize, Vec<f64>, usize)>>,
    n_voxels: usize,
}

/// Outcome of voxelising one shower.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoxelizeStats {
    /// Points binned into a voxel.
    pub kept: usize,
    /// Points outside the geometry (dropped).
    pub dropped: usize,
}

impl Voxelizer {
    /// Builds the binning tables for `geometry`.
    pub fn new(geometry: &Geometry) -> Self {
        let max_id = geometry.layers.iter().map(|l| l.id).max().unwrap_or(0);
        let mut layers = vec![None; max_id + 1];
        for l in geometry.relevant_layers() {
            layers[l.id] = Some((l.offset, l.r_edges.clone(), l.n_alpha));
        }
        Self { layers, n_voxels: geometry.n_voxels }
    }

    /// Flat voxel index of a point position, or `None` when outside the geometry.
    pub fn index_of(&self, x: f64, y: f64, layer: f64) -> Option<usize> {
        if !(x.is_finite() && y.is_finite() && layer.is_finite()) {
            return None;
        }
        let lid = layer.round();
        if lid < 0.0 || lid >= self.layers.len() as f64 {
            return None;
        }
        let (offset, edges, n_alpha) = self.layers[lid as usize].as_ref()?;
        let r = (x * x + y * y).sqrt();
        if r < edges[0] || r >= edges[edges.len() - 1] {
            return None;
        }
        // Half-open [r_i, r_{i+1}): number of edges <= r, minus one.
        let r_bin = edges.partition_point(|&e| e <= r) - 1;
        let n_r = edges.len() - 1;
        let a_bin = if *n_alpha == 1 {
            0
        } else {
            let a = y.atan2(x); // (-pi, pi]
            let w = 2.0 * PI / *n_alpha as f64;
            let b = ((a + PI) / w).floor() as usize;
            if b >= *n_alpha {
                0
            } else {
                b
            }
        };
        Some(offset + a_bin * n_r + r_bin)
    }

    /// Adds the energies of `points` into `out` (len n_voxels, zeroed by the caller), summing
    /// points that share a voxel. Non-positive or non-finite energies are dropped.
    pub fn add_points(&self, points: &[Point], out: &mut [f32]) -> VoxelizeStats {
        debug_assert_eq!(out.len(), self.n_voxels);
        let mut st = VoxelizeStats::default();
        for p in points {
            let e = p[0];
            match self.index_of(p[1] as f64, p[2] as f64, p[3] as f64) {
                Some(i) if e.is_finite() && e > 0.0 => {
                    out[i] += e;
                    st.kept += 1;
                }
                _ => st.dropped += 1,
            }
        }
        st
    }

    /// Number of voxels of the geometry.
    pub fn n_voxels(&self) -> usize {
        self.n_voxels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::GeometryKind;
    use crate::rng::{Purpose, Stream};

    fn random_shower(n_voxels: usize, seed: u64) -> Vec<f32> {
        let mut s = Stream::new(seed, 0, Purpose::Simulate);
        (0..n_voxels)
            .map(|_| if s.uniform() < 0.3 { (s.exponential(50.0) + 0.01) as f32 } else { 0.0 })
            .collect()
    }

    #[test]
    fn voxels_points_voxels_round_trip_is_exact() {
        for kind in [GeometryKind::Ds1Photons, GeometryKind::Ds2, GeometryKind::Ds1Pions, GeometryKind::Ds3] {
            let g = kind.geometry();
            let table = VoxelTable::new(&g);
            let vox = Voxelizer::new(&g);
            // every voxel set: each voxel maps back to itself
            for i in 0..g.n_voxels {
                assert_eq!(vox.index_of(table.x[i] as f64, table.y[i] as f64, table.layer[i] as f64), Some(i), "{kind} voxel {i}");
            }
            let shower = random_shower(g.n_voxels, 5);
            let pts = table.to_points(&shower, 0.0);
            assert_eq!(pts.len(), VoxelTable::count_hits(&shower, 0.0));
            let mut back = vec![0.0f32; g.n_voxels];
            let st = vox.add_points(&pts, &mut back);
            assert_eq!(st.dropped, 0);
            assert_eq!(back, shower, "{kind}");
        }
    }

    #[test]
    fn binning_convention_and_drops() {
        let g = GeometryKind::Ds2.geometry();
        let vox = Voxelizer::new(&g);
        // r exactly on an inner edge goes to the upper bin; the outer edge is outside
        assert_eq!(vox.index_of(4.65, 0.0, 0.0).map(|i| i % 9), Some(1));
        assert_eq!(vox.index_of(41.85, 0.0, 0.0), None);
        assert_eq!(vox.index_of(0.0, 0.0, 45.0), None);
        assert_eq!(vox.index_of(1.0, 0.0, -0.6), None);
        assert_eq!(vox.index_of(f64::NAN, 0.0, 1.0), None);
        // layer 0.6 rounds to layer 1; index 1 bins are kept (upstream bug not repeated)
        assert_eq!(vox.index_of(5.0, 0.0, 0.6).map(|i| (i / 144, i % 9)), Some((1, 1)));
        // angle +pi (x < 0, y = 0) wraps to bin 0 (same as -pi)
        assert_eq!(vox.index_of(-1.0, 0.0, 0.0), Some(0));
        // two points in the same voxel are summed
        let mut out = vec![0.0; g.n_voxels];
        let st = vox.add_points(&[[1.0, 1.0, 0.1, 3.0], [2.5, 1.1, 0.1, 3.0], [4.0, 100.0, 0.0, 3.0]], &mut out);
        assert_eq!(st, VoxelizeStats { kept: 2, dropped: 1 });
        let i = vox.index_of(1.0, 0.1, 3.0).unwrap();
        assert_eq!(out[i], 3.5);
        assert_eq!(out.iter().sum::<f32>(), 3.5);
    }
}

#[cfg(test)]
mod zero_layer_tests {
    use super::*;
    use crate::geometry::GeometryKind;
    use crate::transform::Transform;

    #[test]
    fn an_empty_layer_stays_empty_through_transform_and_binning() {
        // a ds2 shower with energy only in layer 3: every other layer must come back exactly 0
        let g = GeometryKind::Ds2.geometry();
        let table = VoxelTable::new(&g);
        let vox = Voxelizer::new(&g);
        let mut shower = vec![0f32; g.n_voxels];
        for a in 0..16 {
            shower[g.index(3, a, 2).unwrap()] = 1.5 + a as f32;
        }
        let t = Transform::for_geometry(GeometryKind::Ds2);
        let e_inc = 50_000.0;
        let pts: Vec<Point> = table.to_points(&shower, 0.0).iter().map(|p| t.inverse(&t.forward(p, e_inc), e_inc)).collect();
        let mut back = vec![0f32; g.n_voxels];
        vox.add_points(&pts, &mut back);
        assert!(back.iter().all(|v| v.is_finite()));
        for l in g.relevant_layers() {
            let sum: f32 = back[l.offset..l.offset + l.n_voxels()].iter().sum();
            if l.id == 3 {
                assert!((sum - shower.iter().sum::<f32>()).abs() < 1e-3);
            } else {
                assert_eq!(sum, 0.0, "layer {}", l.id);
            }
        }
    }
}
