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
//! it is `MAINT` with no session and no queue on every load balancer; a task
//! that serves nothing (not running, or failing its health checks, and in no
//! backend) needs no drain. Nothing is killed while a load balancer is
//! unreachable or reloading, nor when it would leave fewer healthy servers
//! `UP` than the target minus the canary's step on any load balancer. A
//! drain that outlasts the drain timeout stops the phase (resumable), unless
//! killing anyway was asked for.

use super::labels;
use super::observe::{GroupApp, LbState, LbView, Observation, StatsRow, Task};
use super::predict::{backend_name, by_started_at, drains, server_names};
use super::prepare;
use crate::canary_app::CanaryApp;
use crate::clock::Timestamp;
use crate::job::Phase;
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
}

impl Default for Limits {
    /// 5 minutes for health, 5 minutes per drain, no killing with open
    /// sessions, zdd.py's growth, failed canaries removed.
    fn default() -> Self {
        Limits {
            health_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(300),
            kill_after_drain_timeout: false,
            step: None,
            keep_failed_canary: false,
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
    /// ([`labels::STEPS`]); `None`: no ladder.
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
fn after_deployments(step: Step, apps: &[GroupApp]) -> Step {
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
    apps: &[GroupApp],
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

fn image(app: &GroupApp) -> &str {
    app.image.as_deref().unwrap_or("?")
}

/// A group of one app.
fn single(
    request: &PhaseRequest,
    observation: &Observation,
    app: &GroupApp,
    moment: &Moment<'_>,
) -> Step {
    let group = &request.group;
    let healthy = app.healthy_tasks();
    let state = format!(
        "{} ({}, {healthy} of {} healthy)",
        app.id,
        image(app),
        app.instances
    );
    match request.phase {
        Phase::Deploy => {
            let Some(input) = &request.deploy else {
                return Step::Refused("a deploy needs the app definition to deploy".into());
            };
            if app.image.as_deref() == Some(input.app.image()) {
                if healthy < app.instances as usize {
                    let key = format!("health:{}:{}", app.id, app.instances);
                    if moment.waited(&key) > request.limits.health_timeout {
                        return Step::Failed(format!(
                            "{state} did not become healthy within {}",
                            human(request.limits.health_timeout)
                        ));
                    }
                    return wait(
                        key,
                        format!("{} tasks healthy: {healthy} of {}", app.id, app.instances),
                        500,
                    );
                }
                return done_when_settled(
                    request,
                    observation,
                    &[app],
                    &format!("{state} is the only app of group {group}"),
                    moment,
                );
            }
            if !app.labels.contains_key(labels::NEW_INSTANCES) {
                return Step::Refused(format!(
                    "{} has no {} label (it was not deployed by canary or zdd.py): once its drained task is killed, \
                     marathon-lb would take the canary out of rotation (zdd.md §9); deploy it once with canary \
                     (a full deploy into an empty group) or add the label",
                    app.id,
                    labels::NEW_INSTANCES
                ));
            }
            if healthy < app.instances as usize {
                return wait(
                    format!("live-health:{}", app.id),
                    format!(
                        "the live app {} has {healthy} of {} tasks healthy",
                        app.id, app.instances
                    ),
                    1_000,
                );
            }
            Step::Create {
                app: prepare::canary(
                    &input.app,
                    app,
                    input.canary_instances,
                    input.steps.as_ref(),
                    moment.now,
                ),
            }
        }
        Phase::Rollout => {
            let known = &request.canary;
            let is_canary = match (&known.app_id, &known.image) {
                (Some(id), _) => *id == app.id,
                (None, Some(image)) => app.image.as_deref() == Some(image),
                (None, None) => false,
            };
            if is_canary {
                done_when_settled(
                    request,
                    observation,
                    &[app],
                    &format!("{state} is the only app of group {group}: rolled out"),
                    moment,
                )
            } else {
                Step::Refused(format!(
                    "no canary in progress in deployment group {group}: only {state}"
                ))
            }
        }
        Phase::Rollback => {
            let known = &request.canary;
            let is_canary = match (&known.app_id, &known.image) {
                (Some(id), _) => *id == app.id,
                (None, Some(image)) => app.image.as_deref() == Some(image),
                (None, None) => true,
            };
            if is_canary {
                Step::Refused(format!(
                    "no canary in progress in deployment group {group}: only {state}"
                ))
            } else {
                done_when_settled(
                    request,
                    observation,
                    &[app],
                    &format!("{state} is the only app of group {group}: rolled back"),
                    moment,
                )
            }
        }
    }
}

/// A group of two apps: `previous` (older) and `canary` (newer).
fn pair(
    request: &PhaseRequest,
    observation: &Observation,
    previous: &GroupApp,
    canary: &GroupApp,
    moment: &Moment<'_>,
) -> Step {
    let group = &request.group;
    let target = canary.target();
    let new = canary
        .count_label(labels::NEW_INSTANCES)
        .unwrap_or(1)
        .max(1);
    let floor = target.saturating_sub(new);
    let roles = match request.phase {
        Phase::Deploy => {
            let Some(input) = &request.deploy else {
                return Step::Refused("a deploy needs the app definition to deploy".into());
            };
            let wanted = input.canary_instances.min(target).max(1);
            if canary.image.as_deref() != Some(input.app.image()) || wanted < canary.instances {
                return Step::Refused(format!(
                    "a canary is already in progress in deployment group {group}: {} ({}, {} of {target}) beside {}; \
                     promote it, roll it out or back first",
                    canary.id,
                    image(canary),
                    canary.instances,
                    previous.id
                ));
            }
            // Beside a canary of the same image, a deploy grows it to
            // `wanted` (a ladder step) the way a rollout grows it, the
            // previous app kept at the rest.
            Roles {
                winner: canary,
                winner_goal: wanted,
                loser: previous,
                loser_goal: target.saturating_sub(wanted),
                delete_loser: false,
                floor,
            }
        }
        Phase::Rollout => {
            if let Some(wanted) = &request.canary.image
                && canary.image.as_deref() != Some(wanted)
            {
                return Step::Refused(format!(
                    "the canary in progress in deployment group {group} is {} with {}, not {wanted}",
                    canary.id,
                    image(canary)
                ));
            }
            match request.goal.filter(|goal| *goal < target) {
                Some(goal) if goal < canary.instances => {
                    return Step::Refused(format!(
                        "the canary {} is at {} of {target}, beyond {goal}: promote it further, roll it out or back",
                        canary.id, canary.instances
                    ));
                }
                Some(goal) => Roles {
                    winner: canary,
                    winner_goal: goal,
                    loser: previous,
                    loser_goal: target - goal,
                    delete_loser: false,
                    floor,
                },
                None => Roles {
                    winner: canary,
                    winner_goal: target,
                    loser: previous,
                    loser_goal: 0,
                    delete_loser: true,
                    floor,
                },
            }
        }
        Phase::Rollback => Roles {
            winner: previous,
            winner_goal: target,
            loser: canary,
            loser_goal: 0,
            delete_loser: true,
            floor,
        },
    };
    let pair = [previous.clone(), canary.clone()];
    round(request, observation, &pair, &roles, moment)
}

/// Who grows and who shrinks in a phase, and to what.
struct Roles<'a> {
    winner: &'a GroupApp,
    winner_goal: u32,
    loser: &'a GroupApp,
    loser_goal: u32,
    /// Whether the loser is deleted once it is down to its goal (0); a
    /// deploy keeps the live app, even at 0 (a canary of every instance),
    /// so that a rollback can restore it.
    delete_loser: bool,
    /// The fewest healthy `UP` servers a kill may leave on a load balancer.
    floor: u32,
}

fn round(
    request: &PhaseRequest,
    observation: &Observation,
    pair: &[GroupApp; 2],
    roles: &Roles<'_>,
    moment: &Moment<'_>,
) -> Step {
    let Roles {
        winner,
        winner_goal,
        loser,
        loser_goal,
        delete_loser,
        floor,
    } = *roles;
    let limits = &request.limits;
    let prediction = drains(pair).expect("two apps");
    let drain_of = |app: &GroupApp| -> Vec<String> {
        if prediction.old_app == app.id {
            prediction.tasks.clone()
        } else {
            Vec::new()
        }
    };
    let (winner_drained, loser_drained) = (drain_of(winner), drain_of(loser));
    let healthy = winner.healthy_tasks() as u32;

    // Grow the winner: a rollback restores the previous app in one step; a
    // deploy or rollout grows the canary a step at a time, once its last
    // growth is healthy and marathon-lb is not draining the loser for it.
    let rollback = request.phase == Phase::Rollback;
    let grow = || {
        let step = if rollback {
            winner_goal
        } else {
            limits
                .step
                .unwrap_or_else(|| winner.instances.div_ceil(2))
                .max(1)
        };
        Step::Scale {
            app_id: winner.id.clone(),
            from: winner.instances,
            to: (winner.instances + step).min(winner_goal),
        }
    };
    let may_grow = winner.instances < winner_goal && healthy >= winner.instances;
    if winner.instances < winner_goal && (rollback || (may_grow && loser_drained.is_empty())) {
        return grow();
    }
    if healthy < winner.instances {
        let key = format!("health:{}:{}", winner.id, winner.instances);
        if moment.waited(&key) > limits.health_timeout {
            return health_failure(request, winner, healthy);
        }
        return wait(
            key,
            format!(
                "{} tasks healthy: {healthy} of {}",
                winner.id, winner.instances
            ),
            500,
        );
    }
    if let Some(step) = lbs_ready(&observation.lbs, limits, moment) {
        return step;
    }
    let port = group_port(pair, &prediction.old_app);
    let backend = port.map(|port| backend_name(&request.group, port));
    let view = View {
        lbs: &observation.lbs,
        backend: backend.as_deref(),
    };

    // marathon-lb drains the winner (its loser was scaled last): kill what
    // it drained and grow it back, which makes it the last scaled.
    if !winner_drained.is_empty() {
        if !delete_loser {
            return Step::Failed(format!(
                "marathon-lb is draining {} instead of {}: it takes {} for the new app (the most recently scaled, zdd.md §9); \
                 this split cannot be kept",
                winner.id, loser.id, loser.id
            ));
        }
        return drain_and_kill(
            request,
            &view,
            winner,
            &winner_drained,
            winner_drained.len() as u32,
            floor,
            false,
            moment,
        );
    }
    let excess = loser.instances.saturating_sub(loser_goal);
    let whole = delete_loser && winner.instances >= winner_goal;
    if !loser_drained.is_empty() && excess > 0 {
        let step = drain_and_kill(
            request,
            &view,
            loser,
            &loser_drained,
            excess,
            floor,
            whole,
            moment,
        );
        // marathon-lb drains as long as the new app has healthy tasks (its
        // target is 1 without NEW_INSTANCES): when killing what it drained
        // would leave too few serving, grow the winner first.
        if may_grow && matches!(&step, Step::Wait(w) if w.key.starts_with("capacity:")) {
            return grow();
        }
        return step;
    }
    // Loser tasks that serve nothing need no drain.
    let idle: Vec<String> = loser
        .tasks
        .iter()
        .filter(|t| !t.in_rotation(loser.has_health_checks) && view.absent_everywhere(loser, t))
        .map(|t| t.id.clone())
        .collect();
    if excess > 0 && !idle.is_empty() {
        if whole && idle.len() == loser.tasks.len() {
            return capacity_then(
                &view,
                floor,
                Step::Delete {
                    app_id: loser.id.clone(),
                    open_sessions: 0,
                },
            );
        }
        if !whole {
            let batch: Vec<String> = idle.into_iter().take(excess as usize).collect();
            return capacity_then(
                &view,
                floor,
                Step::Kill {
                    app_id: loser.id.clone(),
                    task_ids: batch,
                    open_sessions: 0,
                },
            );
        }
    }
    if excess > 0 {
        if winner.instances < winner_goal {
            // The winner's growth is healthy, nothing drains: grow it.
            return wait(
                format!("lb-drain:{}", loser.id),
                format!("marathon-lb to drain {} for {}", loser.id, winner.id),
                250,
            );
        }
        return Step::Failed(format!(
            "marathon-lb drains none of {}'s {} task(s) (it treats {} as new, target {}): nothing can be removed safely; \
             see canary status --app and the marathon-lb stats",
            loser.id,
            loser.instances,
            prediction.new_app,
            target_of(pair, &prediction.new_app)
        ));
    }
    // A loser to remove that is down to no instance (its last tasks killed
    // while the winner grew): delete it once the winner is at its goal.
    if whole && loser.tasks.is_empty() {
        return capacity_then(
            &view,
            floor,
            Step::Delete {
                app_id: loser.id.clone(),
                open_sessions: 0,
            },
        );
    }
    // Both at their goals (the loser kept, as a deploy keeps it).
    done_when_settled(
        request,
        observation,
        &[winner, loser],
        &format!(
            "{} at {} ({}), {} at {} ({})",
            winner.id,
            winner.instances,
            image(winner),
            loser.id,
            loser.instances,
            image(loser)
        ),
        moment,
    )
}

fn target_of(pair: &[GroupApp; 2], id: &str) -> String {
    pair.iter()
        .find(|a| a.id == id)
        .and_then(|a| a.label(labels::TARGET_INSTANCES))
        .unwrap_or("1")
        .to_owned()
}

fn health_failure(request: &PhaseRequest, app: &GroupApp, healthy: u32) -> Step {
    let limit = human(request.limits.health_timeout);
    let what = format!(
        "{} ({}) has {healthy} of {} tasks healthy after {limit}",
        app.id,
        image(app),
        app.instances
    );
    match request.phase {
        Phase::Deploy if request.limits.keep_failed_canary => Step::Failed(format!(
            "the canary {what}; it is left in place for debugging (--keep-failed-canary): roll it back with canary rollback"
        )),
        Phase::Deploy => Step::Abort(format!("the canary {what}")),
        Phase::Rollout => Step::Failed(format!(
            "the canary {what}: not rolling it out further; roll it back with canary rollback"
        )),
        Phase::Rollback => Step::Failed(format!(
            "the previous app {what}: the canary stays until it is healthy"
        )),
    }
}

/// The service port marathon-lb names the group's backend by: the merged
/// (old) app's `HAPROXY_0_PORT`, else its service port.
fn group_port(apps: &[GroupApp], old_id: &str) -> Option<u16> {
    use super::sample::app_port;
    apps.iter()
        .find(|a| a.id == old_id)
        .and_then(app_port)
        .or_else(|| apps.iter().find_map(app_port))
}

/// `Some(wait)` while a load balancer is unreachable or reloading: then
/// nothing is killed and nothing is declared done. A reload's old haproxy
/// process still serves the sessions it had, which the new process's stats
/// do not show: waiting for it to end is part of every drain, so with
/// `--kill-after-drain-timeout` a reload that outlasts the drain timeout
/// stops blocking (zdd.py kills after `--max-wait` mid-reload too).
fn lbs_ready(lbs: &[LbView], limits: &Limits, moment: &Moment<'_>) -> Option<Step> {
    for lb in lbs {
        match &lb.state {
            LbState::Unreachable { message } => {
                // Nothing is killed or declared done without every load
                // balancer's view; an outage longer than a drain may last
                // ends the phase (the group as it is, resumable) instead of
                // waiting forever.
                let key = format!("lb-unreachable:{}", lb.url);
                if moment.waited(&key) > limits.drain_timeout {
                    return Some(Step::Failed(format!(
                        "marathon-lb {} cannot be read for over {}: {message}; nothing was killed while it could not be \
                         read: check --marathon-lb and the load balancer, then resume",
                        lb.url,
                        human(limits.drain_timeout)
                    )));
                }
                return Some(wait(
                    key,
                    format!("marathon-lb {} cannot be read: {message}", lb.url),
                    1_000,
                ));
            }
            LbState::Stats { pids, .. } if *pids > 2 => {
                let key = format!("lb-reloading:{}", lb.url);
                if limits.kill_after_drain_timeout && moment.waited(&key) >= limits.drain_timeout {
                    continue;
                }
                return Some(wait(
                    key,
                    format!(
                        "marathon-lb {} is reloading ({pids} haproxy processes)",
                        lb.url
                    ),
                    250,
                ));
            }
            LbState::Stats { .. } => {}
        }
    }
    None
}

/// The load balancers as the planner reads them for one backend.
struct View<'a> {
    lbs: &'a [LbView],
    backend: Option<&'a str>,
}

/// Where one task stands on one load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OnLb {
    /// Not in the backend.
    Absent,
    /// In the backend with this status and these sessions and queue.
    Present {
        status: String,
        sessions: u64,
        queued: u64,
    },
}

fn is_up(status: &str) -> bool {
    status == "UP" || status.starts_with("UP ") || status == "no check"
}

impl View<'_> {
    fn rows<'l>(&self, lb: &'l LbView) -> Vec<&'l StatsRow> {
        let (LbState::Stats { rows, .. }, Some(backend)) = (&lb.state, self.backend) else {
            return Vec::new();
        };
        rows.iter()
            .filter(|r| r.pxname == backend && r.is_server())
            .collect()
    }

    fn on(&self, lb: &LbView, app: &GroupApp, task: &Task) -> OnLb {
        let names = server_names(app, task, None);
        let rows: Vec<&StatsRow> = self
            .rows(lb)
            .into_iter()
            .filter(|r| names.contains(&r.svname))
            .collect();
        if rows.is_empty() {
            return OnLb::Absent;
        }
        // A task with several ports is drained when all its servers are.
        let status = if rows.iter().all(|r| r.status() == "MAINT") {
            "MAINT".to_owned()
        } else {
            rows.iter()
                .map(|r| r.status())
                .find(|s| *s != "MAINT")
                .unwrap_or("")
                .to_owned()
        };
        OnLb::Present {
            status,
            sessions: rows.iter().map(|r| r.number("scur")).sum(),
            queued: rows.iter().map(|r| r.number("qcur")).sum(),
        }
    }

    fn absent_everywhere(&self, app: &GroupApp, task: &Task) -> bool {
        self.lbs
            .iter()
            .all(|lb| self.on(lb, app, task) == OnLb::Absent)
    }

    /// The fewest servers `UP` in the backend over the load balancers that
    /// have it, and that load balancer.
    fn least_up(&self) -> Option<(u32, &str)> {
        self.lbs
            .iter()
            .filter_map(|lb| {
                let rows = self.rows(lb);
                (!rows.is_empty()).then(|| {
                    let up = rows.iter().filter(|r| is_up(r.status())).count() as u32;
                    (up, lb.url.as_str())
                })
            })
            .min()
    }
}

