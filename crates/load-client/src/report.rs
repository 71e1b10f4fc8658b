//! What a load saw: every record and phase mark, and the summary a test
//! asserts on and a person reads.

use crate::{Outcome, Record};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The name of the phase before the first mark.
pub const FIRST_PHASE: &str = "start";

/// Every request of a load, and its phase marks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every request, by start time.
    pub records: Vec<Record>,
    /// Each phase's name and start, in order.
    pub marks: Vec<(String, Duration)>,
    /// How long the load ran.
    pub elapsed: Duration,
    /// The width of the share windows.
    pub window: Duration,
}

/// Totals of one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseSummary {
    /// Its name.
    pub name: String,
    /// When it started.
    pub start: Duration,
    /// Requests started in it.
    pub total: u64,
    /// Its failed requests by kind.
    pub failures: BTreeMap<Outcome, u64>,
    /// Its successful responses by version.
    pub versions: BTreeMap<String, u64>,
}

/// Each version's successful responses among the requests that started in
/// one time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Its start.
    pub start: Duration,
    /// Requests started in it.
    pub total: u64,
    /// Successful responses by version.
    pub versions: BTreeMap<String, u64>,
}

impl Window {
    /// `version`'s share of the window's successful responses (0 when it
    /// had none).
    pub fn share(&self, version: &str) -> f64 {
        let ok: u64 = self.versions.values().sum();
        if ok == 0 {
            return 0.0;
        }
        self.versions.get(version).copied().unwrap_or(0) as f64 / ok as f64
    }
}

/// The totals of a load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Requests sent.
    pub total: u64,
    /// Requests answered 2xx.
    pub succeeded: u64,
    /// Requests sent a second time because their reused connection was
    /// closed before any byte of the response (see [`Record::retried`]).
    pub retried: u64,
    /// Failed requests by kind.
    pub failures: BTreeMap<Outcome, u64>,
    /// Per phase, in order.
    pub phases: Vec<PhaseSummary>,
    /// Per time window, in order.
    pub shares: Vec<Window>,
}

impl Summary {
    /// Every failed request.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

impl Report {
    pub(crate) fn new(
        records: Vec<Record>,
        marks: Vec<(String, Duration)>,
        elapsed: Duration,
        window: Duration,
    ) -> Report {
        Report {
            records,
            marks,
            elapsed,
            window,
        }
    }

    /// The phase a request that started at `start` belongs to.
    pub fn phase_of(&self, start: Duration) -> &str {
        self.marks
            .iter()
            .rev()
            .find(|(_, at)| *at <= start)
            .map_or(FIRST_PHASE, |(name, _)| name.as_str())
    }

    /// The failed requests, by start time.
    pub fn failures(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(|r| r.outcome.is_failure())
    }

