//! The real world behind canary-core's ports.
//!
//! canary-core reads no clock and draws no random numbers: it is handed a
//! [`Clock`] and a seed. This crate holds the
//! implementations the binary and the executors use by default:
//! [`SystemClock`] (wall-clock time that never steps back, real sleeps) and
//! [`entropy_seed`] (a jitter seed that differs between processes).

use canary_core::clock::{Clock, Timestamp};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The system's clock: the wall-clock time at its creation, carried
/// forward by the monotonic clock, so that it never steps back while a
/// command runs (elapsed times stay right across NTP corrections) and
/// still compares with the `exp` of tokens; [`Clock::sleep`] sleeps the
/// thread.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin_wall: Duration,
    origin: Instant,
}

impl SystemClock {
    /// A clock starting at the current wall-clock time.
    pub fn new() -> Self {
        SystemClock {
            origin_wall: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix(self.origin_wall + self.origin.elapsed())
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A seed for backoff jitter that differs between processes and calls:
/// the wall-clock nanoseconds mixed with the process id and a per-process
/// counter. Not for cryptography: only so that clients that failed
/// together do not retry together.
pub fn entropy_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    nanos ^ (u64::from(std::process::id()) << 32) ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_wall_time_and_moves_forward() {
        let clock = SystemClock::new();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let now = clock.now().unix();
        assert!(
            now.abs_diff(wall) < Duration::from_secs(5),
            "{now:?} vs {wall:?}"
        );
        let before = clock.now();
        clock.sleep(Duration::from_millis(2));
        assert!(clock.now().since(before) >= Duration::from_millis(2));
    }

    #[test]
    fn seeds_differ_between_calls() {
        assert_ne!(entropy_seed(), entropy_seed());
    }
}
