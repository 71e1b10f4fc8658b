//! `canary-engine`: every use case that drives a cluster, on one
//! [`Session`] (the executor for Marathon and Metronome, every marathon-lb,
//! the clock, the stop signal and the event sink, built once per process).
//! canary-core holds the pure model each of them decides with; the binary
//! parses arguments, builds the session, calls one of these and words the
//! outcome.
//!
//! # The use cases
//!
//! | module | what | decides with (canary-core) |
//! |---|---|---|
//! | [`phase`] | one deploy, rollout or rollback to its end: observe, ask the planner for the next step, carry it out or wait, until done, refused, failed, timed out or stopped | `plan` |
//! | [`ladder`] | a canary climbing its steps (pauses, analyses, a rollback on a failed one), and `promote` | `plan::ladder`, `analysis` |
//! | [`analyze`] | the windows of a canary analysis from every marathon-lb's counters, read-only | `analysis` |
//! | [`apply`] | the three phase jobs made equal to the rendered ones | `apply` |
//! | [`run`] | a phase job's run started (after its preflight) and followed | `run` |
//! | [`status`] | the group as it stands, and the split marathon-lb's counters saw | `status`, `plan::sample` |
//!
//! # The phase loop
//!
//! [`phase::run_phase`] observes the group's apps with their tasks
//! ([`Executor::group_apps`]) and every marathon-lb ([`LbSource`]), asks
//! [`next_step`] for the next step (handing it the time and how long each
//! wait has lasted), and carries the step out (create, scale, kill with
//! scale, delete; a pre-kill hook first when one is given) or waits as the
//! step says, polling sooner while a step is close and backing off while
//! the same thing lasts. A deploy whose canary never gets healthy is rolled
//! back by the same loop, then reported failed.
//!
//! Nothing here holds state the cluster does not: what a run learnt (which
//! app is the canary, how long it has waited, the readings' evidence of
//! reloads) only makes that run's decisions better; a rerun after any
//! interruption resumes from the cluster's state. Every wait is the
//! session's one stoppable sleep ([`Session::sleep`]), so a stop is seen
//! within [`session::STOP_POLL`].

pub mod analyze;
pub mod apply;
pub mod events;
pub mod group;
mod hook;
pub mod ladder;
pub mod outcome;
pub mod phase;
pub mod run;
pub mod session;
pub mod status;
pub mod watch;

pub use events::{EngineEvent, EventSink, LadderPosition, NoEvents};
pub use hook::{CommandHook, HookError, PreKillHook, python_json};
pub use phase::{Outcome, PhaseError, PhaseRun, plan_once, run_phase};
pub use session::{Session, Stopped};

pub use canary_core::executor::Executor;
pub use canary_core::plan::{LbSource, next_step};

/// Reads no marathon-lb: for sessions that never need one (`apply`,
/// `run`), where an empty list is the honest answer.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLoadBalancers;

impl LbSource for NoLoadBalancers {
    fn observe(&mut self, _: &canary_core::plan::LbQuery) -> Vec<canary_core::plan::LbView> {
        Vec::new()
    }
}

/// A session over the recording fake, with no marathon-lb, a manual clock
/// and no events: what the use cases' unit tests run on.
#[cfg(test)]
pub(crate) fn test_session(executor: &mut canary_core::executor::RecordingExecutor) -> Session<'_> {
    use canary_core::clock::{ManualClock, Timestamp};
    Session::new(
        Box::new(executor),
        Box::new(NoLoadBalancers),
        std::sync::Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1_000))),
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        Box::new(NoEvents),
    )
}
