//! What the executor logs, as the HTTP executor does for its requests: one
//! line per `dcos` run (the command, the attempt, how long it took and how
//! it ended) at `info`, and at `debug` what the CLI logged on stderr. The
//! command line holds no secret (argv never does) and stderr is scrubbed.

use crate::errors::{scrub, split_log};
use crate::process::{Output, RunError};
use std::time::Duration;

/// How much of a run's stderr the debug line keeps.
const STDERR_LOG_LIMIT: usize = 2_000;

/// Logs one run of `command` (attempt `attempt`, taking `elapsed`).
pub(crate) fn run(
    command: &str,
    attempt: u32,
    elapsed: Duration,
    result: &Result<Output, RunError>,
) {
    let elapsed_ms = elapsed.as_millis() as u64;
    match result {
        Ok(output) => {
            let exit = output
                .code
                .map_or_else(|| "signal".to_owned(), |c| c.to_string());
            tracing::info!(command, attempt, exit = %exit, elapsed_ms, "dcos");
            if !output.stderr.is_empty() {
                let records = split_log(&output.stderr).records.join(" | ");
                if !records.is_empty() {
                    tracing::debug!(command, attempt, logged = %cut(&scrub(&records)), "dcos logged");
                }
            }
        }
        Err(error) => tracing::warn!(command, attempt, elapsed_ms, error = %error, "dcos failed"),
    }
}

/// `text` cut to [`STDERR_LOG_LIMIT`] bytes (at a character boundary),
/// saying so.
fn cut(text: &str) -> String {
    if text.len() <= STDERR_LOG_LIMIT {
        return text.to_owned();
    }
    let mut end = STDERR_LOG_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_saying_so() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(STDERR_LOG_LIMIT);
        let shown = cut(&long);
        assert!(shown.len() < long.len());
        assert!(shown.ends_with("bytes cut)"), "{shown}");
    }
}
