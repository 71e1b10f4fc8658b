//! The sequential analysis: judged at every read of marathon-lb's counters
//! (every few seconds), it decides as soon as the evidence allows, with a
//! false-alarm probability it can state, however often it looks.
//!
//! # The model
//!
//! Each read adds what every server served since the previous read (the
//! [`delta`](super::delta) of two snapshots, by the reset rule: a reloaded
//! HAProxy's counts are taken as they are) to two running totals, the
//! canary's and the baseline's: requests, errors, responses. Then:
//!
//! * **Errors.** `d̂ = errors_c/requests_c − errors_b/requests_b`, with the
//!   variance `v` it would have if the canary's error rate were exactly
//!   the baseline's plus the margin `δ` (the boundary of "acceptable"):
//!   `v = p₀(1−p₀)/n_c + p̃(1−p̃)/n_b`, `p̃ = (errors_b + ½)/(n_b + 1)`,
//!   `p₀ = p̃ + δ`. The normal-mixture e-value `Λ(δ)` of [`mixture`]
//!   measures the evidence that the true difference is not `δ`; once it
//!   reaches `1/α` the difference is on one side of the margin with
//!   confidence `1 − α` at every read at once (the confidence sequence
//!   `d̂ ± w` excludes `δ`). Above: **fail**. Below: the canary's errors
//!   pass.
//! * **Latency**, Kayenta's way: the per-server response times (`rtime`,
//!   HAProxy's average of a server's last 1024 requests) of both sides,
//!   compared with a one-sided Mann-Whitney U test ([`mann_whitney`]) at
//!   98% confidence with an effect tolerance of 25% (the canary's median
//!   over the baseline's). Consecutive readings of one server average
//!   mostly the same requests, so a reading is kept only once its server
//!   has sent 1024 responses since its previous kept one: kept readings
//!   average disjoint requests. The test looks when both sides reach 50,
//!   100, 200, … kept readings; look `k` (from 0) spends
//!   `α_lat / ((k+1)(k+2))`, which sums to `α_lat` over every look.
//! * **Guard rails**: the canary's cumulative error rate over
//!   `--max-error-rate`, or its cumulative mean response time over
//!   `--max-latency-ratio` times the baseline's, fails it whatever the
//!   statistics say.
//!
//! A decision needs `min_requests` on each side. A **pass** also needs
//! `min_duration` of analysis and a latency that is not slower. With no
//! decision at `max_duration` the analysis stops, inconclusive, saying why:
//! no data, or too little, is never a failure.
//!
//! # Assumptions (and what happens when they fail)
//!
//! * Requests are independent trials with a constant error rate per side
//!   while the analysis runs, and their number is large enough for the
//!   normal approximation of `d̂` (hence `min_requests`). Correlated
//!   errors (a burst) make the test more eager than `α`; the A/A study in
//!   `tests/examples/analysis_study.rs` measures the false-failure rate
//!   with resets and uneven reads.
//! * The variance is estimated (from the baseline, at the margin); the
//!   guarantee is the mixture's asymptotic one (Johari et al. 2017).
//! * Requests a reloaded HAProxy's old worker answered after the last read
//!   are in no stats page: they are not counted, on either side alike.
//! * The latency readings' independence rests on the thinning above;
//!   HAProxy's `rtime` is an average, so the test compares averages of
//!   1024 requests, not single requests.

pub mod mann_whitney;
pub mod mixture;

use super::error::PolicyError;
use super::metrics::{Roles, Side};
use super::sequence::Decision;
use super::snapshot::WindowDelta;
use super::verdict::{Checks, EDGE_TOLERANCE};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// HAProxy's `rtime` averages a server's last this many requests.
pub const RTIME_REQUESTS: u64 = 1024;

/// The default false-alarm probability: 5%.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// The default margin: one percentage point of error rate over the
/// baseline's is tolerated.
pub const DEFAULT_MARGIN: f64 = 0.01;
/// The default shortest analysis before a pass.
pub const DEFAULT_MIN_DURATION: Duration = Duration::from_secs(60);
/// The default longest analysis.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(30 * 60);

