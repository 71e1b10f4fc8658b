//! Asking for a password on the terminal without echoing it.
//!
//! Echo is turned off *before* the prompt is written, so nothing typed
//! after the prompt appears can be echoed (a library that writes the prompt
//! first leaves a moment in which a fast answer is still echoed). The
//! terminal's settings are restored on every way out: on return and on
//! error (a guard's `Drop`), and when Ctrl-C, Ctrl-\ or SIGTERM ends the
//! process at the prompt (a signal thread puts them back, then lets the
//! signal end the process as it would have).

use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

/// The terminal and the settings to put back while a prompt is up: what
/// the signal thread restores before the process ends.
static SHOWN: Mutex<Option<(File, Termios)>> = Mutex::new(None);

/// Whether the signal thread runs (it is started once, at the first prompt).
static SIGNAL_GUARD: OnceLock<()> = OnceLock::new();

/// Puts back the settings [`SHOWN`] holds, if any.
fn restore_shown() {
    let shown = SHOWN.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((tty, settings)) = shown {
        let _ = tcsetattr(&tty, OptionalActions::Now, &settings);
    }
}

/// Starts the thread that, on SIGINT, SIGQUIT or SIGTERM, restores the
/// terminal if a prompt is up and then does what the signal would have
/// done without it (end the process by that signal). It stays for the rest
/// of the run, so later signals still end the process as before.
fn guard_signals() -> io::Result<()> {
    if SIGNAL_GUARD.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGQUIT, SIGTERM])?;
    std::thread::Builder::new()
        .name("prompt-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let shown = SHOWN.lock().unwrap_or_else(|e| e.into_inner()).is_some();
                restore_shown();
                // While a command stops gracefully, a signal outside a prompt
                // is its flag's (crate::signals); at a prompt it still ends.
                if shown || !crate::signals::graceful() {
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
            }
        })?;
    let _ = SIGNAL_GUARD.set(());
    Ok(())
}

/// Puts the terminal's settings back when dropped.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore_shown();
    }
}

/// Writes `prompt` to the controlling terminal and reads one line from it
/// with echo off; the line comes back without its line ending (at most
/// `limit` of it).
pub fn password(prompt: &str, limit: bounded_read::Limit) -> io::Result<String> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let settings = tcgetattr(&tty)?;
    guard_signals()?;
    let mut hidden = settings.clone();
    hidden.local_modes.remove(LocalModes::ECHO);
    // The newline the user types is still shown, so the next output starts
    // on a line of its own.
    hidden.local_modes.insert(LocalModes::ECHONL);
    // Recorded before echo goes off, so a signal at any moment after finds
    // what to restore.
    *SHOWN.lock().unwrap_or_else(|e| e.into_inner()) = Some((tty.try_clone()?, settings));
    let _restore = Restore;
    tcsetattr(&tty, OptionalActions::Flush, &hidden)?;
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    bounded_read::read_line(&tty, limit).map_err(|e| match e {
        bounded_read::ReadError::Io { source } => source,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    })
}
