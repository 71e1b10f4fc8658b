//! The retry policy every executor follows: which failures are transient,
//! how long to wait between attempts (capped exponential backoff with
//! jitter) and when to give up (bounded in attempts and in total time).
//!
//! Only the data and the arithmetic live here: no clock, no sleeping and no
//! randomness. An executor measures the time it spent, draws the jitter (a
//! number in `[0, 1)`) and waits through a [`Sleeper`] it is given; tests
//! hand it one that records the waits instead.

use std::time::Duration;

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
    /// with its upper half scaled by `unit` (in `[0, 1)`; clamped).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let cap = self.backoff(attempt);
        let half = cap / 2;
        half + (cap - half).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// After failed attempt `attempt` (from 1) of a failure that may be
    /// retried, with `spent` taken so far (attempts and waits): the wait
    /// before the next attempt ([`RetryPolicy::delay`] with jitter `unit`),
    /// or `None` when the budget is used up (`max_attempts` made, or the
    /// wait would take the time spent past `max_total`).
    pub fn next_wait(&self, attempt: u32, spent: Duration, unit: f64) -> Option<Duration> {
        let delay = self.delay(attempt, unit);
        (attempt < self.max_attempts.max(1) && spent + delay <= self.max_total).then_some(delay)
    }
}

/// What an error says about the attempts behind it: nothing after one
/// attempt, else ` (after N attempts in X.Y s)`, the suffix every executor
/// puts on the message of a failure left after retrying.
pub fn attempts_note(attempts: u32, spent: Duration) -> String {
    if attempts <= 1 {
        String::new()
    } else {
        format!(
            " (after {attempts} attempts in {:.1} s)",
            spent.as_secs_f64()
        )
    }
}

/// Whether an operation may be attempted again once an earlier attempt may
/// have reached the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Repeating it does no harm (reads, replacing a job), or the caller
    /// reconciles what a repeat meets (a create that meets its own job, a
    /// stop that finds the run gone).
    Safe,
    /// Only when it certainly did not reach the cluster (connection refused,
    /// 503): starting a run twice would start two runs.
    OnlyIfNotSent,
}

/// How an executor waits between attempts. Executors sleep the thread by
/// default; tests inject one that records the waits and returns at once.
pub trait Sleeper: Send + Sync {
    /// Waits `duration`.
    fn sleep(&self, duration: Duration);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_total: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_its_upper_half() {
        let policy = policy();
        let caps: Vec<u128> = (1..=6).map(|a| policy.backoff(a).as_millis()).collect();
        assert_eq!(caps, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(1000));
        for attempt in 1..=8 {
            let cap = policy.backoff(attempt);
            assert_eq!(policy.delay(attempt, 0.0), cap / 2);
            assert_eq!(policy.delay(attempt, 1.0), cap);
            assert_eq!(policy.delay(attempt, 7.0), cap, "clamped");
            let mid = policy.delay(attempt, 0.5);
            assert!(mid > cap / 2 && mid < cap, "{mid:?} vs {cap:?}");
        }
    }

    #[test]
    fn the_budget_bounds_attempts_and_total_time() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..policy()
        };
        assert_eq!(
            policy.next_wait(1, Duration::ZERO, 0.0),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            policy.next_wait(2, Duration::ZERO, 1.0),
            Some(Duration::from_millis(200))
        );
        assert_eq!(policy.next_wait(3, Duration::ZERO, 0.0), None, "attempts");
        assert_eq!(
            policy.next_wait(1, Duration::from_millis(9_960), 0.0),
            None,
            "time"
        );
        assert_eq!(
            policy.next_wait(1, Duration::from_millis(9_950), 0.0),
            Some(Duration::from_millis(50)),
            "exactly the total is allowed"
        );
        let once = RetryPolicy {
            max_attempts: 0,
            ..policy
        };
        assert_eq!(once.next_wait(1, Duration::ZERO, 0.0), None);
        assert_eq!(RetryPolicy::no_retries().max_attempts, 1);
    }

    #[test]
    fn the_note_counts_attempts_and_time() {
        assert_eq!(attempts_note(1, Duration::from_secs(3)), "");
        assert_eq!(
            attempts_note(3, Duration::from_millis(1_260)),
            " (after 3 attempts in 1.3 s)"
        );
    }
}
