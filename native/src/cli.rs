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
    /// Per-shower log-densities of a trained model through the probability-flow ODE (CSV).
    Likelihood(LikelihoodArgs),
    /// List the devices (CPU, CUDA, wgpu), say why any is unusable, and check each against the CPU.
    Doctor(DoctorArgs),
    /// Write (and with --now submit) an HTCondor or Slurm job array running `tdsm sample` shards or `tdsm train`.
    Submit(SubmitArgs),
}

/// Parses a device name.
pub fn parse_device(s: &str) -> Result<crate::device::DeviceSpec, String> {
    s.parse()
}

/// Arguments of `tdsm doctor`.
#[derive(Debug, Args, Clone)]
pub struct DoctorArgs {
    /// Only list the devices; skip the matmul and sampler-step checks.
    #[arg(long)]
    pub list: bool,
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
    /// Device: cpu, wgpu[:N], cuda[:N] or auto (CUDA, then wgpu, then the CPU).
    #[arg(long, value_parser = parse_device, default_value = "cpu", conflicts_with = "devices")]
    pub device: crate::device::DeviceSpec,
    /// Data-parallel training on several devices of one kind, e.g. `cuda:0,cuda:1`: each step's
    /// batch is split across them and the gradients are summed on the first.
    #[arg(long, value_parser = parse_device, value_delimiter = ',', num_args = 1..)]
    pub devices: Option<Vec<crate::device::DeviceSpec>>,

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
    /// Stop at the first step after S seconds in this process, writing a checkpoint (for batch
    /// time limits and self-checkpointing; continue with --resume).
    #[arg(long, value_name = "S")]
    pub max_seconds: Option<f64>,
    /// When this process stops before the end of the schedule (--max-seconds, --stop-after), exit
    /// with CODE after writing the checkpoint instead of 0, and write no final model: the
    /// scheduler's "checkpointed, restart me" signal (HTCondor `checkpoint_exit_code`).
    #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u8).range(1..))]
    pub exit_code_after_checkpoint: Option<u8>,
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
    /// Probability-flow ODE with adaptive Dormand–Prince 5(4) steps (--rtol, --atol; --steps ignored).
    OdeAdaptive,
}

/// Floating-point precision of the network and the sampler on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionName {
    /// 32-bit floats (every device).
    F32,
    /// IEEE half precision (CUDA; wgpu adapters with shader-f16).
    F16,
    /// bfloat16 (CUDA devices of compute capability 8.0 or newer).
    Bf16,
}

impl PrecisionName {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }
}

/// Arguments of `tdsm sample`.
#[derive(Debug, Args, Clone)]
pub struct SampleArgs {
    /// Device: cpu, wgpu[:N], cuda[:N] or auto (CUDA, then wgpu, then the CPU).
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: crate::device::DeviceSpec,

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
    /// Relative tolerance of --sampler ode-adaptive.
    #[arg(long, default_value_t = 1e-5)]
    pub rtol: f64,
    /// Absolute tolerance of --sampler ode-adaptive.
    #[arg(long, default_value_t = 1e-5)]
    pub atol: f64,
    /// Run seed: shower k depends only on (seed, k).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Showers per batch (default: as many as fit the device, planned from the model's memory use).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Do not set each shower's total energy from the model's response model (raw point energies).
    #[arg(long)]
    pub no_calibration: bool,
    /// Compute precision on the device: f32, or f16 / bf16 on GPUs that support them (half the
    /// memory per batch; the weights are converted when loaded).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionName,
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
    /// Device: cpu, wgpu[:N], cuda[:N] or auto (CUDA, then wgpu, then the CPU).
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: crate::device::DeviceSpec,

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
    /// Device: cpu, wgpu[:N], cuda[:N] or auto (CUDA, then wgpu, then the CPU).
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: crate::device::DeviceSpec,

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
    /// Sampler: em, pc, ode or ode-adaptive.
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

/// Arguments of `tdsm likelihood`.
#[derive(Debug, Args, Clone)]
pub struct LikelihoodArgs {
    /// Device: cpu, wgpu[:N], cuda[:N] or auto (CUDA, then wgpu, then the CPU).
    #[arg(long, value_parser = parse_device, default_value = "cpu")]
    pub device: crate::device::DeviceSpec,

