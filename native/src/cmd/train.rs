//! `tdsm train`: denoising score matching on a CaloChallenge file.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use burn::module::AutodiffModule;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use serde::{Deserialize, Serialize};
use tdsm_core::bundle::{load_weights, weights_to_bytes, ModelCard, Precision, FORMAT_VERSION};
use tdsm_core::dataset::{epoch_batches, sorted_batches, HostBatch, PointDataset};
use tdsm_core::hitcount::HitCountModel;
use tdsm_core::model::ScoreNet;
use tdsm_core::preset::{preset, Preset, PRESETS};
use tdsm_core::train::{batch_loss, ema_update, step_randomness, train_step_parallel};
use tdsm_core::transform::Transform;
use tdsm_core::GeometryKind;

use crate::cli::TrainArgs;
use crate::h5io::load_points;
use crate::model_dir::{self, write_atomic, CHECKPOINT};
use crate::progress;

/// Training state saved in `checkpoint/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainState {
    /// Optimisation steps done.
    pub step: usize,
    /// The run's card at this step (config, transform, hit-count model).
    pub card: ModelCard,
}

/// One line of `train_log.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Step reached.
    pub step: usize,
    /// Mean training loss since the previous line.
    pub train_loss: f64,
    /// Validation loss (EMA weights, fixed batches and noise).
    pub val_loss: Option<f64>,
    /// Learning rate.
    pub lr: f64,
    /// Optimisation steps per second since the previous line.
    pub steps_per_s: f64,
}

/// Resolves preset/config and command-line overrides.
pub fn resolve_preset(a: &TrainArgs) -> Result<Preset> {
    let mut p = match (&a.config, &a.preset) {
        (Some(_), Some(_)) => bail!("give either --config or --preset, not both"),
        (Some(path), None) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<Preset>(&text).map_err(|e| anyhow!("{}: not a valid training config: {e}", path.display()))?
        }
        (None, name) => {
            let name = name.as_deref().unwrap_or("demo");
            preset(name).ok_or_else(|| anyhow!("unknown preset '{name}' (known: {})", PRESETS.join(", ")))?
        }
    };
    if let Some(v) = a.steps {
        p.train.steps = v;
    }
    if let Some(v) = a.batch_size {
        p.train.batch_size = v;
    }
    if let Some(v) = a.lr {
        p.train.lr = v;
    }
    if let Some(v) = a.seed {
        p.train.seed = v;
    }
    if let Some(v) = a.checkpoint_every {
        p.train.checkpoint_every = v;
    }
    if let Some(v) = a.log_every {
        p.train.log_every = v;
    }
    p.train.warmup_steps = p.train.warmup_steps.min(p.train.steps / 5);
    p.train.validate()?;
    p.net.validate()?;
    p.sde.validate()?;
    Ok(p)
}

/// Builds the card of a new run from data: transform standardisation and hit-count model
/// fitted on the training split.
pub fn new_card(geometry: GeometryKind, p: &Preset, train: &PointDataset, threshold: f64) -> Result<ModelCard> {
    let mut transform = Transform::for_geometry(geometry);
    transform.fit_standardisation(train.showers.iter().map(|s| s.as_slice()).zip(train.e_inc.iter().copied()));
    let pairs: Vec<(f32, usize)> = train.e_inc.iter().zip(&train.showers).map(|(&e, s)| (transform.condition(e), s.len())).collect();
    let hitcount = HitCountModel::fit(&pairs, 50, 50)?;
    let triples: Vec<(f32, usize, f64)> = train
        .e_inc
        .iter()
        .zip(&train.showers)
        .map(|(&e, s)| (transform.condition(e), s.len(), s.iter().map(|p| p[0] as f64).sum::<f64>() / e))
        .collect();
    let response = Some(tdsm_core::response::ResponseModel::fit(&triples, 50, 400)?);
    Ok(ModelCard {
        format_version: FORMAT_VERSION,
        geometry,
        net: p.net.clone(),
        sde: p.sde,
        transform,
        hitcount,
        response,
        hit_threshold_mev: threshold,
        sample_eps: p.sample_eps,
        train: p.train.clone(),
        trained_steps: 0,
    })
}

