//! The sequence rule: from the verdicts of the windows so far, whether to
//! go on, promote the canary, roll it back or stop and leave it.
//!
//! # The rule
//!
//! Over at most [`SequencePolicy::count`] windows, taken in order:
//!
//! 1. **Rollback** once [`SequencePolicy::failure_limit`] windows have
//!    failed, in total, not in a row: a canary that fails every other
//!    window is failing, and a rule of consecutive failures would promote
//!    it. (Argo Rollouts' `failureLimit` counts the same way.) A failure
//!    limit of 1 rolls back on the first failing window; the default of 2
//!    forgives one blip and still rolls a broken canary back within two
//!    windows.
//! 2. **Stop** once [`SequencePolicy::inconclusive_limit`] windows were
//!    inconclusive, in total: an inconclusive window is never a failure,
//!    so no amount of missing data rolls a canary back; the analysis
//!    stops instead and leaves the canary as it is, for a person (or a
//!    rerun with traffic) to decide.
//! 3. **Promote** after `count` windows, provided at least one passed.
//!    `count` windows with none passing (failures and inconclusive
//!    windows each below their limit) is a Stop: a canary is never
//!    promoted without evidence.
//! 4. Otherwise **Continue** with the next window.
//!
//! The first final decision stands: verdicts recorded after it change
//! nothing, so the decision over a list of verdicts is the decision over
//! its shortest prefix that reached one. Both limits are at most `count`
//! (else a limit could never be reached, and the analysis would promote
//! whatever its windows said).

use super::error::PolicyError;
use super::verdict::Verdict;
use serde::Serialize;
use std::fmt;

/// The default [`SequencePolicy::count`]: 5 windows.
pub const DEFAULT_COUNT: u32 = 5;
/// The default [`SequencePolicy::failure_limit`]: 2 failing windows.
pub const DEFAULT_FAILURE_LIMIT: u32 = 2;
/// The default [`SequencePolicy::inconclusive_limit`]: 3 inconclusive
/// windows, more than half of the default five without evidence.
pub const DEFAULT_INCONCLUSIVE_LIMIT: u32 = 3;
/// The most windows one analysis may take (bounded time; at a minute a
/// window, about 16 hours).
pub const MAX_COUNT: u32 = 1000;

/// How many windows an analysis takes and how many failing or
/// inconclusive ones end it. Always valid: built by
/// [`SequencePolicy::new`] or [`SequencePolicy::with_count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SequencePolicy {
    count: u32,
    failure_limit: u32,
    inconclusive_limit: u32,
}

impl Default for SequencePolicy {
    /// 5 windows, rollback after 2 failing, stop after 3 inconclusive.
    fn default() -> Self {
        SequencePolicy {
            count: DEFAULT_COUNT,
            failure_limit: DEFAULT_FAILURE_LIMIT,
            inconclusive_limit: DEFAULT_INCONCLUSIVE_LIMIT,
        }
    }
}

impl SequencePolicy {
    /// A policy of `count` windows (1..=[`MAX_COUNT`]), rolling back after
    /// `failure_limit` failing and stopping after `inconclusive_limit`
    /// inconclusive ones (each 1..=count).
    pub fn new(
        count: u32,
        failure_limit: u32,
        inconclusive_limit: u32,
    ) -> Result<SequencePolicy, PolicyError> {
        if count == 0 {
            return Err(PolicyError::Zero { field: "count" });
        }
        if count > MAX_COUNT {
            return Err(PolicyError::TooLarge {
                field: "count",
                value: count,
                max: MAX_COUNT,
            });
        }
        for (field, value) in [
            ("failure_limit", failure_limit),
            ("inconclusive_limit", inconclusive_limit),
        ] {
            if value == 0 {
                return Err(PolicyError::Zero { field });
            }
            if value > count {
                return Err(PolicyError::Unreachable {
                    field,
                    value,
                    count,
                });
            }
        }
        Ok(SequencePolicy {
            count,
            failure_limit,
            inconclusive_limit,
        })
    }

    /// `count` windows with the default limits, each capped at `count`
    /// (what a user who only gives `--count` means).
    pub fn with_count(count: u32) -> Result<SequencePolicy, PolicyError> {
        SequencePolicy::new(
            count,
            DEFAULT_FAILURE_LIMIT.min(count.max(1)),
            DEFAULT_INCONCLUSIVE_LIMIT.min(count.max(1)),
        )
    }

    /// The windows of a full analysis.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The failing windows that roll the canary back.
    pub fn failure_limit(&self) -> u32 {
        self.failure_limit
    }

    /// The inconclusive windows that stop the analysis.
    pub fn inconclusive_limit(&self) -> u32 {
        self.inconclusive_limit
    }
}

/// The verdicts counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Windows recorded (up to the final decision).
    pub windows: u32,
    /// Of which passed.
    pub passed: u32,
    /// Of which failed.
    pub failed: u32,
    /// Of which were inconclusive.
    pub inconclusive: u32,
}

