//! `tdsm`: score-based generative model for calorimeter showers — command-line tool.

mod cli;
mod cmd;
mod device;
mod h5io;
mod model_dir;
mod parity;
mod probe;
mod plot;
mod progress;
mod shard;
mod report;

use std::process::ExitCode;

use clap::Parser;

/// Turns a clap usage error into one line (its first paragraph, without the usage block).
fn clap_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let line = first.join(" ");
    let line = line.strip_prefix("error:").unwrap_or(&line).trim().to_string();
    format!("{line} (see tdsm --help)")
}

fn main() -> ExitCode {
    // The Vulkan loader's Wayland surface support prints "error: XDG_RUNTIME_DIR is invalid or
    // not set" on every wgpu probe in batch jobs and containers, which have no such directory;
    // pointing it at the temp dir (set before any thread starts) keeps stderr to our messages.
    #[cfg(feature = "wgpu")]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        // --help, --version, and a bare `tdsm` (which prints the help).
        Err(e) if !e.use_stderr() || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            eprintln!("error: {}", clap_error_line(&e));
            return ExitCode::from(2);
        }
    };
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain joined by ": ".
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
