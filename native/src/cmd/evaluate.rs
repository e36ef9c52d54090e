//! `tdsm evaluate`: the CaloChallenge evaluation of a generated file against a reference file.
//!
//! Both files are thresholded (voxels below the challenge's minimum energy set to 0) and
//! streamed in chunks. Computed: high-level features and their histograms with the
//! challenge's binnings and separation powers, the binary classifier test on low-level and
//! high-level inputs (AUC, JSD; mean and std over seeds), FPD and KPD on the high-level
//! features. Written to `--out`: `metrics.json`, `plots/*.png` and a self-contained
//! `report.html`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use tdsm_core::eval::classifier::{train_classifier, ClassifierConfig, ClassifierRun, DenseRows, LowLevelRows, Preprocess, Rows};
use tdsm_core::eval::features::{apply_threshold, HighLevel};
use tdsm_core::eval::histogram::{bin_index, density, density_from_counts, linear_edges, log_edges, separation_power};
use tdsm_core::eval::{fpd_with_progress, kpd_with_progress, mean_std, normalise_by_reference, FpdConfig, KpdConfig};
use tdsm_core::{Geometry, GeometryKind};

use crate::cli::EvaluateArgs;
use crate::h5io::{check_chunk, ShowerFile, ValueReport};
use crate::plot::{self, Panel, PlotOptions};
use crate::progress;
use crate::report::{self, Figure};

/// Backend of the classifier.
type ClsBackend = burn::backend::Autodiff<burn::backend::NdArray<f32>>;

/// Labels of the two samples in plots.
const REF_LABEL: &str = "reference";
const GEN_LABEL: &str = "generated";

/// One file after the streaming pass.
struct Sample {
    /// High-level features of every shower.
    hl: HighLevel,
    /// Incident energies of the kept showers (low-level classifier), MeV.
    energies: Vec<f64>,
    /// Thresholded voxels of the kept showers, row-major, MeV.
    voxels: Vec<f32>,
    /// Largest thresholded voxel energy, MeV.
    max_voxel: f32,
    /// Voxel-energy histogram counts (when edges were given).
    voxel_counts: Option<Vec<f64>>,
    /// Number of showers.
    n: usize,
}