/// `then` unless it would leave fewer than `floor` servers `UP` on a load
/// balancer (its servers to remove are `MAINT` or absent, so they do not
/// count): then wait for the load balancers to show more.
fn capacity_then(view: &View<'_>, floor: u32, then: Step) -> Step {
    if let Some((up, lb)) = view.least_up()
        && up < floor
    {
        return wait(
            format!("capacity:{lb}"),
            format!(
                "marathon-lb {lb} has {up} server(s) UP, fewer than the {floor} that must stay serving"
            ),
            250,
        );
    }
    then
}

/// Waits until every task of `batch` (the first `count` of `drained`, the
/// tasks marathon-lb drains of `app`) is drained on every load balancer,
/// then kills them (or deletes `app` when `whole` and they are all of it).
#[allow(clippy::too_many_arguments)]
fn drain_and_kill(
    request: &PhaseRequest,
    view: &View<'_>,
    app: &GroupApp,
    drained: &[String],
    count: u32,
    floor: u32,
    whole: bool,
    moment: &Moment<'_>,
) -> Step {
    let limits = &request.limits;
    let batch: Vec<&Task> = drained
        .iter()
        .take(count as usize)
        .filter_map(|id| app.tasks.iter().find(|t| t.id == *id))
        .collect();
    let mut open_sessions = 0;
    for task in &batch {
        let serving = task.in_rotation(app.has_health_checks);
        let mut seen = false;
        for lb in view.lbs {
            match view.on(lb, app, task) {
                OnLb::Absent => {}
                OnLb::Present {
                    status,
                    sessions,
                    queued,
                } => {
                    seen = true;
                    let key = format!("drain:{}", task.id);
                    let names = server_names(app, task, None).join(",");
                    if status != "MAINT" {
                        let why = format!(
                            "marathon-lb {} to take server {names} of {} out of rotation (it is {status})",
                            lb.url, app.id
                        );
                        if moment.waited(&key) > limits.drain_timeout {
                            return Step::Failed(format!(
                                "marathon-lb {} did not drain server {names} (task {}) within {}: it is still {status}",
                                lb.url,
                                task.id,
                                human(limits.drain_timeout)
                            ));
                        }
                        return wait(key, why, 250);
                    }
                    if sessions > 0 || queued > 0 {
                        if moment.waited(&key) >= limits.drain_timeout {
                            if limits.kill_after_drain_timeout {
                                open_sessions += sessions + queued;
                                continue;
                            }
                            return Step::Failed(format!(
                                "the drain of task {} (server {names}) did not finish within {}: {sessions} session(s) and {queued} queued \
                                 request(s) on marathon-lb {}; rerun to keep waiting, or pass --kill-after-drain-timeout to kill it anyway",
                                task.id,
                                human(limits.drain_timeout),
                                lb.url
                            ));
                        }
                        return wait(
                            key,
                            format!(
                                "server {names} of {} to drain: {sessions} session(s), {queued} queued on marathon-lb {}",
                                app.id, lb.url
                            ),
                            500,
                        );
                    }
                }
            }
        }
        if serving && !seen && !view.lbs.is_empty() && view.backend.is_some() {
            // In rotation by Marathon's account but on no load balancer: a
            // marathon-lb that has not caught up, or a name that does not
            // match; never taken for "serves nothing".
            let key = format!("drain:{}", task.id);
            if moment.waited(&key) > limits.drain_timeout {
                return Step::Failed(format!(
                    "task {} of {} is healthy but no marathon-lb lists its server ({}) in backend {}: cannot tell whether it serves",
                    task.id,
                    app.id,
                    server_names(app, task, None).join(","),
                    view.backend.unwrap_or("?")
                ));
            }
            return wait(
                key,
                format!("marathon-lb to list task {} of {}", task.id, app.id),
                250,
            );
        }
    }
    let all_of_it = batch.len() == app.tasks.len() && app.instances as usize <= batch.len();
    let step = if whole && all_of_it {
        Step::Delete {
            app_id: app.id.clone(),
            open_sessions,
        }
    } else {
        Step::Kill {
            app_id: app.id.clone(),
            task_ids: batch.iter().map(|t| t.id.clone()).collect(),
            open_sessions,
        }
    };
    capacity_then(view, floor, step)
}

