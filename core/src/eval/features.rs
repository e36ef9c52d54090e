//! CaloChallenge high-level features per shower (the quantities of the official
//! `HighLevelFeatures.py`), accumulated chunk by chunk.

use std::collections::BTreeMap;

use crate::error::CoreError;
use crate::geometry::Geometry;

/// Added to energy sums in denominators, as the official code does.
pub const EPS_DENOM: f64 = 1e-16;

/// Sets every voxel strictly below `threshold` (MeV) to zero, as the official evaluation does
/// for both files before any metric (`showers[showers < min_energy] = 0`).
pub fn apply_threshold(showers: &mut [f32], threshold: f32) {
    for v in showers.iter_mut() {
        if *v < threshold {
            *v = 0.0;
        }
    }
}

/// Voxel positions of one relevant layer.
#[derive(Debug, Clone)]
struct LayerInfo {
    id: usize,
    offset: usize,
    /// Whether the layer is binned in angle (`n_alpha > 1`).
    binned_in_alpha: bool,
    x: Vec<f64>,
    y: Vec<f64>,
    r: Vec<f64>,
}

/// High-level features of a set of showers, one value per shower in every table.
///
/// Tables are keyed by layer id. `ec_x`, `ec_y`, `width_x`, `width_y` exist for the layers binned
/// in angle only; `e_layer`, `ec_r`, `width_r`, `sparsity` for every relevant layer. Definitions
/// (per shower, per layer, E_v the thresholded voxel energies, x_v, y_v, r_v the voxel centres):
/// - `e_tot = sum_v E_v`, `e_layer = sum_{v in l} E_v`;
/// - `ec_x = sum x_v E_v / (E_layer + 1e-16)`, `width_x = sqrt(max(0, sum x_v^2 E_v / (E_layer +
///   1e-16) - ec_x^2))`, the same for y and r;
/// - `sparsity = 1 - (number of voxels with E_v > 0) / (number of voxels of the layer)`.
#[derive(Debug, Clone)]
pub struct HighLevel {
    layers: Vec<LayerInfo>,
    n_voxels: usize,
    /// Incident energy per shower, MeV.
    pub e_inc: Vec<f64>,
    /// Total deposited energy per shower, MeV.
    pub e_tot: Vec<f64>,
    /// Energy per layer, MeV.
    pub e_layer: BTreeMap<usize, Vec<f64>>,
    /// Centre of energy in x (the challenge's "eta"), mm; layers binned in angle.
    pub ec_x: BTreeMap<usize, Vec<f64>>,
    /// Centre of energy in y (the challenge's "phi"), mm; layers binned in angle.
    pub ec_y: BTreeMap<usize, Vec<f64>>,
    /// Width in x, mm; layers binned in angle.
    pub width_x: BTreeMap<usize, Vec<f64>>,
    /// Width in y, mm; layers binned in angle.
    pub width_y: BTreeMap<usize, Vec<f64>>,
    /// Radial centre of energy, mm.
    pub ec_r: BTreeMap<usize, Vec<f64>>,
    /// Radial width, mm.
    pub width_r: BTreeMap<usize, Vec<f64>>,
    /// Sparsity: fraction of the layer's voxels without energy.
    pub sparsity: BTreeMap<usize, Vec<f64>>,
}

impl HighLevel {
    /// An empty accumulator for showers of `geometry`.
    pub fn new(geometry: &Geometry) -> Self {
        let voxels = geometry.voxels();
        let mut layers = Vec::new();
        let (mut e_layer, mut ec_x, mut ec_y, mut width_x, mut width_y) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let (mut ec_r, mut width_r, mut sparsity) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for l in geometry.relevant_layers() {
            let vs = &voxels[l.offset..l.offset + l.n_voxels()];
            let binned_in_alpha = l.n_alpha > 1;
            layers.push(LayerInfo {
                id: l.id,
                offset: l.offset,
                binned_in_alpha,
                x: vs.iter().map(|v| v.x).collect(),
                y: vs.iter().map(|v| v.y).collect(),
                r: vs.iter().map(|v| v.r).collect(),
            });
            e_layer.insert(l.id, Vec::new());
            ec_r.insert(l.id, Vec::new());
            width_r.insert(l.id, Vec::new());
            sparsity.insert(l.id, Vec::new());
            if binned_in_alpha {
                ec_x.insert(l.id, Vec::new());
                ec_y.insert(l.id, Vec::new());
                width_x.insert(l.id, Vec::new());
                width_y.insert(l.id, Vec::new());
            }
        }
        Self {
            layers,
            n_voxels: geometry.n_voxels,
            e_inc: Vec::new(),
            e_tot: Vec::new(),
            e_layer,
            ec_x,
            ec_y,
            width_x,
            width_y,
            ec_r,
            width_r,
            sparsity,
        }
    }

