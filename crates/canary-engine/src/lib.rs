//! `canary-engine`: the driver of canary-core's planner
//! ([`canary_core::engine`]).
//!
//! # The model
//!
//! [`drive`] runs one phase (deploy, rollout, rollback) to its end:
//!
//! 1. observe: the group's apps with their tasks through the executor
//!    ([`Executor::group_apps`]), every marathon-lb through an [`LbSource`];
//! 2. ask the planner for the next step ([`next_step`]), handing it the time
//!    and how long each thing it waits for has been waited for;
//! 3. carry the step out through the executor (create, scale, kill with
//!    scale, delete; a pre-kill hook first when one is given), or wait as
//!    long as the step says, polling sooner while a step is close and
//!    backing off while the same thing lasts; then observe again.
//!
//! It ends with the planner's done, refused or failed, when the overall
//! timeout passes, when it is asked to stop (a signal: the request in
//! flight finishes first), or when the cluster fails it past the
//! executor's retries. A deploy whose canary never gets healthy is rolled
//! back by the same loop, then reported failed. Everything that happens is
//! reported to an observer as an [`Event`] (the CLI's progress display and
//! its JSON events).
//!
//! [`analyze`] takes the windows of a canary analysis (every marathon-lb's
//! counters at the start and end of each) and hands them to canary-core's
//! pure [`canary_core::analysis`], changing nothing; the CLI acts on its
//! decision.
//!
//! The driver holds no state the cluster does not: what a run learnt (which
//! app is the canary, how long it has waited) only makes that run's
//! decisions better; a rerun after any interruption resumes from the
//! cluster's state.

mod analyze;
mod drive;
mod hook;

pub use analyze::{AnalysisError, AnalysisEvent, AnalysisOutcome, AnalysisRun, analyze};
pub use drive::{Event, Outcome, PhaseError, PhaseRun, drive, plan_once};
pub use hook::{CommandHook, PreKillHook, python_json};

pub use canary_core::engine::{LbSource, next_step};
pub use canary_core::executor::Executor;
