//! What the workspace's tests share, kept in one place: the simulated
//! cluster's manual clock as canary's [`Clock`] ([`ClusterClock`]), a
//! loopback address no other test uses ([`unique_loopback`]), and the
//! haproxy a test runs ([`haproxy_binary`]), and a bounded poll of a
//! condition ([`wait_until`]). A dev-dependency only.

use canary_core::clock::{Clock, Timestamp};
use dcos_sim::Shared;
use std::path::PathBuf;
use std::time::Duration;

/// The cluster's manual clock as canary's: reading it reads cluster time,
/// waiting on it moves cluster time (so a 10 s wait takes no real time).
pub struct ClusterClock(pub Shared);

impl Clock for ClusterClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix(Duration::from_millis(self.0.now_ms()))
    }
    fn sleep(&self, duration: Duration) {
        self.0.advance(duration);
    }
}

/// A loopback address of this test process alone (127.P.N.1: P from the
/// pid, N counting up), for sims whose marathon-lb frontends bind fixed
/// service ports such as 10000: they never meet another test's.
pub fn unique_loopback() -> std::net::Ipv4Addr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let p = std::process::id();
    std::net::Ipv4Addr::new(127, 100 + (p % 150) as u8, (n % 250) as u8 + 1, 1)
}

/// The haproxy a test runs: `HAPROXY` when it names a file (scripts/test
/// sets it), else Debian's /usr/sbin/haproxy, else `haproxy` on `PATH`
/// (a test that needs one and finds none fails loudly when it starts it).
pub fn haproxy_binary() -> PathBuf {
    std::env::var_os("HAPROXY")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| Some(PathBuf::from("/usr/sbin/haproxy")).filter(|p| p.is_file()))
        .unwrap_or_else(|| PathBuf::from("haproxy"))
}

/// Whether process `pid` has ended (gone, or a zombie: dead, only not yet
/// reaped), looking for at most 5 s: a killed orphan is reaped by init
/// shortly after.
pub fn process_gone(pid: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.split_whitespace().nth(2) == Some("Z") => return true,
            // Polling /proc: there is nothing to wait on for another
            // process's end.
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    false
}

/// Polls `done` every 10 ms until it holds, panicking naming `what` after
/// `limit`: a bound on a condition the test checks, never a wait for time
/// to pass.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_differ_within_a_process() {
        let (a, b) = (unique_loopback(), unique_loopback());
        assert_ne!(a, b);
        assert!(a.is_loopback() && b.is_loopback());
    }
}
