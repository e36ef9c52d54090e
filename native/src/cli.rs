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
}

/// Parses a geometry name.
pub fn parse_geometry(s: &str) -> Result<GeometryKind, String> {
    s.parse::<GeometryKind>().map_err(|e| e.to_string())
}

/// Arguments of `tdsm simulate`.
#[derive(Debug, Args)]
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
