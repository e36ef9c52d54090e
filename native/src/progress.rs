//! Progress bars on stderr (hidden when stderr is not a terminal, unless forced).

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over `len` items with a message prefix.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = if std::env::var_os("TDSM_PROGRESS").is_some() || std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

/// Whether progress bars are drawn (a terminal, or TDSM_PROGRESS set).
pub fn is_visible() -> bool {
    std::env::var_os("TDSM_PROGRESS").is_some() || std::io::IsTerminal::is_terminal(&std::io::stderr())
}
