//! A model directory: `model.json` (the card), `weights.mpk` (EMA weights used for sampling),
//! `checkpoint/` (training state for `--resume`) and `train_log.jsonl`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use burn::tensor::backend::Backend;
use tdsm_core::bundle::{load_model, ModelCard};
use tdsm_core::model::ScoreNet;

/// File name of the card.
pub const CARD: &str = "model.json";
/// File name of the sampling weights.
pub const WEIGHTS: &str = "weights.mpk";
/// Directory of the training state.
pub const CHECKPOINT: &str = "checkpoint";

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| anyhow!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Reads a model card from a model directory.
pub fn read_card(dir: &Path) -> Result<ModelCard> {
    if !dir.is_dir() {
        bail!("{}: not a model directory", dir.display());
    }
    let p = dir.join(CARD);
    let text = std::fs::read_to_string(&p).with_context(|| format!("{}: no model card (is this a tdsm model directory?)", p.display()))?;
    ModelCard::from_json(&text).with_context(|| p.display().to_string())
}

/// Loads the card and the sampling weights of a model directory.
pub fn load<B: Backend>(dir: &Path, device: &B::Device) -> Result<(ModelCard, ScoreNet<B>)> {
    let card = read_card(dir)?;
    let wp = dir.join(WEIGHTS);
    let bytes = std::fs::read(&wp).with_context(|| format!("{}: cannot read weights", wp.display()))?;
    let model = load_model::<B>(&card, &bytes, device).with_context(|| wp.display().to_string())?;
    Ok((card, model))
}

/// Saves card and sampling weights.
pub fn save(dir: &Path, card: &ModelCard, weights: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomic(&dir.join(WEIGHTS), weights)?;
    write_atomic(&dir.join(CARD), card.to_json().as_bytes())?;
    Ok(())
}

/// Replaces directory `target` by `staged` as atomically as the file system allows: the old
/// directory is moved aside, the new one renamed in, the old one removed.
pub fn swap_dir(staged: &Path, target: &Path) -> Result<()> {
    let old: PathBuf = target.with_extension("old");
    if old.exists() {
        std::fs::remove_dir_all(&old).ok();
    }
    if target.exists() {
        std::fs::rename(target, &old).with_context(|| format!("cannot move {} aside", target.display()))?;
    }
    std::fs::rename(staged, target).with_context(|| format!("cannot move {} to {}", staged.display(), target.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).ok();
    }
    Ok(())
}
