//! The built-in shower simulator: a **parametrised** simulation of electromagnetic showers
//! (GFlash, Grindhammer & Peters, hep-ex/0001020; NIM A290 (1990) 469), voxelised into the
//! official CaloChallenge geometries. **It is not Geant4**: it reproduces the GFlash reference
//! files in `shared/data/gflash/` statistically, not real detector data.
//!
//! Model, per shower (parameters in `shared/data/gflash/README.md`):
//! - ds2/ds3: electrons in an effective Si-W medium, starting at the front face; ds1-photons:
//!   photons in Pb/LAr, converting at a depth t0 ~ Exp(9/7 X0) where their shower starts.
//! - An individual Gamma(alpha, beta) longitudinal profile, with (ln T, ln alpha) drawn from
//!   the correlated normal of the homogeneous-medium parametrisation.
//! - The two-component radial profile (core and tail) at scaled depth tau.
//! - N = 93 ln(Z) (E/GeV)^0.876 energy spots of E/N each, distributed exactly as N i.i.d.
//!   spots would be: a multinomial over (layer, radial ring) cells plus a "lost" category
//!   (dead material, longitudinal and radial leakage), whose probabilities are exact Gamma-CDF
//!   differences over depth slices of at most 0.25 X0 times radial-CDF differences; each cell's
//!   count is split uniformly over its angular bins.
//! - Sampling fluctuations: each non-empty voxel e becomes a Gamma(e / a) with
//!   a = stochastic^2 x 1 GeV, then one per-shower factor (1 + c N(0,1)); ds2/ds3 then apply the
//!   readout threshold.
//!
//! Shower k of run `seed` depends only on `(seed, k)`. The parametrisation is valid from about
//! 1 GeV up; below 20 Ec (about 0.2 GeV) the shape parameters are frozen at their 20 Ec values.

mod binomial;
mod medium;
mod profile;
mod summary;
#[cfg(test)]
mod tests;

pub use summary::{decade_summary, DecadeSummary};

use crate::error::CoreError;
use crate::geometry::GeometryKind;
use crate::rng::{Purpose, Stream};

use binomial::binomial;
use medium::Medium;
use profile::{Longitudinal, ProfileParams, Radial};

/// Largest depth slice, X0.
const MAX_SLICE_X0: f64 = 0.25;

/// Lowest y = E / Ec at which the profile parametrisation is evaluated. Below it (about 0.2 GeV)
/// the GFlash formulas break down (<ln T> and the widths diverge near y = 3), so lower energies
/// get the shape parameters of y = 20; their spot count and energy still use the true energy.
const MIN_PARAM_Y: f64 = 20.0;

/// Per-geometry table of one readout layer.
#[derive(Debug, Clone)]
struct LayerTable {
    /// Squared radial bin edges, in R_M^2 (n_r + 1 values).
    r2: Vec<f64>,
    /// Depth-slice boundaries, X0 from the front face.
    bounds: Vec<f64>,
    /// Index of the layer's first (layer, ring) cell.
    first_cell: usize,
}

/// Where a (layer, ring) cell's spots go: voxel `base + alpha_bin * n_r`.
#[derive(Debug, Clone, Copy)]
struct Cell {
    base: usize,
    n_r: usize,
    n_alpha: usize,
}

/// The shape of one shower: its start depth and longitudinal profile.
#[derive(Debug, Clone, Copy)]
struct ShowerShape {
    /// Depth (X0) where the shower starts (photon conversion; 0 for electrons).
    t0: f64,
    /// Longitudinal profile from the start.
    long: Longitudinal,
}

/// GFlash shower simulator for one built-in geometry (ds1-photons, ds2 or ds3).
#[derive(Debug, Clone)]
pub struct Simulator {
    kind: GeometryKind,
    medium: Medium,
    layers: Vec<LayerTable>,
    cells: Vec<Cell>,
    n_voxels: usize,
}

