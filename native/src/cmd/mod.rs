//! Command implementations.

mod inspect;
mod simulate;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Inspect(a) => inspect::run(a),
    }
}

/// Number of worker threads: the given value or all available cores.
pub fn threads(given: Option<usize>) -> usize {
    given.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
}