    /// Number of voxels per shower expected by [`HighLevel::push_chunk`].
    pub fn n_voxels(&self) -> usize {
        self.n_voxels
    }

    /// Number of showers accumulated.
    pub fn len(&self) -> usize {
        self.e_inc.len()
    }

    /// Whether no shower was accumulated.
    pub fn is_empty(&self) -> bool {
        self.e_inc.is_empty()
    }

    /// Ids of the relevant layers, in geometry order.
    pub fn layer_ids(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.id).collect()
    }

    /// Ids of the layers binned in angle (`n_alpha > 1`), in geometry order.
    pub fn alpha_layer_ids(&self) -> Vec<usize> {
        self.layers.iter().filter(|l| l.binned_in_alpha).map(|l| l.id).collect()
    }

    /// Adds the features of a chunk of showers: `energies_mev` (one per shower) and `showers`
    /// row-major (`energies_mev.len() * n_voxels` values, MeV, already thresholded).
    ///
    /// Fails with [`CoreError::Data`] when the lengths do not match.
    pub fn push_chunk(&mut self, energies_mev: &[f64], showers: &[f32]) -> Result<(), CoreError> {
        let n = energies_mev.len();
        if showers.len() != n * self.n_voxels {
            return Err(CoreError::Data(format!(
                "{} voxel values for {n} showers of {} voxels",
                showers.len(),
                self.n_voxels
            )));
        }
        self.e_inc.extend_from_slice(energies_mev);
        for row in showers.chunks_exact(self.n_voxels.max(1)).take(n) {
            self.e_tot.push(row.iter().map(|&v| v as f64).sum());
            for l in &self.layers {
                let data = &row[l.offset..l.offset + l.r.len()];
                let (mut s, mut sr, mut srr, mut hits) = (0.0f64, 0.0f64, 0.0f64, 0usize);
                let (mut sx, mut sxx, mut sy, mut syy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
                if l.binned_in_alpha {
                    for (i, &v) in data.iter().enumerate() {
                        let e = v as f64;
                        if v > 0.0 {
                            hits += 1;
                        }
                        let (x, y, r) = (l.x[i], l.y[i], l.r[i]);
                        s += e;
                        sr += r * e;
                        srr += r * r * e;
                        sx += x * e;
                        sxx += x * x * e;
                        sy += y * e;
                        syy += y * y * e;
                    }
                } else {
                    for (i, &v) in data.iter().enumerate() {
                        let e = v as f64;
                        if v > 0.0 {
                            hits += 1;
                        }
                        let r = l.r[i];
                        s += e;
                        sr += r * e;
                        srr += r * r * e;
                    }
                }
                let d = s + EPS_DENOM;
                let centre_width = |a: f64, aa: f64| {
                    let c = a / d;
                    (c, (aa / d - c * c).max(0.0).sqrt())
                };
                let push = |m: &mut BTreeMap<usize, Vec<f64>>, v: f64| m.get_mut(&l.id).expect("layer table").push(v);
                push(&mut self.e_layer, s);
                let (c, w) = centre_width(sr, srr);
                push(&mut self.ec_r, c);
                push(&mut self.width_r, w);
                push(&mut self.sparsity, 1.0 - hits as f64 / data.len() as f64);
                if l.binned_in_alpha {
                    let (c, w) = centre_width(sx, sxx);
                    push(&mut self.ec_x, c);
                    push(&mut self.width_x, w);
                    let (c, w) = centre_width(sy, syy);
                    push(&mut self.ec_y, c);
                    push(&mut self.width_y, w);
                }
            }
        }
        Ok(())
    }

    /// Appends the showers of `other` (same geometry) after those of `self`, e.g. to merge
    /// features computed in parallel on consecutive pieces of a chunk.
    ///
    /// Fails with [`CoreError::Data`] when the geometries differ.
    pub fn append(&mut self, other: HighLevel) -> Result<(), CoreError> {
        if self.layer_ids() != other.layer_ids() || self.n_voxels != other.n_voxels {
            return Err(CoreError::Data("cannot merge high-level features of different geometries".into()));
        }
        self.e_inc.extend(other.e_inc);
        self.e_tot.extend(other.e_tot);
        for (dst, src) in [
            (&mut self.e_layer, other.e_layer),
            (&mut self.ec_x, other.ec_x),
            (&mut self.ec_y, other.ec_y),
            (&mut self.width_x, other.width_x),
            (&mut self.width_y, other.width_y),
            (&mut self.ec_r, other.ec_r),
            (&mut self.width_r, other.width_r),
            (&mut self.sparsity, other.sparsity),
        ] {
            for (k, v) in src {
                dst.entry(k).or_default().extend(v);
            }
        }
        Ok(())
    }

    /// Number of columns of [`HighLevel::feature_matrix`]: `1 + L + 4 La + 1 + 3 L` with L
    /// relevant layers and La layers binned in angle (362 for ds2).
    pub fn n_features(&self) -> usize {
        let l = self.layers.len();
        let la = self.layers.iter().filter(|l| l.binned_in_alpha).count();
        2 + 4 * l + 4 * la
    }

    /// Names of the columns of [`HighLevel::feature_matrix`], in order.
    pub fn feature_names(&self) -> Vec<String> {
        let ids = self.layer_ids();
        let aids = self.alpha_layer_ids();
        let mut names = vec!["log10(E_inc)".to_string()];
        names.extend(ids.iter().map(|l| format!("log10(E_layer[{l}]+1e-8)")));
        for what in ["EC_x", "EC_y", "W_x", "W_y"] {
            names.extend(aids.iter().map(|l| format!("{what}[{l}]/100")));
        }
        names.push("log10(E_tot+1e-8)".to_string());
        names.extend(ids.iter().map(|l| format!("sparsity[{l}]")));
        names.extend(ids.iter().map(|l| format!("EC_r[{l}]/100")));
        names.extend(ids.iter().map(|l| format!("W_r[{l}]/100")));
        names
    }

    /// The high-level classifier input (also the FPD/KPD feature vector), row-major with
    /// [`HighLevel::n_features`] columns per shower, in this order (energies in MeV, lengths
    /// in mm, each block over layer ids in increasing order):
    ///
    /// `[log10 E_inc, log10(E_layer + 1e-8) (all layers), EC_x/100, EC_y/100, W_x/100, W_y/100
    /// (layers binned in angle), log10(E_tot + 1e-8), sparsity, EC_r/100, W_r/100 (all layers)]`
    ///
    /// — the official `prepare_high_data_for_classifier` order, extended by sparsity and the
    /// radial features as in the current challenge code.
    pub fn feature_matrix(&self) -> Vec<f64> {
        let n = self.len();
        let nf = self.n_features();
        let mut out = Vec::with_capacity(n * nf);
        let ids = self.layer_ids();
        let aids = self.alpha_layer_ids();
        for i in 0..n {
            out.push(self.e_inc[i].log10());
            out.extend(ids.iter().map(|l| (self.e_layer[l][i] + 1e-8).log10()));
            for m in [&self.ec_x, &self.ec_y, &self.width_x, &self.width_y] {
                out.extend(aids.iter().map(|l| m[l][i] / 100.0));
            }
            out.push((self.e_tot[i] + 1e-8).log10());
            out.extend(ids.iter().map(|l| self.sparsity[l][i]));
            out.extend(ids.iter().map(|l| self.ec_r[l][i] / 100.0));
            out.extend(ids.iter().map(|l| self.width_r[l][i] / 100.0));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::GeometryKind;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + b.abs())
    }

    #[test]
    fn threshold_zeroes_below_only() {
        let mut v = [0.5f32, 1.0, 1.5, 0.0];
        apply_threshold(&mut v, 1.0);
        assert_eq!(v, [0.0, 1.0, 1.5, 0.0]);
    }

    /// Two hand-made ds2 showers with known features.
    #[test]
    fn ds2_exact_features() {
        let g = GeometryKind::Ds2.geometry();
        let mut hl = HighLevel::new(&g);
        let nv = g.n_voxels;
        let mut showers = vec![0.0f32; 2 * nv];
        // Shower 0: layer 0, 2 MeV at (alpha 0, r 0) and 2 MeV at (alpha 8, r 0) — opposite
        // angles (alpha centres -pi + pi/16 and pi/16), both at r = 2.325 mm.
        showers[g.index(0, 0, 0).unwrap()] = 2.0;
        showers[g.index(0, 8, 0).unwrap()] = 2.0;
        // Layer 3: 1 MeV at r bin 0 and 3 MeV at r bin 2 (centres 2.325 and 11.625 mm), alpha 4.
        showers[g.index(3, 4, 0).unwrap()] = 1.0;
        showers[g.index(3, 4, 2).unwrap()] = 3.0;
        // Shower 1: 5 MeV in a single voxel of layer 44 (alpha 12, r 8 -> centre 39.525 mm).
        showers[nv + g.index(44, 12, 8).unwrap()] = 5.0;
        hl.push_chunk(&[1000.0, 2000.0], &showers).unwrap();

        assert_eq!(hl.len(), 2);
        assert_eq!(hl.e_inc, vec![1000.0, 2000.0]);
        assert_eq!(hl.e_tot, vec![8.0, 5.0]);
        assert_eq!(hl.e_layer[&0], vec![4.0, 0.0]);
        assert_eq!(hl.e_layer[&3], vec![4.0, 0.0]);
        assert_eq!(hl.e_layer[&44], vec![0.0, 5.0]);

        // Layer 0: symmetric pair -> centres 0, radial centre 2.325, radial width 0.
        let a0 = -std::f64::consts::PI + std::f64::consts::PI / 16.0;
        let r0 = 2.325;
        assert!(hl.ec_x[&0][0].abs() < 1e-12 && hl.ec_y[&0][0].abs() < 1e-12);
        assert!(close(hl.width_x[&0][0], r0 * a0.cos().abs()));
        assert!(close(hl.width_y[&0][0], r0 * a0.sin().abs()));
        assert!(close(hl.ec_r[&0][0], r0));
        assert!(hl.width_r[&0][0] < 1e-6);
        assert!(close(hl.sparsity[&0][0], 1.0 - 2.0 / 144.0));

        // Layer 3: r = (1 * 2.325 + 3 * 11.625) / 4 = 9.3; <r^2> - 9.3^2 = 16.2151875... -> width.
        let (ra, rb) = (2.325f64, 11.625f64);
        let ec = (ra + 3.0 * rb) / 4.0;
        let w = ((ra * ra + 3.0 * rb * rb) / 4.0 - ec * ec).sqrt();
        assert!(close(hl.ec_r[&3][0], ec) && close(hl.width_r[&3][0], w));
        let a4 = -std::f64::consts::PI + 4.5 * std::f64::consts::PI / 8.0;
        assert!(close(hl.ec_x[&3][0], ec * a4.cos()) && close(hl.ec_y[&3][0], ec * a4.sin()));
        assert!(close(hl.width_x[&3][0], w * a4.cos().abs()));

        // Empty layers: everything 0, sparsity 1.
        assert_eq!((hl.ec_r[&10][0], hl.width_r[&10][0], hl.sparsity[&10][0]), (0.0, 0.0, 1.0));
        // Shower 1, layer 44: a single voxel at 39.525 mm, width 0.
        assert!(close(hl.ec_r[&44][1], 39.525));
        assert!(hl.width_r[&44][1] < 1e-5 && hl.width_x[&44][1] < 1e-5);
        assert!(close(hl.sparsity[&44][1], 143.0 / 144.0));

        // Feature matrix: 362 columns for ds2, in the documented order.
        assert_eq!(hl.n_features(), 362);
        assert_eq!(hl.feature_names().len(), 362);
        let m = hl.feature_matrix();
        assert_eq!(m.len(), 2 * 362);
        assert!(close(m[0], 3.0));
        assert!(close(m[1], (4.0f64 + 1e-8).log10()));
        assert!(close(m[1 + 45 + 3], hl.ec_x[&3][0] / 100.0));
        assert!(close(m[1 + 45 + 4 * 45], (8.0f64 + 1e-8).log10()));
        assert!(close(m[362 + 1 + 45 + 4 * 45 + 1 + 44], 143.0 / 144.0));
        assert!(m[362 + 361].abs() < 1e-7);
        assert!(close(m[362 + 362 - 46], 39.525 / 100.0));
    }

    #[test]
    fn ds1_no_xy_for_unbinned_layers() {
        let g = GeometryKind::Ds1Photons.geometry();
        let hl = HighLevel::new(&g);
        assert_eq!(hl.alpha_layer_ids(), vec![1, 2]);
        assert_eq!(hl.layer_ids(), vec![0, 1, 2, 3, 12]);
        assert!(!hl.ec_x.contains_key(&0) && hl.ec_r.contains_key(&12));
        assert_eq!(hl.n_features(), 2 + 4 * 5 + 4 * 2);
    }

    #[test]
    fn chunked_equals_one_shot_and_append() {
        let g = GeometryKind::Ds1Photons.geometry();
        let n = 7;
        let nv = g.n_voxels;
        let energies: Vec<f64> = (0..n).map(|i| 256.0 * (i + 1) as f64).collect();
        let showers: Vec<f32> = (0..n * nv).map(|i| ((i * 7919) % 13) as f32 * 0.37).collect();
        let mut one = HighLevel::new(&g);
        one.push_chunk(&energies, &showers).unwrap();
        let mut chunked = HighLevel::new(&g);
        for (e, s) in energies.chunks(3).zip(showers.chunks(3 * nv)) {
            chunked.push_chunk(e, s).unwrap();
        }
        assert_eq!(one.feature_matrix(), chunked.feature_matrix());
        let mut a = HighLevel::new(&g);
        a.push_chunk(&energies[..4], &showers[..4 * nv]).unwrap();
        let mut b = HighLevel::new(&g);
        b.push_chunk(&energies[4..], &showers[4 * nv..]).unwrap();
        a.append(b).unwrap();
        assert_eq!(one.feature_matrix(), a.feature_matrix());
        assert!(one.push_chunk(&[1.0], &showers[..3]).is_err());
    }
}
