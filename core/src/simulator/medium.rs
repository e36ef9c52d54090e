//! The effective calorimeter media, readout depth segments and incident-energy spectra of the
//! GFlash reference datasets (`shared/data/gflash/README.md`).

use crate::error::CoreError;
use crate::geometry::GeometryKind;
use crate::rng::Stream;

/// Depth interval of one readout layer, in radiation lengths from the front face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    /// Layer id in the geometry.
    pub layer_id: usize,
    /// Front of the layer, X0.
    pub t_lo: f64,
    /// Back of the layer, X0.
    pub t_hi: f64,
}

/// Incident-energy spectrum of a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Spectrum {
    /// Log-uniform in [lo, hi] MeV, drawn from the shower's energy stream.
    LogUniform { lo_mev: f64, hi_mev: f64 },
    /// Shower k has 2^(first + k mod count) MeV.
    PowersOfTwo { first: i32, count: u64 },
}

impl Spectrum {
    /// Energy (MeV) of shower `index`; `rng` is that shower's energy stream.
    pub fn energy(&self, index: u64, rng: &mut Stream) -> f64 {
        match *self {
            Spectrum::LogUniform { lo_mev, hi_mev } => lo_mev * (hi_mev / lo_mev).powf(rng.uniform()),
            Spectrum::PowersOfTwo { first, count } => 2f64.powi(first + (index % count) as i32),
        }
    }
}

/// A homogeneous effective medium with its readout segmentation and detector response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Medium {
    /// Effective atomic number.
    pub z: f64,
    /// Critical energy, MeV.
    pub ec_mev: f64,
    /// Molière radius, mm.
    pub rm_mm: f64,
    /// Stochastic term of the energy resolution (fraction at 1 GeV).
    pub stochastic: f64,
    /// Constant term of the energy resolution.
    pub constant: f64,
    /// Voxels below this energy (MeV) are set to 0.
    pub threshold_mev: f64,
    /// Photons: mean conversion depth in X0 (the shower starts there); electrons: `None`.
    pub conversion_mean_x0: Option<f64>,
    /// Readout layers in depth order. Depths outside them are dead material or leakage.
    pub segments: Vec<Segment>,
    /// Incident-energy spectrum.
    pub spectrum: Spectrum,
}

/// Si-W medium of ds2/ds3: 45 layers of 2 x (1.4 mm W + 0.3 mm Si).
fn silicon_tungsten() -> Medium {
    let x0_mm = 4.221;
    let layer_x0 = 3.4 / x0_mm; // 0.8055 X0
    Medium {
        z: 72.5,
        ec_mev: 8.23,
        rm_mm: 10.89,
        stochastic: 0.17,
        constant: 0.01,
        threshold_mev: 0.5e-3 / 0.033, // 0.0151515 MeV
        conversion_mean_x0: None,
        segments: (0..45)
            .map(|i| Segment { layer_id: i, t_lo: i as f64 * layer_x0, t_hi: (i + 1) as f64 * layer_x0 })
            .collect(),
        spectrum: Spectrum::LogUniform { lo_mev: 1e3, hi_mev: 1e6 },
    }
}

/// ATLAS-like Pb/LAr medium of ds1-photons (depths in X0, nominal X0 = 14 mm).
fn lead_liquid_argon() -> Medium {
    let seg = |layer_id, t_lo, t_hi| Segment { layer_id, t_lo, t_hi };
    Medium {
        z: 61.0,
        ec_mev: 10.7,
        rm_mm: 40.0,
        stochastic: 0.10,
        constant: 0.007,
        threshold_mev: 0.0,
        conversion_mean_x0: Some(9.0 / 7.0),
        // dead [0,1) | 0 | 1 | 2 | 3 | dead [23.4,24) | 12
        segments: vec![seg(0, 1.0, 1.1), seg(1, 1.1, 5.4), seg(2, 5.4, 21.4), seg(3, 21.4, 23.4), seg(12, 24.0, 124.0)],
        spectrum: Spectrum::PowersOfTwo { first: 8, count: 15 },
    }
}

impl Medium {
    /// The medium of a built-in geometry; ds1-pions has none (hadronic showers).
    pub fn for_kind(kind: GeometryKind) -> Result<Self, CoreError> {
        match kind {
            GeometryKind::Ds2 | GeometryKind::Ds3 => Ok(silicon_tungsten()),
            GeometryKind::Ds1Photons => Ok(lead_liquid_argon()),
            GeometryKind::Ds1Pions => Err(CoreError::Invalid(
                "the built-in GFlash simulator models electromagnetic showers only; ds1-pions is hadronic".into(),
            )),
        }
    }

    /// Number of energy spots of a shower: 93 ln(Z) (E/GeV)^0.876, at least 1.
    pub fn n_spots(&self, e_mev: f64) -> u64 {
        (93.0 * self.z.ln() * (e_mev / 1e3).powf(0.876)).round().max(1.0) as u64
    }

    /// Scale `a` (MeV) of the voxel sampling fluctuation `a Gamma(e / a)`: stochastic^2 x 1 GeV.
    pub fn fluctuation_scale_mev(&self) -> f64 {
        self.stochastic * self.stochastic * 1e3
    }
}
