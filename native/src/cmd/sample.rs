//! `tdsm sample`: generate showers with a trained model into a CaloChallenge file.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use tdsm_core::bundle::ModelCard;
use tdsm_core::dataset::sorted_batches;
use tdsm_core::generate::{generate_batch_with_stats, plan_showers, SampleSettings};
use tdsm_core::model::ScoreNet;
use tdsm_core::planner::{plan_batches, BatchMemory};
use tdsm_core::pointcloud::Voxelizer;
use tdsm_core::rng::{Purpose, Stream};
use tdsm_core::sampler::{OdeMethod, SamplerKind};
use tdsm_core::GeometryKind;

use crate::cli::{SampleArgs, SamplerName};
use crate::h5io::{ShowerFile, ShowerWriter};
use crate::progress;

/// The sampler selected on the command line.
pub fn sampler_kind(a: &SampleArgs) -> SamplerKind {
    match a.sampler {
        SamplerName::Em => SamplerKind::Em,
        SamplerName::Pc => SamplerKind::Pc { snr: a.snr, corrector_steps: a.corrector_steps },
        SamplerName::Ode => SamplerKind::Ode { method: if a.rk4 { OdeMethod::Rk4 } else { OdeMethod::Heun } },
        SamplerName::OdeAdaptive => SamplerKind::OdeAdaptive { rtol: a.rtol, atol: a.atol },
    }
}

/// Incident energy of generated shower `k` (MeV) when none are given: ds1 cycles through its
/// 15 discrete energies (or log-uniform in `range`), ds2/ds3 are log-uniform in `range`
/// (default 1 GeV - 1 TeV).
pub fn drawn_energy(geometry: GeometryKind, seed: u64, k: u64, range: Option<(f64, f64)>) -> f64 {
    let mut rng = Stream::new(seed, k, Purpose::Energy);
    match (geometry, range) {
        (GeometryKind::Ds1Photons | GeometryKind::Ds1Pions, None) => 2f64.powi(8 + (k % 15) as i32),
        (_, r) => {
            let (lo, hi) = r.unwrap_or((1e3, 1e6));
            (lo.ln() + rng.uniform() * (hi.ln() - lo.ln())).exp()
        }
    }
}

/// Statistics of a generation run.
#[derive(Debug, Clone, Default)]
pub struct GenStats {
    /// Showers written.
    pub showers: usize,
    /// Points generated.
    pub points: usize,
    /// Points outside the geometry (dropped).
    pub dropped: usize,
    /// Seconds spent.
    pub seconds: f64,
    /// Network evaluations per shower (adaptive ODE sampler only).
    pub nfe: Vec<usize>,
    /// Showers whose adaptive solve stopped at the evaluation limit before reaching t = eps.
    pub unfinished: usize,
}

impl GenStats {
    /// "NFE per shower: mean M, min A, max B" for the adaptive sampler, `None` otherwise.
    pub fn nfe_summary(&self) -> Option<String> {
        if self.nfe.is_empty() {
            return None;
        }
        let mean = self.nfe.iter().sum::<usize>() as f64 / self.nfe.len() as f64;
        let min = self.nfe.iter().min().copied().unwrap_or(0);
        let max = self.nfe.iter().max().copied().unwrap_or(0);
        let mut s = format!("network evaluations per shower: mean {mean:.1}, min {min}, max {max}");
        if self.unfinished > 0 {
            s.push_str(&format!("; {} showers hit the evaluation limit before t = eps", self.unfinished));
        }
        Some(s)
    }
}

/// How showers are grouped into batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Batching {
    /// At most this many showers per batch.
    Fixed(usize),
    /// As many as fit `budget` bytes under the model's memory model, at most `cap`.
    Planned {
        /// Device memory for one batch, bytes.
        budget: u64,
        /// Largest batch.
        cap: usize,
    },
}

impl Batching {
    /// `--batch-size N`, or the planner for the device when none is given.
    pub fn for_device(given: Option<usize>, resolved: &crate::device::Resolved) -> Self {
        match given {
            Some(n) => Self::Fixed(n),
            None => {
                let (budget, cap) = match resolved {
                    crate::device::Resolved::Cpu => (resolved.memory_bytes().map(|m| m / 4).unwrap_or(1 << 30).min(1 << 30), 256),
                    #[cfg(feature = "wgpu")]
                    crate::device::Resolved::Wgpu { .. } => (resolved.memory_bytes().map(|m| m.saturating_mul(4)).unwrap_or(1 << 30).min(4 << 30), 4096),
                    #[cfg(feature = "cuda")]
                    crate::device::Resolved::Cuda { .. } => (resolved.memory_bytes().map(|m| m / 10 * 6).unwrap_or(4 << 30), 16384),
                };
                Self::Planned { budget, cap }
            }
        }
    }

