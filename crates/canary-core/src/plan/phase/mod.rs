//! The planner: from one observation of the group (and the time), the one
//! next step of a phase, as data. It never talks to the cluster; the driver
//! carries the step out, observes again and asks again, so every phase is
//! resumable from whatever state an interruption left: all its state is the
//! cluster's (the labels, the counts, marathon-lb's stats).
//!
//! # Rounds
//!
//! Each phase moves instances from one app (the *loser*) to the other (the
//! *winner*) in rounds, the way marathon-lb's drain rule (zdd.md §9) allows:
//! grow the winner by a step; wait until its new tasks are healthy; wait
//! until marathon-lb has put the loser tasks it drains for that growth into
//! `MAINT` with no session and no queue on every load balancer; kill them
//! all in one batch (`scale=true`), or delete the loser once its last task
//! is drained. Killing shrinks the loser and makes it the most recently
//! scaled app, which stops marathon-lb draining until the winner grows
//! again: so no round waits for a drain that will not come.
//!
//! | phase | winner (goal) | loser (goal) |
//! |---|---|---|
//! | deploy | the canary (its `NEW_INSTANCES`) | the live app (`TARGET - NEW`) |
//! | rollout | the canary (its `TARGET_INSTANCES`) | the previous app (deleted) |
//! | rollback | the previous app (the canary's `TARGET_INSTANCES`: its count before the canary) | the canary (deleted) |
//!
//! # Safety
//!
//! A task that serves (marathon-lb has it in a backend) is killed only when
//! it is `MAINT` with no session and no queue on every load balancer, and
//! has been seen `MAINT` there for longer than the reload linger (the old
//! haproxy worker of the reload that drained it finishing the requests it
//! had: [`crate::plan::evidence`]); a task that serves nothing (not
//! running, or failing its health checks, and in no backend) needs no
//! drain. Nothing is killed while a load balancer is unreachable, nor when
//! it would leave fewer healthy servers `UP` than the target minus the
//! canary's step on any load balancer. A
//! drain that outlasts the drain timeout stops the phase (resumable), unless
//! killing anyway was asked for.
//!
//! # Files
//!
//! This file holds the request, the step and the dispatch by group shape;
//! `rounds.rs` the rules of a group of one app and the rounds of two;
//! `lbs.rs` what the load balancers allow (read, where a
//! task stands, the capacity a kill must leave, drain and kill, done).

mod lbs;
mod rounds;

use super::evidence::Longest;
use super::observe::Observation;
use super::predict::by_started_at;
use super::prepare;
use crate::canary_app::CanaryApp;
use crate::clock::Timestamp;
use crate::job::Phase;
use crate::marathon::MarathonApp;
use rounds::{pair, single};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How long a phase may wait for what, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long new tasks (the canary, or the previous app restored) may
    /// take to become healthy.
    pub health_timeout: Duration,
    /// How long one drain may take (sessions lingering on a `MAINT` server).
    pub drain_timeout: Duration,
    /// Kill `MAINT` tasks whose drain outlasted the timeout, open sessions
    /// and all (zdd.py's behaviour after `--max-wait`; off by default).
    pub kill_after_drain_timeout: bool,
    /// Instances added per rollout round; `None`: about half again
    /// (`n + ceil(n/2)`, zdd.py's growth).
    pub step: Option<u32>,
    /// Leave a canary that never got healthy in place (for debugging)
    /// instead of removing it.
    pub keep_failed_canary: bool,
    /// How long a server must have been seen `MAINT` before it is killed:
    /// the reload that drained it leaves an old haproxy worker finishing
    /// the requests it had (see [`crate::plan::evidence`]).
    pub reload_linger: ReloadLinger,
}

/// How long the old haproxy worker of a reload may still be finishing
/// requests on a server that reload drained, counted from the first reading
/// that showed the server `MAINT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReloadLinger {
    /// From the backend's own counters ([`Longest`]): [`ReloadLinger::HANDOVER`]
    /// plus a tenth again the longest request they show, when the
    /// readings can tell; [`ReloadLinger::WHEN_UNKNOWN`] (or more, when a
    /// longer request was seen) when they cannot.
    #[default]
    Auto,
    /// This long, whatever the counters say (apps whose requests may take
    /// longer than any the stats have seen: long polls, large downloads).
    Fixed(Duration),
}

impl ReloadLinger {
    /// The hand-over of a reload: the new worker answers (and shows the
    /// server `MAINT`) a moment before the master tells the old one to
    /// stop accepting, during which the old one may still start requests
    /// on the server.
    pub const HANDOVER: Duration = Duration::from_millis(100);
    /// What [`ReloadLinger::Auto`] waits when the readings cannot tell the
    /// longest request (every worker read too young to have shown it, or
    /// no `*_max` columns).
    pub const WHEN_UNKNOWN: Duration = Duration::from_secs(5);

