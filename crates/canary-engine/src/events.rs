//! What the use cases report as they go: one [`EngineEvent`] per thing
//! that happens, handed to the session's [`EventSink`]. The binary turns
//! them into its progress display and its `--events json` lines; tests
//! record them.

use crate::outcome::{AnalysisOutcome, Outcome, PhaseError};
use canary_core::Phase;
use canary_core::analysis::Method;
use canary_core::analysis::{Decision, SequentialReport, Tally, WindowAnalysis};
use canary_core::executor::RunInfo;
use canary_core::plan::{Observation, Step, Wait};
use std::time::Duration;

/// Where a canary stands on its ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderPosition {
    /// The step, from 1.
    pub step: usize,
    /// How many steps the ladder has.
    pub of: usize,
    /// The rung as written (`25%`, `2`).
    pub rung: String,
    /// The canary's instances at this step.
    pub count: u32,
    /// The count the canary grows to in the end.
    pub target: u32,
    /// The whole ladder, in `--steps` form.
    pub ladder: String,
}

impl LadderPosition {
    /// Whether it is the ladder's last step.
    pub fn last(&self) -> bool {
        self.step == self.of
    }
}

impl std::fmt::Display for LadderPosition {
    /// `step 2 of 3 (25%: 2 of 8)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} of {} ({}: {} of {})",
            self.step, self.of, self.rung, self.count, self.target
        )
    }
}

/// One thing that happened.
#[derive(Debug)]
pub enum EngineEvent<'a> {
    /// A phase begins.
    PhaseStarted {
        /// Which.
        phase: Phase,
        /// The deployment group.
        group: &'a str,
        /// A ladder step's count (a partial rollout), if any.
        goal: Option<u32>,
        /// A deploy's canary instances.
        canary_instances: Option<u32>,
        /// How long it may take.
        timeout: Duration,
    },
    /// The cluster as a phase just saw it.
    Observed {
        /// The phase.
        phase: Phase,
        /// What it saw.
        observation: &'a Observation,
    },
    /// A phase is about to change something.
    Acting {
        /// The phase.
        phase: Phase,
        /// The group.
        group: &'a str,
        /// The change.
        step: &'a Step,
    },
    /// A phase waits (again) for something.
    Waiting {
        /// The phase.
        phase: Phase,
        /// The group.
        group: &'a str,
        /// What for.
        wait: &'a Wait,
        /// How long it has waited for it so far.
        waited: Duration,
    },
    /// A deploy's canary did not get healthy: it is being removed.
    Aborting {
        /// The phase.
        phase: Phase,
        /// The group.
        group: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// A phase finished.
    PhaseDone {
        /// The phase.
        phase: Phase,
        /// The group.
        group: &'a str,
        /// How it ended.
        outcome: &'a Outcome,
    },
    /// A phase did not finish.
    PhaseFailed {
        /// The phase.
        phase: Phase,
        /// The group.
        group: &'a str,
        /// Why.
        error: &'a PhaseError,
    },
    /// The canary stands at a step of its ladder.
    LadderStep {
        /// The group.
        group: &'a str,
        /// Where.
        at: &'a LadderPosition,
    },
    /// The ladder pauses at a step before going on.
    Pausing {
        /// The group.
        group: &'a str,
        /// Where.
        at: &'a LadderPosition,
        /// For how long.
        pause: Duration,
    },
    /// An analysis begins.
    AnalysisStarted {
        /// The group.
        group: &'a str,
        /// What is analysed (`step 1 of 2 (...)`, `the canary as it stands`).
        at: &'a str,
        /// How it judges (the windows and checks, or the sequential
        /// policy).
        method: &'a Method,
        /// Each window's length, or the time between two reads.
        interval: Duration,
    },
    /// A read of the sequential analysis was judged.
    ReadJudged {
        /// The group.
        group: &'a str,
        /// The totals, the evidence and the decision after it.
        report: &'a SequentialReport,
    },
    /// A window's first reading was taken.
    WindowStarted {
        /// The group.
        group: &'a str,
        /// Its number, from 1.
        window: u32,
        /// The most windows.
        of: u32,
        /// Its length.
        interval: Duration,
    },
    /// A window was judged.
    WindowJudged {
        /// The group.
        group: &'a str,
        /// Its number, from 1.
        window: u32,
        /// The verdict and its numbers.
        analysis: &'a WindowAnalysis,
        /// The decision after it.
        decision: &'a Decision,
        /// The verdicts so far.
        tally: Tally,
    },
    /// An analysis decided.
    AnalysisDone {
        /// The group.
        group: &'a str,
        /// What was analysed.
        at: &'a str,
        /// The decision and every window.
        outcome: &'a AnalysisOutcome,
    },
    /// A followed job run changed status.
    RunChanged {
        /// The run as it stands.
        run: &'a RunInfo,
    },
}

/// Where a session's events go.
pub trait EventSink {
    /// Takes one event.
    fn event(&mut self, event: &EngineEvent<'_>);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn event(&mut self, _: &EngineEvent<'_>) {}
}

impl<F: FnMut(&EngineEvent<'_>)> EventSink for F {
    fn event(&mut self, event: &EngineEvent<'_>) {
        self(event)
    }
}
