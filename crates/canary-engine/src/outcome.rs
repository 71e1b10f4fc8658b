//! What the use cases end with, and what a phase fails with: the types
//! the events carry too (`events.rs`), kept apart from the use cases
//! so that events, the session and the use cases depend on each other in
//! one direction only.

use canary_core::analysis::{Decision, SequentialReport, Tally, WindowAnalysis};
use canary_core::executor::ExecError;
use canary_core::plan::intent::Moved;
use std::time::Duration;

/// A phase that finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What the cluster looks like now.
    pub message: String,
    /// How many changes the driver made.
    pub actions: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// Why a phase did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhaseError {
    /// The group was not in a state for the phase; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The phase cannot go on (a canary or a restore that does not get
    /// healthy, a drain that outlasts its timeout, marathon-lb not draining).
    #[error("{reason}")]
    Failed {
        /// Why, and what is left.
        reason: String,
        /// Changes made before it.
        actions: usize,
    },
    /// A deploy whose canary failed: the canary was removed and the live app
    /// is back as it was.
    #[error("{reason}; the canary was rolled back: {now}")]
    RolledBack {
        /// Why the canary failed.
        reason: String,
        /// What the cluster looks like now.
        now: String,
    },
    /// The phase did not finish within its timeout (it is resumable).
    #[error("the phase did not finish within {timeout}: {last}")]
    TimedOut {
        /// The timeout.
        timeout: String,
        /// What it was waiting for.
        last: String,
    },
    /// Stopped on request (a signal), after the request in flight.
    #[error("stopped before the phase finished: {last}")]
    Interrupted {
        /// What it was doing.
        last: String,
    },
    /// The cluster failed a request past the executor's retries.
    #[error("{doing}: {source}")]
    Cluster {
        /// What the driver was doing.
        doing: String,
        /// The executor's error.
        source: ExecError,
    },
    /// Someone else changed the group while the phase ran (see
    /// `canary_core::plan::intent`): it stopped before its next change.
    #[error("{moved}")]
    Moved {
        /// What was found.
        moved: Moved,
        /// Changes this phase made before it.
        actions: usize,
    },
    /// A marathon-lb could not carry the phase (unreadable, or not serving
    /// the group), found before its first change: nothing was changed.
    #[error("{0}")]
    LoadBalancer(String),
    /// The pre-kill hook refused.
    #[error("{0}")]
    Hook(String),
}

/// A finished analysis.
#[derive(Debug, Clone)]
pub struct AnalysisOutcome {
    /// The final decision (promote, rollback or stop).
    pub decision: Decision,
    /// The verdicts counted.
    pub tally: Tally,
    /// Every window judged, in order (windows).
    pub windows: Vec<WindowAnalysis>,
    /// The last read's report (sequential): the totals and the evidence
    /// behind the decision.
    pub sequential: Option<SequentialReport>,
}

impl AnalysisOutcome {
    /// The last window judged (the one behind the decision).
    pub fn last(&self) -> Option<&WindowAnalysis> {
        self.windows.last()
    }
}
