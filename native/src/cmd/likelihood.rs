//! `tdsm likelihood`: per-shower log-densities through the probability-flow ODE.
//!
//! Each shower's points above the model's hit threshold are transformed to model space and
//! the augmented ODE (state and divergence) is solved from `t = eps` to `T` with the adaptive
//! Dormand–Prince solver. The CSV gives the model-space density, its value per dimension, the
//! density of the (ordered) physical points `[E MeV, x mm, y mm, layer]` through the
//! transforms' log-Jacobians, and optionally the hit-count model's `log P(n | E_inc)`.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::{Tensor, TensorData};
use tdsm_core::bundle::load_model;
use tdsm_core::dataset::{sorted_batches, HostBatch, PointDataset};
use tdsm_core::likelihood::{log_density, Divergence, LikelihoodOptions, LogDensity, ProbeKind};
use tdsm_core::sampler::{select_rows, AdaptiveOptions};

use burn::tensor::backend::AutodiffBackend;
use crate::cli::LikelihoodArgs;
use crate::h5io::load_points;
use crate::progress;

/// The CSV header.
pub const HEADER: &str = "index,e_inc_mev,n_points,dims,log_p_model,nll_nats_per_dim,nll_bits_per_dim,log_jacobian,log_p_physical,log_p_hitcount,log_p_total,nfe,finished,log_p_prior,delta";

/// The divergence estimator selected on the command line.
fn divergence(a: &LikelihoodArgs) -> Result<Divergence> {
    if a.exact {
        if a.gaussian_probes {
            bail!("--gaussian-probes applies to --hutchinson, not --exact");
        }
        return Ok(Divergence::Exact);
    }
    let probes = a.hutchinson.unwrap_or(1);
    if probes == 0 {
        bail!("--hutchinson needs at least 1 probe");
    }
    Ok(Divergence::Hutchinson { probes, kind: if a.gaussian_probes { ProbeKind::Gaussian } else { ProbeKind::Rademacher } })
}