/// The latency test's settings (Kayenta's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyPolicy {
    /// The false-alarm probability over every look (0.02: 98%).
    pub alpha: f64,
    /// How much slower (as a share of the baseline's median) counts as
    /// slower: 0.25.
    pub tolerance: f64,
    /// The kept readings each side needs for the first look: 50.
    pub min_readings: usize,
}

impl Default for LatencyPolicy {
    fn default() -> Self {
        LatencyPolicy {
            alpha: 0.02,
            tolerance: 0.25,
            min_readings: 50,
        }
    }
}

/// How a sequential analysis decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequentialPolicy {
    /// The probability of a false verdict (a good canary failed, or a bad
    /// one passed), whenever it looks.
    pub alpha: f64,
    /// The difference of error rates tolerated (0.01: one point).
    pub margin: f64,
    /// The shortest analysis before a pass (a failure may come sooner).
    #[serde(with = "millis")]
    pub min_duration: Duration,
    /// The longest analysis: then it stops, inconclusive.
    #[serde(with = "millis")]
    pub max_duration: Duration,
    /// The guard rails: `max_error_rate` and `max_latency_ratio` on the
    /// running totals; `min_requests` per side before any decision;
    /// `max_error_rate_increase` is not used (the margin is the test's).
    pub guard_rails: Checks,
    /// The latency test.
    pub latency: LatencyPolicy,
}

impl Default for SequentialPolicy {
    fn default() -> Self {
        SequentialPolicy {
            alpha: DEFAULT_ALPHA,
            margin: DEFAULT_MARGIN,
            min_duration: DEFAULT_MIN_DURATION,
            max_duration: DEFAULT_MAX_DURATION,
            guard_rails: Checks {
                max_error_rate_increase: None,
                ..Checks::default()
            },
            latency: LatencyPolicy::default(),
        }
    }
}

impl SequentialPolicy {
    /// Refuses settings the test cannot work with, naming the field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if !(self.alpha > 0.0 && self.alpha <= 0.5) {
            return Err(PolicyError::OutOfRange {
                field: "alpha",
                value: self.alpha,
                range: "above 0 and at most 0.5",
            });
        }
        if !(0.0..1.0).contains(&self.margin) {
            return Err(PolicyError::NotAShare {
                field: "margin",
                value: self.margin,
            });
        }
        if self.min_duration > self.max_duration {
            return Err(PolicyError::OutOfRange {
                field: "min_duration",
                value: self.min_duration.as_secs_f64(),
                range: "at most max_duration",
            });
        }
        self.guard_rails.validate()
    }
}

/// Milliseconds in JSON.
mod millis {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// One side's running totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SideTotals {
    /// Requests (responses plus failed connections and response errors).
    pub requests: u64,
    /// Errors (5xx, failed connections, response errors).
    pub errors: u64,
    /// Responses, every class.
    pub responses: u64,
    /// `errors / requests`; `None` without requests.
    pub error_rate: Option<f64>,
    /// The servers' `rtime` weighted by the responses each sent; `None`
    /// without responses.
    pub mean_response_ms: Option<f64>,
    #[serde(skip)]
    weighted_ms: u128,
}

impl SideTotals {
    fn add(&mut self, c: &super::Counters) {
        self.requests = self.requests.saturating_add(c.requests());
        self.errors = self.errors.saturating_add(c.errors());
        self.responses = self.responses.saturating_add(c.responses());
        self.weighted_ms = self
            .weighted_ms
            .saturating_add(u128::from(c.rtime) * u128::from(c.responses()));
        self.error_rate = (self.requests > 0).then(|| self.errors as f64 / self.requests as f64);
        self.mean_response_ms =
            (self.responses > 0).then(|| self.weighted_ms as f64 / self.responses as f64);
    }
}

/// The error test at a read: the numbers behind its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorEvidence {
    /// The canary's error rate minus the baseline's.
    pub difference: f64,
    /// The confidence sequence's lower end.
    pub lower: f64,
    /// Its upper end.
    pub upper: f64,
    /// The e-value against "the difference is the margin".
    pub e_value: f64,
    /// What it must reach for a verdict: `1/α`.
    pub threshold: f64,
    /// The margin.
    pub margin: f64,
}

impl ErrorEvidence {
    /// Whether the difference is above the margin, with confidence.
    pub fn above(&self) -> bool {
        self.lower > self.margin
    }

