//! `tdsm bench`: training steps/s and sampling showers/s for named presets, as JSON.

use std::time::Instant;

use anyhow::{anyhow, Result};
use burn::module::AutodiffModule;
use burn::optim::AdamWConfig;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;
use tdsm_core::dataset::{sorted_batches, HostBatch, PointDataset};
use tdsm_core::generate::{sample_batch, SampleSettings};
use tdsm_core::model::{count_trainable, ScoreNet};
use tdsm_core::preset::preset;
use tdsm_core::sampler::SamplerKind;
use tdsm_core::simulator::Simulator;
use tdsm_core::GeometryKind;

use crate::cli::BenchArgs;

/// Results for one preset.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    /// Preset name.
    pub preset: String,
    /// Device used.
    pub device: String,
    /// Geometry of the synthetic data.
    pub geometry: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Mean real points per shower in the data.
    pub mean_points: f64,
    /// Optimisation steps per second.
    pub train_steps_per_s: f64,
    /// Milliseconds per forward pass of one training batch (no autodiff).
    pub forward_ms: f64,
    /// Sampling: (batch size, showers per second, ms per shower) for each measured batch size.
    pub sampling: Vec<SamplingPoint>,
    /// Sampler steps used for the sampling figures.
    pub sampler_steps: usize,
}

/// One sampling measurement.
#[derive(Debug, Serialize)]
pub struct SamplingPoint {
    /// Showers per batch.
    pub batch: usize,
    /// Showers per second.
    pub showers_per_s: f64,
    /// Milliseconds per shower.
    pub ms_per_shower: f64,
}

fn bench_one<B: AutodiffBackend>(name: &str, a: &BenchArgs, device: &B::Device, device_name: &str) -> Result<BenchResult> {
    let p = preset(name).ok_or_else(|| anyhow!("unknown preset '{name}'"))?;
    let geometry = if name == "demo" { GeometryKind::Ds1Photons } else { a.geometry.unwrap_or(GeometryKind::Ds2) };
    let sim = Simulator::new(geometry)?;
    let n_showers = (p.train.batch_size * 4).max(256);
    let nv = sim.n_voxels();
    let mut e = vec![0f64; n_showers];
    let mut v = vec![0f32; n_showers * nv];
    for k in 0..n_showers {
        e[k] = sim.shower(7, k as u64, &mut v[k * nv..(k + 1) * nv]);
    }
    let ds = PointDataset::from_voxels(&geometry.geometry(), &e, &v, geometry.eval_threshold_mev() as f32)?;
    let mut card = crate::cmd::train::new_card(geometry, &p, &ds, geometry.eval_threshold_mev())?;
    card.train.batch_size = a.batch_size.unwrap_or(p.train.batch_size);
    let mean_points = ds.showers.iter().map(|s| s.len()).sum::<usize>() as f64 / ds.len() as f64;
    B::seed(device, 1);
    let mut model = ScoreNet::<B>::new(&card.net, card.sde, device)?;
    let mut optim = AdamWConfig::new().init::<B, ScoreNet<B>>();
    // a random batch (not sorted by hit count: realistic padding for training)
    let idx: Vec<usize> = (0..card.train.batch_size.min(ds.len())).collect();
    let hb = HostBatch::collate(&ds, &idx, &card.transform);
    let steps = a.train_steps;
    // warm-up (shader compilation on GPUs)
    let (m, l) = tdsm_core::train::train_step(model, &mut optim, &hb, &card.train, 0, device);
    let _ = l.into_data();
    model = m;
    let t0 = Instant::now();
    let mut last = None;
    for s in 0..steps {
        let (m, l) = tdsm_core::train::train_step(model, &mut optim, &hb, &card.train, s + 1, device);
        model = m;
        last = Some(l);
    }
    if let Some(l) = last {
        let _ = l.into_data();
    }
    let train_steps_per_s = steps as f64 / t0.elapsed().as_secs_f64();
    let eval = model.valid();
    let t0 = Instant::now();
    let (t, z) = tdsm_core::train::step_randomness(1, 0, &hb, 1e-3);
    for _ in 0..steps.max(1) {
        let _ = tdsm_core::train::batch_loss::<B::InnerBackend>(&eval, &card.sde, &hb, &t, &z, device).into_data();
    }
    let forward_ms = 1e3 * t0.elapsed().as_secs_f64() / steps.max(1) as f64;
    let settings = SampleSettings { sampler: SamplerKind::Em, steps: a.sampler_steps, seed: 1, calibrate: true };
    let mut sampling = vec![];
    for &bs in &a.sample_batches {
        // at least 8 showers per measurement, so batch 1 is not one shower's hit count
        let total = bs.max(8);
        let n_hits: Vec<usize> = (0..total).map(|i| ds.showers[i % ds.len()].len()).collect();
        let energies: Vec<f64> = (0..total).map(|i| ds.e_inc[i % ds.len()]).collect();
        let indices: Vec<u64> = (0..total as u64).collect();
        let t0 = Instant::now();
        for batch in sorted_batches(&n_hits, bs) {
            let bi: Vec<u64> = batch.iter().map(|&r| indices[r]).collect();
            let be: Vec<f64> = batch.iter().map(|&r| energies[r]).collect();
            let bn: Vec<usize> = batch.iter().map(|&r| n_hits[r]).collect();
            let x = sample_batch::<B::InnerBackend>(&eval, &card, &settings, &bi, &be, &bn, device, &mut |_| {});
            let _ = x.into_data();
        }
        let dt = t0.elapsed().as_secs_f64();
        sampling.push(SamplingPoint { batch: bs, showers_per_s: total as f64 / dt, ms_per_shower: 1e3 * dt / total as f64 });
    }
    Ok(BenchResult {
        preset: name.to_string(),
        device: device_name.to_string(),
        geometry: geometry.to_string(),
        parameters: count_trainable(&model),
        batch_size: card.train.batch_size,
        mean_points,
        train_steps_per_s,
        forward_ms,
        sampling,
        sampler_steps: a.sampler_steps,
    })
}

/// Runs the benchmark for every requested preset and prints JSON.
pub fn run_on<B: AutodiffBackend>(a: &BenchArgs, device: &B::Device, device_name: &str) -> Result<()> {
    let mut out = vec![];
    for name in &a.presets {
        eprintln!("bench: preset {name} on {device_name} ...");
        out.push(bench_one::<B>(name, a, device, device_name)?);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Runs the command on the selected device.
pub fn run(a: BenchArgs) -> Result<()> {
    let resolved = crate::device::resolve(a.device)?;
    let label = resolved.label();
    crate::on_device!(&resolved, |AD, I, device| { run_on::<AD>(&a, &device, &label) })
}
