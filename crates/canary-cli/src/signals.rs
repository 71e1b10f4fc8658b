//! Stopping gracefully: SIGINT and SIGTERM set one flag that every waiting
//! loop (a phase, a followed run, a `dcos` run) checks, so the request in
//! flight finishes, nothing is left half-sent, and the command says how to
//! resume. A second signal ends the process at once.

use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The flag, once [`install`] ran.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The last signal received (0: none), once [`install`] ran.
static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Exit code of a second signal (128 + SIGINT, as a shell reports it).
const SECOND_SIGNAL_EXIT: i32 = 130;

/// Installs the handlers (once) and returns the flag they set.
pub fn install() -> Arc<AtomicBool> {
    STOP.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Registered first, so that it sees the flag as the previous
            // signal left it: the second signal ends the process.
            let _ = signal_hook::flag::register_conditional_shutdown(
                signal,
                SECOND_SIGNAL_EXIT,
                flag.clone(),
            );
            let _ = signal_hook::flag::register(signal, flag.clone());
            let received = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
            let _ = signal_hook::flag::register_usize(signal, received.clone(), signal as usize);
        }
        flag
    })
    .clone()
}

/// Whether graceful stopping is installed: then a signal at a password
/// prompt (after the terminal is restored) is left to the flag.
pub fn graceful() -> bool {
    STOP.get().is_some()
}

/// The signal that asked for the stop, if one did.
pub fn received() -> Option<i32> {
    RECEIVED
        .get()
        .map(|r| r.load(Ordering::SeqCst) as i32)
        .filter(|s| *s != 0)
}

/// Ends the process by `signal`, as if it had not been caught (a shell sees
/// `128 + signal`): for a command that cleaned up after a signal and must
/// not pass for one that finished.
pub fn end_by(signal: i32) -> ! {
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    std::process::exit(128 + signal)
}
