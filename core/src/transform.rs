//! Point-cloud preprocessing used by the model, each step with an exact inverse and its
//! log-Jacobian.
//!
//! Forward, per point `[E, x, y, layer]` of a shower with incident energy `E_inc` (MeV):
//! - hit energy: `E' = logit(alpha + (1 - 2 alpha) E / (2 E_inc))`, `alpha = 1e-6`;
//! - x, y: `u = sigmoid(k x)`, a scaled sigmoid with slope `k` per mm (ds2/ds3, upstream), or
//!   `u = asinh(x / s)` for ds1, whose radii span 2 mm to 2 m;
//! - layer: `z' = (layer - layer_min) / (layer_max - layer_min)`;
//! - then every feature is standardised, `(v - mean) / std`, with constants fitted on the
//!   training set (identity when not fitted).
//!
//! The incident energy is conditioned on `(ln E_inc - ln E_min) / (ln E_max - ln E_min)`
//! (log scale, default) or linearly. All constants are serialised with a model.

use serde::{Deserialize, Serialize};

use crate::geometry::GeometryKind;
use crate::pointcloud::Point;

/// How the incident energy is mapped to the conditioning value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyScale {
    /// `(ln E - ln E_min) / (ln E_max - ln E_min)`.
    Log,
    /// `(E - E_min) / (E_max - E_min)` (upstream).
    Linear,
}

/// How x and y (mm) are mapped before standardisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum XyMap {
    /// `u = sigmoid(slope * x)` (upstream, slope 0.07/mm for ds2/ds3).
    Sigmoid {
        /// Slope per mm.
        slope: f64,
    },
    /// `u = asinh(x / scale)`: linear near the axis, logarithmic far out. Used for ds1, whose
    /// voxels span 2 mm to 2 m, a range no single sigmoid slope resolves in f32.
    Asinh {
        /// Scale in mm.
        scale: f64,
    },
}

impl XyMap {
    fn forward(&self, x: f64) -> f64 {
        match *self {
            XyMap::Sigmoid { slope } => sigmoid(slope * x),
            XyMap::Asinh { scale } => (x / scale).asinh(),
        }
    }

    fn inverse(&self, u: f64) -> f64 {
        match *self {
            XyMap::Sigmoid { slope } => {
                if u > 0.0 && u < 1.0 {
                    logit(u) / slope
                } else {
                    f64::NAN
                }
            }
            XyMap::Asinh { scale } => scale * u.sinh(),
        }
    }

    /// `ln |du/dx|`.
    fn log_derivative(&self, x: f64) -> f64 {
        match *self {
            XyMap::Sigmoid { slope } => {
                let u = sigmoid(slope * x);
                (slope * u * (1.0 - u)).ln()
            }
            XyMap::Asinh { scale } => -(x * x + scale * scale).sqrt().ln(),
        }
    }
}

/// All preprocessing constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// Logit regulariser for hit energies (1e-6).
    pub alpha: f64,
    /// Map of x and y.
    pub xy: XyMap,
    /// Layer index mapped to 0 (indices run over the relevant layers, see `layer_ids`).
    pub layer_min: f64,
    /// Layer index mapped to 1.
    pub layer_max: f64,
    /// Ids of the layers with voxels, in order: the layer coordinate is the index into this
    /// list (so empty layers such as ds1's 4..11 cannot be generated); the inverse rounds to
    /// the nearest index, clamped to the list. Empty: the raw layer id is used.
    #[serde(default)]
    pub layer_ids: Vec<usize>,
    /// Smallest incident energy of the conditioning range, MeV.
    pub e_min: f64,
    /// Largest incident energy of the conditioning range, MeV.
    pub e_max: f64,
    /// Conditioning scale.
    pub energy_scale: EnergyScale,
    /// Per-feature mean after the fixed transforms (standardisation).
    pub mean: [f64; 4],
    /// Per-feature standard deviation after the fixed transforms (standardisation).
    pub std: [f64; 4],
}