    /// Whether the difference is below the margin, with confidence.
    pub fn below(&self) -> bool {
        self.upper < self.margin
    }
}

/// The latency test at its last look.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyEvidence {
    /// The look (from 0).
    pub look: u32,
    /// Kept canary readings.
    pub canary_readings: usize,
    /// Kept baseline readings.
    pub baseline_readings: usize,
    /// The U statistic of the canary's readings.
    pub u: f64,
    /// The one-sided p-value of "the canary is slower".
    pub p_value: f64,
    /// The share of `α_lat` this look spends.
    pub alpha: f64,
    /// The canary's median reading over the baseline's.
    pub median_ratio: f64,
    /// Whether the canary is slower: significant and past the tolerance.
    pub slower: bool,
}

/// The analysis after a read: the totals, the evidence, the decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequentialReport {
    /// The read's number, from 1.
    pub read: u32,
    /// Analysis time so far, in ms.
    pub elapsed_ms: u64,
    /// The canary's totals.
    pub canary: SideTotals,
    /// The baseline's totals.
    pub baseline: SideTotals,
    /// The error test, once each side has `min_requests`.
    pub errors: Option<ErrorEvidence>,
    /// The latency test at its last look, if it looked.
    pub latency: Option<LatencyEvidence>,
    /// Kept latency readings so far (canary, baseline).
    pub latency_readings: (usize, usize),
    /// Reads in which a marathon-lb reloaded (counted by the reset rule).
    pub reloads: u32,
    /// What to do.
    pub decision: Decision,
}

/// `0.0123` as `1.23%`.
fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// An e-value in a few digits (`3.21`, `4.22e27`).
fn evidence(e: f64) -> String {
    if e < 1e6 {
        format!("{e:.2}")
    } else {
        format!("{e:.2e}")
    }
}

/// `0.0123` as `+1.23`.
fn points(x: f64) -> String {
    format!("{:+.2}", x * 100.0)
}

impl fmt::Display for SequentialReport {
    /// `read 12 (60 s): canary 2.00% of 750, baseline 0.90% of 2250;
    /// difference +1.10 points, CS [-0.40, +2.60], margin 1.00, e 3.2 of
    /// 20; latency 3 and 9 readings → continue`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &SideTotals| match s.error_rate {
            Some(rate) => format!("{} errors of {}", pct(rate), s.requests),
            None => "no requests".to_owned(),
        };
        write!(
            f,
            "read {} ({:.0} s): canary {}, baseline {}",
            self.read,
            self.elapsed_ms as f64 / 1000.0,
            side(&self.canary),
            side(&self.baseline)
        )?;
        match &self.errors {
            Some(e) => write!(
                f,
                "; difference {} points, {:.0}% CS [{}, {}], margin {:.2}, e-value {} of {:.0}",
                points(e.difference),
                (1.0 - 1.0 / e.threshold) * 100.0,
                points(e.lower),
                points(e.upper),
                e.margin * 100.0,
                evidence(e.e_value),
                e.threshold
            )?,
            None => f.write_str("; too few requests for the error test")?,
        }
        match &self.latency {
            Some(l) => write!(
                f,
                "; latency median ×{:.2}, p {:.4} (look {}, α {:.4}, {} and {} readings)",
                l.median_ratio, l.p_value, l.look, l.alpha, l.canary_readings, l.baseline_readings
            )?,
            None => write!(
                f,
                "; latency {} and {} readings",
                self.latency_readings.0, self.latency_readings.1
            )?,
        }
        write!(f, " → {}", self.decision)
    }
}

/// A sequential analysis in progress: feed it every read, read its
/// decision. Holds totals and the kept latency readings only.
#[derive(Debug, Clone)]
pub struct SequentialAnalysis {
    policy: SequentialPolicy,
    canary: SideTotals,
    baseline: SideTotals,
    /// Responses each (load balancer, server) sent since its last kept
    /// latency reading.
    since_kept: BTreeMap<(String, String), u64>,
    readings: (Vec<f64>, Vec<f64>),
    looks: u32,
    latency: Option<LatencyEvidence>,
    has_baseline: bool,
    reads: u32,
    reloads: u32,
    decision: Decision,
}