/// Features (and voxel-energy counts over `edges`) of a chunk, computed on `threads` threads.
fn chunk_features(
    geometry: &Geometry,
    energies: &[f64],
    showers: &[f32],
    threads: usize,
    edges: Option<&[f64]>,
) -> Result<(HighLevel, Option<Vec<f64>>)> {
    let nv = geometry.n_voxels;
    let rows = energies.len();
    let per = rows.div_ceil(threads.max(1)).max(1);
    let parts: Vec<Result<(HighLevel, Option<Vec<f64>>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = energies
            .chunks(per)
            .zip(showers.chunks(per * nv))
            .map(|(e, v)| {
                s.spawn(move || -> Result<(HighLevel, Option<Vec<f64>>)> {
                    let mut hl = HighLevel::new(geometry);
                    hl.push_chunk(e, v)?;
                    let counts = edges.map(|edges| {
                        let mut c = vec![0.0; edges.len() - 1];
                        for &x in v {
                            if x > 0.0 {
                                if let Some(i) = bin_index(x as f64, edges) {
                                    c[i] += 1.0;
                                }
                            }
                        }
                        c
                    });
                    Ok((hl, counts))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().map_err(|_| anyhow!("feature worker panicked"))?).collect()
    });
    let mut hl = HighLevel::new(geometry);
    let mut counts = edges.map(|e| vec![0.0; e.len() - 1]);
    for p in parts {
        let (h, c) = p?;
        hl.append(h)?;
        if let (Some(acc), Some(c)) = (counts.as_mut(), c) {
            acc.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        }
    }
    Ok((hl, counts))
}

/// Streams a file in chunks of `chunk_rows` rows: validates, thresholds, computes features;
/// keeps the first `keep` showers' voxels; counts voxel energies over `edges` when given.
#[allow(clippy::too_many_arguments)]
fn read_sample(
    file: &ShowerFile,
    chunk_rows: usize,
    geometry: &Geometry,
    threshold: f32,
    keep: usize,
    clip: bool,
    threads: usize,
    edges: Option<&[f64]>,
    what: &str,
) -> Result<Sample> {
    let nv = geometry.n_voxels;
    let mut hl = HighLevel::new(geometry);
    let mut energies = Vec::new();
    let mut voxels = Vec::new();
    let mut max_voxel = 0.0f32;
    let mut rep = ValueReport::default();
    let mut counts = edges.map(|e| vec![0.0; e.len() - 1]);
    let pb = progress::bar(file.n as u64, what);
    file.for_each_chunk(chunk_rows, |start, e, v| {
        let r = check_chunk(start, e, v, nv, clip).with_context(|| file.path().display().to_string())?;
        rep.merge(&r);
        if r.total() > 0 && !clip {
            bail!("{}: {}; pass --clip to set them to 0", file.path().display(), r.describe());
        }
        apply_threshold(v, threshold);
        max_voxel = v.iter().fold(max_voxel, |m, x| m.max(*x));
        let (h, c) = chunk_features(geometry, e, v, threads, edges)?;
        hl.append(h)?;
        if let (Some(acc), Some(c)) = (counts.as_mut(), c) {
            acc.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        }
        if energies.len() < keep {
            let take = (keep - energies.len()).min(e.len());
            energies.extend_from_slice(&e[..take]);
            voxels.extend_from_slice(&v[..take * nv]);
        }
        pb.inc(e.len() as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    if rep.total() > 0 {
        eprintln!("warning: {}: {} set to 0 (--clip)", file.path().display(), rep.describe());
    }
    Ok(Sample { hl, energies, voxels, max_voxel, voxel_counts: counts, n: file.n })
}

/// Voxel-energy counts of a file over `edges` (a second pass, when the voxels were not kept).
fn voxel_counts_pass(file: &ShowerFile, threshold: f32, clip: bool, edges: &[f64]) -> Result<Vec<f64>> {
    let nv = file.n_voxels;
    let mut counts = vec![0.0; edges.len() - 1];
    let pb = progress::bar(file.n as u64, "voxels");
    file.for_each_chunk(file.chunk_rows(), |start, e, v| {
        check_chunk(start, e, v, nv, clip)?;
        apply_threshold(v, threshold);
        for &x in v.iter() {
            if x > 0.0 {
                if let Some(i) = bin_index(x as f64, edges) {
                    counts[i] += 1.0;
                }
            }
        }
        pb.inc(e.len() as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    Ok(counts)
}

/// One histogram comparison.
#[derive(Debug, Clone)]
struct Hist {
    edges: Vec<f64>,
    reference: Vec<f64>,
    generated: Vec<f64>,
    separation: f64,
}

impl Hist {
    fn new(edges: Vec<f64>, r: &[f64], g: &[f64]) -> Self {
        let reference = density(r, &edges);
        let generated = density(g, &edges);
        let separation = separation_power(&reference, &generated, &edges);
        Self { edges, reference, generated, separation }
    }

    fn series(&self) -> Vec<(String, Vec<f64>)> {
        vec![(REF_LABEL.to_string(), self.reference.clone()), (GEN_LABEL.to_string(), self.generated.clone())]
    }
}

/// A per-layer feature family.
struct Family {
    key: &'static str,
    title: &'static str,
    x_label: &'static str,
    log_x: bool,
    /// Histogram per layer id (None where no binning exists, e.g. an empty reference layer).
    layers: BTreeMap<usize, Option<Hist>>,
}

impl Family {
    fn mean_separation(&self) -> Option<f64> {
        let v: Vec<f64> = self.layers.values().flatten().map(|h| h.separation).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    fn json(&self) -> Value {
        let per: Map<String, Value> =
            self.layers.iter().map(|(l, h)| (l.to_string(), h.as_ref().map_or(Value::Null, |h| json!(h.separation)))).collect();
        json!({ "mean": self.mean_separation(), "per_layer": per })
    }
}

/// The challenge's (lo, hi) range of a centre/width family for a layer.
fn range(kind: GeometryKind, key: &str, layer: usize) -> (f64, f64) {
    let ds1 = matches!(kind, GeometryKind::Ds1Photons | GeometryKind::Ds1Pions);
    match (ds1, key) {
        (false, "ec_x" | "ec_y") => (-30.0, 30.0),
        (false, "width_x" | "width_y") => (0.0, 30.0),
        (false, "ec_r") => (0.0, 42.0),
        (false, _) => (0.0, 20.0),
        (true, "ec_x" | "ec_y") => {
            if layer == 12 || layer == 13 {
                (-500.0, 500.0)
            } else {
                (-100.0, 100.0)
            }
        }
        (true, "width_x" | "width_y") => {
            if layer == 12 || layer == 13 {
                (0.0, 400.0)
            } else {
                (0.0, 100.0)
            }
        }
        (true, _) => {
            if (12..=14).contains(&layer) {
                (0.0, 1500.0)
            } else {
                (0.0, 500.0)
            }
        }
    }
}

/// Lower end of the log binnings: the threshold, or 1e-4 MeV when it is 0.
fn log_floor(threshold: f64) -> f64 {
    if threshold > 0.0 {
        threshold
    } else {
        1e-4
    }
}

/// Histograms of every per-layer family.
fn families(kind: GeometryKind, threshold: f64, r: &HighLevel, g: &HighLevel) -> Vec<Family> {
    let mut out = Vec::new();
    // E_layer: 40 log edges from the threshold to the reference maximum of the layer.
    let lo = log_floor(threshold);
    let mut layers = BTreeMap::new();
    for (l, rv) in &r.e_layer {
        let max = rv.iter().cloned().fold(0.0f64, f64::max);
        let h = (max > lo).then(|| Hist::new(log_edges(lo, max, 40), rv, &g.e_layer[l]));
        layers.insert(*l, h);
    }
    out.push(Family { key: "e_layer", title: "Energy per layer", x_label: "E_layer [MeV]", log_x: true, layers });
    type Table = fn(&HighLevel) -> &BTreeMap<usize, Vec<f64>>;
    let tables: [(&'static str, &'static str, &'static str, Table); 7] = [
        ("ec_x", "Centre of energy in x", "EC_x [mm]", |h| &h.ec_x),
        ("ec_y", "Centre of energy in y", "EC_y [mm]", |h| &h.ec_y),
        ("width_x", "Width in x", "W_x [mm]", |h| &h.width_x),
        ("width_y", "Width in y", "W_y [mm]", |h| &h.width_y),
        ("ec_r", "Radial centre of energy", "EC_r [mm]", |h| &h.ec_r),
        ("width_r", "Radial width", "W_r [mm]", |h| &h.width_r),
        ("sparsity", "Sparsity (fraction of empty voxels)", "sparsity", |h| &h.sparsity),
    ];
    for (key, title, x_label, get) in tables {
        let mut layers = BTreeMap::new();
        for (l, rv) in get(r) {
            let edges = if key == "sparsity" {
                linear_edges(0.0, 1.0, 21)
            } else {
                let (lo, hi) = range(kind, key, *l);
                linear_edges(lo, hi, 101)
            };
            layers.insert(*l, Some(Hist::new(edges, rv, &get(g)[l])));
        }
        out.push(Family { key, title, x_label, log_x: false, layers });
    }
    out
}

/// E_tot/E_inc per discrete incident energy (ds1), as the challenge's 15-panel plot.
fn per_energy(kind: GeometryKind, r: &HighLevel, g: &HighLevel) -> Vec<(f64, Hist)> {
    if !matches!(kind, GeometryKind::Ds1Photons | GeometryKind::Ds1Pions) {
        return Vec::new();
    }
    let mut energies: Vec<f64> = r.e_inc.clone();
    energies.sort_by(|a, b| a.total_cmp(b));
    energies.dedup();
    if energies.len() > 20 {
        return Vec::new();
    }
    let ratio = |h: &HighLevel, e: f64| -> Vec<f64> {
        h.e_inc.iter().zip(&h.e_tot).filter(|(i, _)| **i == e).map(|(i, t)| t / i).collect()
    };
    energies
        .iter()
        .enumerate()
        .map(|(k, &e)| {
            let edges = if kind == GeometryKind::Ds1Photons && k >= 4 { linear_edges(0.9, 1.1, 21) } else { linear_edges(0.4, 1.4, 21) };
            (e, Hist::new(edges, &ratio(r, e), &ratio(g, e)))
        })
        .collect()
}

/// Mean/std summary of classifier runs.
fn classifier_json(runs: &[ClassifierRun], cfg: &ClassifierConfig, inputs: usize) -> Value {
    let aucs: Vec<f64> = runs.iter().map(|r| r.auc).collect();
    let jsds: Vec<f64> = runs.iter().map(|r| r.jsd).collect();
    let (auc, auc_std) = mean_std(&aucs);
    let (jsd, jsd_std) = mean_std(&jsds);
    json!({
        "auc": auc, "auc_std": auc_std, "jsd": jsd, "jsd_std": jsd_std,
        "inputs": inputs, "runs": runs, "config": cfg,
    })
}

/// Trains `runs` classifiers and summarises them.
fn run_classifier(
    name: &str,
    reference: &dyn Rows,
    generated: &dyn Rows,
    base: &ClassifierConfig,
    preprocess: Option<Preprocess>,
    runs: usize,
) -> Result<Value> {
    let width = reference.width();
    let preprocess = preprocess.unwrap_or(if width <= 1024 { Preprocess::Whiten } else { Preprocess::Standardize });
    let cfg = ClassifierConfig { preprocess, ..base.clone() };
    let pb = progress::bar((runs * cfg.epochs) as u64, name);
    let device = Default::default();
    let mut results = Vec::with_capacity(runs);
    for k in 0..runs {
        let c = ClassifierConfig { seed: base.seed + k as u64, ..cfg.clone() };
        let mut done = 0;
        let run = train_classifier::<ClsBackend>(reference, generated, &c, &device, &mut |r| {
            done = r.epoch;
            pb.set_message(format!("run {} epoch {} test acc {:.3}", k + 1, r.epoch, r.test_accuracy));
            pb.inc(1);
        })
        .with_context(|| format!("{name} classifier"))?;
        pb.inc((cfg.epochs - done) as u64);
        results.push(run);
    }
    pb.finish_and_clear();
    Ok(classifier_json(&results, &cfg, width))
}

/// Writes `text` to `path` atomically.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// A grid plot of a family; returns the figure.
fn family_plot(dir: &Path, fam: &Family) -> Result<Option<Figure>> {
    let panels: Vec<Panel> = fam
        .layers
        .iter()
        .filter_map(|(l, h)| h.as_ref().map(|h| (l, h)))
        .map(|(l, h)| Panel {
            title: format!("layer {l}   S = {:.4}", h.separation),
            x_label: fam.x_label.to_string(),
            edges: h.edges.clone(),
            series: h.series(),
            // Log y for E_layer, as the challenge's plots.
            opts: PlotOptions { log_x: fam.log_x, log_y: fam.log_x, ..PlotOptions::default() },
        })
        .collect();
    if panels.is_empty() {
        return Ok(None);
    }
    let file = dir.join(format!("{}.png", fam.key));
    let mean = fam.mean_separation().unwrap_or(f64::NAN);
    plot::grid(&file, &format!("{} (mean separation power {mean:.4})", fam.title), &panels, 5.min(panels.len()), (360, 280))?;
    Ok(Some(Figure {
        title: fam.title.to_string(),
        file,
        caption: format!("{}, one panel per layer with its separation power; reference (black) and generated (red) densities, ratio generated/reference below.", fam.title),
    }))
}

/// Runs the command.
pub fn run(a: EvaluateArgs) -> Result<()> {
    let t_start = Instant::now();
    let threads = super::threads(a.threads);
    let preprocess = match a.classifier_preprocess.as_str() {
        "auto" => None,
        s => Some(s.parse::<Preprocess>().map_err(|e| anyhow!("--classifier-preprocess: {e}"))?),
    };
    if a.classifier_runs == 0 || a.classifier_epochs == 0 || a.classifier_width == 0 || a.classifier_layers == 0 {
        bail!("--classifier-runs, --classifier-epochs, --classifier-width and --classifier-layers must be at least 1");
    }
    if a.classifier_batch_size == Some(0) || a.kpd_batch_size < 2 || a.kpd_batches == 0 || a.fpd_batches == 0 {
        bail!("batch sizes and batch counts must be positive (--kpd-batch-size at least 2)");
    }
    if let Some(t) = a.threshold {
        if !(t.is_finite() && t >= 0.0) {
            bail!("--threshold must be a finite energy >= 0 MeV");
        }
    }
    let reference_file = ShowerFile::open(&a.reference, a.geometry)?;
    let kind = reference_file.geometry;
    let generated_file = ShowerFile::open(&a.generated, Some(kind)).with_context(|| format!("reference {} is {kind}", a.reference.display()))?;
    if reference_file.n < 2 || generated_file.n < 2 {
        bail!("need at least 2 showers in each file");
    }
    let geometry = kind.geometry();
    let threshold = a.threshold.unwrap_or(kind.eval_threshold_mev());
    let thr32 = threshold as f32;
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let plots_dir = a.out.join("plots");
    std::fs::create_dir_all(&plots_dir).with_context(|| format!("cannot create {}", plots_dir.display()))?;
    let mut timing = Map::new();

    // 1. Stream both files (reference first: its maxima define the binnings).
    let t = Instant::now();
    let low_level = !a.no_classifier && !a.no_low_level;
    let cap = a.classifier_max_showers.unwrap_or(usize::MAX);
    let keep = if low_level { cap } else { 0 };
    let mut reference = read_sample(&reference_file, reference_file.chunk_rows(), &geometry, thr32, keep, a.clip, threads, None, "reference")?;
    let max_voxel = reference.max_voxel as f64;
    let voxel_edges = (max_voxel > log_floor(threshold)).then(|| log_edges(log_floor(threshold), max_voxel, 50));
    let generated = read_sample(&generated_file, generated_file.chunk_rows(), &geometry, thr32, keep, a.clip, threads, voxel_edges.as_deref(), "generated")?;
    if let Some(edges) = &voxel_edges {
        reference.voxel_counts = Some(if reference.energies.len() == reference.n {
            let mut c = vec![0.0; edges.len() - 1];
            for &x in &reference.voxels {
                if x > 0.0 {
                    if let Some(i) = bin_index(x as f64, edges) {
                        c[i] += 1.0;
                    }
                }
            }
            c
        } else {
            voxel_counts_pass(&reference_file, thr32, a.clip, edges)?
        });
    }
    timing.insert("read_and_features".into(), json!(t.elapsed().as_secs_f64()));

    // 2. Histograms and separation powers.
    let t = Instant::now();
    let (r, g) = (&reference.hl, &generated.hl);
    let ratio = |h: &HighLevel| -> Vec<f64> { h.e_tot.iter().zip(&h.e_inc).map(|(t, i)| t / i).collect() };
    let etot = Hist::new(linear_edges(0.5, 1.5, 101), &ratio(r), &ratio(g));
    let fams = families(kind, threshold, r, g);
    let per_e = per_energy(kind, r, g);
    let voxel_hist = voxel_edges.as_ref().map(|edges| {
        let rd = density_from_counts(reference.voxel_counts.as_ref().expect("reference counts"), edges);
        let gd = density_from_counts(generated.voxel_counts.as_ref().expect("generated counts"), edges);
        let s = separation_power(&rd, &gd, edges);
        Hist { edges: edges.clone(), reference: rd, generated: gd, separation: s }
    });
    let mut sep = Map::new();
    sep.insert("etot_einc".into(), json!(etot.separation));
    for f in &fams {
        sep.insert(f.key.into(), f.json());
    }
    sep.insert("voxel_energy".into(), voxel_hist.as_ref().map_or(Value::Null, |h| json!(h.separation)));
    if !per_e.is_empty() {
        let m: Map<String, Value> = per_e.iter().map(|(e, h)| (format!("{e}"), json!(h.separation))).collect();
        sep.insert("etot_einc_per_energy".into(), Value::Object(m));
    }

    // Plots.
    let mut figures = Vec::new();
    let f = plots_dir.join("etot_einc.png");
    plot::overlay(&f, &format!("E_tot / E_inc   (separation power {:.4})", etot.separation), "E_tot / E_inc", &etot.edges, &[(REF_LABEL, etot.reference.clone()), (GEN_LABEL, etot.generated.clone())], false)?;
    figures.push(Figure { title: "E_tot / E_inc".into(), file: f, caption: "Total deposited energy over incident energy, 100 bins on [0.5, 1.5].".into() });
    if !per_e.is_empty() {
        let panels: Vec<Panel> = per_e
            .iter()
            .map(|(e, h)| Panel {
                title: format!("E_inc = {} MeV   S = {:.4}", e, h.separation),
                x_label: "E_tot / E_inc".into(),
                edges: h.edges.clone(),
                series: h.series(),
                opts: PlotOptions::default(),
            })
            .collect();
        let f = plots_dir.join("etot_einc_per_energy.png");
        plot::grid(&f, "E_tot / E_inc per incident energy", &panels, 5, (360, 280))?;
        figures.push(Figure { title: "E_tot / E_inc per incident energy".into(), file: f, caption: "One panel per discrete incident energy (dataset 1).".into() });
    }
    for fam in &fams {
        if let Some(fig) = family_plot(&plots_dir, fam)? {
            figures.push(fig);
        }
    }
    if let Some(h) = &voxel_hist {
        let f = plots_dir.join("voxel_energy.png");
        plot::overlay_with(
            &f,
            &format!("Voxel energies   (separation power {:.4})", h.separation),
            "E_voxel [MeV]",
            &h.edges,
            &[(REF_LABEL, h.reference.clone()), (GEN_LABEL, h.generated.clone())],
            PlotOptions { log_x: true, log_y: true, ..PlotOptions::default() },
        )?;
        figures.push(Figure { title: "Voxel energies".into(), file: f, caption: "All non-zero voxels pooled, 50 log edges from the threshold to the reference maximum.".into() });
    }
    timing.insert("histograms_and_plots".into(), json!(t.elapsed().as_secs_f64()));

    // 3. Classifiers.
    let mut classifier = Map::new();
    if !a.no_classifier {
        let t = Instant::now();
        let n_cls = reference.n.min(generated.n).min(cap);
        let n_train_total = 2 * (n_cls as f64 * 0.6) as usize;
        let batch = a.classifier_batch_size.unwrap_or((n_train_total / 50).clamp(32, 1000));
        let base = ClassifierConfig {
            hidden: a.classifier_width,
            hidden_layers: a.classifier_layers,
            epochs: a.classifier_epochs,
            batch_size: batch,
            seed: a.seed,
            ..ClassifierConfig::default()
        };
        let nf = r.n_features();
        let (fr, fg) = (r.feature_matrix(), g.feature_matrix());
        let hr = DenseRows::new(&fr[..reference.n.min(cap) * nf], nf)?;
        let hg = DenseRows::new(&fg[..generated.n.min(cap) * nf], nf)?;
        classifier.insert("high".into(), run_classifier("cls high", &hr, &hg, &base, preprocess, a.classifier_runs)?);
        if low_level {
            let lr = LowLevelRows::new(&reference.energies, &reference.voxels, geometry.n_voxels)?;
            let lg = LowLevelRows::new(&generated.energies, &generated.voxels, geometry.n_voxels)?;
            classifier.insert("low".into(), run_classifier("cls low", &lr, &lg, &base, preprocess, a.classifier_runs)?);
        }
        timing.insert("classifier".into(), json!(t.elapsed().as_secs_f64()));
    }

    // 4. FPD and KPD on the high-level features, normalised by the reference maximum.
    let (mut fpd_json, mut kpd_json) = (Value::Null, Value::Null);
    if !a.no_fpd_kpd {
        let t = Instant::now();
        let nf = r.n_features();
        let (mut fr, mut fg) = (r.feature_matrix(), g.feature_matrix());
        normalise_by_reference(&mut fr, &mut fg, nf);
        let n_max = 50_000.min(reference.n).min(generated.n);
        let fcfg = FpdConfig { min_samples: 10_000.min(n_max / 2).max(2), max_samples: n_max, num_batches: a.fpd_batches, threads, ..FpdConfig::default() };
        let pb = progress::bar((fcfg.num_points * fcfg.num_batches) as u64, "FPD");
        let f = fpd_with_progress(&fr, &fg, nf, &fcfg, &mut || pb.inc(1))?;
        pb.finish_and_clear();
        fpd_json = json!({
            "value_x1e3": f.value * 1e3, "error_x1e3": f.error * 1e3, "slope": f.slope,
            "points": f.points.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(), "config": fcfg,
        });
        let kcfg = KpdConfig { num_batches: a.kpd_batches, batch_size: a.kpd_batch_size.min(reference.n).min(generated.n), threads, ..KpdConfig::default() };
        let pb = progress::bar(kcfg.num_batches as u64, "KPD");
        let k = kpd_with_progress(&fr, &fg, nf, &kcfg, &mut || pb.inc(1))?;
        pb.finish_and_clear();
        kpd_json = json!({ "value_x1e3": k.value * 1e3, "error_x1e3": k.error * 1e3, "values": k.values, "config": kcfg });
        timing.insert("fpd_kpd".into(), json!(t.elapsed().as_secs_f64()));
    }
    timing.insert("total".into(), json!(t_start.elapsed().as_secs_f64()));

    let file_json = |p: &PathBuf, s: &Sample| json!({ "path": p.display().to_string(), "showers": s.n });
    let metrics = json!({
        "tdsm_version": env!("CARGO_PKG_VERSION"),
        "geometry": kind.name(),
        "threshold_mev": threshold,
        "generated": file_json(&a.generated, &generated),
        "reference": file_json(&a.reference, &reference),
        "separation_power": Value::Object(sep),
        "classifier": Value::Object(classifier),
        "fpd": fpd_json,
        "kpd": kpd_json,
        "high_level_features": r.feature_names(),
        "timing_s": Value::Object(timing),
    });
    let text = serde_json::to_string_pretty(&metrics)?;
    write_atomic(&a.out.join("metrics.json"), &text)?;
    report::write(&a.out.join("report.html"), &metrics, &figures)?;
    println!("{}", report::summary_text(&metrics));
    println!("wrote {}", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tdsm_core::simulator::Simulator;

    /// Streaming in chunks of 7 rows on 3 threads gives exactly the one-shot result.
    #[test]
    fn chunked_streaming_equals_one_shot() {
        let kind = GeometryKind::Ds1Photons;
        let sim = Simulator::new(kind).unwrap();
        let (n, nv) = (40, kind.n_voxels());
        let mut showers = vec![0.0f32; n * nv];
        let energies: Vec<f64> = showers.chunks_mut(nv).enumerate().map(|(k, row)| sim.shower(5, k as u64, row)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.h5");
        crate::h5io::write_all(&path, &energies, &showers, nv).unwrap();
        let file = ShowerFile::open(&path, None).unwrap();
        let g = kind.geometry();
        let thr = kind.eval_threshold_mev() as f32;
        let edges = log_edges(1.0, 1e4, 50);
        let chunked = read_sample(&file, 7, &g, thr, 25, false, 3, Some(&edges), "t").unwrap();
        let whole = read_sample(&file, n, &g, thr, usize::MAX, false, 1, Some(&edges), "t").unwrap();
        assert_eq!(chunked.hl.feature_matrix(), whole.hl.feature_matrix());
        assert_eq!(chunked.voxel_counts, whole.voxel_counts);
        assert_eq!(chunked.max_voxel, whole.max_voxel);
        assert_eq!(chunked.energies[..], whole.energies[..25]);
        assert_eq!(chunked.voxels[..], whole.voxels[..25 * nv]);
        // One-shot reference: threshold the whole array, then the core features.
        let mut v = showers.clone();
        apply_threshold(&mut v, thr);
        let mut hl = HighLevel::new(&g);
        hl.push_chunk(&energies, &v).unwrap();
        assert_eq!(hl.feature_matrix(), whole.hl.feature_matrix());
        let counts = tdsm_core::eval::histogram::counts(&v.iter().filter(|x| **x > 0.0).map(|x| *x as f64).collect::<Vec<_>>(), &edges);
        assert_eq!(whole.voxel_counts.unwrap(), counts);
    }

    #[test]
    fn ds1_ranges_follow_the_challenge() {
        assert_eq!(range(GeometryKind::Ds1Photons, "ec_x", 12), (-500.0, 500.0));
        assert_eq!(range(GeometryKind::Ds1Photons, "ec_y", 1), (-100.0, 100.0));
        assert_eq!(range(GeometryKind::Ds1Pions, "width_x", 13), (0.0, 400.0));
        assert_eq!(range(GeometryKind::Ds1Pions, "ec_r", 14), (0.0, 1500.0));
        assert_eq!(range(GeometryKind::Ds1Photons, "width_r", 2), (0.0, 500.0));
        assert_eq!(range(GeometryKind::Ds2, "ec_x", 3), (-30.0, 30.0));
        assert_eq!(range(GeometryKind::Ds3, "width_r", 3), (0.0, 20.0));
        assert_eq!(range(GeometryKind::Ds2, "ec_r", 3), (0.0, 42.0));
    }
}
