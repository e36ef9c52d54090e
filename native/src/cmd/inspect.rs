//! `tdsm inspect`: validate a CaloChallenge file and summarise it.

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::h5io::{check_chunk, ShowerFile, ValueReport};

/// Summary of a file.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Path of the file.
    pub file: String,
    /// Detected geometry.
    pub geometry: String,
    /// Number of showers.
    pub n: usize,
    /// Voxels per shower.
    pub n_voxels: usize,
    /// Smallest incident energy, MeV.
    pub e_inc_min: f64,
    /// Largest incident energy, MeV.
    pub e_inc_max: f64,
    /// Mean number of non-zero voxels per shower.
    pub mean_hits: f64,
    /// Mean number of voxels above the official evaluation threshold.
    pub mean_hits_above_threshold: f64,
    /// Official evaluation threshold, MeV.
    pub threshold_mev: f64,
    /// Mean fraction of voxels that are zero.
    pub sparsity: f64,
    /// Mean E_dep / E_inc.
    pub mean_edep_over_einc: f64,
    /// Number of bad voxel values (NaN, inf, negative).
    pub bad_values: usize,
}

/// Runs the command.
pub fn run(a: InspectArgs) -> Result<()> {
    let f = ShowerFile::open(&a.file, a.geometry)?;
    if f.n == 0 {
        bail!("{}: the file holds no showers (N = 0)", a.file.display());
    }
    let thr = f.geometry.eval_threshold_mev() as f32;
    let (mut emin, mut emax) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut hits, mut hits_thr, mut ratio) = (0u64, 0u64, 0f64);
    let mut rep = ValueReport::default();
    let nv = f.n_voxels;
    f.for_each_chunk(f.chunk_rows(), |start, e, v| {
        rep.merge(&check_chunk(start, e, v, nv, false).with_context(|| a.file.display().to_string())?);
        for (i, row) in v.chunks(nv).enumerate() {
            emin = emin.min(e[i]);
            emax = emax.max(e[i]);
            let mut sum = 0f64;
            for &x in row {
                if x > 0.0 && x.is_finite() {
                    hits += 1;
                    sum += x as f64;
                    if x >= thr {
                        hits_thr += 1;
                    }
                }
            }
            ratio += sum / e[i];
        }
        Ok(())
    })?;
    let n = f.n.max(1) as f64;
    let s = Summary {
        file: a.file.display().to_string(),
        geometry: f.geometry.to_string(),
        n: f.n,
        n_voxels: nv,
        e_inc_min: emin,
        e_inc_max: emax,
        mean_hits: hits as f64 / n,
        mean_hits_above_threshold: hits_thr as f64 / n,
        threshold_mev: thr as f64,
        sparsity: 1.0 - hits as f64 / (n * nv as f64),
        mean_edep_over_einc: ratio / n,
        bad_values: rep.total(),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("file            {}", s.file);
        println!("geometry        {} ({} voxels)", s.geometry, s.n_voxels);
        println!("showers         {}", s.n);
        println!("E_inc           {:.4} .. {:.4} GeV", s.e_inc_min / 1e3, s.e_inc_max / 1e3);
        println!("hits/shower     {:.1} non-zero, {:.1} above {} MeV", s.mean_hits, s.mean_hits_above_threshold, s.threshold_mev);
        println!("sparsity        {:.4}", s.sparsity);
        println!("E_dep/E_inc     {:.4}", s.mean_edep_over_einc);
    }
    if rep.total() > 0 {
        bail!("{}: {}", a.file.display(), rep.describe());
    }
    if !a.json {
        println!("valid           yes");
    }
    Ok(())
}
