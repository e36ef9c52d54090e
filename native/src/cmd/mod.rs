//! Command implementations.

mod bench;
mod demo;
mod doctor;
mod evaluate;
mod inspect;
mod likelihood;
mod merge;
pub mod sample;
pub mod simulate;
pub mod submit;
pub mod train;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Train(a) => train::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Likelihood(a) => likelihood::run(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Submit(a) => submit::run(a),
    }
}

/// Number of worker threads: the given value or all available cores.
pub fn threads(given: Option<usize>) -> usize {
    given.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1)
}
