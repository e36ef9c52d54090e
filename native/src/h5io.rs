//! CaloChallenge HDF5 files: streaming reader and atomic writer.
//!
//! A file holds exactly two datasets: `incident_energies` (N, 1) and `showers` (N, n_voxels), in
//! MeV, float32 or float64. Reading streams row chunks so a multi-GB ds3 file is never loaded
//! whole. Writing goes to a temporary file next to the target, renamed when complete.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use hdf5::types::{FloatSize, TypeDescriptor};
use ndarray::{s, Array2};
use tdsm_core::GeometryKind;

/// Dataset name of the incident energies.
pub const ENERGIES: &str = "incident_energies";
/// Dataset name of the voxel energies.
pub const SHOWERS: &str = "showers";

/// An open CaloChallenge file, validated for keys, shapes, types and geometry.
pub struct ShowerFile {
    path: PathBuf,
    _file: hdf5::File,
    energies: hdf5::Dataset,
    showers: hdf5::Dataset,
    /// Number of showers.
    pub n: usize,
    /// Number of voxels per shower.
    pub n_voxels: usize,
    /// The detected (or given) geometry.
    pub geometry: GeometryKind,
}

fn float_type(ds: &hdf5::Dataset, name: &str) -> Result<FloatSize> {
    match ds.dtype().and_then(|t| t.to_descriptor()) {
        Ok(TypeDescriptor::Float(fs)) => Ok(fs),
        Ok(other) => bail!("dataset '{name}' has type {other}, expected float32 or float64"),
        Err(e) => bail!("dataset '{name}' has an unreadable type: {e}"),
    }
}

/// Checks incident energies (rows `start..`): all must be finite and positive. The error says
/// how many are bad, of which kind, and where the first one is.
pub fn check_energies(start: usize, energies: &[f64]) -> Result<()> {
    let (mut nan, mut inf, mut nonpos, mut first) = (0usize, 0usize, 0usize, None);
    for (i, &e) in energies.iter().enumerate() {
        let bad = if e.is_nan() {
            nan += 1;
            true
        } else if e.is_infinite() {
            inf += 1;
            true
        } else if e <= 0.0 {
            nonpos += 1;
            true
        } else {
            false
        };
        if bad && first.is_none() {
            first = Some((start + i, e));
        }
    }
    if let Some((i, e)) = first {
        bail!(
            "{} bad incident {} ({nan} NaN, {inf} inf, {nonpos} zero or negative), first at shower {i} ({e} MeV); \
             incident energies must be finite and positive",
            nan + inf + nonpos,
            if nan + inf + nonpos == 1 { "energy" } else { "energies" }
        );
    }
    Ok(())
}

/// Resolves the geometry of a file from its voxel count and an optional explicit choice.
pub fn resolve_geometry(n_voxels: usize, given: Option<GeometryKind>) -> Result<GeometryKind> {
    let found = GeometryKind::from_voxel_count(n_voxels);
    match given {
        Some(g) if g.n_voxels() == n_voxels => Ok(g),
        Some(g) => bail!(
            "--geometry {g} expects {} voxels per shower but the file has {n_voxels}",
            g.n_voxels()
        ),
        None => match found.as_slice() {
            [g] => Ok(*g),
            [] => bail!(
                "{n_voxels} voxels per shower matches no CaloChallenge geometry (368, 533, 6480 or 40500)"
            ),
            _ => bail!("{n_voxels} voxels matches several geometries; choose one with --geometry"),
        },
    }
}