fn save_checkpoint<B: AutodiffBackend, O: Optimizer<ScoreNet<B>, B>>(
    out: &Path,
    model: &ScoreNet<B>,
    ema: &ScoreNet<B::InnerBackend>,
    optim: &O,
    state: &TrainState,
) -> Result<()> {
    let staged = out.join(format!("{CHECKPOINT}.tmp{}", std::process::id()));
    if staged.exists() {
        std::fs::remove_dir_all(&staged).ok();
    }
    std::fs::create_dir_all(&staged)?;
    std::fs::write(staged.join("model.mpk"), weights_to_bytes(model.clone(), Precision::Full)?)?;
    std::fs::write(staged.join("ema.mpk"), weights_to_bytes(ema.clone(), Precision::Full)?)?;
    let opt = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
        .record(optim.to_record(), ())
        .map_err(|e| anyhow!("cannot serialise the optimizer state: {e}"))?;
    std::fs::write(staged.join("optim.mpk"), opt)?;
    std::fs::write(staged.join("state.json"), serde_json::to_string_pretty(state)?)?;
    model_dir::swap_dir(&staged, &out.join(CHECKPOINT))
}

/// Whether a run directory has a checkpoint to resume.
pub fn has_checkpoint(out: &Path) -> bool {
    out.join(CHECKPOINT).join("state.json").is_file()
}

/// Returned (as the error) by [`train`] when `--exit-code-after-checkpoint` applies: the process
/// stopped before the end of the schedule after writing a checkpoint, and exits with `code` so
/// that the batch system saves the checkpoint and restarts the job (which then resumes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointExit {
    /// Exit status to end the process with.
    pub code: u8,
    /// Step of the checkpoint just written.
    pub step: usize,
}

impl std::fmt::Display for CheckpointExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "checkpoint written at step {}; exiting with code {} to be restarted", self.step, self.code)
    }
}

impl std::error::Error for CheckpointExit {}

