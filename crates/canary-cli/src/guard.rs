//! A watchdog around rendering the user's templates.
//!
//! canary-render bounds a template's steps (minijinja's fuel) and its
//! output, but one step can still be large: `"x" * 100000000` is one step
//! that makes 100 MB, and a `{% set %}` block or `~` keeps such values in
//! memory without writing them out. So the binary renders on a thread of
//! its own and watches it: past [`RENDER_MEMORY_LIMIT`] of resident memory
//! or [`RENDER_TIME_LIMIT`] of time, canary stops with invalid input
//! (exit 3) naming the templates, before anything is written or sent.

use crate::failure::EXIT_INVALID_INPUT;
use bounded_read::Limit;
use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The most resident memory the process may use while rendering (it uses
/// about 10 MiB for the embedded templates).
pub const RENDER_MEMORY_LIMIT: u64 = 512 * 1024 * 1024;

/// The longest rendering may take (the embedded templates take well under
/// a millisecond).
pub const RENDER_TIME_LIMIT: Duration = Duration::from_secs(10);

/// How often the watchdog looks.
const POLL: Duration = Duration::from_millis(5);

/// The process's resident memory in bytes (`VmRSS` of
/// `/proc/self/status`), where the system tells it.
fn resident_bytes() -> Option<u64> {
    let status = bounded_read::read_text(Path::new("/proc/self/status"), Limit::kib(64)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `work` on its own thread and returns what it returns; if it takes
/// more than the memory or time limit first, prints an error naming
/// `what` and ends the process with exit 3.
pub fn watched<T: Send>(what: &str, work: impl FnOnce() -> T + Send) -> T {
    let started = Instant::now();
    std::thread::scope(|scope| {
        let (done, result) = channel();
        let worker = scope.spawn(move || {
            let _ = done.send(work());
        });
        loop {
            match result.recv_timeout(POLL) {
                Ok(value) => return value,
                Err(RecvTimeoutError::Disconnected) => match worker.join() {
                    // It panicked: the same panic, here.
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(()) => unreachable!("the worker sends before it ends"),
                },
                Err(RecvTimeoutError::Timeout) => {}
            }
            let over = if resident_bytes().is_some_and(|b| b > RENDER_MEMORY_LIMIT) {
                Some(format!(
                    "used more than {} MiB of memory: a template builds values",
                    RENDER_MEMORY_LIMIT / (1024 * 1024)
                ))
            } else if started.elapsed() > RENDER_TIME_LIMIT {
                Some(format!(
                    "took more than {} s: a template does work",
                    RENDER_TIME_LIMIT.as_secs()
                ))
            } else {
                None
            };
            if let Some(over) = over {
                // The worker cannot be stopped, only left: end the process
                // now, with nothing written.
                eprintln!(
                    "error: {what}: rendering {over} far beyond what a Marathon app or a Metronome job needs (nothing was written)"
                );
                std::process::exit(i32::from(EXIT_INVALID_INPUT));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_comes_back_as_it_was() {
        assert_eq!(watched("t", || 6 * 7), 42);
        let text = String::from("borrowed");
        assert_eq!(watched("t", || text.len()), 8);
    }

    #[test]
    fn resident_memory_is_read_where_the_system_tells_it() {
        if Path::new("/proc/self/status").exists() {
            let bytes = resident_bytes().expect("VmRSS");
            assert!(bytes > 0 && bytes < RENDER_MEMORY_LIMIT, "{bytes}");
        }
    }
}
