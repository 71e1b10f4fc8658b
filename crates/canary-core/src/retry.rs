//! Retrying, once for every executor: which failures are transient, how
//! long to wait between attempts (capped exponential backoff with jitter),
//! when to give up, and which requests may be sent again.
//!
//! # The model
//!
//! An executor makes ONE attempt at an operation and classifies how it
//! ended as an [`Attempt`]: done (whatever the answer says, for the caller to
//! read), a [`Transient`] failure (the request certainly did not reach the
//! cluster, it may have, or Marathon refused it because a deployment holds
//! the app), or fatal. The [`Retrier`] decides whether and when to try again:
//!
//! * a failure that certainly did not reach the cluster, and Marathon's
//!   deployment lock (refused, not applied), are tried again for any
//!   operation;
//! * one that may have reached it is tried again only when repeating is
//!   harmless ([`Replay::Safe`]); starting a run is not
//!   ([`Replay::OnlyIfNotSent`]): the error then says it may have started;
//! * waits follow the [`RetryPolicy`] (jitter from a seeded [`Jitter`]),
//!   measured and slept on the [`Clock`] the retrier is handed;
//! * what is left once the budget is spent is [`ExecError::Locked`] or
//!   [`ExecError::Unreachable`], ending `(after N attempts in X s)`.
//!
//! What a repeat may then meet (a create that finds its own job, a stop
//! that finds the run gone) is the use case's to reconcile
//! ([`crate::apply`]), not the executor's.

use crate::clock::{Clock, Timestamp};
use crate::executor::ExecError;
use std::sync::Arc;
use std::time::Duration;

/// HTTP statuses that are retried: a gateway or service that is briefly
/// unavailable (Admin Router while Metronome restarts or Marathon changes
/// leader). 500 is not among them: it fails fast with the server's message.
pub const RETRYABLE_STATUSES: [u16; 3] = [502, 503, 504];

/// Which failures are retried, how often and for how long.
///
/// Attempt `n` (from 1) is followed by a wait of
/// `min(max_delay, base_delay * 2^(n-1))`, of which the upper half is
/// random (jitter), so clients that failed together do not retry together.
/// No attempt starts once `max_attempts` were made or when the wait would
/// take the time spent past `max_total`. With the default policy the time
/// is the limit that counts: even the shortest waits reach 60 s before
/// 30 attempts are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 is taken as 1): a safety net
    /// for clusters that fail fast.
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
    /// Up to 60 s in all (at most 30 attempts), waits from 250 ms doubling
    /// up to 5 s: long enough for a Marathon leader election or a Metronome
    /// restart.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 30,
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

    /// The default policy, retrying for at most `total`.
    pub fn for_at_most(total: Duration) -> Self {
        RetryPolicy {
            max_total: total,
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
/// attempt, else ` (after N attempts in X.Y s)`.
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
    /// Repeating it does no harm (reads, replacing a job, scaling an app to
    /// a count), or the use case reconciles what a repeat meets (a create
    /// that meets its own job, a stop that finds the run gone).
    Safe,
    /// Only when it certainly did not reach the cluster (connection refused,
    /// 503): starting a run twice would start two runs.
    OnlyIfNotSent,
}

/// How a transient failure stands to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    /// The request certainly did not reach the cluster: the connection was
    /// refused, or the answer was a 503 (not served).
    NotSent,
    /// It may have: a dropped connection, a timeout waiting for the answer,
    /// a 502/504 from a gateway that may have passed it on.
    MayHaveArrived,
    /// Marathon refused it: a deployment holds the app ("locked by one or
    /// more deployments"). Nothing was applied.
    Locked,
}

/// A failure of one attempt that trying again may cure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transient {
    /// How it stands to the cluster.
    pub kind: TransientKind,
    /// What could not be reached (`POST https://dcos/service/metronome/v1/jobs`,
    /// a URL the dcos CLI named, a command): the error left after the
    /// retries names it.
    pub target: String,
    /// What happened, already scrubbed of secrets.
    pub message: String,
}