/// Trains on `data` into `out`; returns the final card. Generic over the autodiff backend.
///
/// With `--max-seconds S` it stops at the first step boundary after S seconds, writing a
/// checkpoint; with `--exit-code-after-checkpoint CODE`, a stop before the end of the schedule
/// that made progress returns [`CheckpointExit`] (and writes no final model) instead of the card.
pub fn train<B: AutodiffBackend>(a: &TrainArgs, devices: &[B::Device]) -> Result<ModelCard> {
    let t_process = Instant::now();
    let device = &devices[0];
    if let Some(s) = a.max_seconds {
        if !(s.is_finite() && s >= 0.0) {
            bail!("--max-seconds must be a number of seconds >= 0, got {s}");
        }
    }
    let p = resolve_preset(a)?;
    let out = &a.out;
    let resume = match a.resume.as_deref() {
        None => false,
        Some("auto") => has_checkpoint(out),
        Some("yes") => {
            if !has_checkpoint(out) {
                bail!("--resume: {} has no checkpoint to resume", out.display());
            }
            true
        }
        Some(other) => bail!("--resume takes no value or 'auto', got '{other}'"),
    };
    if !resume && out.join(model_dir::CARD).exists() && !a.force {
        bail!("{} already holds a model; use --resume to continue it or --force to overwrite", out.display());
    }
    let threshold = p.train.hit_threshold_mev;
    let (geometry, data) = load_points(&a.data, a.geometry, a.clip, threshold)?;
    let threshold = threshold.unwrap_or(geometry.eval_threshold_mev());
    if data.len() < 2 {
        bail!("{}: need at least 2 showers with hits to train, found {}", a.data.display(), data.len());
    }
    let (train_ds, val_ds) = data.split(p.train.val_fraction, p.train.seed);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let mut optim = AdamWConfig::new()
        .with_weight_decay(p.train.weight_decay as f32)
        .with_epsilon(1e-8)
        .with_grad_clipping((p.train.grad_clip > 0.0).then(|| GradientClippingConfig::Norm(p.train.grad_clip as f32)))
        .init::<B, ScoreNet<B>>();

    let (mut card, mut model, mut ema, start) = if resume {
        let dir = out.join(CHECKPOINT);
        let state: TrainState = serde_json::from_str(&std::fs::read_to_string(dir.join("state.json"))?)
            .map_err(|e| anyhow!("{}: corrupt checkpoint state: {e}", dir.display()))?;
        let mut card = state.card.clone();
        if card.geometry != geometry {
            bail!("checkpoint is for geometry {} but the data are {geometry}", card.geometry);
        }
        card.train = p.train.clone();
        let fresh = ScoreNet::<B>::new(&card.net, card.sde, device)?;
        let model = load_weights(fresh, &std::fs::read(dir.join("model.mpk"))?, device).context("checkpoint model")?;
        let fresh = ScoreNet::<B::InnerBackend>::new(&card.net, card.sde, device)?;
        let ema = load_weights(fresh, &std::fs::read(dir.join("ema.mpk"))?, device).context("checkpoint EMA")?;
        let rec = NamedMpkBytesRecorder::<FullPrecisionSettings>::new()
            .load(std::fs::read(dir.join("optim.mpk"))?, device)
            .map_err(|e| anyhow!("{}: corrupt optimizer state: {e}", dir.display()))?;
        optim = optim.load_record(rec);
        eprintln!("resuming from step {} in {}", state.step, dir.display());
        (card, model, ema, state.step)
    } else {
        let card = new_card(geometry, &p, &train_ds, threshold)?;
        B::seed(device, card.train.seed);
        let model = ScoreNet::<B>::new(&card.net, card.sde, device)?;
        let ema = model.valid();
        (card, model, ema, 0)
    };
    let cfg = card.train.clone();
    eprintln!(
        "training on {} showers ({} validation), geometry {geometry}, {} trainable parameters, {} steps of batch {}",
        train_ds.len(),
        val_ds.len(),
        tdsm_core::model::count_trainable(&model),
        cfg.steps,
        cfg.batch_size
    );

    let n_hits: Vec<usize> = train_ds.showers.iter().map(|s| s.len()).collect();
    let per_epoch = n_hits.len().div_ceil(cfg.batch_size);
    let val_batches: Vec<HostBatch> = sorted_batches(&val_ds.showers.iter().map(|s| s.len()).collect::<Vec<_>>(), cfg.batch_size)
        .into_iter()
        .take(8)
        .map(|idx| HostBatch::collate(&val_ds, &idx, &card.transform))
        .collect();
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(out.join("train_log.jsonl"))?;
    let pb = progress::bar(cfg.steps as u64, "train");
    pb.set_position(start as u64);
    let stop = a.stop_after.unwrap_or(cfg.steps).min(cfg.steps);
    let mut epoch_cache: Option<(usize, Vec<Vec<usize>>)> = None;
    let mut loss_acc: Option<Tensor<B::InnerBackend, 1>> = None;
    let (mut n_acc, mut t_last) = (0usize, Instant::now());
    let mut step = start;
    while step < stop {
        let epoch = step / per_epoch;
        if epoch_cache.as_ref().map(|c| c.0) != Some(epoch) {
            epoch_cache = Some((epoch, epoch_batches(&n_hits, cfg.batch_size, 16, cfg.seed, epoch as u64)));
        }
        let idx = &epoch_cache.as_ref().unwrap().1[step % per_epoch];
        let hb = HostBatch::collate(&train_ds, idx, &card.transform);
        let (m, loss) = train_step_parallel(model, &mut optim, &hb, &cfg, step, devices);
        model = m;
        ema = ema_update(ema, &model, cfg.ema_decay_at(step));
        loss_acc = Some(match loss_acc {
            Some(acc) => acc + loss,
            None => loss,
        });
        n_acc += 1;
        step += 1;
        let out_of_time = a.max_seconds.is_some_and(|s| t_process.elapsed().as_secs_f64() >= s);
        let last = step == stop || out_of_time;
        if step % cfg.log_every == 0 || last {
            let train_loss = loss_acc.take().map(|l| l.into_scalar().elem::<f64>() / n_acc as f64).unwrap_or(f64::NAN);
            if !train_loss.is_finite() {
                bail!("training diverged at step {step} (loss {train_loss}); lower --lr");
            }
            let val_loss = val_loss::<B::InnerBackend>(&ema, &card, &val_batches, device);
            let dt = t_last.elapsed().as_secs_f64();
            let line = LogLine { step, train_loss, val_loss, lr: cfg.lr_at(step - 1), steps_per_s: n_acc as f64 / dt.max(1e-9) };
            writeln!(log, "{}", serde_json::to_string(&line)?)?;
            pb.set_message(format!("loss {train_loss:.4} val {} ", val_loss.map(|v| format!("{v:.4}")).unwrap_or("-".into())));
            if !progress::is_visible() {
                eprintln!(
                    "step {step:>6}/{}  loss {train_loss:.4}  val {}  lr {:.2e}  {:.2} steps/s",
                    cfg.steps,
                    val_loss.map(|v| format!("{v:.4}")).unwrap_or("-".into()),
                    line.lr,
                    line.steps_per_s
                );
            }
            n_acc = 0;
            t_last = Instant::now();
        }
        pb.set_position(step as u64);
        if step % cfg.checkpoint_every == 0 || last {
            card.trained_steps = step;
            save_checkpoint(out, &model, &ema, &optim, &TrainState { step, card: card.clone() })?;
        }
        if out_of_time {
            break;
        }
    }
    pb.finish_and_clear();
    if let Some(code) = a.exit_code_after_checkpoint {
        if step < card.train.steps && step > start {
            return Err(CheckpointExit { code, step }.into());
        }
    }
    card.trained_steps = step;
    model_dir::save(out, &card, &weights_to_bytes(ema, Precision::Full)?)?;
    write_atomic(&out.join("train_config.json"), serde_json::to_string_pretty(&p)?.as_bytes())?;
    Ok(card)
}