impl Simulator {
    /// The simulator of a built-in geometry, with its tables precomputed.
    ///
    /// Fails with [`CoreError::Invalid`] for ds1-pions, which are hadronic showers.
    pub fn new(kind: GeometryKind) -> Result<Self, CoreError> {
        let medium = Medium::for_kind(kind)?;
        let geometry = kind.geometry();
        let mut layers = Vec::new();
        let mut cells = Vec::new();
        for seg in &medium.segments {
            let layer = geometry
                .layer(seg.layer_id)
                .filter(|l| l.is_relevant())
                .ok_or_else(|| CoreError::Invalid(format!("{kind}: simulator layer {} has no voxels", seg.layer_id)))?;
            let n_slices = ((seg.t_hi - seg.t_lo) / MAX_SLICE_X0 - 1e-9).ceil().max(1.0) as usize;
            let dt = (seg.t_hi - seg.t_lo) / n_slices as f64;
            let bounds = (0..=n_slices).map(|i| seg.t_lo + i as f64 * dt).collect();
            let r2 = layer.r_edges.iter().map(|r| (r / medium.rm_mm).powi(2)).collect();
            layers.push(LayerTable { r2, bounds, first_cell: cells.len() });
            cells.extend((0..layer.n_r()).map(|j| Cell {
                base: layer.offset + j,
                n_r: layer.n_r(),
                n_alpha: layer.n_alpha,
            }));
        }
        Ok(Self { kind, medium, layers, cells, n_voxels: geometry.n_voxels })
    }

    /// The geometry simulated.
    pub fn kind(&self) -> GeometryKind {
        self.kind
    }

    /// Number of voxels of a shower.
    pub fn n_voxels(&self) -> usize {
        self.n_voxels
    }

    /// The readout threshold in MeV: voxels below it are set to 0 (0 for ds1-photons).
    pub fn threshold_mev(&self) -> f64 {
        self.medium.threshold_mev
    }

    /// Incident energy (MeV) of shower `index` for run `seed`, from the dataset's spectrum:
    /// log-uniform in [1 GeV, 1 TeV] for ds2/ds3, 2^(8 + index mod 15) MeV for ds1-photons.
    pub fn incident_energy(&self, seed: u64, index: u64) -> f64 {
        let mut rng = Stream::new(seed, index, Purpose::Energy);
        self.medium.spectrum.energy(index, &mut rng)
    }

    /// Simulates shower `index` of run `seed` at its dataset energy into `out`
    /// (`n_voxels` values, MeV of total deposited energy); returns the incident energy in MeV.
    ///
    /// # Panics
    /// If `out.len() != self.n_voxels()`.
    pub fn shower(&self, seed: u64, index: u64, out: &mut [f32]) -> f64 {
        let e = self.incident_energy(seed, index);
        self.shower_at(seed, index, e, out);
        e
    }