/// What to do after the windows so far. Serialised with a `decision` tag
/// (`continue`, `promote`, `rollback`, `stop`) and the `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Analyse another window.
    Continue,
    /// The canary passed: go on (the next step, or the full rollout).
    Promote,
    /// The canary failed: roll it back.
    Rollback {
        /// The count of failing windows and the last one's failed checks.
        reason: String,
    },
    /// Not enough evidence either way: leave the canary as it is.
    Stop {
        /// Why, with the last inconclusive window's reasons.
        reason: String,
    },
}

impl Decision {
    /// Whether the analysis is over.
    pub fn is_final(&self) -> bool {
        !matches!(self, Decision::Continue)
    }
}

impl fmt::Display for Decision {
    /// `continue`, `promote`, or `rollback: REASON` / `stop: REASON`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Continue => f.write_str("continue"),
            Decision::Promote => f.write_str("promote"),
            Decision::Rollback { reason } => write!(f, "rollback: {reason}"),
            Decision::Stop { reason } => write!(f, "stop: {reason}"),
        }
    }
}

/// The sequence rule as a state machine: record each window's verdict,
/// read the decision. Holds counts only, whatever the number of windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    policy: SequencePolicy,
    tally: Tally,
    decision: Decision,
}

impl Sequence {
    /// An analysis with no window yet.
    pub fn new(policy: SequencePolicy) -> Sequence {
        Sequence {
            policy,
            tally: Tally::default(),
            decision: Decision::Continue,
        }
    }

    /// Counts one more window's verdict and returns the decision; after a
    /// final decision, changes nothing.
    pub fn record(&mut self, verdict: &Verdict) -> &Decision {
        if self.decision.is_final() {
            return &self.decision;
        }
        let p = self.policy;
        let t = &mut self.tally;
        t.windows += 1;
        match verdict {
            Verdict::Pass => t.passed += 1,
            Verdict::Fail { .. } => t.failed += 1,
            Verdict::Inconclusive { .. } => t.inconclusive += 1,
        }
        let t = *t;
        self.decision = if t.failed >= p.failure_limit {
            Decision::Rollback {
                reason: format!(
                    "{} of {} windows failed (failure limit {}); the last: {verdict}",
                    t.failed, t.windows, p.failure_limit
                ),
            }
        } else if t.inconclusive >= p.inconclusive_limit {
            Decision::Stop {
                reason: format!(
                    "{} of {} windows were inconclusive (inconclusive limit {}); the last: {verdict}",
                    t.inconclusive, t.windows, p.inconclusive_limit
                ),
            }
        } else if t.windows >= p.count && t.passed == 0 {
            Decision::Stop {
                reason: format!(
                    "none of {} windows passed ({} failed, {} inconclusive)",
                    t.windows, t.failed, t.inconclusive
                ),
            }
        } else if t.windows >= p.count {
            Decision::Promote
        } else {
            Decision::Continue
        };
        &self.decision
    }

    /// The decision so far.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The verdicts counted so far.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// The policy.
    pub fn policy(&self) -> SequencePolicy {
        self.policy
    }
}

