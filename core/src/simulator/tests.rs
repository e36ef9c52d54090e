//! Tests of the GFlash simulator, including a statistical cross-check against the reference files.

use super::*;

fn simulate(sim: &Simulator, seed: u64, n: usize) -> (Vec<f64>, Vec<f32>) {
    let nv = sim.n_voxels();
    let mut showers = vec![0.0f32; n * nv];
    let energies = showers.chunks_exact_mut(nv).enumerate().map(|(k, row)| sim.shower(seed, k as u64, row)).collect();
    (energies, showers)
}

#[test]
fn pions_are_rejected_and_sizes_match() {
    assert!(matches!(Simulator::new(GeometryKind::Ds1Pions), Err(CoreError::Invalid(_))));
    for kind in [GeometryKind::Ds1Photons, GeometryKind::Ds2, GeometryKind::Ds3] {
        let sim = Simulator::new(kind).unwrap();
        assert_eq!(sim.kind(), kind);
        assert_eq!(sim.n_voxels(), kind.n_voxels());
    }
    assert_eq!(Simulator::new(GeometryKind::Ds1Photons).unwrap().threshold_mev(), 0.0);
    assert!((Simulator::new(GeometryKind::Ds2).unwrap().threshold_mev() - 0.0151515).abs() < 1e-6);
}