fn logit(y: f64) -> f64 {
    (y / (1.0 - y)).ln()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Transform {
    /// Defaults for a geometry: slope so that the outermost voxel centre stays well inside the
    /// sigmoid's range, layers over the geometry's ids, energies over its incident range.
    pub fn for_geometry(kind: GeometryKind) -> Self {
        let g = kind.geometry();
        let (e_min, e_max, xy) = match kind {
            GeometryKind::Ds1Photons | GeometryKind::Ds1Pions => (256.0, 4_194_304.0, XyMap::Asinh { scale: 5.0 }),
            GeometryKind::Ds2 | GeometryKind::Ds3 => (1_000.0, 1_000_000.0, XyMap::Sigmoid { slope: 0.07 }),
        };
        let ids = g.relevant_layer_ids();
        Self {
            alpha: 1e-6,
            xy,
            layer_min: 0.0,
            layer_max: ids.len().saturating_sub(1).max(1) as f64,
            layer_ids: ids,
            e_min,
            e_max,
            energy_scale: EnergyScale::Log,
            mean: [0.0; 4],
            std: [1.0; 4],
        }
    }

    fn layer_span(&self) -> f64 {
        let d = self.layer_max - self.layer_min;
        if d == 0.0 {
            1.0
        } else {
            d
        }
    }

    /// The layer coordinate of a layer id (its index among the relevant layers).
    fn layer_coord(&self, id: f32) -> f64 {
        if self.layer_ids.is_empty() {
            return id as f64;
        }
        let id = id.round().max(0.0) as usize;
        self.layer_ids.iter().position(|&l| l == id).unwrap_or_else(|| self.layer_ids.partition_point(|&l| l < id)) as f64
    }

    /// The layer id of a (continuous) layer coordinate.
    fn layer_id(&self, coord: f64) -> f64 {
        if self.layer_ids.is_empty() || !coord.is_finite() {
            return coord;
        }
        let i = coord.round().clamp(0.0, (self.layer_ids.len() - 1) as f64) as usize;
        self.layer_ids[i] as f64
    }

    /// The fixed (unstandardised) transform of one point.
    fn raw_forward(&self, p: &Point, e_inc: f64) -> [f64; 4] {
        let y = self.alpha + (1.0 - 2.0 * self.alpha) * p[0] as f64 / (2.0 * e_inc);
        [
            logit(y),
            self.xy.forward(p[1] as f64),
            self.xy.forward(p[2] as f64),
            (self.layer_coord(p[3]) - self.layer_min) / self.layer_span(),
        ]
    }

    /// Transforms a point to model space.
    pub fn forward(&self, p: &Point, e_inc: f64) -> Point {
        let r = self.raw_forward(p, e_inc);
        std::array::from_fn(|i| ((r[i] - self.mean[i]) / self.std[i]) as f32)
    }

    /// Transforms a model-space point back to `[E, x, y, layer]`. Energies are clamped at 0;
    /// x/y outside the sigmoid's open range give non-finite coordinates (dropped when binned).
    pub fn inverse(&self, q: &Point, e_inc: f64) -> Point {
        let r: [f64; 4] = std::array::from_fn(|i| q[i] as f64 * self.std[i] + self.mean[i]);
        let e = (sigmoid(r[0]) - self.alpha) * 2.0 * e_inc / (1.0 - 2.0 * self.alpha);
        [e.max(0.0) as f32, self.xy.inverse(r[1]) as f32, self.xy.inverse(r[2]) as f32, self.layer_id(r[3] * self.layer_span() + self.layer_min) as f32]
    }

    /// `ln |d(model point)/d(physical point)|` summed over E, x and y (the layer is discrete;
    /// its nominal factor `1/((layer_max - layer_min) std_3)` is included).
    pub fn log_jacobian(&self, p: &Point, e_inc: f64) -> f64 {
        let y = self.alpha + (1.0 - 2.0 * self.alpha) * p[0] as f64 / (2.0 * e_inc);
        let de = ((1.0 - 2.0 * self.alpha) / (2.0 * e_inc * y * (1.0 - y))).ln();
        let dxy = |x: f32| self.xy.log_derivative(x as f64);
        let dz = -(self.layer_span()).ln();
        de + dxy(p[1]) + dxy(p[2]) + dz - self.std.iter().map(|s| s.ln()).sum::<f64>()
    }

    /// The conditioning value of an incident energy (MeV).
    pub fn condition(&self, e_inc: f64) -> f32 {
        (match self.energy_scale {
            EnergyScale::Log => (e_inc.ln() - self.e_min.ln()) / (self.e_max.ln() - self.e_min.ln()),
            EnergyScale::Linear => (e_inc - self.e_min) / (self.e_max - self.e_min),
        }) as f32
    }

    /// Inverse of [`Transform::condition`].
    pub fn incident_energy(&self, c: f32) -> f64 {
        let c = c as f64;
        match self.energy_scale {
            EnergyScale::Log => (self.e_min.ln() + c * (self.e_max.ln() - self.e_min.ln())).exp(),
            EnergyScale::Linear => self.e_min + c * (self.e_max - self.e_min),
        }
    }

    /// Fits the standardisation constants on showers' points (`(points, e_inc)` pairs).
    pub fn fit_standardisation<'a>(&mut self, showers: impl Iterator<Item = (&'a [Point], f64)>) {
        let mut n = 0f64;
        let mut s = [0f64; 4];
        let mut s2 = [0f64; 4];
        for (pts, e) in showers {
            for p in pts {
                let r = self.raw_forward(p, e);
                for i in 0..4 {
                    s[i] += r[i];
                    s2[i] += r[i] * r[i];
                }
                n += 1.0;
            }
        }
        if n < 2.0 {
            return;
        }
        for i in 0..4 {
            let m = s[i] / n;
            let v = (s2[i] / n - m * m).max(0.0);
            self.mean[i] = m;
            self.std[i] = if v.sqrt() > 1e-6 { v.sqrt() } else { 1.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted(kind: GeometryKind) -> Transform {
        let mut t = Transform::for_geometry(kind);
        let pts = vec![[10.0f32, 3.0, -4.0, 2.0], [300.0, -20.0, 7.5, 12.0], [0.5, 0.0, 0.0, 0.0]];
        t.fit_standardisation(std::iter::once((&pts[..], 5000.0)));
        t
    }

    #[test]
    fn forward_inverse_round_trip() {
        let ds1 = [([12.5f32, 3.2, -4.7, 2.0], 1000.0), ([900.0, -150.0, 600.0, 12.0], 4.0e6), ([0.3, 1500.0, 0.0, 12.0], 256.0)];
        let ds2 = [([12.5f32, 3.2, -4.7, 2.0], 1000.0), ([0.02, 38.0, -39.0, 44.0], 1.0e6), ([5.0, -2.3, 0.5, 0.0], 1.0e6)];
        // (Hits far below alpha * 2 E_inc, e.g. 0.016 MeV at 1 TeV, keep only ~1e-4 relative precision in f32:
        // the logit regulariser alpha = 1e-6 dominates there.)
        for (kind, cases) in [(GeometryKind::Ds1Photons, ds1), (GeometryKind::Ds2, ds2)] {
            let t = fitted(kind);
            for (p, e) in cases {
                let q = t.forward(&p, e);
                let b = t.inverse(&q, e);
                for i in 0..4 {
                    let scale = if i == 0 { p[i].abs() } else { p[i].abs().max(1.0) };
                    let rel = (b[i] - p[i]).abs() / scale;
                    assert!(rel < 1e-5, "{kind} feature {i}: {p:?} -> {b:?}");
                }
            }
        }
    }

    #[test]
    fn empty_layers_are_never_generated() {
        let t = Transform::for_geometry(GeometryKind::Ds1Photons);
        assert_eq!(t.layer_ids, vec![0, 1, 2, 3, 12]);
        // layer 12 is index 4, mapped to 1; in between, coordinates round to the nearest real layer
        assert_eq!(t.forward(&[1.0, 0.0, 0.0, 12.0], 1000.0)[3], 1.0);
        for (coord, id) in [(0.9f32, 12.0f32), (0.6, 2.0), (0.7, 3.0), (-0.3, 0.0), (1.4, 12.0)] {
            assert_eq!(t.inverse(&[0.0, 0.0, 0.0, coord], 1000.0)[3], id, "{coord}");
        }
    }

    #[test]
    fn inverse_energy_never_negative_and_condition_round_trip() {
        let t = Transform::for_geometry(GeometryKind::Ds2);
        let b = t.inverse(&[-40.0, 0.0, 0.0, 0.0], 1000.0);
        assert_eq!(b[0], 0.0);
        for e in [1000.0, 31_622.0, 1.0e6] {
            assert!((t.incident_energy(t.condition(e)) / e - 1.0).abs() < 1e-5);
        }
        assert_eq!(t.condition(1000.0), 0.0);
        assert_eq!(t.condition(1.0e6), 1.0);
    }

    #[test]
    fn log_jacobian_matches_finite_differences() {
        let t = fitted(GeometryKind::Ds2);
        let p = [20.0f32, 3.0, -5.0, 7.0];
        let e = 20_000.0;
        let num = |i: usize| {
            let h = if i == 0 { 0.1 } else { 0.05 };
            let mut a = p;
            let mut b = p;
            a[i] -= h as f32;
            b[i] += h as f32;
            ((t.forward(&b, e)[i] - t.forward(&a, e)[i]) as f64 / (2.0 * h)).abs().ln()
        };
        let expect = num(0) + num(1) + num(2) - (t.layer_max - t.layer_min).ln() - t.std[3].ln();
        assert_eq!(t.inverse(&t.forward(&p, e), e)[3], 7.0);
        assert!((t.log_jacobian(&p, e) - expect).abs() < 2e-3, "{} vs {expect}", t.log_jacobian(&p, e));
    }
}