    /// The linger for a backend whose longest request is `longest`.
    pub fn for_backend(self, longest: Longest) -> Duration {
        let margin = |d: Duration| Self::HANDOVER + d * 11 / 10;
        match (self, longest) {
            (ReloadLinger::Fixed(linger), _) => linger,
            (ReloadLinger::Auto, Longest::Known(d)) => margin(d),
            (ReloadLinger::Auto, Longest::Unknown(seen)) => {
                Self::WHEN_UNKNOWN.max(seen.map(margin).unwrap_or_default())
            }
        }
    }
}

impl Default for Limits {
    /// 5 minutes for health, 5 minutes per drain, no killing with open
    /// sessions, zdd.py's growth, failed canaries removed, the reload
    /// linger from the counters.
    fn default() -> Self {
        Limits {
            health_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(300),
            kill_after_drain_timeout: false,
            step: None,
            keep_failed_canary: false,
            reload_linger: ReloadLinger::Auto,
        }
    }
}

/// What a deploy deploys.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployInput {
    /// The rendered app definition (its group, ports and image).
    pub app: CanaryApp,
    /// How many canary instances (capped at the live app's count): the
    /// canary's first size, or, beside a canary of the same image, the size
    /// it grows to (a ladder step; never smaller than it is).
    pub canary_instances: u32,
    /// The ladder the canary climbs, written on it when it is created
    /// ([`crate::plan::labels::STEPS`]); `None`: no ladder.
    pub steps: Option<super::ladder::Ladder>,
}

/// The canary a rollout or rollback is about, as far as it is known: its
/// app id (seen when the phase began) and its image (given, or seen).
/// With it, a rerun after the phase finished is a no-op instead of a
/// refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownCanary {
    /// The canary's app id.
    pub app_id: Option<String>,
    /// The canary's image.
    pub image: Option<String>,
}

impl KnownCanary {
    /// Whether `app` is the canary: by id when it is known, else by image;
    /// `unknown` when neither is.
    pub(super) fn is(&self, app: &MarathonApp, unknown: bool) -> bool {
        match (&self.app_id, &self.image) {
            (Some(id), _) => *id == app.id,
            (None, Some(image)) => app.image.as_deref() == Some(image),
            (None, None) => unknown,
        }
    }
}

/// One phase to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseRequest {
    /// Which phase.
    pub phase: Phase,
    /// The deployment group (`HAPROXY_DEPLOYMENT_GROUP`).
    pub group: String,
    /// For a deploy: what to deploy.
    pub deploy: Option<DeployInput>,
    /// For a rollout or rollback: the canary, as far as it is known.
    pub canary: KnownCanary,
    /// For a rollout: grow the canary only to this many, keeping the
    /// previous app at the rest of the target (a ladder step, `canary
    /// promote`); `None`: the whole target, the previous app deleted.
    pub goal: Option<u32>,
    /// Timeouts and options.
    pub limits: Limits,
}

/// The moment of one planning: the time, and how long each thing the
/// phase waits for has been waited for (the driver keeps it, by
/// [`Wait::key`], since its last action).
#[derive(Debug, Clone, Copy)]
pub struct Moment<'a> {
    /// Now.
    pub now: Timestamp,
    /// Waited so far, by wait key.
    pub waited: &'a BTreeMap<String, Duration>,
}

impl Moment<'_> {
    fn waited(&self, key: &str) -> Duration {
        self.waited.get(key).copied().unwrap_or_default()
    }
}

/// The next step of a phase.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create this app (`POST /v2/apps`).
    Create {
        /// Its definition.
        app: Value,
    },
    /// Scale an app (`PUT /v2/apps/{id}` `{"instances": to}`).
    Scale {
        /// The app.
        app_id: String,
        /// Its count now.
        from: u32,
        /// Its new count.
        to: u32,
    },
    /// Kill these tasks and lower the app's count by as many
    /// (`POST /v2/tasks/delete?scale=true`).
    Kill {
        /// Their app.
        app_id: String,
        /// The tasks, drained (or, past the drain timeout when asked to,
        /// `MAINT` with the sessions counted here).
        task_ids: Vec<String>,
        /// Sessions still open on them (0 unless killing anyway).
        open_sessions: u64,
    },
    /// Delete the app (`DELETE /v2/apps/{id}`): every task of it is drained
    /// or serves nothing.
    Delete {
        /// The app.
        app_id: String,
        /// Sessions still open on it (0 unless killing anyway).
        open_sessions: u64,
    },
    /// Nothing to do until the cluster changes.
    Wait(Wait),
    /// The phase is complete.
    Done(String),
    /// The group is not in a state for this phase; nothing was changed.
    Refused(String),
    /// The phase cannot go on; what is left is described, and a rerun
    /// resumes once the cause is dealt with.
    Failed(String),
    /// A deploy whose canary failed: roll it back (restore the live app,
    /// remove the canary), then report this failure.
    Abort(String),
}

