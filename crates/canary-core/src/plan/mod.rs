//! The planner of the native zero-downtime phases, as pure data: what a
//! deploy, rollout or rollback does next, given what the cluster looks like
//! now. (canary-engine is its driver.)
//!
//! # The model
//!
//! The planner keeps marathon-lb in front and zdd.py's contract with it
//! ([`labels`]: the same labels, so marathon-lb drains for canary and a
//! group zdd.py started can be finished by canary and the other way round),
//! and replaces zdd.py's loop with a planner that never idles:
//!
//! * [`observe`]: an [`Observation`] is the group's Marathon apps with their
//!   tasks and health ([`crate::MarathonApp`]), and every marathon-lb's
//!   HAProxy stats for the group ([`stats`]: read by column name, with the
//!   answering worker), never `/_haproxy_getpids`;
//! * [`evidence`]: what the readings so far have shown: since when each
//!   drained server has been `MAINT`, and the longest request, which bound
//!   how long a reload's old worker may still serve it;
//! * [`predict`]: marathon-lb's side, predicted: its backend and server
//!   names, and which old tasks it marks `disabled` (the
//!   `lastScalingAt` rule included);
//! * [`prepare`]: the apps a deploy creates (the first app of an empty
//!   group, or the canary), with the colour, port and labels zdd.py gives
//!   them;
//! * [`phase`]: [`next_step`] turns a [`PhaseRequest`], an observation and the
//!   [`Moment`] into one [`Step`]: create, scale, kill drained tasks, delete,
//!   wait (saying what for), done, refused, failed;
//! * [`ladder`]: the steps a canary climbs (`--steps 1,25%,50%`), written
//!   on the canary, so the step a group stands at is the cluster's;
//! * [`sample`]: which app marathon-lb's counters say served a sample of
//!   requests (`canary status --sample`).
//!
//! A driver outside this crate observes, asks for the next step, carries it
//! out through the executor, and waits as the step says; `--dry-run` prints
//! the first step from the live state. All state lives in the cluster, so
//! any interruption resumes with a rerun.

pub mod evidence;
pub mod intent;
pub mod labels;
pub mod ladder;
pub mod observe;
pub mod phase;
pub mod predict;
pub mod prepare;
pub mod sample;
pub mod stats;

pub use observe::{LbQuery, LbState, LbView, Observation};
pub use phase::{
    DeployInput, KnownCanary, Limits, Moment, PhaseRequest, ReloadLinger, Step, Wait, next_step,
};
pub use stats::{ProxyFilter, StatsRow, Worker};

/// The port through which the engine reads marathon-lb: one [`LbView`] per
/// instance (per address its name resolves to), each either its stats and
/// reload state or why it could not be read. Implemented over HTTP by the
/// `lb-stats` crate; tests may hand in their own.
pub trait LbSource {
    /// Every marathon-lb instance as it stands now, read as `query` says
    /// (the group's proxies only, the answering worker or not).
    fn observe(&mut self, query: &LbQuery) -> Vec<LbView>;
}

/// A borrowed source is one (see the executor's blanket impl).
impl<L: LbSource + ?Sized> LbSource for &mut L {
    fn observe(&mut self, query: &LbQuery) -> Vec<LbView> {
        (**self).observe(query)
    }
}