/// `Done(message)` once the load balancers agree with the apps: every load
/// balancer lists the group's backend with every task in rotation `UP`,
/// and no server of it `MAINT`; else wait for them to catch up, for at most
/// the drain timeout (a marathon-lb that never serves the group is a
/// failure: canary cannot drain through it).
fn done_when_settled(
    request: &PhaseRequest,
    observation: &Observation,
    apps: &[&GroupApp],
    message: &str,
    moment: &Moment<'_>,
) -> Step {
    if let Some(step) = lbs_ready(&observation.lbs, &request.limits, moment) {
        return step;
    }
    let owned: Vec<GroupApp> = apps.iter().map(|a| (*a).clone()).collect();
    let old = match owned.as_slice() {
        [a, b] => drains(&[a.clone(), b.clone()]).map(|d| d.old_app),
        _ => None,
    }
    .unwrap_or_else(|| apps[0].id.clone());
    let backend = group_port(&owned, &old).map(|p| backend_name(&request.group, p));
    let view = View {
        lbs: &observation.lbs,
        backend: backend.as_deref(),
    };
    let serving = apps.iter().any(|app| {
        app.tasks
            .iter()
            .any(|t| t.in_rotation(app.has_health_checks))
    });
    let mut problem = None;
    'lbs: for lb in &observation.lbs {
        let rows = view.rows(lb);
        if rows.is_empty() {
            if serving && backend.is_some() {
                problem = Some((
                    lb.url.clone(),
                    format!(
                        "marathon-lb {} to list backend {}",
                        lb.url,
                        backend.as_deref().unwrap_or("?")
                    ),
                ));
                break;
            }
            continue;
        }
        if let Some(row) = rows.iter().find(|r| r.status() == "MAINT") {
            problem = Some((
                lb.url.clone(),
                format!(
                    "marathon-lb {} to take server {} out of MAINT",
                    lb.url, row.svname
                ),
            ));
            break;
        }
        for app in apps {
            for task in &app.tasks {
                if !task.in_rotation(app.has_health_checks) {
                    continue;
                }
                match view.on(lb, app, task) {
                    OnLb::Present { status, .. } if is_up(&status) => {}
                    other => {
                        let shown = match other {
                            OnLb::Absent => "absent".to_owned(),
                            OnLb::Present { status, .. } => status,
                        };
                        problem = Some((
                            lb.url.clone(),
                            format!(
                                "marathon-lb {} to serve task {} of {} (it is {shown})",
                                lb.url, task.id, app.id
                            ),
                        ));
                        break 'lbs;
                    }
                }
            }
        }
    }
    let Some((lb, reason)) = problem else {
        return Step::Done(message.to_owned());
    };
    let key = format!("settle:{lb}");
    let limit = request.limits.drain_timeout;
    if moment.waited(&key) > limit {
        return Step::Failed(format!(
            "the apps are in place ({message}) but marathon-lb {lb} did not catch up within {}: waited for {reason}",
            human(limit)
        ));
    }
    wait(key, reason, 250)
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
