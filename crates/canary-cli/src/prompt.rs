//! Asking for a password on the terminal without echoing it.
//!
//! Echo is turned off *before* the prompt is written, so nothing typed
//! after the prompt appears can be echoed (a library that writes the prompt
//! first leaves a moment in which a fast answer is still echoed). The
//! terminal's settings are restored afterwards, also on error.

use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};

/// Puts the terminal's settings back when dropped.
struct Restore<'a> {
    tty: &'a File,
    settings: Termios,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.tty, OptionalActions::Now, &self.settings);
    }
}

/// Writes `prompt` to the controlling terminal and reads one line from it
/// with echo off; the line comes back without its line ending.
pub fn password(prompt: &str) -> io::Result<String> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let settings = tcgetattr(&tty)?;
    let mut hidden = settings.clone();
    hidden.local_modes.remove(LocalModes::ECHO);
    // The newline the user types is still shown, so the next output starts
    // on a line of its own.
    hidden.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&tty, OptionalActions::Flush, &hidden)?;
    let _restore = Restore {
        tty: &tty,
        settings,
    };
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    bounded_read::read_line(&tty, crate::credentials::PASSWORD_LIMIT).map_err(|e| match e {
        bounded_read::ReadError::Io { source } => source,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    })
}