    /// Totals, failures by kind and phase, and shares per window.
    pub fn summary(&self) -> Summary {
        let mut phases: Vec<PhaseSummary> =
            std::iter::once((FIRST_PHASE.to_owned(), Duration::ZERO))
                .chain(self.marks.iter().cloned())
                .map(|(name, start)| PhaseSummary {
                    name,
                    start,
                    total: 0,
                    failures: BTreeMap::new(),
                    versions: BTreeMap::new(),
                })
                .collect();
        let width = self.window.as_nanos().max(1);
        let windows = (self.elapsed.as_nanos() / width) as usize + 1;
        let mut shares: Vec<Window> = (0..windows.min(100_000))
            .map(|i| Window {
                start: Duration::from_nanos((i as u128 * width) as u64),
                total: 0,
                versions: BTreeMap::new(),
            })
            .collect();
        let mut failures = BTreeMap::new();
        let mut succeeded = 0;
        let retried = self.records.iter().filter(|r| r.retried).count() as u64;
        for record in &self.records {
            let phase = phases
                .iter()
                .rposition(|p| p.start <= record.start)
                .unwrap_or(0);
            let window = ((record.start.as_nanos() / width) as usize).min(shares.len() - 1);
            phases[phase].total += 1;
            shares[window].total += 1;
            if record.outcome.is_failure() {
                *failures.entry(record.outcome).or_insert(0) += 1;
                *phases[phase].failures.entry(record.outcome).or_insert(0) += 1;
            } else {
                succeeded += 1;
                let version = record.version.clone().unwrap_or_else(|| "(none)".into());
                *phases[phase].versions.entry(version.clone()).or_insert(0) += 1;
                *shares[window].versions.entry(version).or_insert(0) += 1;
            }
        }
        // The first phase is only listed when something happened before the
        // first mark (or there is no mark at all).
        if phases.len() > 1 && phases[0].total == 0 {
            phases.remove(0);
        }
        Summary {
            total: self.records.len() as u64,
            succeeded,
            retried,
            failures,
            phases,
            shares,
        }
    }
}

fn kinds(failures: &BTreeMap<Outcome, u64>) -> String {
    if failures.is_empty() {
        return "none".into();
    }
    failures
        .iter()
        .map(|(k, n)| format!("{n} {}", k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn shares(versions: &BTreeMap<String, u64>) -> String {
    let ok: u64 = versions.values().sum();
    if ok == 0 {
        return "-".into();
    }
    versions
        .iter()
        .map(|(v, n)| format!("{v} {:.0}%", *n as f64 * 100.0 / ok as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "requests: {}, succeeded: {}, failed: {} ({}); sent again on a new connection: {}",
            self.total,
            self.succeeded,
            self.failed(),
            kinds(&self.failures),
            self.retried
        )?;
        writeln!(f, "by phase:")?;
        for phase in &self.phases {
            writeln!(
                f,
                "  {:<12} from {:>7.2}s  {:>7} requests, failed: {}; versions: {}",
                phase.name,
                phase.start.as_secs_f64(),
                phase.total,
                kinds(&phase.failures),
                shares(&phase.versions)
            )?;
        }
        writeln!(f, "share per window:")?;
        for window in self.shares.iter().filter(|w| w.total > 0) {
            writeln!(
                f,
                "  {:>7.2}s  {:>6} requests  {}",
                window.start.as_secs_f64(),
                window.total,
                shares(&window.versions)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ms: u64, outcome: Outcome, version: &str) -> Record {
        Record {
            start: Duration::from_millis(ms),
            duration: Duration::from_millis(1),
            outcome,
            status: None,
            version: Some(version.into()),
            slow: false,
            connection: 0,
            retried: false,
        }
    }

    #[test]
    fn phases_windows_and_failures_add_up() {
        let report = Report::new(
            vec![
                record(100, Outcome::Success, "a"),
                record(900, Outcome::Success, "a"),
                record(1_100, Outcome::Success, "b"),
                record(1_200, Outcome::Reset, "b"),
                record(1_300, Outcome::Success, "a"),
                record(2_500, Outcome::ServerError, "b"),
            ],
            vec![("rollout".into(), Duration::from_millis(1_000))],
            Duration::from_millis(2_600),
            Duration::from_secs(1),
        );
        let s = report.summary();
        assert_eq!((s.total, s.succeeded, s.failed()), (6, 4, 2));
        assert_eq!(s.phases.len(), 2);
        assert_eq!(s.phases[0].name, "start");
        assert_eq!(s.phases[0].total, 2);
        assert_eq!(s.phases[1].name, "rollout");
        assert_eq!(s.phases[1].failures[&Outcome::Reset], 1);
        assert_eq!(s.phases[1].failures[&Outcome::ServerError], 1);
        assert_eq!(s.shares.len(), 3);
        assert_eq!(s.shares[1].share("b"), 0.5);
        assert_eq!(report.phase_of(Duration::from_millis(1_200)), "rollout");
        let text = s.to_string();
        assert!(text.contains("failed: 2 (1 5xx, 1 reset)"), "{text}");
    }
}