    /// Model directory written by `tdsm train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Showers to score (CaloChallenge HDF5 of the model's geometry).
    #[arg(long)]
    pub data: PathBuf,
    /// Output CSV file (one row per scored shower).
    #[arg(long)]
    pub out: PathBuf,
    /// Exact divergence (one vector-Jacobian product per dimension; slow for large showers).
    #[arg(long, conflicts_with = "hutchinson")]
    pub exact: bool,
    /// Hutchinson–Skilling divergence with K fixed probes per shower (default, K = 1).
    #[arg(long, value_name = "K")]
    pub hutchinson: Option<usize>,
    /// Gaussian instead of Rademacher Hutchinson probes.
    #[arg(long)]
    pub gaussian_probes: bool,
    /// Relative tolerance of the ODE solver.
    #[arg(long, default_value_t = 1e-5)]
    pub rtol: f64,
    /// Absolute tolerance of the ODE solver.
    #[arg(long, default_value_t = 1e-5)]
    pub atol: f64,
    /// Most network evaluations per shower before the solve is stopped (reported as unfinished).
    #[arg(long, default_value_t = 20_000)]
    pub max_nfe: usize,
    /// Showers solved together.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Score only the first N showers of the file.
    #[arg(long)]
    pub n: Option<usize>,
    /// Seed of the Hutchinson probes (shower k uses the stream (seed, k)).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Add log P(n | E_inc) of the hit-count model to the total (a whole-shower density).
    #[arg(long)]
    pub hitcount: bool,
    /// Set NaN, inf and negative voxel energies to 0 instead of rejecting the file.
    #[arg(long)]
    pub clip: bool,
}

/// Batch schedulers `tdsm submit` writes jobs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduler {
    /// HTCondor (e.g. CERN's lxplus): a submit file with `queue N` and a wrapper script.
    Htcondor,
    /// Slurm: an `sbatch --array` script.
    Slurm,
}

/// Arguments of `tdsm submit`.
#[derive(Debug, Args, Clone)]
pub struct SubmitArgs {
    /// Batch scheduler.
    #[arg(long, value_enum)]
    pub scheduler: Scheduler,
    /// Jobs: `sample` runs shard i/N in job i (merge the shards with `tdsm merge`); `train` needs 1.
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// GPUs per job (HTCondor `request_GPUs`, Slurm `--gres=gpu:K`); with K > 0 the command gets
    /// `--device auto` unless it names a device.
    #[arg(long, default_value_t = 0)]
    pub gpus: usize,
    /// CPU cores per job (HTCondor `request_cpus`, Slurm `--cpus-per-task`).
    #[arg(long, default_value_t = 1)]
    pub cpus: usize,
    /// Memory per job, e.g. 8GB, 2000MB, 1.5G (a bare number is MB).
    #[arg(long, default_value = "8GB", value_parser = crate::cmd::submit::parse_memory_mb)]
    pub memory: u64,
    /// Run-time class of the jobs: espresso (20 min), microcentury (1 h), longlunch (2 h), workday
    /// (8 h), tomorrow (1 d), testmatch (3 d), nextweek (1 w). HTCondor `+JobFlavour`; on Slurm the
    /// default --time.
    #[arg(long, default_value = "longlunch", value_parser = crate::cmd::submit::parse_flavour)]
    pub flavour: crate::cmd::submit::Flavour,
    /// Slurm time limit (90, 90m, 2h, 1d, HH:MM:SS or D-HH:MM:SS; default: the flavour's limit).
    #[arg(long, value_parser = crate::cmd::submit::parse_time_s)]
    pub time: Option<u64>,
    /// Slurm partition (default: the cluster's default partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Training: minutes of training per execution before the job checkpoints and exits with code
    /// 85 to be restarted (HTCondor self-checkpointing; default 30). On Slurm the job checkpoints,
    /// exits and requeues itself shortly before --time (or after these minutes when given).
    #[arg(long, value_name = "M")]
    pub checkpoint_minutes: Option<f64>,
    /// Job directory for the submit file, wrapper and logs (default tdsm-jobs/COMMAND-UNIXTIME).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// The tdsm binary the jobs run (default: this one).
    #[arg(long)]
    pub tdsm: Option<std::path::PathBuf>,
    /// Submit the job (condor_submit / sbatch) after writing it.
    #[arg(long)]
    pub now: bool,
    /// With --now: wait until every job has finished (sbatch --wait / condor_wait); fail if one failed.
    #[arg(long, requires = "now")]
    pub wait: bool,
    /// With --wait: give up waiting after this many seconds (the jobs stay queued).
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub timeout: Option<u64>,
    /// The tdsm command each job runs, after `--`: `sample ...` or `train ...`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}