/// What a phase waits for, and how soon to look again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Stable while the same thing is waited for: the driver measures how
    /// long by it.
    pub key: String,
    /// What, in words a user can act on.
    pub reason: String,
    /// How soon to observe again.
    pub poll: Duration,
}

fn wait(key: impl Into<String>, reason: impl Into<String>, poll_ms: u64) -> Step {
    Step::Wait(Wait {
        key: key.into(),
        reason: reason.into(),
        poll: Duration::from_millis(poll_ms),
    })
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Create { app } => write!(
                f,
                "create {} ({} instance(s) of {})",
                app["id"].as_str().unwrap_or("?"),
                app["instances"],
                app.pointer("/container/docker/image")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            ),
            Step::Scale { app_id, from, to } => write!(f, "scale {app_id} from {from} to {to}"),
            Step::Kill {
                app_id,
                task_ids,
                open_sessions,
            } => {
                write!(
                    f,
                    "kill {} drained task(s) of {app_id} ({})",
                    task_ids.len(),
                    task_ids.join(", ")
                )?;
                if *open_sessions > 0 {
                    write!(f, " with {open_sessions} session(s) still open")?;
                }
                Ok(())
            }
            Step::Delete {
                app_id,
                open_sessions,
            } => {
                write!(f, "delete {app_id}")?;
                if *open_sessions > 0 {
                    write!(f, " with {open_sessions} session(s) still open")?;
                }
                Ok(())
            }
            Step::Wait(w) => write!(f, "wait: {}", w.reason),
            Step::Done(m) => write!(f, "done: {m}"),
            Step::Refused(m) => write!(f, "refused: {m}"),
            Step::Failed(m) => write!(f, "failed: {m}"),
            Step::Abort(m) => write!(f, "rolling the canary back: {m}"),
        }
    }
}

/// The next step of `request` given `observation` at `moment`.
pub fn next_step(request: &PhaseRequest, observation: &Observation, moment: &Moment<'_>) -> Step {
    let mut apps = observation.apps.clone();
    apps.sort_by(by_started_at);
    let step = decide(request, observation, &apps, moment);
    after_deployments(step, &apps)
}

/// `step`, unless a Marathon deployment of the group is running and the
/// step would meet its lock or judge a group still changing: then wait for
/// it. Deleting is not held up (`DELETE` overrides a deployment, which is
/// how a canary whose deployment never ends, because it never gets
/// healthy, is removed); neither are waits and refusals.
fn after_deployments(step: Step, apps: &[MarathonApp]) -> Step {
    let holds = matches!(
        step,
        Step::Create { .. } | Step::Scale { .. } | Step::Kill { .. } | Step::Done(_)
    );
    if !holds {
        return step;
    }
    for app in apps {
        if let Some(deployment) = app.deployments.first() {
            return wait(
                format!("deployment:{deployment}"),
                format!("Marathon deployment {deployment} of {} is running", app.id),
                500,
            );
        }
    }
    step
}

fn decide(
    request: &PhaseRequest,
    observation: &Observation,
    apps: &[MarathonApp],
    moment: &Moment<'_>,
) -> Step {
    let group = &request.group;
    match (apps, request.phase) {
        ([], Phase::Deploy) => match &request.deploy {
            Some(input) => Step::Create {
                app: prepare::first_deploy(&input.app, moment.now),
            },
            None => Step::Refused("a deploy needs the app definition to deploy".into()),
        },
        ([], phase) => Step::Refused(format!(
            "deployment group {group} has no app: there is nothing to {}",
            verb(phase)
        )),
        ([only], _) => single(request, observation, only, moment),
        ([previous, canary], _) => pair(request, observation, previous, canary, moment),
        (more, _) => Step::Refused(format!(
            "deployment group {group} has {} apps ({}); a canary involves two",
            more.len(),
            more.iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn verb(phase: Phase) -> &'static str {
    match phase {
        Phase::Deploy => "deploy",
        Phase::Rollout => "roll out",
        Phase::Rollback => "roll back",
    }
}

fn image(app: &MarathonApp) -> &str {
    app.image.as_deref().unwrap_or("?")
}

/// `90s`, `5m`, `1h30m`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return format!("{} ms", duration.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}