    /// The batches of a chunk of showers with hit counts `n_hits`.
    fn batches<B: Backend>(&self, n_hits: &[usize], model: &ScoreNet<B>, elem_bytes: u64, cfg: &tdsm_core::model::ScoreNetConfig) -> Vec<Vec<usize>> {
        match *self {
            Self::Fixed(n) => sorted_batches(n_hits, n),
            Self::Planned { budget, cap } => {
                let mem = BatchMemory::for_sampling(cfg, elem_bytes, burn::module::Module::num_params(model) as u64);
                plan_batches(n_hits, &mem, budget, cap)
            }
        }
    }

    /// Showers per generated chunk (the voxels of a chunk are held in memory).
    fn chunk(&self) -> usize {
        match *self {
            Self::Fixed(n) => (n * 16).max(1),
            Self::Planned { cap, .. } => (cap * 4).clamp(1024, 65_536),
        }
    }
}

/// Generates showers with global indices `first..first+energies.len()` and writes them in order.
#[allow(clippy::too_many_arguments)]
pub fn generate_to_file<B: Backend>(
    model: &ScoreNet<B>,
    card: &ModelCard,
    settings: &SampleSettings,
    energies: &[f64],
    first: u64,
    batching: Batching,
    out: &Path,
    device: &B::Device,
) -> Result<GenStats> {
    let t0 = Instant::now();
    let g = card.geometry.geometry();
    let vox = Voxelizer::new(&g);
    let nv = g.n_voxels;
    let mut w = ShowerWriter::create(out, energies.len(), nv)?;
    let pb = progress::bar(energies.len() as u64, "sample");
    let mut st = GenStats::default();
    let chunk = batching.chunk();
    let elem_bytes = std::mem::size_of::<B::FloatElem>() as u64;
    for (c, e_chunk) in energies.chunks(chunk).enumerate() {
        let base = first + (c * chunk) as u64;
        let indices: Vec<u64> = (0..e_chunk.len() as u64).map(|i| base + i).collect();
        let plans = plan_showers(card, settings, &indices, e_chunk);
        let n_hits: Vec<usize> = plans.iter().map(|p| p.n_hits).collect();
        let mut voxels = vec![0f32; e_chunk.len() * nv];
        for batch in batching.batches(&n_hits, model, elem_bytes, &card.net) {
            let bi: Vec<u64> = batch.iter().map(|&r| indices[r]).collect();
            let be: Vec<f64> = batch.iter().map(|&r| e_chunk[r]).collect();
            let bp: Vec<_> = batch.iter().map(|&r| plans[r]).collect();
            let (pts, stats) = generate_batch_with_stats(model, card, settings, &bi, &be, &bp, device, &mut |_| {});
            if let Some(stats) = stats {
                st.nfe.extend_from_slice(&stats.nfe);
                st.unfinished += stats.finished.iter().filter(|f| !**f).count();
            }
            if let Some(p) = std::env::var_os("TDSM_DUMP_POINTS") {
                let dump: Vec<(f64, &Vec<[f32; 4]>)> = be.iter().copied().zip(pts.iter()).take(4).collect();
                std::fs::write(p, serde_json::to_string(&dump)?)?;
            }
            for (&r, p) in batch.iter().zip(&pts) {
                let row = &mut voxels[r * nv..(r + 1) * nv];
                let s = vox.add_points(p, row);
                st.points += s.kept + s.dropped;
                st.dropped += s.dropped;
                // with calibration, the energy inside the geometry is the planned total
                if let Some(total) = plans[r].total_energy {
                    let sum: f64 = row.iter().map(|&v| v as f64).sum();
                    if sum > 0.0 {
                        let f = (total / sum) as f32;
                        row.iter_mut().for_each(|v| *v *= f);
                    }
                }
            }
            pb.inc(batch.len() as u64);
        }
        w.write(e_chunk, &voxels)?;
        st.showers += e_chunk.len();
    }
    pb.finish_and_clear();
    w.finish()?;
    st.seconds = t0.elapsed().as_secs_f64();
    Ok(st)
}