/// The decision after `verdicts` (in window order), by the rule of the
/// module docs.
pub fn decide(policy: SequencePolicy, verdicts: &[Verdict]) -> Decision {
    let mut sequence = Sequence::new(policy);
    for verdict in verdicts {
        if sequence.record(verdict).is_final() {
            break;
        }
    }
    sequence.decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::metrics::Side;
    use crate::analysis::verdict::{CheckName, CheckOutcome, CheckResult, InconclusiveReason};

    const P: Verdict = Verdict::Pass;

    fn fail() -> Verdict {
        Verdict::Fail {
            failed: vec![CheckResult {
                check: CheckName::MaxErrorRate,
                limit: 0.05,
                value: Some(0.2),
                outcome: CheckOutcome::Failed,
            }],
        }
    }

    fn inconclusive() -> Verdict {
        Verdict::Inconclusive {
            reasons: vec![InconclusiveReason::TooFewRequests {
                side: Side::Canary,
                requests: 3,
                min: 100,
            }],
        }
    }

    fn policy(count: u32, failures: u32, inconclusive: u32) -> SequencePolicy {
        SequencePolicy::new(count, failures, inconclusive).unwrap()
    }

    #[test]
    fn count_passing_windows_promote_and_fewer_continue() {
        let p = policy(3, 2, 2);
        assert_eq!(decide(p, &[]), Decision::Continue);
        assert_eq!(decide(p, &[P, P]), Decision::Continue);
        assert_eq!(decide(p, &[P, P, P]), Decision::Promote);
    }

    #[test]
    fn failures_count_in_total_not_in_a_row() {
        let p = policy(5, 2, 3);
        let (f, i) = (fail(), inconclusive());
        assert_eq!(decide(p, &[f.clone(), P, P]), Decision::Continue);
        let d = decide(p, &[f.clone(), P, i.clone(), f.clone()]);
        assert_eq!(
            d,
            Decision::Rollback {
                reason: "2 of 4 windows failed (failure limit 2); the last: fail: canary error rate 20.00% (limit 5.00%)".into()
            }
        );
        // One failure below the limit does not stop a promotion.
        assert_eq!(decide(p, &[P, f.clone(), P, P, P]), Decision::Promote);
        // A failure limit of 1: the first failure rolls back.
        assert!(matches!(
            decide(policy(5, 1, 3), &[P, f]),
            Decision::Rollback { .. }
        ));
    }

    #[test]
    fn inconclusive_windows_stop_and_never_roll_back() {
        let p = policy(5, 1, 3);
        let i = inconclusive();
        assert_eq!(decide(p, &[i.clone(), i.clone()]), Decision::Continue);
        let d = decide(p, &[i.clone(), P, i.clone(), i.clone()]);
        assert_eq!(
            d,
            Decision::Stop {
                reason: "3 of 4 windows were inconclusive (inconclusive limit 3); the last: inconclusive: the canary had 3 requests, fewer than 100".into()
            }
        );
        let all: Vec<Verdict> = (0..5).map(|_| i.clone()).collect();
        assert!(matches!(decide(p, &all), Decision::Stop { .. }));
        // Below the limit, inconclusive windows are no obstacle to a promotion.
        assert_eq!(decide(p, &[i.clone(), P, i, P, P]), Decision::Promote);
    }

    #[test]
    fn count_windows_without_a_pass_stop_instead_of_promoting() {
        let p = policy(3, 2, 3);
        let d = decide(p, &[fail(), inconclusive(), inconclusive()]);
        assert_eq!(
            d,
            Decision::Stop {
                reason: "none of 3 windows passed (1 failed, 2 inconclusive)".into()
            }
        );
    }

    #[test]
    fn the_limit_reached_on_the_last_window_wins_over_promotion() {
        assert!(matches!(
            decide(policy(3, 1, 3), &[P, P, fail()]),
            Decision::Rollback { .. }
        ));
        assert!(matches!(
            decide(policy(3, 3, 1), &[P, P, inconclusive()]),
            Decision::Stop { .. }
        ));
        // Both limits reached by one window cannot happen; failure is first
        // checked all the same.
    }

    #[test]
    fn the_first_final_decision_stands() {
        let mut s = Sequence::new(policy(2, 1, 1));
        assert_eq!(s.record(&P), &Decision::Continue);
        assert_eq!(s.record(&P), &Decision::Promote);
        assert_eq!(s.record(&fail()), &Decision::Promote);
        assert_eq!(
            s.tally(),
            Tally {
                windows: 2,
                passed: 2,
                failed: 0,
                inconclusive: 0
            }
        );
        assert_eq!(decide(policy(2, 1, 1), &[P, P, fail()]), Decision::Promote);
    }

    #[test]
    fn policies_that_cannot_work_are_refused_naming_the_field() {
        assert_eq!(
            SequencePolicy::new(0, 1, 1),
            Err(PolicyError::Zero { field: "count" })
        );
        assert_eq!(
            SequencePolicy::new(MAX_COUNT + 1, 1, 1)
                .unwrap_err()
                .field(),
            "count"
        );
        assert_eq!(
            SequencePolicy::new(3, 0, 1),
            Err(PolicyError::Zero {
                field: "failure_limit"
            })
        );
        let e = SequencePolicy::new(3, 2, 4).unwrap_err();
        assert_eq!(e.field(), "inconclusive_limit");
        assert_eq!(
            e.to_string(),
            "inconclusive_limit (4) can never be reached in 3 windows: it must be at most count"
        );
        assert!(SequencePolicy::new(MAX_COUNT, MAX_COUNT, 1).is_ok());
        assert_eq!(SequencePolicy::default(), policy(5, 2, 3));
        assert_eq!(SequencePolicy::with_count(1).unwrap(), policy(1, 1, 1));
        assert_eq!(SequencePolicy::with_count(10).unwrap(), policy(10, 2, 3));
        assert_eq!(
            SequencePolicy::with_count(0),
            Err(PolicyError::Zero { field: "count" })
        );
    }

    #[test]
    fn decisions_serialise_with_a_tag_and_read_as_a_line() {
        assert_eq!(Decision::Promote.to_string(), "promote");
        assert_eq!(
            Decision::Stop {
                reason: "why".into()
            }
            .to_string(),
            "stop: why"
        );
        let json = |d: &Decision| serde_json::to_value(d).unwrap();
        assert_eq!(
            json(&Decision::Promote),
            serde_json::json!({"decision": "promote"})
        );
        assert_eq!(
            json(&Decision::Rollback { reason: "r".into() }),
            serde_json::json!({"decision": "rollback", "reason": "r"})
        );
        assert_eq!(
            json(&Decision::Continue),
            serde_json::json!({"decision": "continue"})
        );
    }
}
