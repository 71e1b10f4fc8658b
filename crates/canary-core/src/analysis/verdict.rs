//! The checks of one window and its verdict: pass, fail or inconclusive,
//! always with the numbers behind it.
//!
//! # The rule
//!
//! A **fail** needs evidence of failure; a **pass** needs all the evidence.
//!
//! * Each check is evaluated only on enough requests
//!   ([`Checks::min_requests`]): the absolute error rate on the canary's,
//!   the comparisons on both sides'. A check that cannot be evaluated is
//!   neither passed nor failed.
//! * Any evaluated check that failed makes the window a [`Verdict::Fail`],
//!   even when the baseline was short of requests or a load balancer could
//!   not be read: the failures counted really happened.
//! * Otherwise the window is [`Verdict::Inconclusive`] when anything is
//!   missing: no load balancer read at both ends, some load balancer not
//!   read (its traffic might tell another story), no baseline, too few
//!   requests on either side, or no response time to compare. With the
//!   reasons, each worded.
//! * Otherwise it is a [`Verdict::Pass`].
//!
//! Every limit is inclusive: a value exactly at its limit passes (within
//! [`EDGE_TOLERANCE`], so that a rate difference such as `0.07 - 0.05` is
//! not failed by floating-point rounding), and a side with exactly
//! `min_requests` requests has enough.

use super::error::PolicyError;
use super::metrics::{Side, WindowMetrics};
use serde::Serialize;
use std::fmt;

/// The default [`Checks::max_error_rate`]: 5%. A canary failing one request
/// in twenty is broken whatever its baseline does; it is the success rate
/// of 95% that Argo Rollouts' and Flagger's examples start from.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.05;

/// The default [`Checks::max_error_rate_increase`]: 2 percentage points
/// over the baseline. At the default 100 requests a window one error is a
/// point, so a canary beside a baseline that itself fails 1% of requests
/// fails by chance in about 2% of windows (4 or more errors where 1 is
/// expected), while a canary failing a few percent more than its baseline
/// fails every window.
pub const DEFAULT_MAX_ERROR_RATE_INCREASE: f64 = 0.02;

/// The default [`Checks::max_latency_ratio`]: 1.5. A fresh canary may be a
/// little slower (cold caches, a JIT warming up) without being worse; 1.5
/// leaves it that room and still fails a canary twice as slow.
pub const DEFAULT_MAX_LATENCY_RATIO: f64 = 1.5;

/// The default [`Checks::min_requests`] per side and window: 100. Below
/// that one error moves the rate by more than a percentage point, the
/// scale of the rate limits, and a verdict would be noise.
pub const DEFAULT_MIN_REQUESTS: u64 = 100;

/// The default [`Checks::latency_floor_ms`]: 5 ms. HAProxy measures whole
/// milliseconds, so between two fast services the ratio is rounding (1 ms
/// against 2 ms is a ratio of 2); below 5 ms the difference matters to no
/// one, above it a doubling still fails.
pub const DEFAULT_LATENCY_FLOOR_MS: f64 = 5.0;

/// How far above its limit a value may be and still count as at the limit:
/// the rounding of `f64` arithmetic, far below any difference real counts
/// make (one error in a billion requests).
pub const EDGE_TOLERANCE: f64 = 1e-9;

/// The checks of every window, each optional (`None` turns it off).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checks {
    /// The canary's highest error rate (errors / requests, 0..=1).
    pub max_error_rate: Option<f64>,
    /// The most the canary's error rate may exceed the baseline's (a
    /// difference of rates: 0.02 is two percentage points).
    pub max_error_rate_increase: Option<f64>,
    /// The most the canary's mean response time may be, as a multiple of
    /// the baseline's (both at least [`Checks::latency_floor_ms`]).
    pub max_latency_ratio: Option<f64>,
    /// The fewest requests each side needs in a window for a verdict; 0
    /// counts as 1 (no verdict without data).
    pub min_requests: u64,
    /// Mean response times below this many milliseconds count as this for
    /// the latency ratio (must be above 0, so the ratio is always defined).
    pub latency_floor_ms: f64,
}

impl Default for Checks {
    /// Every check on, with the `DEFAULT_*` values of this module.
    fn default() -> Self {
        Checks {
            max_error_rate: Some(DEFAULT_MAX_ERROR_RATE),
            max_error_rate_increase: Some(DEFAULT_MAX_ERROR_RATE_INCREASE),
            max_latency_ratio: Some(DEFAULT_MAX_LATENCY_RATIO),
            min_requests: DEFAULT_MIN_REQUESTS,
            latency_floor_ms: DEFAULT_LATENCY_FLOOR_MS,
        }
    }
}