/// Incident energies for a run: from `--energies FILE` or drawn for `--n`.
pub fn energies_for(a: &SampleArgs, card: &ModelCard) -> Result<Vec<f64>> {
    match (&a.energies, a.n) {
        (Some(_), Some(_)) => bail!("give either --energies FILE or --n N, not both"),
        (None, None) => bail!("give --energies FILE (reuse a reference file's incident energies) or --n N"),
        (Some(path), None) => {
            let f = ShowerFile::open(path, None)?;
            if f.geometry != card.geometry {
                bail!("{} is {} data but the model generates {}", path.display(), f.geometry, card.geometry);
            }
            let mut e = Vec::with_capacity(f.n);
            f.for_each_chunk(f.chunk_rows().max(10_000), |start, en, _| {
                for (i, &x) in en.iter().enumerate() {
                    if !(x.is_finite() && x > 0.0) {
                        bail!("{}: incident energy of shower {} is {x}", path.display(), start + i);
                    }
                }
                e.extend_from_slice(en);
                Ok(())
            })?;
            Ok(e)
        }
        (None, Some(n)) => {
            if n == 0 {
                bail!("--n must be at least 1");
            }
            let range = match &a.energy_range {
                None => None,
                Some(s) => {
                    let parts: Vec<f64> = s.split(',').map(|v| v.trim().parse::<f64>()).collect::<Result<_, _>>().with_context(|| format!("--energy-range '{s}': expected LO,HI in MeV"))?;
                    if parts.len() != 2 || !(parts[0] > 0.0 && parts[1] >= parts[0]) {
                        bail!("--energy-range '{s}': expected LO,HI in MeV with 0 < LO <= HI");
                    }
                    Some((parts[0], parts[1]))
                }
            };
            Ok((0..n as u64).map(|k| drawn_energy(card.geometry, a.seed, k, range)).collect())
        }
    }
}

/// Runs the command on the CPU.
pub fn run(a: SampleArgs) -> Result<()> {
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if a.sampler == SamplerName::OdeAdaptive {
        tdsm_core::sampler::AdaptiveOptions::with_tolerances(a.rtol, a.atol).validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if a.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    let resolved = crate::device::resolve(a.device)?;
    let card = crate::model_dir::read_card(&a.model)?;
    let energies = energies_for(&a, &card)?;
    let batching = Batching::for_device(a.batch_size, &resolved);
    let settings = SampleSettings { sampler: sampler_kind(&a), steps: a.steps, seed: a.seed, calibrate: !a.no_calibration };
    let total = energies.len();
    let range = a.shard.map(|s| s.range(total)).unwrap_or(0..total);
    if range.is_empty() {
        bail!("shard {} is empty: the run has only {total} showers", a.shard.map(|s| format!("{}/{}", s.index, s.count)).unwrap_or_default());
    }
    let st = crate::on_device_in!(&resolved, a.precision, |I, device| {
        let (_, model) = crate::model_dir::load::<I>(&a.model, &device)?;
        generate_to_file(&model, &card, &settings, &energies[range.clone()], range.start as u64, batching, &a.out, &device)?
    });
    if let Some(sh) = a.shard {
        let weights = std::fs::read(a.model.join(crate::model_dir::WEIGHTS))?;
        let model_hash = crate::shard::fnv_hex(&[card.to_json().as_bytes(), &weights]);
        let settings_json = serde_json::to_string(&settings)?;
        let run_id = crate::shard::fnv_hex(&[model_hash.as_bytes(), settings_json.as_bytes(), total.to_string().as_bytes()]);
        let side = crate::shard::Sidecar { run_id, seed: a.seed, model_hash, shard_index: sh.index, shard_count: sh.count, first: range.start, count: range.len(), total };
        crate::model_dir::write_atomic(&crate::shard::sidecar_path(&a.out), serde_json::to_string_pretty(&side)?.as_bytes())?;
    }
    eprintln!(
        "wrote {} showers to {} in {:.1} s ({:.1} ms/shower); {} points, {} outside the geometry dropped",
        st.showers,
        a.out.display(),
        st.seconds,
        1e3 * st.seconds / st.showers.max(1) as f64,
        st.points,
        st.dropped
    );
    if let Some(line) = st.nfe_summary() {
        eprintln!("{line}");
    }
    Ok(())
}
