//! Per-energy-decade summary statistics of a set of showers (any source: simulated,
//! reference file or generated), used to compare the simulator with reference data.

use crate::geometry::Geometry;

/// Summary of the showers whose incident energy falls in one decade [10^k, 10^(k+1)) GeV.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecadeSummary {
    /// Lower edge of the decade, GeV (0.1, 1, 10, ...).
    pub decade_gev: f64,
    /// Number of showers in the decade.
    pub count: usize,
    /// Mean of E_dep / E_inc, where E_dep is the sum over all voxels.
    pub mean_response: f64,
    /// Mean number of voxels with energy > 0.
    pub mean_nonzero: f64,
    /// Mean longitudinal centre of gravity: the energy-weighted mean layer id of each shower,
    /// averaged over the showers with E_dep > 0.
    pub mean_cog_layer: f64,
}

/// Per-decade summaries of `showers` (row-major, `energies_mev.len()` rows of
/// `geometry.n_voxels` values in MeV), in increasing decade order; empty decades are omitted.
///
/// # Panics
/// If `showers.len() != energies_mev.len() * geometry.n_voxels`.
pub fn decade_summary(geometry: &Geometry, energies_mev: &[f64], showers: &[f32]) -> Vec<DecadeSummary> {
    let nv = geometry.n_voxels;
    assert_eq!(
        showers.len(),
        energies_mev.len() * nv,
        "decade_summary: {} values for {} showers of {nv} voxels",
        showers.len(),
        energies_mev.len()
    );
    let mut layer_of = vec![0.0f64; nv];
    for l in geometry.relevant_layers() {
        layer_of[l.offset..l.offset + l.n_voxels()].fill(l.id as f64);
    }
    // (decade exponent, count, sum response, sum non-zero, sum cog, count with energy)
    let mut acc: Vec<(i32, usize, f64, f64, f64, usize)> = Vec::new();
    for (row, &e_inc) in showers.chunks_exact(nv).zip(energies_mev) {
        let decade = (e_inc / 1e3).log10().floor() as i32;
        let (mut sum, mut weighted, mut nonzero) = (0.0f64, 0.0f64, 0usize);
        for (&v, &lid) in row.iter().zip(&layer_of) {
            if v != 0.0 {
                nonzero += 1;
                sum += v as f64;
                weighted += v as f64 * lid;
            }
        }
        let slot = match acc.iter().position(|a| a.0 == decade) {
            Some(i) => i,
            None => {
                acc.push((decade, 0, 0.0, 0.0, 0.0, 0));
                acc.len() - 1
            }
        };
        let a = &mut acc[slot];
        a.1 += 1;
        a.2 += sum / e_inc;
        a.3 += nonzero as f64;
        if sum > 0.0 {
            a.4 += weighted / sum;
            a.5 += 1;
        }
    }
    acc.sort_by_key(|a| a.0);
    acc.into_iter()
        .map(|(d, n, resp, nz, cog, n_cog)| DecadeSummary {
            decade_gev: 10f64.powi(d),
            count: n,
            mean_response: resp / n as f64,
            mean_nonzero: nz / n as f64,
            mean_cog_layer: if n_cog > 0 { cog / n_cog as f64 } else { f64::NAN },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::GeometryKind;

    #[test]
    fn hand_computed_summary() {
        let g = GeometryKind::Ds1Photons.geometry();
        let nv = g.n_voxels;
        let mut showers = vec![0.0f32; 3 * nv];
        // Shower 0 (500 MeV): 100 MeV in layer 1, 300 MeV in layer 3.
        showers[g.index(1, 0, 0).unwrap()] = 100.0;
        showers[g.index(3, 0, 2).unwrap()] = 300.0;
        // Shower 1 (2 GeV): 1800 MeV in layer 12.
        showers[nv + g.index(12, 0, 0).unwrap()] = 1800.0;
        // Shower 2 (800 MeV): empty.
        let s = decade_summary(&g, &[500.0, 2000.0, 800.0], &showers);
        assert_eq!(s.len(), 2);
        assert!((s[0].decade_gev - 0.1).abs() < 1e-12 && s[0].count == 2);
        assert!((s[0].mean_response - 0.4).abs() < 1e-12);
        assert!((s[0].mean_nonzero - 1.0).abs() < 1e-12);
        assert!((s[0].mean_cog_layer - 2.5).abs() < 1e-12);
        assert!((s[1].decade_gev - 1.0).abs() < 1e-12 && s[1].count == 1);
        assert!((s[1].mean_response - 0.9).abs() < 1e-12 && (s[1].mean_cog_layer - 12.0).abs() < 1e-12);
    }
}
