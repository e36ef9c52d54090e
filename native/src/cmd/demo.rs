//! `tdsm demo`: the whole pipeline on built-in data — simulate ds1-photon-geometry showers,
//! train a small model on the CPU, generate showers for held-out incident energies, compare
//! them with simulated reference showers (plots, separation powers, a summary table).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tdsm_core::eval::features::{apply_threshold, HighLevel};
use tdsm_core::eval::histogram::{density, linear_edges, log_edges, separation_power};
use tdsm_core::generate::SampleSettings;
use tdsm_core::sampler::{OdeMethod, SamplerKind};
use tdsm_core::GeometryKind;

use crate::cli::{DemoArgs, SimulateArgs, TrainArgs};
use crate::h5io::ShowerFile;
use crate::plot;

/// One compared quantity.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Quantity name.
    pub quantity: String,
    /// Mean over the reference showers.
    pub reference_mean: f64,
    /// Mean over the generated showers.
    pub generated_mean: f64,
    /// Separation power of the two histograms (0 = identical, 1 = disjoint).
    pub separation_power: f64,
}

/// The demo's summary (`summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Compared quantities.
    pub rows: Vec<Row>,
    /// Relative difference of the mean E_tot/E_inc.
    pub etot_mean_rel_diff: f64,
    /// Separation power of E_tot/E_inc.
    pub etot_separation_power: f64,
    /// Whether the demo bar is met (mean within 5%, separation power below 0.05).
    pub bar_met: bool,
    /// Seconds per stage.
    pub seconds: Vec<(String, f64)>,
}

