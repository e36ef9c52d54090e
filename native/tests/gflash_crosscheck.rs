//! Cross-check of `tdsm simulate` against the independent GFlash reference files in
//! `shared/data/gflash/` (same parametrisation, another implementation: numpy/scipy).
//!
//! Per energy decade, the mean E_dep/E_inc, the mean number of non-zero voxels and the mean
//! longitudinal centre of gravity (energy-weighted layer id) must agree within 3%.
//! Runs only where the shared folder exists (`$TDSM_GFLASH_DIR`, `/work/shared/data/gflash`, or
//! `shared/data/gflash` next to the repository); otherwise it prints that it skipped and passes.
//! The small in-repo version that always runs is in `core/src/simulator/tests.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tdsm_core::simulator::{decade_summary, DecadeSummary};
use tdsm_core::GeometryKind;

/// Allowed relative difference of each per-decade mean.
const TOLERANCE: f64 = 0.03;

fn reference_dir() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("TDSM_GFLASH_DIR").map(PathBuf::from),
        Some(PathBuf::from("/work/shared/data/gflash")),
        Some(manifest.join("../../shared/data/gflash")),
        Some(manifest.join("../shared/data/gflash")),
    ];
    candidates.into_iter().flatten().find(|d| d.join("ds2_train.h5").is_file() && d.join("ds1_photons_train.h5").is_file())
}

fn read_h5(path: &Path) -> (Vec<f64>, Vec<f32>) {
    let f = hdf5::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let e = f.dataset("incident_energies").unwrap().read_raw::<f64>().unwrap();
    let v = f.dataset("showers").unwrap().read_raw::<f32>().unwrap();
    (e, v)
}

/// Simulates with the CLI, returns the per-decade summaries of ours and of the reference file,
/// and the printed table; checks the tolerance.
fn compare(geometry: GeometryKind, events: usize, seed: u64, reference: &Path) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ours.h5");
    let o = Command::new(env!("CARGO_BIN_EXE_tdsm"))
        .args(["simulate", "--geometry", geometry.name(), "--events", &events.to_string(), "--seed", &seed.to_string()])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "simulate failed: {}", String::from_utf8_lossy(&o.stderr));
    let g = geometry.geometry();
    let (e, v) = read_h5(&out);
    let ours = decade_summary(&g, &e, &v);
    let (re, rv) = read_h5(reference);
    let theirs = decade_summary(&g, &re, &rv);

    let mut table = format!(
        "{} — ours: {events} showers (seed {seed}); reference: {} ({} showers)\n\
         | decade | n ours / ref | E_dep/E_inc ours / ref | non-zero voxels ours / ref | CoG layer ours / ref | worst diff |\n\
         |---|---|---|---|---|---|\n",
        geometry.name(),
        reference.file_name().unwrap().to_string_lossy(),
        re.len()
    );
    let mut failures = Vec::new();
    let ours_decades: Vec<f64> = ours.iter().map(|d| d.decade_gev).collect();
    let their_decades: Vec<f64> = theirs.iter().map(|d| d.decade_gev).collect();
    if ours_decades != their_decades {
        failures.push(format!("{}: decades differ: ours {ours_decades:?}, reference {their_decades:?}", geometry.name()));
    }
    for (a, b) in ours.iter().zip(&theirs).filter(|(a, b)| a.decade_gev == b.decade_gev) {
        let metrics: [(&str, fn(&DecadeSummary) -> f64); 3] = [
            ("E_dep/E_inc", |d| d.mean_response),
            ("non-zero voxels", |d| d.mean_nonzero),
            ("CoG layer", |d| d.mean_cog_layer),
        ];
        let mut worst = 0f64;
        for (name, f) in metrics {
            let rel = (f(a) - f(b)).abs() / f(b).abs();
            worst = worst.max(rel);
            if !(rel <= TOLERANCE) {
                failures.push(format!(
                    "{} {} GeV decade: {name} ours {:.4} vs reference {:.4} ({:.1}% > {:.0}%)",
                    geometry.name(),
                    a.decade_gev,
                    f(a),
                    f(b),
                    100.0 * rel,
                    100.0 * TOLERANCE
                ));
            }
        }
        table += &format!(
            "| {}-{} GeV | {} / {} | {:.4} / {:.4} | {:.1} / {:.1} | {:.3} / {:.3} | {:.2}% |\n",
            a.decade_gev,
            a.decade_gev * 10.0,
            a.count,
            b.count,
            a.mean_response,
            b.mean_response,
            a.mean_nonzero,
            b.mean_nonzero,
            a.mean_cog_layer,
            b.mean_cog_layer,
            100.0 * worst
        );
    }
    (table, failures)
}

#[test]
fn simulate_agrees_with_gflash_reference_files() {
    let Some(dir) = reference_dir() else {
        eprintln!("SKIPPED: no shared/data/gflash reference files (set TDSM_GFLASH_DIR to run this cross-check)");
        return;
    };
    let t0 = std::time::Instant::now();
    let (t2, f2) = compare(GeometryKind::Ds2, 2500, 3, &dir.join("ds2_train.h5"));
    let (t1, f1) = compare(GeometryKind::Ds1Photons, 15000, 1, &dir.join("ds1_photons_train.h5"));
    println!("GFlash cross-check against {} (tolerance {:.0}%):\n\n{t2}\n{t1}", dir.display(), 100.0 * TOLERANCE);
    println!("cross-check took {:.1} s", t0.elapsed().as_secs_f64());
    let failures: Vec<String> = f2.into_iter().chain(f1).collect();
    assert!(failures.is_empty(), "cross-check failed:\n{}\n\n{t2}\n{t1}", failures.join("\n"));
}