impl Checks {
    /// Refuses a limit that cannot work: rates outside 0..=1, a ratio or
    /// floor that is not a finite number above 0.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let share = |field, value: Option<f64>| match value {
            Some(v) if !(0.0..=1.0).contains(&v) => Err(PolicyError::NotAShare { field, value: v }),
            _ => Ok(()),
        };
        let positive = |field, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(PolicyError::NotPositive { field, value })
            }
        };
        share("max_error_rate", self.max_error_rate)?;
        share("max_error_rate_increase", self.max_error_rate_increase)?;
        if let Some(ratio) = self.max_latency_ratio {
            positive("max_latency_ratio", ratio)?;
        }
        positive("latency_floor_ms", self.latency_floor_ms)
    }
}

/// One check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// [`Checks::max_error_rate`].
    MaxErrorRate,
    /// [`Checks::max_error_rate_increase`].
    MaxErrorRateIncrease,
    /// [`Checks::max_latency_ratio`].
    MaxLatencyRatio,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The value was within the limit.
    Passed,
    /// The value exceeded the limit.
    Failed,
    /// There was not enough to compute the value (the reasons are the
    /// window's [`InconclusiveReason`]s).
    NotEvaluated,
}

/// One check of one window: its limit, the value measured and the outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckName,
    /// Its limit.
    pub limit: f64,
    /// The value measured (`None` when not evaluated): the canary's error
    /// rate, its excess over the baseline's, or the ratio of mean response
    /// times.
    pub value: Option<f64>,
    /// The outcome.
    pub outcome: CheckOutcome,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = |scale: f64, unit: &str| match self.value {
            Some(v) => format!("{:.2}{unit}", v * scale),
            None => "unknown".to_owned(),
        };
        match self.check {
            CheckName::MaxErrorRate => write!(
                f,
                "canary error rate {} (limit {:.2}%)",
                value(100.0, "%"),
                self.limit * 100.0
            ),
            CheckName::MaxErrorRateIncrease => write!(
                f,
                "canary error rate {} points above the baseline's (limit {:.2})",
                value(100.0, ""),
                self.limit * 100.0
            ),
            CheckName::MaxLatencyRatio => write!(
                f,
                "canary mean response time {} the baseline's (limit {:.2}x)",
                value(1.0, "x"),
                self.limit
            ),
        }
    }
}

/// Why a window gave no pass (and, without a failed check, no verdict).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum InconclusiveReason {
    /// No load balancer was read at both ends: there are no numbers.
    NoLbRead,
    /// Some load balancers were not read at both ends: their traffic is
    /// missing from the numbers.
    LbsNotRead {
        /// Their URLs.
        urls: Vec<String>,
    },
    /// The group has no baseline app to compare with.
    NoBaseline,
    /// A side had fewer requests than [`Checks::min_requests`].
    TooFewRequests {
        /// Which side.
        side: Side,
        /// Its requests in the window.
        requests: u64,
        /// The minimum.
        min: u64,
    },
    /// A side sent no response, so the latency ratio has no mean to use.
    NoResponseTime {
        /// Which side.
        side: Side,
    },
}

impl fmt::Display for InconclusiveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InconclusiveReason::NoLbRead => {
                f.write_str("no marathon-lb was read at both ends of the window")
            }
            InconclusiveReason::LbsNotRead { urls } => write!(
                f,
                "marathon-lb {} not read at both ends of the window (a pass needs every one)",
                urls.join(", ")
            ),
            InconclusiveReason::NoBaseline => {
                f.write_str("the group has no baseline app to compare the canary with")
            }
            InconclusiveReason::TooFewRequests {
                side,
                requests,
                min,
            } => write!(f, "the {side} had {requests} requests, fewer than {min}"),
            InconclusiveReason::NoResponseTime { side } => {
                write!(f, "the {side} sent no response to take the time of")
            }
        }
    }
}

/// A window's verdict. Serialised inside [`WindowAnalysis`] as its
/// `verdict` field (`pass`, `fail`, `inconclusive`) with `failed` or
/// `reasons` beside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every check was evaluated on enough data and passed.
    Pass,
    /// At least one check failed.
    Fail {
        /// The failed checks, with value and limit.
        failed: Vec<CheckResult>,
    },
    /// No check failed, but a pass lacks evidence.
    Inconclusive {
        /// What was missing.
        reasons: Vec<InconclusiveReason>,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(items: &[T]) -> String {
            items
                .iter()
                .map(T::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        }
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Fail { failed } => write!(f, "fail: {}", list(failed)),
            Verdict::Inconclusive { reasons } => write!(f, "inconclusive: {}", list(reasons)),
        }
    }
}

/// One window judged: the verdict, the numbers and the checks, serialised
/// flat (`verdict`, `failed`/`reasons`, `backend`, `canary`, `baseline`,
/// `lbs`, `unmatched`, `checks`, `limits`): the stable shape of
/// `--events json` and `canary analyze --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowAnalysis {
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The numbers behind it.
    #[serde(flatten)]
    pub metrics: WindowMetrics,
    /// Every check that is on, evaluated or not.
    pub checks: Vec<CheckResult>,
    /// The limits it was judged by.
    pub limits: Checks,
}

