//! Command-line interface (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tdsm_core::GeometryKind;

/// tdsm — a score-based generative model for calorimeter showers (CaloChallenge format).
#[derive(Debug, Parser)]
#[command(name = "tdsm", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate showers with the built-in GFlash parametrisation (a parametrised simulation, not Geant4).
    Simulate(SimulateArgs),
    /// Validate a CaloChallenge HDF5 file and print a summary.
    Inspect(InspectArgs),
    /// Train a score model on a CaloChallenge file.
    Train(TrainArgs),
    /// Generate showers with a trained model into a CaloChallenge file.
    Sample(SampleArgs),
    /// Concatenate the shard files of one sharded `tdsm sample` run, checking they are complete.
    Merge(MergeArgs),
    /// Run the whole pipeline on built-in simulated data: simulate, train, generate, compare.
    Demo(DemoArgs),
    /// Measure training steps/s and sampling showers/s for presets (prints JSON).
    Bench(BenchArgs),
    /// CaloChallenge evaluation of generated showers against reference showers.
    Evaluate(EvaluateArgs),
}

/// Parses a geometry name.
pub fn parse_geometry(s: &str) -> Result<GeometryKind, String> {
    s.parse::<GeometryKind>().map_err(|e| e.to_string())
}

/// Arguments of `tdsm simulate`.
#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Geometry: ds1-photons, ds2 or ds3.
    #[arg(long, value_parser = parse_geometry)]
    pub geometry: GeometryKind,
    /// Number of showers.
    #[arg(long)]
    pub events: usize,
    /// Run seed: shower k depends only on (seed, k).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Index of the first shower (to continue a run).
    #[arg(long, default_value_t = 0)]
    pub first: u64,
    /// Fixed incident energy in MeV (default: the dataset's spectrum).
    #[arg(long)]
    pub energy: Option<f64>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output HDF5 file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `tdsm inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// CaloChallenge HDF5 file.
    pub file: PathBuf,
    /// Geometry, when the voxel count is ambiguous or to check it.
    #[arg(long, value_parser = parse_geometry)]
    pub geometry: Option<GeometryKind>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tdsm train`.
#[derive(Debug, Args, Clone)]
pub struct TrainArgs {
    /// Training data (CaloChallenge HDF5).
    #[arg(long)]
    pub data: PathBuf,
    /// Geometry, when the voxel count is ambiguous or to check it.
    #[arg(long, value_parser = parse_geometry)]
    pub geometry: Option<GeometryKind>,
    /// Built-in preset: demo, small or upstream (default demo).
    #[arg(long)]
    pub preset: Option<String>,
    /// Training configuration file (JSON with `net`, `sde`, `train`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output model directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Override the number of optimisation steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Override the batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Override the peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Override the seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the checkpoint interval (steps).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Override the logging interval (steps).
    #[arg(long)]
    pub log_every: Option<usize>,
    /// Continue from OUT/checkpoint (`--resume`), or only if one exists (`--resume auto`).
    #[arg(long, num_args = 0..=1, default_missing_value = "yes")]
    pub resume: Option<String>,
    /// Stop after this many steps (the schedule still runs to --steps; for tests and time limits).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Overwrite an existing model in OUT.
    #[arg(long)]
    pub force: bool,
    /// Set NaN, inf and negative voxel energies to 0 instead of rejecting the file.
    #[arg(long)]
    pub clip: bool,
}

/// Sampler names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerName {
    /// Euler–Maruyama.
    Em,
    /// Predictor–corrector (Langevin + Euler–Maruyama).
    Pc,
    /// Probability-flow ODE (Heun; --rk4 for Runge–Kutta 4).
    Ode,
}

/// Arguments of `tdsm sample`.
#[derive(Debug, Args, Clone)]
pub struct SampleArgs {
    /// Model directory written by `tdsm train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Reuse the incident energies of this CaloChallenge file.
    #[arg(long)]
    pub energies: Option<PathBuf>,
    /// Number of showers to generate (energies drawn from the dataset's spectrum).
    #[arg(long)]
    pub n: Option<usize>,
    /// Log-uniform incident-energy range for --n, "LO,HI" in MeV.
    #[arg(long)]
    pub energy_range: Option<String>,
    /// Sampler.
    #[arg(long, value_enum, default_value = "em")]
    pub sampler: SamplerName,
    /// Number of time steps.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Signal-to-noise ratio of the Langevin corrector (pc).
    #[arg(long, default_value_t = 0.16)]
    pub snr: f64,
    /// Corrector steps per time step (pc).
    #[arg(long, default_value_t = 1)]
    pub corrector_steps: usize,
    /// Use Runge–Kutta 4 instead of Heun for --sampler ode.
    #[arg(long)]
    pub rk4: bool,
    /// Run seed: shower k depends only on (seed, k).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Showers per batch.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Do not set each shower's total energy from the model's response model (raw point energies).
    #[arg(long)]
    pub no_calibration: bool,
    /// Generate only shard i of N (0-based): a contiguous slice of the run's shower indices;
    /// writes a sidecar FILE.json for `tdsm merge`.
    #[arg(long)]
    pub shard: Option<crate::shard::Shard>,
    /// Output HDF5 file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `tdsm bench`.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Presets to measure.
    #[arg(long, value_delimiter = ',', default_value = "demo,upstream")]
    pub presets: Vec<String>,
    /// Geometry of the synthetic data for non-demo presets (default ds2).
    #[arg(long, value_parser = parse_geometry)]
    pub geometry: Option<GeometryKind>,
    /// Override the training batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Timed training steps.
    #[arg(long, default_value_t = 5)]
    pub train_steps: usize,
    /// Sampler steps per shower for the sampling figures.
    #[arg(long, default_value_t = 10)]
    pub sampler_steps: usize,
    /// Sampling batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,100")]
    pub sample_batches: Vec<usize>,
}

