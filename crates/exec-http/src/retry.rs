//! Retrying: the policy (capped exponential backoff with jitter, bounded in
//! attempts and total time), the injectable sleep, and the jitter source.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// HTTP statuses that are retried: a gateway or service that is briefly
/// unavailable (Admin Router while Metronome restarts or changes leader).
/// 500 is not among them: it fails fast with the server's message.
pub const RETRYABLE_STATUSES: [u16; 3] = [502, 503, 504];

/// Which failures are retried, how often and for how long.
///
/// Retried: connection failures (refused, reset, dropped, timed out) and
/// the [`RETRYABLE_STATUSES`]; everything else fails at once. Attempt `n`
/// (from 1) is followed by a wait of `min(max_delay, base_delay * 2^(n-1))`,
/// of which the upper half is random (jitter), so clients that failed
/// together do not retry together. No attempt starts once `max_attempts`
/// were made or when the wait would take the time spent past `max_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 is taken as 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt, before jitter.
    pub base_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
    /// The most time one operation may spend on attempts and waits together
    /// before it gives up (an attempt already started is not cut short).
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, waits from 250 ms doubling up to 5 s, 60 s in all.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            max_total: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The cap of the wait after failed attempt `attempt` (from 1), before
    /// jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// The wait after failed attempt `attempt`: the [`RetryPolicy::backoff`]
    /// with its upper half scaled by `unit` (in `[0, 1)`).
    pub(crate) fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let cap = self.backoff(attempt);
        let half = cap / 2;
        half + (cap - half).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// How the executor waits between attempts. The default,
/// [`ThreadSleeper`], sleeps the thread; tests inject one that records the
/// waits and returns at once.
pub trait Sleeper: Send + Sync {
    /// Waits `duration`.
    fn sleep(&self, duration: Duration);
}

/// Sleeps the current thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A small seeded PRNG (SplitMix64) for backoff jitter.
#[derive(Debug, Clone)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    /// Seeded with `seed`, or from the clock and the process id.
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 32)
        });
        Jitter { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_its_upper_half() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_total: Duration::from_secs(10),
        };
        let caps: Vec<u128> = (1..=6).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(caps, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(1000));
        let mut jitter = Jitter::new(Some(7));
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 1..=8 {
            for _ in 0..50 {
                let delay = policy.delay(attempt, jitter.unit());
                let cap = policy.backoff(attempt);
                assert!(delay >= cap / 2 && delay <= cap, "{delay:?} vs {cap:?}");
                seen.insert(delay);
            }
        }
        assert!(seen.len() > 100, "jitter varies the waits");
        // Same seed, same waits.
        let (mut a, mut b) = (Jitter::new(Some(3)), Jitter::new(Some(3)));
        assert!((0..10).all(|_| a.unit() == b.unit()));
    }
}