impl fmt::Display for WindowAnalysis {
    /// One line: the verdict, then each side's requests, errors and mean
    /// response time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verdict)?;
        for side in [Side::Canary, Side::Baseline] {
            let Some(m) = self.metrics.side(side) else {
                continue;
            };
            let rate = m
                .error_rate
                .map_or_else(|| "-".to_owned(), |r| format!("{:.2}%", r * 100.0));
            // HAProxy counts whole milliseconds: 0 is "under 1 ms", and a
            // mean below 1 (some servers 0, some 1) reads better in µs.
            let time = m.mean_response_ms.map_or_else(
                || "-".to_owned(),
                |t| match t {
                    t if t <= 0.0 => "<1 ms".to_owned(),
                    t if t < 1.0 => format!("{:.0} µs", t * 1000.0),
                    t => format!("{t:.1} ms"),
                },
            );
            write!(
                f,
                " | {side} {}: {} requests, {} errors ({rate}), {time}",
                m.app_id, m.requests, m.errors
            )?;
        }
        Ok(())
    }
}

/// Passed only when the value is within the limit: a limit that is not a
/// number (a policy that skipped [`Checks::validate`]) fails, the safe way.
fn outcome(value: Option<f64>, limit: f64) -> CheckOutcome {
    match value {
        None => CheckOutcome::NotEvaluated,
        Some(v) if v <= limit + EDGE_TOLERANCE => CheckOutcome::Passed,
        Some(_) => CheckOutcome::Failed,
    }
}

/// Judges one window's `metrics` by `checks` (see the module docs for the
/// rule). `checks` should have passed [`Checks::validate`]; if not, a
/// limit that is not a number fails its check and a floor that is not
/// above 0 is taken as the default floor, so the ratio stays defined.
pub fn judge(metrics: WindowMetrics, checks: &Checks) -> WindowAnalysis {
    let min = checks.min_requests.max(1);
    let mut reasons = Vec::new();
    let unread: Vec<String> = metrics
        .lbs
        .iter()
        .filter(|l| !l.status.counted())
        .map(|l| l.url.clone())
        .collect();
    if unread.len() == metrics.lbs.len() {
        reasons.push(InconclusiveReason::NoLbRead);
    } else if !unread.is_empty() {
        reasons.push(InconclusiveReason::LbsNotRead { urls: unread });
    }
    let canary = &metrics.canary;
    let canary_enough = canary.requests >= min;
    if !canary_enough {
        reasons.push(InconclusiveReason::TooFewRequests {
            side: Side::Canary,
            requests: canary.requests,
            min,
        });
    }
    let baseline = match &metrics.baseline {
        None => {
            reasons.push(InconclusiveReason::NoBaseline);
            None
        }
        Some(b) if b.requests < min => {
            reasons.push(InconclusiveReason::TooFewRequests {
                side: Side::Baseline,
                requests: b.requests,
                min,
            });
            None
        }
        Some(b) => Some(b),
    };
    let both = baseline.filter(|_| canary_enough);
    let mut results = Vec::new();
    if let Some(limit) = checks.max_error_rate {
        let value = canary.error_rate.filter(|_| canary_enough);
        results.push((CheckName::MaxErrorRate, limit, value));
    }
    if let Some(limit) = checks.max_error_rate_increase {
        let value = both.and_then(|b| Some(canary.error_rate? - b.error_rate?));
        results.push((CheckName::MaxErrorRateIncrease, limit, value));
    }
    if let Some(limit) = checks.max_latency_ratio {
        let floor = if checks.latency_floor_ms > 0.0 && checks.latency_floor_ms.is_finite() {
            checks.latency_floor_ms
        } else {
            DEFAULT_LATENCY_FLOOR_MS
        };
        let value = both.and_then(|b| {
            for (side, mean) in [
                (Side::Canary, canary.mean_response_ms),
                (Side::Baseline, b.mean_response_ms),
            ] {
                if mean.is_none() {
                    reasons.push(InconclusiveReason::NoResponseTime { side });
                }
            }
            let (c, b) = (canary.mean_response_ms?, b.mean_response_ms?);
            Some(c.max(floor) / b.max(floor))
        });
        results.push((CheckName::MaxLatencyRatio, limit, value));
    }
    let checks_done: Vec<CheckResult> = results
        .into_iter()
        .map(|(check, limit, value)| CheckResult {
            check,
            limit,
            value,
            outcome: outcome(value, limit),
        })
        .collect();
    let failed: Vec<CheckResult> = checks_done
        .iter()
        .filter(|c| c.outcome == CheckOutcome::Failed)
        .cloned()
        .collect();
    let verdict = if !failed.is_empty() {
        Verdict::Fail { failed }
    } else if !reasons.is_empty() {
        Verdict::Inconclusive { reasons }
    } else {
        Verdict::Pass
    };
    WindowAnalysis {
        verdict,
        metrics,
        checks: checks_done,
        limits: checks.clone(),
    }
}
