//! Time, as this crate sees it: handed in, never read.
//!
//! Everything that waits (retrying a request, following a run, driving a
//! deployment phase) asks one [`Clock`] what time it is and waits through
//! it. The binary hands in the system's clock; tests hand in a
//! [`ManualClock`], or one that moves a simulated cluster's clock, so that a
//! minute of backoff passes in microseconds and nothing depends on how fast
//! the machine is.

use std::fmt;
use std::ops::Add;
use std::sync::Mutex;
use std::time::Duration;

/// A moment: the time since the Unix epoch by the clock that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The moment `since_epoch` after 1970-01-01T00:00:00Z.
    pub const fn from_unix(since_epoch: Duration) -> Self {
        Timestamp(since_epoch)
    }

    /// The moment `secs` whole seconds after the epoch (a JWT's `exp`).
    pub const fn from_unix_secs(secs: u64) -> Self {
        Timestamp(Duration::from_secs(secs))
    }

    /// The time since the epoch.
    pub const fn unix(self) -> Duration {
        self.0
    }

    /// How long after `earlier` this is; zero when it is not after it (a
    /// wall clock may step back).
    pub fn since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs))
    }
}

impl fmt::Display for Timestamp {
    /// Seconds since the epoch with milliseconds, e.g. `1764580000.123`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0.as_secs(), self.0.subsec_millis())
    }
}

/// The clock port: what time it is, and waiting. Implementations must
/// never go backwards between two calls of one caller by more than a wall
/// clock's small corrections; elapsed times are measured as differences of
/// [`Clock::now`].
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
    /// Waits `duration` (a simulated clock moves by it instead).
    fn sleep(&self, duration: Duration);
}

/// A clock that moves only when it is slept on or told to, and remembers
/// every wait: the clock of unit tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    now: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn starting_at(start: Timestamp) -> Self {
        ManualClock {
            state: Mutex::new(ManualState {
                now: start.unix(),
                sleeps: Vec::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward without recording a wait (time spent
    /// working, as a test decides).
    pub fn advance(&self, by: Duration) {
        let mut state = self.state();
        state.now = state.now.saturating_add(by);
    }

    /// Every wait so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }

    /// The sum of every wait so far.
    pub fn slept(&self) -> Duration {
        self.state().sleeps.iter().sum()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.state().now)
    }

    fn sleep(&self, duration: Duration) {
        let mut state = self.state();
        state.now = state.now.saturating_add(duration);
        state.sleeps.push(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_add_subtract_and_print() {
        let t = Timestamp::from_unix_secs(1_700_000_000);
        let later = t + Duration::from_millis(1_500);
        assert_eq!(later.since(t), Duration::from_millis(1_500));
        assert_eq!(t.since(later), Duration::ZERO, "never negative");
        assert_eq!(later.to_string(), "1700000001.500");
        assert!(later > t);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_and_records_waits() {
        let clock = ManualClock::starting_at(Timestamp::from_unix_secs(10));
        clock.sleep(Duration::from_secs(2));
        clock.advance(Duration::from_secs(1));
        clock.sleep(Duration::from_millis(500));
        assert_eq!(
            clock.now(),
            Timestamp::from_unix(Duration::from_millis(13_500))
        );
        assert_eq!(
            clock.sleeps(),
            [Duration::from_secs(2), Duration::from_millis(500)]
        );
        assert_eq!(clock.slept(), Duration::from_millis(2_500));
    }
}