impl Transient {
    /// A failure that certainly did not reach the cluster.
    pub fn not_sent(target: impl Into<String>, message: impl Into<String>) -> Self {
        Transient {
            kind: TransientKind::NotSent,
            target: target.into(),
            message: message.into(),
        }
    }

    /// A failure that may have reached the cluster.
    pub fn may_have_arrived(target: impl Into<String>, message: impl Into<String>) -> Self {
        Transient {
            kind: TransientKind::MayHaveArrived,
            target: target.into(),
            message: message.into(),
        }
    }

    /// Marathon's deployment lock.
    pub fn locked(target: impl Into<String>, message: impl Into<String>) -> Self {
        Transient {
            kind: TransientKind::Locked,
            target: target.into(),
            message: message.into(),
        }
    }
}

/// How one attempt ended, as the executor classifies it.
#[derive(Debug)]
pub enum Attempt<T> {
    /// It got an answer that is not transient (a success, or an error the
    /// caller reads, such as a 404).
    Done(T),
    /// A failure that trying again may cure.
    Transient(Transient),
    /// A failure that trying again cannot cure (a certificate that cannot
    /// be verified, a request that cannot be built).
    Fatal(ExecError),
}

/// One retry about to happen, for an executor's log.
#[derive(Debug)]
pub struct RetryEvent<'a> {
    /// The attempt that failed (from 1).
    pub attempt: u32,
    /// The wait before the next one.
    pub wait: Duration,
    /// Why it failed.
    pub failure: &'a Transient,
}

/// A small seeded PRNG (SplitMix64): the backoff jitter. Seeded by the
/// caller, so the same seed gives the same waits.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
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
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The least time an attempt is given, even when less of the operation's
/// budget is left: a request needs a moment to be answered at all.
pub const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// The retry driver: runs attempts of one operation until one is done, a
/// failure is fatal, or the policy's budget is spent.
#[derive(Clone)]
pub struct Retrier {
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    jitter: Jitter,
    /// When every operation must have ended, if bounded.
    deadline: Option<Timestamp>,
}

