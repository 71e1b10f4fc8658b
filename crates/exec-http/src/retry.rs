//! Retrying: the policy (canary-core's [`RetryPolicy`], re-exported: capped
//! exponential backoff with jitter, bounded in attempts and total time), the
//! thread sleeper, and the jitter source.

pub use canary_core::retry::{RETRYABLE_STATUSES, RetryPolicy, Sleeper};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    fn seeded_jitter_varies_the_waits_within_the_policy() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_total: Duration::from_secs(10),
        };
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