impl ShowerFile {
    /// Opens and validates `path` (datasets present, 2-D shapes, equal N, float types).
    pub fn open(path: &Path, geometry: Option<GeometryKind>) -> Result<Self> {
        let shown = path.display();
        if !path.exists() {
            bail!("{shown}: no such file");
        }
        let file = hdf5::File::open(path).map_err(|e| anyhow!("{shown}: not a readable HDF5 file ({e})"))?;
        let names = file.member_names().map_err(|e| anyhow!("{shown}: cannot list datasets ({e})"))?;
        for need in [ENERGIES, SHOWERS] {
            if !names.iter().any(|n| n == need) {
                bail!("{shown}: no dataset '{need}' (found: {})", names.join(", "));
            }
        }
        let energies = file.dataset(ENERGIES).map_err(|e| anyhow!("{shown}: '{ENERGIES}' is not a dataset ({e})"))?;
        let showers = file.dataset(SHOWERS).map_err(|e| anyhow!("{shown}: '{SHOWERS}' is not a dataset ({e})"))?;
        float_type(&energies, ENERGIES).with_context(|| shown.to_string())?;
        float_type(&showers, SHOWERS).with_context(|| shown.to_string())?;
        let es = energies.shape();
        let ss = showers.shape();
        if es.len() != 2 || es[1] != 1 {
            bail!("{shown}: '{ENERGIES}' has shape {es:?}, expected (N, 1)");
        }
        if ss.len() != 2 {
            bail!("{shown}: '{SHOWERS}' has shape {ss:?}, expected (N, n_voxels)");
        }
        if es[0] != ss[0] {
            bail!("{shown}: '{ENERGIES}' has {} rows but '{SHOWERS}' has {}", es[0], ss[0]);
        }
        let geometry = resolve_geometry(ss[1], geometry).with_context(|| shown.to_string())?;
        let f = Self { path: path.to_path_buf(), _file: file, energies, showers, n: ss[0], n_voxels: ss[1], geometry };
        // The energies are small (8 bytes a shower): validate them all up front, so the error
        // counts every bad one whatever the chunking.
        let all: Array2<f64> = f
            .energies
            .read_2d()
            .map_err(|e| anyhow!("{shown}: cannot read '{ENERGIES}' (file truncated or corrupt?): {e}"))?;
        let all: Vec<f64> = all.iter().copied().collect();
        check_energies(0, &all).with_context(|| shown.to_string())?;
        Ok(f)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads rows `start..start+count` (clamped to N): energies (MeV) and showers row-major (MeV).
    pub fn read_rows(&self, start: usize, count: usize) -> Result<(Vec<f64>, Vec<f32>)> {
        let end = (start + count).min(self.n);
        if start >= end {
            return Ok((Vec::new(), Vec::new()));
        }
        let shown = self.path.display();
        let e: Array2<f64> = self
            .energies
            .read_slice_2d(s![start..end, ..])
            .map_err(|e| anyhow!("{shown}: cannot read '{ENERGIES}' rows {start}..{end} (file truncated or corrupt?): {e}"))?;
        let v: Array2<f32> = self
            .showers
            .read_slice_2d(s![start..end, ..])
            .map_err(|e| anyhow!("{shown}: cannot read '{SHOWERS}' rows {start}..{end} (file truncated or corrupt?): {e}"))?;
        let (ev, _) = e.into_raw_vec_and_offset();
        let (vv, _) = v.into_raw_vec_and_offset();
        Ok((ev, vv))
    }

    /// A good number of rows per read: about 64 MB of f32 voxels, at least 1.
    ///
    /// The environment variable `TDSM_CHUNK_ROWS` (a positive integer) overrides it; the tests
    /// use it to check that streaming in small chunks gives the same results as one read.
    pub fn chunk_rows(&self) -> usize {
        if let Some(n) = std::env::var("TDSM_CHUNK_ROWS").ok().and_then(|s| s.trim().parse::<usize>().ok()) {
            if n > 0 {
                return n;
            }
        }
        (16_000_000 / self.n_voxels.max(1)).clamp(1, 100_000)
    }

    /// Calls `f(start, energies, showers)` for consecutive row chunks of at most `rows` rows.
    pub fn for_each_chunk(
        &self,
        rows: usize,
        mut f: impl FnMut(usize, &[f64], &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        let rows = rows.max(1);
        let mut start = 0;
        while start < self.n {
            let (e, mut v) = self.read_rows(start, rows)?;
            f(start, &e, &mut v)?;
            start += rows;
        }
        Ok(())
    }
}

/// Problems found in the values of a chunk.
#[derive(Debug, Default, Clone)]
pub struct ValueReport {
    /// Voxels that are NaN.
    pub nan: usize,
    /// Voxels that are +-inf.
    pub inf: usize,
    /// Voxels below zero.
    pub negative: usize,
    /// First bad voxel as (row, column).
    pub first: Option<(usize, usize)>,
}

impl ValueReport {
    /// Total number of bad voxel values.
    pub fn total(&self) -> usize {
        self.nan + self.inf + self.negative
    }

    /// Adds another report (rows already global).
    pub fn merge(&mut self, o: &ValueReport) {
        self.nan += o.nan;
        self.inf += o.inf;
        self.negative += o.negative;
        if self.first.is_none() {
            self.first = o.first;
        }
    }

    /// One-line description.
    pub fn describe(&self) -> String {
        let (r, c) = self.first.unwrap_or((0, 0));
        format!(
            "{} bad voxel {} ({} NaN, {} inf, {} negative), first at shower {r}, voxel {c}",
            self.total(),
            if self.total() == 1 { "value" } else { "values" },
            self.nan,
            self.inf,
            self.negative
        )
    }
}

/// Checks a chunk: incident energies must be finite and positive (always an error otherwise);
/// bad voxel values are counted and, when `clip` is set, replaced by 0.
pub fn check_chunk(start: usize, energies: &[f64], showers: &mut [f32], n_voxels: usize, clip: bool) -> Result<ValueReport> {
    check_energies(start, energies)?;
    let mut rep = ValueReport::default();
    for (j, v) in showers.iter_mut().enumerate() {
        let bad = if v.is_nan() {
            rep.nan += 1;
            true
        } else if v.is_infinite() {
            rep.inf += 1;
            true
        } else if *v < 0.0 {
            rep.negative += 1;
            true
        } else {
            false
        };
        if bad {
            if rep.first.is_none() {
                rep.first = Some((start + j / n_voxels, j % n_voxels));
            }
            if clip {
                *v = 0.0;
            }
        }
    }
    Ok(rep)
}

/// Writes a CaloChallenge file atomically: rows are appended, the temporary file is renamed
/// onto the target by [`ShowerWriter::finish`], and removed if the writer is dropped unfinished.
pub struct ShowerWriter {
    tmp: PathBuf,
    target: PathBuf,
    /// File and its two datasets; `None` once finished or abandoned.
    open: Option<(hdf5::File, hdf5::Dataset, hdf5::Dataset)>,
    n: usize,
    n_voxels: usize,
    written: usize,
}

impl ShowerWriter {
    /// Creates a writer for `n` showers of `n_voxels` voxels (gzip level 4, row chunks).
    pub fn create(target: &Path, n: usize, n_voxels: usize) -> Result<Self> {
        if n == 0 {
            bail!("refusing to write an empty file {}", target.display());
        }
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!("output directory {} does not exist", dir.display());
        }
        let name = target.file_name().ok_or_else(|| anyhow!("{}: not a file name", target.display()))?;
        let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
        let file = hdf5::File::create(&tmp).map_err(|e| anyhow!("cannot create {}: {e}", tmp.display()))?;
        let chunk_rows = (1_000_000 / n_voxels.max(1)).clamp(1, 1000).min(n);
        let energies = file
            .new_dataset::<f64>()
            .shape((n, 1))
            .chunk((chunk_rows.max(1), 1))
            .deflate(4)
            .create(ENERGIES)
            .map_err(|e| anyhow!("cannot create dataset '{ENERGIES}': {e}"))?;
        let showers = file
            .new_dataset::<f32>()
            .shape((n, n_voxels))
            .chunk((chunk_rows, n_voxels))
            .deflate(4)
            .create(SHOWERS)
            .map_err(|e| anyhow!("cannot create dataset '{SHOWERS}': {e}"))?;
        Ok(Self { tmp, target: target.to_path_buf(), open: Some((file, energies, showers)), n, n_voxels, written: 0 })
    }

    /// Appends rows: `energies` in MeV, `showers` row-major (len = rows * n_voxels), MeV.
    pub fn write(&mut self, energies: &[f64], showers: &[f32]) -> Result<()> {
        let rows = energies.len();
        if showers.len() != rows * self.n_voxels {
            bail!("internal: {} voxel values for {rows} showers of {} voxels", showers.len(), self.n_voxels);
        }
        if self.written + rows > self.n {
            bail!("internal: writing past the declared {} showers", self.n);
        }
        let (a, b) = (self.written, self.written + rows);
        let e = Array2::from_shape_vec((rows, 1), energies.to_vec())?;
        let v = ndarray::ArrayView2::from_shape((rows, self.n_voxels), showers)?;
        let (_, eds, sds) = self.open.as_ref().ok_or_else(|| anyhow!("internal: writer already closed"))?;
        eds.write_slice(&e, s![a..b, ..]).map_err(|e| anyhow!("write failed: {e}"))?;
        sds.write_slice(v, s![a..b, ..]).map_err(|e| anyhow!("write failed: {e}"))?;
        self.written = b;
        Ok(())
    }

    /// Closes the file and renames it onto the target. Errors if not all rows were written.
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.written != self.n {
            bail!("internal: {} of {} showers written", self.written, self.n);
        }
        if let Some((f, eds, sds)) = self.open.take() {
            drop(eds);
            drop(sds);
            f.close().map_err(|e| anyhow!("cannot close {}: {e}", self.tmp.display()))?;
        }
        std::fs::rename(&self.tmp, &self.target)
            .with_context(|| format!("cannot move {} to {}", self.tmp.display(), self.target.display()))?;
        Ok(self.target.clone())
    }
}