impl std::fmt::Debug for Retrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrier")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Retrier {
    /// A driver for `policy`, measuring and waiting on `clock`, with jitter
    /// seeded by `seed`.
    pub fn new(policy: RetryPolicy, clock: Arc<dyn Clock>, seed: u64) -> Self {
        Retrier {
            policy,
            clock,
            jitter: Jitter::new(seed),
            deadline: None,
        }
    }

    /// Bounds every later operation to end within `within` of now (on its
    /// clock), or lifts the bound (`None`): no retry waits past it, no
    /// attempt starts after it, and [`Retrier::time_left`] tells attempts
    /// how long they may take.
    pub fn set_deadline_in(&mut self, within: Option<Duration>) {
        self.deadline = within.map(|within| self.clock.now() + within);
    }

    /// How long an attempt starting now may take before the deadline
    /// (`None`: unbounded); what an executor caps its own time limits to.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline.map(|d| d.since(self.clock.now()))
    }

    /// A function telling [`Retrier::time_left`] at any moment, for an
    /// attempt closure that cannot borrow the driver.
    pub fn time_left_fn(&self) -> impl Fn() -> Option<Duration> + 'static {
        let (clock, deadline) = (self.clock.clone(), self.deadline);
        move || deadline.map(|d| d.since(clock.now()))
    }

    /// Its policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Its clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Runs `attempt` (called with the attempt number, from 1, and how long
    /// that attempt may take) until it is done or fatal, or the budget is
    /// spent. An attempt may take what is left of the policy's `max_total`
    /// for the operation (at least [`MIN_ATTEMPT`]) and never past the
    /// deadline, so a cluster that does not answer at all costs the
    /// operation `max_total`, not an attempt's own time limit on top of it.
    /// `what` names the operation's
    /// subject for a [`ExecError::Locked`] error, `replay` says whether an
    /// attempt that may have reached the cluster may be repeated, and
    /// `on_retry` sees each retry before its wait (for a log).
    pub fn run<T>(
        &mut self,
        what: &str,
        replay: Replay,
        mut attempt: impl FnMut(u32, Duration) -> Attempt<T>,
        on_retry: &mut dyn FnMut(&RetryEvent<'_>),
    ) -> Result<T, ExecError> {
        let started = self.clock.now();
        let budget_end = started + self.policy.max_total;
        let mut number = 0u32;
        loop {
            if self.time_left() == Some(Duration::ZERO) {
                return Err(ExecError::Unreachable {
                    target: what.to_owned(),
                    message: format!(
                        "the time limit was reached before {}",
                        if number == 0 {
                            "it was sent"
                        } else {
                            "it could be tried again"
                        }
                    ),
                });
            }
            number += 1;
            let budget = budget_end.since(self.clock.now()).max(MIN_ATTEMPT);
            let limit = self.time_left().map_or(budget, |left| left.min(budget));
            let failure = match attempt(number, limit) {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Transient(failure) => failure,
            };
            let repeatable =
                failure.kind != TransientKind::MayHaveArrived || replay == Replay::Safe;
            let spent = self.clock.now().since(started);
            // Drawn whether or not it is used: the same seed, the same waits.
            let unit = self.jitter.unit();
            let within_deadline =
                |wait: &Duration| self.time_left().is_none_or(|left| *wait < left);
            let wait = if repeatable {
                self.policy
                    .next_wait(number, spent, unit)
                    .filter(within_deadline)
            } else {
                None
            };
            let Some(wait) = wait else {
                let note = attempts_note(number, spent);
                let Transient {
                    kind,
                    target,
                    message,
                } = failure;
                return Err(match kind {
                    TransientKind::Locked => ExecError::Locked {
                        what: what.to_owned(),
                        message: format!("{message}{note}"),
                    },
                    _ if !repeatable => ExecError::Unreachable {
                        target,
                        message: format!(
                            "{message}; it may have reached the cluster, so it was not repeated: check before trying again{note}"
                        ),
                    },
                    _ => ExecError::Unreachable {
                        target,
                        message: format!("{message}{note}"),
                    },
                });
            };
            on_retry(&RetryEvent {
                attempt: number,
                wait,
                failure: &failure,
            });
            self.clock.sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, Timestamp};

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

    /// The README's rule: with the default policy, the 60 s are the limit
    /// that counts, however the jitter falls.
    #[test]
    fn the_default_policy_is_limited_by_time_not_attempts() {
        let policy = RetryPolicy::default();
        for unit in [0.0, 0.5, 0.999] {
            let mut spent = Duration::ZERO;
            let mut attempt = 1;
            while let Some(wait) = policy.next_wait(attempt, spent, unit) {
                spent += wait;
                attempt += 1;
            }
            assert!(attempt < policy.max_attempts, "unit {unit}: {attempt}");
            assert!(
                spent > Duration::from_secs(55) && spent <= Duration::from_secs(60),
                "unit {unit}: {spent:?}"
            );
        }
    }

    #[test]
    fn the_note_counts_attempts_and_time() {
        assert_eq!(attempts_note(1, Duration::from_secs(3)), "");
        assert_eq!(
            attempts_note(3, Duration::from_millis(1_260)),
            " (after 3 attempts in 1.3 s)"
        );
    }

    #[test]
    fn seeded_jitter_varies_the_waits_within_the_policy() {
        let policy = policy();
        let mut jitter = Jitter::new(7);
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
        let (mut a, mut b) = (Jitter::new(3), Jitter::new(3));
        assert!((0..10).all(|_| a.unit() == b.unit()));
    }

    fn retrier(policy: RetryPolicy) -> (Retrier, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1000)));
        (Retrier::new(policy, clock.clone(), 1), clock)
    }

    /// Runs `outcomes` in order through the driver; returns the result, how
    /// many attempts ran and the retries it announced.
    fn drive(
        policy: RetryPolicy,
        replay: Replay,
        outcomes: Vec<Attempt<&'static str>>,
    ) -> (
        Result<&'static str, ExecError>,
        usize,
        usize,
        Arc<ManualClock>,
    ) {
        let (mut retrier, clock) = retrier(policy);
        let mut outcomes = outcomes.into_iter();
        let mut ran = 0;
        let mut retries = 0;
        let result = retrier.run(
            "job j",
            replay,
            |n, _| {
                ran += 1;
                assert_eq!(n as usize, ran);
                outcomes.next().expect("no attempt past the script")
            },
            &mut |_| retries += 1,
        );
        (result, ran, retries, clock)
    }

    fn down() -> Attempt<&'static str> {
        Attempt::Transient(Transient::not_sent("GET http://x/v2/apps", "refused"))
    }

    fn dropped() -> Attempt<&'static str> {
        Attempt::Transient(Transient::may_have_arrived(
            "POST http://x/v1/jobs/j/runs",
            "connection dropped",
        ))
    }

    /// A cluster that never answers: every attempt takes all it is given.
    /// The operation ends within the policy's budget (plus, at worst, one
    /// least attempt), not an attempt's own time limit later; a deadline
    /// nearer than the budget is the bound instead.
    #[test]
    fn an_operation_on_a_silent_cluster_ends_within_its_budget() {
        for (max_total, deadline) in [(10, None), (1, None), (60, Some(3))] {
            let (mut retrier, clock) = retrier(RetryPolicy {
                max_total: Duration::from_secs(max_total),
                ..policy()
            });
            retrier.set_deadline_in(deadline.map(Duration::from_secs));
            let mut limits = Vec::new();
            let result: Result<(), ExecError> = retrier.run(
                "job j",
                Replay::Safe,
                |_, limit| {
                    limits.push(limit);
                    clock.advance(limit);
                    Attempt::Transient(Transient::not_sent("GET http://x", "timed out"))
                },
                &mut |_| {},
            );
            assert!(result.is_err());
            let spent = clock.now().since(Timestamp::from_unix_secs(1000));
            let bound = deadline.map_or(
                Duration::from_secs(max_total) + MIN_ATTEMPT,
                Duration::from_secs,
            );
            assert!(
                spent <= bound,
                "{max_total} s, {deadline:?}: {spent:?} {limits:?}"
            );
            assert!(
                limits.iter().all(|l| *l >= MIN_ATTEMPT.min(bound)),
                "{limits:?}"
            );
        }
    }

    #[test]
    fn a_deadline_bounds_the_waits_and_the_attempts() {
        // Policy: 10 attempts within 10 s, waits of 50-100 ms doubling to 1 s.
        let (mut retrier, clock) = retrier(policy());
        retrier.set_deadline_in(Some(Duration::from_millis(1500)));
        assert_eq!(retrier.time_left(), Some(Duration::from_millis(1500)));
        let left = retrier.time_left_fn();
        let mut seen_left = Vec::new();
        let result: Result<(), ExecError> = retrier.run(
            "job j",
            Replay::Safe,
            |_, _| {
                seen_left.push(left().unwrap());
                // Each attempt takes 400 ms before failing.
                clock.advance(Duration::from_millis(400));
                Attempt::Transient(Transient::not_sent("GET http://x", "slow"))
            },
            &mut |_| {},
        );
        assert!(
            matches!(result, Err(ExecError::Unreachable { .. })),
            "{result:?}"
        );
        let spent = clock.now().since(Timestamp::from_unix_secs(1000));
        assert!(
            spent <= Duration::from_millis(1500),
            "never past the deadline: {spent:?}"
        );
        assert!(
            seen_left.len() >= 2 && seen_left.len() < 10,
            "{seen_left:?}"
        );
        assert!(seen_left.windows(2).all(|w| w[1] < w[0]), "{seen_left:?}");

        // Once it has passed, nothing is sent at all.
        clock.advance(Duration::from_secs(5));
        let mut sent = false;
        let result: Result<(), ExecError> = retrier.run(
            "job j",
            Replay::Safe,
            |_, _| {
                sent = true;
                Attempt::Done(())
            },
            &mut |_| {},
        );
        assert!(!sent);
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("the time limit was reached before it was sent")
        );

        // Lifted: back to the policy alone.
        retrier.set_deadline_in(None);
        assert_eq!(retrier.time_left(), None);
        let result: Result<&str, ExecError> = retrier.run(
            "job j",
            Replay::Safe,
            |_, _| Attempt::Done("ok"),
            &mut |_| {},
        );
        assert_eq!(result, Ok("ok"));
    }

    #[test]
    fn transient_failures_are_retried_until_done() {
        let (result, ran, retries, clock) = drive(
            policy(),
            Replay::Safe,
            vec![down(), dropped(), Attempt::Done("ok")],
        );
        assert_eq!(result, Ok("ok"));
        assert_eq!((ran, retries), (3, 2));
        assert_eq!(clock.sleeps().len(), 2, "slept on the clock it was handed");
    }

    #[test]
    fn fatal_failures_and_answers_end_at_once() {
        let fatal = Attempt::Fatal(ExecError::Other {
            message: "bad".into(),
        });
        let (result, ran, _, clock) = drive(policy(), Replay::Safe, vec![fatal]);
        assert!(matches!(result, Err(ExecError::Other { .. })));
        assert_eq!(ran, 1);
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn what_may_have_arrived_is_repeated_only_when_harmless() {
        let (result, ran, _, _) = drive(
            policy(),
            Replay::OnlyIfNotSent,
            vec![down(), dropped(), Attempt::Done("never")],
        );
        assert_eq!(
            ran, 2,
            "the refused attempt is repeated, the dropped one not"
        );
        let Err(ExecError::Unreachable { target, message }) = result else {
            panic!("{result:?}");
        };
        assert_eq!(target, "POST http://x/v1/jobs/j/runs");
        assert!(
            message.starts_with(
                "connection dropped; it may have reached the cluster, so it was not repeated"
            ),
            "{message}"
        );
        assert!(
            message.ends_with(" (after 2 attempts in 0.1 s)"),
            "{message}"
        );
    }

    #[test]
    fn a_lasting_failure_ends_after_the_budget_naming_attempts_and_time() {
        let policy = RetryPolicy {
            max_attempts: 4,
            ..policy()
        };
        let (result, ran, retries, clock) =
            drive(policy, Replay::Safe, (0..4).map(|_| down()).collect());
        assert_eq!((ran, retries), (4, 3));
        let Err(ExecError::Unreachable { message, .. }) = result else {
            panic!("{result:?}");
        };
        let spent = clock.slept().as_secs_f64();
        assert!(
            message.ends_with(&format!(" (after 4 attempts in {spent:.1} s)")),
            "{message}"
        );
    }

    #[test]
    fn a_lasting_lock_is_locked_after_the_time_budget() {
        let policy = RetryPolicy {
            max_attempts: 1000,
            max_total: Duration::from_secs(3),
            ..policy()
        };
        let locked = || Attempt::Transient(Transient::locked("PUT /v2/apps/web", "locked"));
        let (result, ran, _, clock) =
            drive(policy, Replay::Safe, (0..1000).map(|_| locked()).collect());
        assert!(matches!(result, Err(ExecError::Locked { ref what, .. }) if what == "job j"));
        assert!(ran > 3 && ran < 1000, "time, not attempts, ended it: {ran}");
        assert!(clock.slept() <= Duration::from_secs(3));
    }

    /// A 10 s Marathon leader election, failing every attempt with a 503
    /// until it is over, is outlasted by the default policy.
    #[test]
    fn the_default_policy_outlasts_a_ten_second_leader_election() {
        let (mut retrier, clock) = retrier(RetryPolicy::default());
        let start = clock.now();
        let result = retrier.run(
            "Marathon apps",
            Replay::Safe,
            |_, _| {
                if clock.now().since(start) < Duration::from_secs(10) {
                    Attempt::Transient(Transient::not_sent("GET /v2/apps", "503"))
                } else {
                    Attempt::Done(())
                }
            },
            &mut |_| {},
        );
        assert_eq!(result, Ok(()));
        assert!(clock.slept() >= Duration::from_secs(10));
    }
}