/// Runs the command on the CPU.
pub fn run(a: LikelihoodArgs) -> Result<()> {
    let div = divergence(&a)?;
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if a.n == Some(0) {
        bail!("--n must be at least 1");
    }
    if a.max_nfe < 2 {
        bail!("--max-nfe must be at least 2");
    }
    let ode = AdaptiveOptions { max_nfe: a.max_nfe, ..AdaptiveOptions::with_tolerances(a.rtol, a.atol) };
    ode.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    if a.out.is_dir() {
        bail!("{}: is a directory; --out takes a CSV file name", a.out.display());
    }

    let mut card = crate::model_dir::read_card(&a.model)?;
    // Burn applies dropout whenever the backend records gradients: switch it off.
    card.net.dropout = 0.0;
    let wp = a.model.join(crate::model_dir::WEIGHTS);
    let bytes = std::fs::read(&wp).with_context(|| format!("{}: cannot read weights", wp.display()))?;
    let resolved = crate::device::resolve(a.device)?;
    let (_, mut ds) = load_points(&a.data, Some(card.geometry), a.clip, Some(card.hit_threshold_mev))?;
    if let Some(n) = a.n {
        let keep: Vec<usize> = (0..ds.len()).filter(|&i| ds.source_index[i] < n).collect();
        ds = ds.subset(&keep);
        if ds.is_empty() {
            bail!("{}: none of the first {n} showers has a voxel above {} MeV", a.data.display(), card.hit_threshold_mev);
        }
    }
    let opts = LikelihoodOptions { divergence: div, ode, eps: card.sample_eps, seed: a.seed, max_replicas: 512 };

    let t0 = Instant::now();
    let n_hits: Vec<usize> = ds.showers.iter().map(Vec::len).collect();
    let mut results: Vec<Option<LogDensity>> = vec![None; ds.len()];
    let pb = progress::bar(ds.len() as u64, "likelihood");
    crate::on_device!(&resolved, |AD, I, device| {
        let model = load_model::<AD>(&card, &bytes, &device).with_context(|| wp.display().to_string())?;
        // no step longer than the fastest time feature's period (see `ScoreNet::time_step_limit`)
        let opts = LikelihoodOptions { ode: AdaptiveOptions { h_max: opts.ode.h_max.min(model.time_step_limit()), ..opts.ode }, ..opts };
        for batch in sorted_batches(&n_hits, a.batch_size) {
            let ld = score_batch::<AD>(&model, &card, &ds, &batch, &opts, &device);
            for (&i, r) in batch.iter().zip(ld) {
                results[i] = Some(r);
            }
            pb.inc(batch.len() as u64);
        }
    });
    pb.finish_and_clear();

    let mut csv = String::from(HEADER);
    csv.push('\n');
    let (mut sum, mut unfinished, mut nfe) = (0.0, 0usize, 0usize);
    for (i, r) in results.iter().enumerate() {
        let r = r.expect("every shower scored");
        let e = ds.e_inc[i];
        let pts = &ds.showers[i];
        let log_jac: f64 = pts.iter().map(|p| card.transform.log_jacobian(p, e)).sum();
        let phys = r.log_p + log_jac;
        let hit = card.hitcount.log_prob(card.transform.condition(e), pts.len());
        let total = if a.hitcount { phys + hit } else { phys };
        sum += r.log_p;
        nfe += r.nfe;
        unfinished += usize::from(!r.finished);
        writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            ds.source_index[i],
            e,
            pts.len(),
            r.dims,
            r.log_p,
            r.nats_per_dim(),
            r.bits_per_dim(),
            log_jac,
            phys,
            hit,
            total,
            r.nfe,
            r.finished,
            r.prior,
            r.delta
        )?;
    }
    crate::model_dir::write_atomic(&a.out, csv.as_bytes())?;
    let n = ds.len();
    eprintln!(
        "scored {n} showers in {:.1} s ({:.0} ms/shower): mean log p (model space) {:.3} nats, mean {:.1} network evaluations per shower; wrote {}",
        t0.elapsed().as_secs_f64(),
        1e3 * t0.elapsed().as_secs_f64() / n as f64,
        sum / n as f64,
        nfe as f64 / n as f64,
        a.out.display()
    );
    if unfinished > 0 {
        eprintln!("warning: {unfinished} solves stopped at --max-nfe {} before reaching T (their rows say finished=false)", a.max_nfe);
    }
    Ok(())
}

/// Log-densities of the showers `idx` of `ds`, solved as one batch.
fn score_batch<A: AutodiffBackend>(
    model: &tdsm_core::model::ScoreNet<A>,
    card: &tdsm_core::bundle::ModelCard,
    ds: &PointDataset,
    idx: &[usize],
    opts: &LikelihoodOptions,
    device: &A::Device,
) -> Vec<LogDensity> {
    let hb = HostBatch::collate(ds, idx, &card.transform);
    let (b, n) = (hb.batch, hb.n_points);
    let x0 = Tensor::<A::InnerBackend, 3>::from_data(TensorData::new(hb.x, [b, n, 4]), device);
    let mask = Tensor::<A::InnerBackend, 2>::from_data(TensorData::new(hb.mask, [b, n]), device);
    let mask_ad = Tensor::<A, 2>::from_inner(mask.clone());
    let cond_ad = Tensor::<A, 1>::from_data(TensorData::new(hb.cond, [b]), device);
    let indices: Vec<u64> = idx.iter().map(|&i| ds.source_index[i] as u64).collect();
    let score = |x: Tensor<A, 3>, t: Tensor<A, 1>, rows: &[usize]| model.forward(x, select_rows(mask_ad.clone(), rows), t, select_rows(cond_ad.clone(), rows));
    log_density::<A>(&score, &card.sde, x0, mask, &indices, opts, &mut |_| {})
}