impl Drop for ShowerWriter {
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            drop(open);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a whole in-memory data set to `path` atomically.
#[cfg(test)]
pub fn write_all(path: &Path, energies: &[f64], showers: &[f32], n_voxels: usize) -> Result<()> {
    let mut w = ShowerWriter::create(path, energies.len(), n_voxels)?;
    w.write(energies, showers)?;
    w.finish()?;
    Ok(())
}

/// Streams a file into point clouds (voxels above `threshold` MeV), validating values; bad
/// voxel values are rejected unless `clip`. Returns the geometry and the dataset.
pub fn load_points(
    path: &Path,
    geometry: Option<GeometryKind>,
    clip: bool,
    threshold: Option<f64>,
) -> Result<(GeometryKind, tdsm_core::dataset::PointDataset)> {
    let f = ShowerFile::open(path, geometry)?;
    let g = f.geometry.geometry();
    let thr = threshold.unwrap_or(f.geometry.eval_threshold_mev()) as f32;
    let mut ds = tdsm_core::dataset::PointDataset::default();
    let mut rep = ValueReport::default();
    let pb = crate::progress::bar(f.n as u64, "read");
    f.for_each_chunk(f.chunk_rows(), |start, e, v| {
        let r = check_chunk(start, e, v, f.n_voxels, clip).with_context(|| path.display().to_string())?;
        rep.merge(&r);
        if rep.total() > 0 && !clip {
            // keep scanning to report the whole file's count, but stop converting
            pb.set_position((start + e.len()) as u64);
            return Ok(());
        }
        let mut part = tdsm_core::dataset::PointDataset::from_voxels(&g, e, v, thr).unwrap_or_default();
        part.source_index.iter_mut().for_each(|i| *i += start);
        ds.showers.append(&mut part.showers);
        ds.e_inc.append(&mut part.e_inc);
        ds.source_index.append(&mut part.source_index);
        pb.set_position((start + e.len()) as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    if rep.total() > 0 && !clip {
        bail!("{}: {}; pass --clip to set them to 0", path.display(), rep.describe());
    }
    if ds.is_empty() {
        bail!("{}: no shower has a voxel above {thr} MeV", path.display());
    }
    Ok((f.geometry, ds))
}
