//! `-v/--verbose`: structured logs (exec-http's requests, retries and
//! logins) to stderr, so that stdout keeps only the data.

use std::io::IsTerminal;
use tracing_subscriber::filter::LevelFilter;

/// Installs the stderr logger for `verbosity` (`-v` info, `-vv` and more
/// debug); with none, nothing is logged.
pub fn init(verbosity: u8) {
    let level = match verbosity {
        0 => return,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .init();
}