    /// Simulates shower `index` of run `seed` at incident energy `e_inc_mev` into `out`
    /// (`n_voxels` values, MeV).
    ///
    /// # Panics
    /// If `out.len() != self.n_voxels()` or the energy is not finite and positive.
    pub fn shower_at(&self, seed: u64, index: u64, e_inc_mev: f64, out: &mut [f32]) {
        assert_eq!(
            out.len(),
            self.n_voxels,
            "shower buffer has {} values, geometry {} has {}",
            out.len(),
            self.kind,
            self.n_voxels
        );
        assert!(e_inc_mev.is_finite() && e_inc_mev > 0.0, "incident energy must be > 0 MeV, got {e_inc_mev}");
        out.fill(0.0);
        let mut rng = Stream::new(seed, index, Purpose::Simulate);
        let shape = self.draw_shape(&mut rng, e_inc_mev);
        let mut probs = vec![0.0; self.cells.len()];
        let deposited = self.cell_probabilities(&shape, e_inc_mev, &mut probs);

        // Multinomial over cells + "lost" by sequential binomials; remaining[i] is the mass of
        // cells i.. plus the lost category, summed from the end so that probs[i] <= remaining[i].
        let mut remaining = vec![0.0; self.cells.len()];
        let mut acc = (1.0 - deposited).max(0.0);
        for i in (0..probs.len()).rev() {
            acc += probs[i];
            remaining[i] = acc;
        }
        let n_spots = self.medium.n_spots(e_inc_mev);
        let e_spot = e_inc_mev / n_spots as f64;
        let scale = self.medium.fluctuation_scale_mev();
        let mut left = n_spots;
        for (i, cell) in self.cells.iter().enumerate() {
            if left == 0 {
                break;
            }
            if probs[i] <= 0.0 {
                continue;
            }
            let mut k = binomial(&mut rng, left, (probs[i] / remaining[i]).min(1.0));
            left -= k;
            // Split uniformly over the angular bins, with fluctuations applied per voxel.
            for a in 0..cell.n_alpha {
                if k == 0 {
                    break;
                }
                let ka = if a + 1 == cell.n_alpha { k } else { binomial(&mut rng, k, 1.0 / (cell.n_alpha - a) as f64) };
                k -= ka;
                if ka > 0 {
                    let e = ka as f64 * e_spot;
                    out[cell.base + a * cell.n_r] = (scale * rng.gamma(e / scale)) as f32;
                }
            }
        }

        let factor = (1.0 + self.medium.constant * rng.normal()) as f32;
        let threshold = self.medium.threshold_mev as f32;
        for v in out.iter_mut() {
            *v *= factor;
            if *v < threshold {
                *v = 0.0;
            }
        }
    }

    /// Draws the shower start and longitudinal profile (first draws of the shower's stream).
    fn draw_shape(&self, rng: &mut Stream, e_mev: f64) -> ShowerShape {
        let t0 = self.medium.conversion_mean_x0.map_or(0.0, |mean| rng.exponential(mean));
        let y = (e_mev / self.medium.ec_mev).max(MIN_PARAM_Y);
        let long = ProfileParams::new(self.medium.z, y).draw(rng);
        ShowerShape { t0, long }
    }

    /// Fills `probs` with the probability of a spot landing in each (layer, ring) cell and
    /// returns their sum, the expected deposited fraction before fluctuations.
    fn cell_probabilities(&self, shape: &ShowerShape, e_mev: f64, probs: &mut [f64]) -> f64 {
        let cdf = shape.long.cdf();
        let radial = Radial::new(self.medium.z, e_mev.max(MIN_PARAM_Y * self.medium.ec_mev) / 1e3);
        let t0 = shape.t0;
        for layer in &self.layers {
            let n_r = layer.r2.len() - 1;
            let cells = &mut probs[layer.first_cell..layer.first_cell + n_r];
            let mut s_lo = (layer.bounds[0] - t0).max(0.0);
            let mut c_lo = cdf.at(s_lo);
            for &b in &layer.bounds[1..] {
                let s_hi = (b - t0).max(0.0);
                let c_hi = cdf.at(s_hi);
                let w = c_hi - c_lo;
                if w > 0.0 {
                    let tau = 0.5 * (s_lo + s_hi) * shape.long.tau_per_x0;
                    let rs = radial.at(tau);
                    let mut f_lo = rs.cdf(layer.r2[0]);
                    for (j, &r2) in layer.r2[1..].iter().enumerate() {
                        let f_hi = rs.cdf(r2);
                        cells[j] += w * (f_hi - f_lo);
                        f_lo = f_hi;
                    }
                }
                s_lo = s_hi;
                c_lo = c_hi;
            }
        }
        probs.iter().sum()
    }

    /// Expected deposited fraction of shower `index` at `e_mev` (no spot, sampling or
    /// threshold fluctuations): the sum of its cell probabilities.
    #[cfg(test)]
    fn expected_fraction(&self, seed: u64, index: u64, e_mev: f64) -> f64 {
        let mut rng = Stream::new(seed, index, Purpose::Simulate);
        let shape = self.draw_shape(&mut rng, e_mev);
        let mut probs = vec![0.0; self.cells.len()];
        self.cell_probabilities(&shape, e_mev, &mut probs)
    }
}