#[test]
fn deterministic_per_seed_and_index() {
    for kind in [GeometryKind::Ds1Photons, GeometryKind::Ds2] {
        let sim = Simulator::new(kind).unwrap();
        let nv = sim.n_voxels();
        let (mut a, mut b, mut c, mut d) = (vec![0.0; nv], vec![0.0; nv], vec![0.0; nv], vec![0.0; nv]);
        let ea = sim.shower(7, 3, &mut a);
        let eb = sim.shower(7, 3, &mut b);
        sim.shower(7, 4, &mut c);
        assert_eq!(ea, eb);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(ea, sim.incident_energy(7, 3));
        sim.shower_at(7, 3, sim.incident_energy(7, 3), &mut d);
        assert_eq!(a, d);
        assert!(a.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!(a.iter().sum::<f32>() > 0.0);
    }
}

#[test]
fn incident_energy_spectra() {
    let ds1 = Simulator::new(GeometryKind::Ds1Photons).unwrap();
    assert_eq!(ds1.incident_energy(1, 0), 256.0);
    assert_eq!(ds1.incident_energy(1, 14), 4_194_304.0);
    assert_eq!(ds1.incident_energy(9, 15), 256.0);
    let ds2 = Simulator::new(GeometryKind::Ds2).unwrap();
    let logs: Vec<f64> = (0..4000).map(|k| (ds2.incident_energy(3, k) / 1e3).log10()).collect();
    assert!(logs.iter().all(|l| (0.0..=3.0).contains(l)));
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    assert!((mean - 1.5).abs() < 0.05, "mean log10 E/GeV {mean}");
    assert_ne!(ds2.incident_energy(3, 0), ds2.incident_energy(4, 0));
}

/// Expected deposited fraction (sum of cell probabilities), no fluctuations or threshold.
#[test]
fn expected_deposit_fraction() {
    let ds2 = Simulator::new(GeometryKind::Ds2).unwrap();
    let n = 400;
    let mean = |sim: &Simulator, e: f64| (0..n).map(|k| sim.expected_fraction(1, k, e)).sum::<f64>() / n as f64;
    // ds2 at 100 GeV: ~1.4% radial leakage past 41.85 mm, a little longitudinal leakage.
    let f100 = mean(&ds2, 1e5);
    assert!((0.978..0.992).contains(&f100), "ds2 100 GeV {f100}");
    // At 1 TeV the longitudinal leakage out of 36 X0 grows.
    let f1000 = mean(&ds2, 1e6);
    assert!(f1000 < f100 && f1000 > 0.95, "ds2 1 TeV {f1000}");
    // ds1-photons: nearly everything is contained (2 m radius, 124 X0), minus dead material.
    let ds1 = Simulator::new(GeometryKind::Ds1Photons).unwrap();
    let f16 = mean(&ds1, 16_384.0);
    assert!((0.985..1.0).contains(&f16), "ds1 16 GeV {f16}");
    for k in 0..n {
        let f = ds1.expected_fraction(1, k, 4_194_304.0);
        assert!(f > 0.0 && f <= 1.0 + 1e-12);
    }
}

/// The spot, sampling and per-shower fluctuations keep the mean: the mean deposited energy of
/// many showers at one energy equals the mean expected fraction.
#[test]
fn fluctuations_are_unbiased() {
    let sim = Simulator::new(GeometryKind::Ds1Photons).unwrap();
    let e = 65_536.0;
    let n = 600;
    let mut out = vec![0.0f32; sim.n_voxels()];
    let (mut dep, mut expected, mut dep2) = (0.0, 0.0, 0.0);
    for k in 0..n {
        sim.shower_at(21, k, e, &mut out);
        let r = out.iter().map(|&v| v as f64).sum::<f64>() / e;
        dep += r;
        dep2 += r * r;
        expected += sim.expected_fraction(21, k, e);
    }
    let (dep, expected) = (dep / n as f64, expected / n as f64);
    let sd = (dep2 / n as f64 - dep * dep).sqrt();
    // sigma/E = 10%/sqrt(65.5) (+) 0.7% = 1.4% (plus fluctuations of the containment)
    assert!((0.010..0.03).contains(&sd), "resolution {sd}");
    assert!((dep - expected).abs() < 4.0 * sd / (n as f64).sqrt(), "{dep} vs {expected}");
}

/// Reference per-decade numbers: (decade GeV, mean E_dep/E_inc, its sd, mean non-zero voxels,
/// its sd, mean longitudinal centre of gravity, its sd). The sd are over the decade's showers.
type Reference = [(f64, f64, f64, f64, f64, f64, f64)];

/// From `shared/data/gflash/ds2_train.h5` (all 2500 showers), computed with h5py/numpy.
const DS2_TRAIN: [(f64, f64, f64, f64, f64, f64, f64); 3] = [
    (1.0, 0.97924, 0.1036, 334.583, 136.5, 8.3297, 1.526),
    (10.0, 0.98668, 0.0340, 1179.086, 400.0, 11.2025, 1.427),
    (100.0, 0.98544, 0.0146, 3129.413, 737.5, 14.0449, 1.411),
];

/// From `shared/data/gflash/ds1_photons_train.h5` (all 30000 showers), computed with h5py/numpy.
const DS1_PHOTONS_TRAIN: [(f64, f64, f64, f64, f64, f64, f64); 5] = [
    (0.1, 0.98679, 0.1722, 99.295, 21.4, 1.5951, 0.513),
    (1.0, 0.99403, 0.0690, 202.981, 40.9, 1.7704, 0.218),
    (10.0, 0.99548, 0.0201, 281.227, 40.0, 2.0067, 0.189),
    (100.0, 0.99320, 0.0101, 318.618, 42.5, 2.2421, 0.263),
    (1000.0, 0.98828, 0.0086, 333.195, 44.8, 2.5995, 0.406),
];

/// Compares a summary with reference numbers: each mean within `n_sigma` standard errors
/// (from the reference spread and our count) plus a relative `syst`. Returns a printable table.
fn compare(summary: &[DecadeSummary], reference: &Reference, n_sigma: f64, syst: f64) -> Result<String, String> {
    let mut table = String::from("decade GeV | n | E_dep/E_inc ours ref | non-zero ours ref | cog ours ref\n");
    let mut errors = Vec::new();
    assert_eq!(summary.len(), reference.len(), "decades: {summary:?}");
    for (s, r) in summary.iter().zip(reference) {
        assert!((s.decade_gev / r.0 - 1.0).abs() < 1e-9);
        let se = |sd: f64| n_sigma * sd / (s.count as f64).sqrt();
        table += &format!(
            "{:>6} | {:>5} | {:.4} {:.4} ({:+.2}%) | {:.1} {:.1} ({:+.2}%) | {:.3} {:.3} ({:+.2}%)\n",
            s.decade_gev,
            s.count,
            s.mean_response,
            r.1,
            100.0 * (s.mean_response / r.1 - 1.0),
            s.mean_nonzero,
            r.3,
            100.0 * (s.mean_nonzero / r.3 - 1.0),
            s.mean_cog_layer,
            r.5,
            100.0 * (s.mean_cog_layer / r.5 - 1.0),
        );
        for (name, ours, refv, sd) in [
            ("E_dep/E_inc", s.mean_response, r.1, r.2),
            ("non-zero voxels", s.mean_nonzero, r.3, r.4),
            ("centre of gravity", s.mean_cog_layer, r.5, r.6),
        ] {
            if (ours - refv).abs() > se(sd) + syst * refv {
                errors.push(format!("{} GeV {name}: ours {ours:.4}, reference {refv:.4}", s.decade_gev));
            }
        }
    }
    if errors.is_empty() {
        Ok(table)
    } else {
        Err(format!("{table}{}", errors.join("\n")))
    }
}

/// 300 showers per dataset against the reference files: within 4.5 standard errors + 1%.
#[test]
fn cross_check_against_reference_files() {
    let ds2 = Simulator::new(GeometryKind::Ds2).unwrap();
    let (e, s) = simulate(&ds2, 3, 300);
    let sum = decade_summary(&GeometryKind::Ds2.geometry(), &e, &s);
    match compare(&sum, &DS2_TRAIN, 4.5, 0.01) {
        Ok(table) => println!("ds2, 300 showers:\n{table}"),
        Err(msg) => panic!("ds2:\n{msg}"),
    }
    let ds1 = Simulator::new(GeometryKind::Ds1Photons).unwrap();
    let (e, s) = simulate(&ds1, 1, 300);
    let sum = decade_summary(&GeometryKind::Ds1Photons.geometry(), &e, &s);
    match compare(&sum, &DS1_PHOTONS_TRAIN, 4.5, 0.01) {
        Ok(table) => println!("ds1-photons, 300 showers:\n{table}"),
        Err(msg) => panic!("ds1-photons:\n{msg}"),
    }
}

#[test]
fn very_low_and_high_energies_are_finite() {
    for kind in [GeometryKind::Ds1Photons, GeometryKind::Ds2] {
        let sim = Simulator::new(kind).unwrap();
        let mut out = vec![0.0f32; sim.n_voxels()];
        for (k, e) in [1.0, 5.0, 30.0, 150.0, 1e7].into_iter().enumerate() {
            sim.shower_at(2, k as u64, e, &mut out);
            let sum: f64 = out.iter().map(|&v| v as f64).sum();
            assert!(out.iter().all(|v| v.is_finite() && *v >= 0.0), "{kind} {e}");
            assert!(sum < 3.0 * e, "{kind} {e}: {sum}");
        }
    }
}