impl SequentialAnalysis {
    /// An analysis with no read yet (the policy validated by the caller).
    pub fn new(policy: SequentialPolicy) -> SequentialAnalysis {
        SequentialAnalysis {
            policy,
            canary: SideTotals::default(),
            baseline: SideTotals::default(),
            since_kept: BTreeMap::new(),
            readings: (Vec::new(), Vec::new()),
            looks: 0,
            latency: None,
            has_baseline: false,
            reads: 0,
            reloads: 0,
            decision: Decision::Continue,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &SequentialPolicy {
        &self.policy
    }

    /// The decision so far.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Adds a read (`delta` since the previous one, the servers' sides by
    /// `roles`) at `elapsed` analysis time, and decides. After a final
    /// decision, reads change nothing.
    pub fn record(
        &mut self,
        delta: &WindowDelta,
        roles: &Roles,
        elapsed: Duration,
    ) -> SequentialReport {
        if !self.decision.is_final() {
            self.add(delta, roles);
            self.decision = self.decide(elapsed);
        }
        self.report(elapsed)
    }

    fn add(&mut self, delta: &WindowDelta, roles: &Roles) {
        self.reads += 1;
        self.has_baseline |= roles.baseline_app().is_some();
        if delta.lbs.iter().any(|l| l.coverage.reloading) {
            self.reloads += 1;
        }
        for lb in delta.lbs.iter().filter(|l| l.coverage.status.counted()) {
            for (server, counters) in &lb.servers {
                let Some(side) = roles.side(server) else {
                    continue;
                };
                let (totals, readings) = match side {
                    Side::Canary => (&mut self.canary, &mut self.readings.0),
                    Side::Baseline => (&mut self.baseline, &mut self.readings.1),
                };
                totals.add(counters);
                let since = self
                    .since_kept
                    .entry((lb.coverage.url.clone(), server.clone()))
                    .or_insert(0);
                *since = since.saturating_add(counters.responses());
                if *since >= RTIME_REQUESTS && counters.rtime > 0 {
                    readings.push(counters.rtime as f64);
                    *since = 0;
                }
            }
        }
    }

    fn min_requests(&self) -> u64 {
        self.policy.guard_rails.min_requests.max(1)
    }

    /// The error test, once each side has enough requests.
    fn error_evidence(&self) -> Option<ErrorEvidence> {
        let min = self.min_requests();
        let (c, b) = (&self.canary, &self.baseline);
        if c.requests < min || b.requests < min {
            return None;
        }
        let (nc, nb) = (c.requests as f64, b.requests as f64);
        let difference = c.errors as f64 / nc - b.errors as f64 / nb;
        let baseline = (b.errors as f64 + 0.5) / (nb + 1.0);
        let at_margin = (baseline + self.policy.margin).min(0.5);
        let v = at_margin * (1.0 - at_margin) / nc + baseline * (1.0 - baseline) / nb;
        let tau2 = mixture::MIXING_VARIANCE;
        let w = mixture::half_width(v, tau2, self.policy.alpha);
        Some(ErrorEvidence {
            difference,
            lower: difference - w,
            upper: difference + w,
            e_value: mixture::e_value(difference, self.policy.margin, v, tau2),
            threshold: 1.0 / self.policy.alpha,
            margin: self.policy.margin,
        })
    }

    /// The latency test's next look, when both sides have its readings.
    fn look_at_latency(&mut self) {
        let policy = self.policy.latency;
        let (canary, baseline) = (&self.readings.0, &self.readings.1);
        let needed = policy
            .min_readings
            .saturating_mul(1usize << self.looks.min(20));
        if canary.len() < needed || baseline.len() < needed {
            return;
        }
        let look = self.looks;
        self.looks += 1;
        let (k, alpha) = (f64::from(look), policy.alpha);
        let alpha = alpha / ((k + 1.0) * (k + 2.0));
        let Some(test) = mann_whitney::greater(canary, baseline) else {
            return;
        };
        let floor = self.policy.guard_rails.latency_floor_ms;
        let ratio = match (mann_whitney::median(canary), mann_whitney::median(baseline)) {
            (Some(c), Some(b)) => c.max(floor) / b.max(floor),
            _ => 1.0,
        };
        self.latency = Some(LatencyEvidence {
            look,
            canary_readings: canary.len(),
            baseline_readings: baseline.len(),
            u: test.u,
            p_value: test.p_value,
            alpha,
            median_ratio: ratio,
            slower: test.p_value <= alpha && ratio > 1.0 + policy.tolerance,
        });
    }

    fn decide(&mut self, elapsed: Duration) -> Decision {
        // Latency looks first: a look is spent whatever else decides.
        self.look_at_latency();
        let min = self.min_requests();
        let guard = &self.policy.guard_rails;
        let (c, b) = (&self.canary, &self.baseline);
        // Guard rails: a canary past a fixed limit fails whatever the
        // statistics say.
        if c.requests >= min
            && let (Some(limit), Some(rate)) = (guard.max_error_rate, c.error_rate)
            && rate > limit + EDGE_TOLERANCE
        {
            return Decision::Rollback {
                reason: format!(
                    "guard rail: the canary's error rate {} over {} requests is above --max-error-rate {}",
                    pct(rate),
                    c.requests,
                    pct(limit)
                ),
            };
        }
        if c.responses >= min
            && b.responses >= min
            && let (Some(limit), Some(mc), Some(mb)) = (
                guard.max_latency_ratio,
                c.mean_response_ms,
                b.mean_response_ms,
            )
        {
            let ratio = mc.max(guard.latency_floor_ms) / mb.max(guard.latency_floor_ms);
            if ratio > limit + EDGE_TOLERANCE {
                return Decision::Rollback {
                    reason: format!(
                        "guard rail: the canary's mean response time {mc:.1} ms is {ratio:.2} times the baseline's {mb:.1} ms, above --max-latency-ratio {limit}"
                    ),
                };
            }
        }
        let errors = self.error_evidence();
        if let Some(e) = &errors
            && e.above()
        {
            return Decision::Rollback {
                reason: format!(
                    "the canary's error rate exceeds the baseline's by more than the margin: difference {} points, {:.0}% confidence sequence [{}, {}] above {:.2} (e-value {} ≥ {:.0}; {} and {} requests)",
                    points(e.difference),
                    (1.0 - self.policy.alpha) * 100.0,
                    points(e.lower),
                    points(e.upper),
                    e.margin * 100.0,
                    evidence(e.e_value),
                    e.threshold,
                    c.requests,
                    b.requests
                ),
            };
        }
        if let Some(l) = &self.latency
            && l.slower
        {
            return Decision::Rollback {
                reason: format!(
                    "the canary is slower: median response time ×{:.2} the baseline's (tolerance ×{:.2}), Mann-Whitney p {:.5} ≤ {:.5} ({} and {} readings)",
                    l.median_ratio,
                    1.0 + self.policy.latency.tolerance,
                    l.p_value,
                    l.alpha,
                    l.canary_readings,
                    l.baseline_readings
                ),
            };
        }
        if elapsed >= self.policy.min_duration
            && let Some(e) = &errors
            && e.below()
        {
            return Decision::Promote;
        }
        if elapsed >= self.policy.max_duration {
            let why = if !self.has_baseline {
                "the group has no baseline to compare with".to_owned()
            } else if let Some(e) = &errors {
                format!(
                    "the evidence did not separate the difference from the margin: {} points, confidence sequence [{}, {}] around {:.2} (e-value {} < {:.0})",
                    points(e.difference),
                    points(e.lower),
                    points(e.upper),
                    e.margin * 100.0,
                    evidence(e.e_value),
                    e.threshold
                )
            } else {
                format!(
                    "too few requests: canary {}, baseline {} (each side needs {min})",
                    c.requests, b.requests
                )
            };
            return Decision::Stop {
                reason: format!(
                    "no decision within --max-duration {} s: {why}",
                    self.policy.max_duration.as_secs()
                ),
            };
        }
        Decision::Continue
    }

    fn report(&self, elapsed: Duration) -> SequentialReport {
        SequentialReport {
            read: self.reads,
            elapsed_ms: elapsed.as_millis() as u64,
            canary: self.canary.clone(),
            baseline: self.baseline.clone(),
            errors: self.error_evidence(),
            latency: self.latency.clone(),
            latency_readings: (self.readings.0.len(), self.readings.1.len()),
            reloads: self.reloads,
            decision: self.decision.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