/// Arguments of `tdsm demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Output directory (data, model, generated showers, plots, summary).
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Training preset.
    #[arg(long, default_value = "demo")]
    pub preset: String,
    /// Override the preset's training steps.
    #[arg(long)]
    pub train_steps: Option<usize>,
    /// Simulated training showers.
    #[arg(long, default_value_t = 20_000)]
    pub train_events: usize,
    /// Simulated reference showers (their incident energies are reused for generation).
    #[arg(long, default_value_t = 3_000)]
    pub reference_events: usize,
    /// Sampler: em, pc or ode.
    #[arg(long, default_value = "ode")]
    pub sampler: String,
    /// Sampler steps.
    #[arg(long, default_value_t = 25)]
    pub sample_steps: usize,
    /// Seed of the whole run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Arguments of `tdsm evaluate`.
#[derive(Debug, Args, Clone)]
pub struct EvaluateArgs {
    /// Generated showers (CaloChallenge HDF5).
    pub generated: PathBuf,
    /// Reference showers (CaloChallenge HDF5), e.g. the challenge's evaluation file.
    pub reference: PathBuf,
    /// Geometry, when the voxel count is ambiguous or to check it.
    #[arg(long, value_parser = parse_geometry)]
    pub geometry: Option<GeometryKind>,
    /// Output directory (metrics.json, report.html, plots/).
    #[arg(long)]
    pub out: PathBuf,
    /// Voxel threshold in MeV (default: the challenge's, 1 MeV for ds1, 0.0151515 MeV for ds2/ds3).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Set NaN, infinite and negative voxel values to 0 instead of failing.
    #[arg(long)]
    pub clip: bool,
    /// Skip the classifier tests.
    #[arg(long)]
    pub no_classifier: bool,
    /// Skip the low-level (voxel) classifier.
    #[arg(long)]
    pub no_low_level: bool,
    /// Units per hidden layer of the classifier (the challenge uses 2048).
    #[arg(long, default_value_t = 256)]
    pub classifier_width: usize,
    /// Hidden layers of the classifier.
    #[arg(long, default_value_t = 3)]
    pub classifier_layers: usize,
    /// Maximum classifier epochs (the epoch with the best test accuracy is kept).
    #[arg(long, default_value_t = 50)]
    pub classifier_epochs: usize,
    /// Classifier runs with different seeds (mean and std are reported; the challenge uses 10).
    #[arg(long, default_value_t = 3)]
    pub classifier_runs: usize,
    /// Classifier batch size (default: 1000 as the challenge, reduced for small samples so that
    /// an epoch has at least 50 steps).
    #[arg(long)]
    pub classifier_batch_size: Option<usize>,
    /// Input preprocessing: auto (whiten up to 1024 inputs, else standardize), none (the
    /// challenge), standardize or whiten.
    #[arg(long, default_value = "auto")]
    pub classifier_preprocess: String,
    /// Use at most this many showers per file for the classifiers (the first ones); bounds
    /// the memory of the low-level classifier.
    #[arg(long)]
    pub classifier_max_showers: Option<usize>,
    /// Seed of the first classifier run (run k uses seed + k).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip FPD and KPD.
    #[arg(long)]
    pub no_fpd_kpd: bool,
    /// FPD batches per batch size (the challenge: 20).
    #[arg(long, default_value_t = 20)]
    pub fpd_batches: usize,
    /// KPD batches (the challenge: 10).
    #[arg(long, default_value_t = 10)]
    pub kpd_batches: usize,
    /// KPD batch size (the challenge: 10000; capped at the smaller sample).
    #[arg(long, default_value_t = 10_000)]
    pub kpd_batch_size: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Arguments of `tdsm merge`.
#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// Output HDF5 file.
    #[arg(long)]
    pub out: PathBuf,
    /// Shard files (each with its sidecar FILE.json).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}