/// Mean validation loss of the EMA weights over fixed batches with fixed randomness.
fn val_loss<B: burn::tensor::backend::Backend>(ema: &ScoreNet<B>, card: &ModelCard, batches: &[HostBatch], device: &B::Device) -> Option<f64> {
    if batches.is_empty() {
        return None;
    }
    let mut total = 0.0;
    for (i, hb) in batches.iter().enumerate() {
        let (t, z) = step_randomness(card.train.seed ^ 0x5A17, i, hb, card.train.eps);
        total += batch_loss(ema, &card.sde, hb, &t, &z, device).into_scalar().elem::<f64>();
    }
    Some(total / batches.len() as f64)
}

/// Runs the command on the selected device.
pub fn run(a: TrainArgs) -> Result<()> {
    let t0 = Instant::now();
    let specs = a.devices.clone().unwrap_or_else(|| vec![a.device]);
    let resolved = specs.iter().map(|&s| crate::device::resolve(s)).collect::<Result<Vec<_>>>()?;
    if resolved.iter().any(|r| r.kind() != resolved[0].kind()) {
        bail!("--devices must all be of one kind (e.g. cuda:0,cuda:1), got {}", resolved.iter().map(|r| r.kind()).collect::<Vec<_>>().join(", "));
    }
    let labels: Vec<String> = resolved.iter().map(|r| r.label()).collect();
    eprintln!("device{}: {}", if labels.len() > 1 { "s" } else { "" }, labels.join(", "));
    let trained: Result<ModelCard> = (|| Ok(crate::on_devices!(&resolved, |AD, devices| { train::<AD>(&a, &devices)? })))();
    let card = match trained {
        Err(e) if e.downcast_ref::<CheckpointExit>().is_some() => {
            let c = *e.downcast_ref::<CheckpointExit>().unwrap();
            eprintln!("{c} ({:.1} s)", t0.elapsed().as_secs_f64());
            std::io::stdout().flush().ok();
            std::process::exit(c.code as i32);
        }
        r => r?,
    };
    eprintln!(
        "trained {} steps in {:.1} s; model saved in {}",
        card.trained_steps,
        t0.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
