//! The `sh` supervisor both real load balancers run under (the sim's own
//! HAProxy and the real marathon-lb): it holds a pipe from the sim and
//! takes its processes down when the pipe closes, so nothing outlives the
//! sim, even one that dies.

use std::process::{Child, ChildStdin};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A running supervisor and the pipe that keeps it alive; `None` once
/// stopped.
pub(crate) type Supervisor = Mutex<Option<(Child, ChildStdin)>>;

/// Stops the supervisor in `slot` by closing its pipe, waits up to 5 s for
/// it to take its processes down, then kills it. Stopping twice is a no-op.
pub(crate) fn stop(slot: &Supervisor) {
    let Some((mut child, stdin)) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        }
    }
}