/// High-level features of a file after the evaluation threshold.
pub fn features(path: &Path, geometry: GeometryKind) -> Result<HighLevel> {
    let f = ShowerFile::open(path, Some(geometry))?;
    let mut hl = HighLevel::new(&geometry.geometry());
    let thr = geometry.eval_threshold_mev() as f32;
    f.for_each_chunk(f.chunk_rows(), |_, e, v| {
        apply_threshold(v, thr);
        hl.push_chunk(e, v)?;
        Ok(())
    })?;
    Ok(hl)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Compares generated with reference showers: E_tot/E_inc, energy per layer, centres of
/// energy; writes one PNG per quantity into `dir` and returns the rows.
pub fn compare(reference: &HighLevel, generated: &HighLevel, geometry: GeometryKind, dir: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut add = |name: &str, file: &str, x_label: &str, r: Vec<f64>, g: Vec<f64>, edges: Vec<f64>, log_x: bool| -> Result<()> {
        let (pr, pg) = (density(&r, &edges), density(&g, &edges));
        let sp = separation_power(&pr, &pg, &edges);
        plot::overlay(&dir.join(file), &format!("{name}  (separation power {sp:.4})"), x_label, &edges, &[("reference (GFlash)", pr), ("tdsm", pg)], log_x)?;
        rows.push(Row { quantity: name.to_string(), reference_mean: mean(&r), generated_mean: mean(&g), separation_power: sp });
        Ok(())
    };
    let ratio = |h: &HighLevel| h.e_tot.iter().zip(&h.e_inc).map(|(t, i)| t / i).collect::<Vec<f64>>();
    add("E_tot / E_inc", "etot_over_einc.png", "E_tot / E_inc", ratio(reference), ratio(generated), linear_edges(0.5, 1.5, 101), false)?;
    let thr = geometry.eval_threshold_mev();
    for (&id, r) in &reference.e_layer {
        let g = generated.e_layer.get(&id).cloned().unwrap_or_default();
        let max = r.iter().cloned().fold(thr * 10.0, f64::max);
        add(&format!("E layer {id} [MeV]"), &format!("e_layer_{id}.png"), "E_layer [MeV]", r.clone(), g, log_edges(thr, max, 40), true)?;
    }
    let range = |id: usize| if matches!(geometry, GeometryKind::Ds2 | GeometryKind::Ds3) { 30.0 } else if id >= 12 { 500.0 } else { 100.0 };
    for (&id, r) in &reference.ec_x {
        let g = generated.ec_x.get(&id).cloned().unwrap_or_default();
        let w = range(id);
        add(&format!("centre of energy x, layer {id} [mm]"), &format!("ec_x_{id}.png"), "x [mm]", r.clone(), g, linear_edges(-w, w, 101), false)?;
    }
    for (&id, r) in &reference.ec_y {
        let g = generated.ec_y.get(&id).cloned().unwrap_or_default();
        let w = range(id);
        add(&format!("centre of energy y, layer {id} [mm]"), &format!("ec_y_{id}.png"), "y [mm]", r.clone(), g, linear_edges(-w, w, 101), false)?;
    }
    for (&id, r) in &reference.ec_r {
        let g = generated.ec_r.get(&id).cloned().unwrap_or_default();
        let w = if matches!(geometry, GeometryKind::Ds2 | GeometryKind::Ds3) { 42.0 } else if id >= 12 { 1500.0 } else { 500.0 };
        add(&format!("radial centre of energy, layer {id} [mm]"), &format!("ec_r_{id}.png"), "r [mm]", r.clone(), g, linear_edges(0.0, w, 101), false)?;
    }
    Ok(rows)
}

/// Runs the demo.
pub fn run(a: DemoArgs) -> Result<()> {
    if !["em", "pc", "ode", "ode-adaptive"].contains(&a.sampler.as_str()) {
        anyhow::bail!("--sampler {}: expected em, pc, ode or ode-adaptive", a.sampler);
    }
    let t_all = Instant::now();
    let out = a.out.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let geometry = GeometryKind::Ds1Photons;
    let mut seconds = Vec::new();
    println!("tdsm demo: GFlash-simulated ds1-photon-geometry showers (a parametrised simulation, not Geant4)");
    println!("           -> train a small score model on the CPU -> generate -> compare. Output in {}", out.display());

    let train_file = out.join("train.h5");
    let reference_file = out.join("reference.h5");
    let t = Instant::now();
    println!("[1/4] simulating {} training and {} reference showers", a.train_events, a.reference_events);
    super::simulate::run(SimulateArgs { geometry, events: a.train_events, seed: a.seed, first: 0, energy: None, threads: None, out: train_file.clone() })?;
    super::simulate::run(SimulateArgs { geometry, events: a.reference_events, seed: a.seed + 1000, first: 0, energy: None, threads: None, out: reference_file.clone() })?;
    seconds.push(("simulate".to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let model_dir = out.join("model");
    println!("[2/4] training the '{}' preset ({} steps)", a.preset, a.train_steps.map(|s| s.to_string()).unwrap_or("preset".into()));
    let targs = TrainArgs {
        data: train_file,
        geometry: Some(geometry),
        preset: Some(a.preset.clone()),
        config: None,
        out: model_dir.clone(),
        steps: a.train_steps,
        batch_size: None,
        lr: None,
        seed: Some(a.seed),
        checkpoint_every: None,
        log_every: None,
        resume: None,
        stop_after: None,
        max_seconds: None,
        exit_code_after_checkpoint: None,
        force: true,
        clip: false,
        device: a.device,
        devices: None,
    };
    super::train::run(targs)?;
    seconds.push(("train".to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let generated_file = out.join("generated.h5");
    println!("[3/4] generating {} showers for the reference incident energies ({} steps, {})", a.reference_events, a.sample_steps, a.sampler);
    let resolved = crate::device::resolve(a.device)?;
    let ref_file = ShowerFile::open(&reference_file, Some(geometry))?;
    let (energies, _) = ref_file.read_rows(0, ref_file.n)?;
    let sampler = match a.sampler.as_str() {
        "em" => SamplerKind::Em,
        "pc" => SamplerKind::Pc { snr: 0.16, corrector_steps: 1 },
        "ode" => SamplerKind::Ode { method: OdeMethod::Heun },
        "ode-adaptive" => SamplerKind::OdeAdaptive { rtol: 1e-4, atol: 1e-4 },
        other => anyhow::bail!("--sampler {other}: expected em, pc, ode or ode-adaptive"),
    };
    let settings = SampleSettings { sampler, steps: a.sample_steps, seed: a.seed + 2000, calibrate: true };
    let st = crate::on_device!(&resolved, |AD, I, device| {
        let (card, model) = crate::model_dir::load::<I>(&model_dir, &device)?;
        super::sample::generate_to_file(&model, &card, &settings, &energies, 0, super::sample::Batching::Fixed(128), &generated_file, &device)?
    });
    seconds.push(("generate".to_string(), t.elapsed().as_secs_f64()));
    println!("      {:.1} ms per shower; {} of {} points fell outside the geometry", 1e3 * st.seconds / st.showers.max(1) as f64, st.dropped, st.points);

    let t = Instant::now();
    println!("[4/4] comparing with the reference (1 MeV threshold as in the CaloChallenge evaluation)");
    let plots = out.join("plots");
    std::fs::create_dir_all(&plots)?;
    let hr = features(&reference_file, geometry)?;
    let hg = features(&generated_file, geometry)?;
    let rows = compare(&hr, &hg, geometry, &plots)?;
    seconds.push(("compare".to_string(), t.elapsed().as_secs_f64()));
    seconds.push(("total".to_string(), t_all.elapsed().as_secs_f64()));
    let etot = &rows[0];
    let rel = (etot.generated_mean - etot.reference_mean) / etot.reference_mean;
    let summary = Summary {
        etot_mean_rel_diff: rel,
        etot_separation_power: etot.separation_power,
        bar_met: rel.abs() < 0.05 && etot.separation_power < 0.05,
        rows,
        seconds,
    };
    let mut md = String::from("| quantity | reference mean | tdsm mean | separation power |\n|---|---|---|---|\n");
    for r in &summary.rows {
        md += &format!("| {} | {:.4} | {:.4} | {:.4} |\n", r.quantity, r.reference_mean, r.generated_mean, r.separation_power);
    }
    md += &format!(
        "\nE_tot/E_inc: mean differs by {:+.2}%, separation power {:.4} -> demo bar (|diff| < 5%, S < 0.05) {}\n",
        100.0 * rel,
        summary.etot_separation_power,
        if summary.bar_met { "MET" } else { "NOT met" }
    );
    md += &format!("\ntimes: {}\n", summary.seconds.iter().map(|(k, v)| format!("{k} {v:.0} s")).collect::<Vec<_>>().join(", "));
    crate::model_dir::write_atomic(&out.join("summary.md"), md.as_bytes())?;
    crate::model_dir::write_atomic(&out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    println!("\n{md}");
    println!("plots in {}, summary in {}", plots.display(), out.join("summary.md").display());
    Ok(())
}
