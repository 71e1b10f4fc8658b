//! The sequential analysis's driver: a read of every marathon-lb and of
//! the group every `interval`, each fed to canary-core's
//! [`SequentialAnalysis`], until it decides or `max_duration` of the
//! session's clock is over (the last read is made at it, so the bound
//! holds within one read's time).

use super::{AnalysisError, AnalysisOutcome, Bound};
use crate::events::EngineEvent;
use crate::session::Session;
use canary_core::analysis::snapshot::delta;
use canary_core::analysis::{SequentialAnalysis, SequentialPolicy, Tally};
use std::time::Duration;

/// Reads until the decision; the last report is the outcome's.
pub(super) fn run(
    session: &mut Session<'_>,
    mut bound: Bound<'_>,
    policy: SequentialPolicy,
    interval: Duration,
) -> Result<AnalysisOutcome, AnalysisError> {
    let group = bound.group;
    let started = session.now();
    let max = policy.max_duration;
    let mut analysis = SequentialAnalysis::new(policy);
    let mut read = 0u32;
    loop {
        read += 1;
        let left = max.saturating_sub(session.now().since(started));
        if session.sleep(interval.min(left)).is_err() {
            return Err(AnalysisError::Interrupted { window: read });
        }
        let (end, roles, next) = bound.read(session, read)?;
        let elapsed = session.now().since(started);
        let report = analysis.record(&delta(&bound.start, &end), &roles, elapsed);
        session.emit(&EngineEvent::ReadJudged {
            group,
            report: &report,
        });
        bound.start = next;
        if report.decision.is_final() {
            return Ok(AnalysisOutcome {
                decision: report.decision.clone(),
                tally: Tally::default(),
                windows: Vec::new(),
                sequential: Some(report),
            });
        }
    }
}
