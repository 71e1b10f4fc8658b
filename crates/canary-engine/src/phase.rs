//! One phase (deploy, rollout, rollback) driven to its end: observe,
//! plan, act or wait, until the planner says done, refused or failed, the
//! timeout passes, or a stop is asked for.

use crate::events::EngineEvent;
use crate::hook::{HookError, PreKillHook};
pub use crate::outcome::{Outcome, PhaseError};
use crate::session::Session;
use canary_core::clock::Clock;
use canary_core::executor::{ExecError, Executor};
use canary_core::plan::evidence::DrainEvidence;
use canary_core::plan::intent::{Binding, bind};
use canary_core::plan::phase::human;
use canary_core::plan::{
    LbQuery, LbSource, LbState, Moment, Observation, PhaseRequest, Step, next_step,
};
use canary_core::{MarathonApp, Phase};
use std::collections::BTreeMap;
use std::time::Duration;

/// One phase to drive.
pub struct PhaseRun<'a> {
    /// What to do.
    pub request: PhaseRequest,
    /// How long the whole phase may take.
    pub timeout: Duration,
    /// Runs before each batch of kills, if given.
    pub hook: Option<&'a mut dyn PreKillHook>,
}

/// Observes the group, then every marathon-lb's rows of the group's
/// backend (nothing else: the readings cost the load balancer nothing,
/// see [`LbQuery`]), and adds the readings to `evidence`. Returns the
/// observation and the time it was complete.
fn observe(
    executor: &mut dyn Executor,
    lbs: &mut dyn LbSource,
    clock: &dyn Clock,
    group: &str,
    evidence: &mut DrainEvidence,
) -> Result<(Observation, canary_core::clock::Timestamp), PhaseError> {
    let apps = executor
        .group_apps(group)
        .map_err(|source| PhaseError::Cluster {
            doing: format!("reading deployment group {group}"),
            source,
        })?;
    // The answering worker too: its uptime says how far its maxima go.
    let views = lbs.observe(&LbQuery::for_apps(group, &apps, true));
    let read_at = clock.now();
    evidence.note(read_at, &views);
    Ok((
        Observation {
            apps,
            lbs: views,
            evidence: evidence.clone(),
        },
        read_at,
    ))
}

/// The first step of `request` from the live state, changing nothing: what
/// `--dry-run` prints.
pub fn plan_once(
    session: &mut Session<'_>,
    request: &PhaseRequest,
) -> Result<(Observation, Step), PhaseError> {
    let clock = session.clock_arc();
    let (observation, now) = observe(
        session.executor.as_mut(),
        session.lbs.as_mut(),
        clock.as_ref(),
        &request.group,
        &mut DrainEvidence::default(),
    )?;
    let waited = BTreeMap::new();
    let step = next_step(
        request,
        &observation,
        &Moment {
            now,
            waited: &waited,
        },
    );
    Ok((observation, step))
}

/// How many times in a row an action may meet what a repeat would (its
/// app already created, already gone) before that counts as a failure.
const MAX_RECONCILIATIONS: usize = 10;

/// Learns, from the first look at a pair, which app is the canary a
/// rollout or rollback is about (so a rerun after it finished is a no-op).
fn learn_canary(request: &mut PhaseRequest, observation: &Observation) {
    if request.phase == Phase::Deploy || request.canary.app_id.is_some() {
        return;
    }
    if let [a, b] = observation.apps.as_slice() {
        let newest = if canary_core::plan::predict::by_started_at(a, b).is_gt() {
            a
        } else {
            b
        };
        request.canary.app_id = Some(newest.id.clone());
        if request.canary.image.is_none() {
            request.canary.image = newest.image.clone();
        }
    }
}

/// How long to wait before looking again: the step's poll, doubled every
/// four polls of the same wait, up to four times it.
fn backoff(poll: Duration, repeats: u32) -> Duration {
    poll * (1u32 << (repeats / 4).min(2))
}

/// Runs the phase to its end, telling the session's events what happens
/// (a `PhaseStarted`, then every observation, step and wait, then
/// `PhaseDone` or `PhaseFailed`).
pub fn run_phase(session: &mut Session<'_>, run: PhaseRun<'_>) -> Result<Outcome, PhaseError> {
    let (phase, group) = (run.request.phase, run.request.group.clone());
    session.emit(&EngineEvent::PhaseStarted {
        phase,
        group: &group,
        goal: run.request.goal,
        canary_instances: run.request.deploy.as_ref().map(|d| d.canary_instances),
        timeout: run.timeout,
    });
    // Slow or silent answers must not stretch the phase: every request, its
    // retries and waits included, ends by its timeout (and a moment for the
    // request made at the timeout itself).
    let (timeout, started) = (run.timeout, session.now());
    session
        .executor()
        .set_deadline_in(Some(timeout + crate::run::LAST_ANSWER));
    let result = match drive(session, run) {
        Err(PhaseError::Cluster { doing, source }) if session.now().since(started) >= timeout => {
            Err(PhaseError::TimedOut {
                timeout: human(timeout),
                last: format!("{doing}: {source}"),
            })
        }
        other => other,
    };
    session.executor().set_deadline_in(None);
    match &result {
        Ok(outcome) => session.emit(&EngineEvent::PhaseDone {
            phase,
            group: &group,
            outcome,
        }),
        Err(error) => session.emit(&EngineEvent::PhaseFailed {
            phase,
            group: &group,
            error,
        }),
    }
    result
}

fn drive(session: &mut Session<'_>, mut run: PhaseRun<'_>) -> Result<Outcome, PhaseError> {
    let clock = session.clock_arc();
    let clock = clock.as_ref();
    let phase = run.request.phase;
    let group = run.request.group.clone();
    let started = clock.now();
    let mut since: BTreeMap<String, canary_core::clock::Timestamp> = BTreeMap::new();
    let mut repeats: BTreeMap<String, u32> = BTreeMap::new();
    let mut actions = 0usize;
    let mut reconciliations = 0usize;
    let mut aborted: Option<String> = None;
    let mut last = "starting".to_owned();
    let mut evidence = DrainEvidence::default();
    // What the phase keeps, bound at its first look (see
    // canary_core::plan::intent), and the apps it created, kept once seen.
    let mut binding: Option<Binding> = None;
    let mut created: Vec<String> = Vec::new();
    loop {
        if session.stop_requested() {
            return Err(PhaseError::Interrupted { last });
        }
        if clock.now().since(started) > run.timeout {
            return Err(PhaseError::TimedOut {
                timeout: human(run.timeout),
                last,
            });
        }
        let (observation, now) = observe(
            session.executor.as_mut(),
            session.lbs.as_mut(),
            clock,
            &run.request.group,
            &mut evidence,
        )?;
        let elapsed = now.since(started);
        learn_canary(&mut run.request, &observation);
        let binding = binding.get_or_insert_with(|| bind(&run.request, &observation.apps));
        created.retain(|id| match observation.apps.iter().find(|a| a.id == *id) {
            Some(app) => {
                binding.keep(app);
                false
            }
            None => true,
        });
        if let (Some(input), None) = (&run.request.deploy, &aborted) {
            binding.adopt(&observation.apps, input.app.image());
        }
        session.emit(&EngineEvent::Observed {
            phase,
            observation: &observation,
        });
        let waited: BTreeMap<String, Duration> = since
            .iter()
            .map(|(k, t)| (k.clone(), now.since(*t)))
            .collect();
        let step = next_step(
            &run.request,
            &observation,
            &Moment {
                now,
                waited: &waited,
            },
        );
        match step {
            Step::Wait(wait) => {
                let first = *since.entry(wait.key.clone()).or_insert(now);
                let count = repeats.entry(wait.key.clone()).or_insert(0);
                *count += 1;
                session.emit(&EngineEvent::Waiting {
                    phase,
                    group: &group,
                    wait: &wait,
                    waited: now.since(first),
                });
                last = format!("waiting for {}", wait.reason);
                let left = run.timeout.saturating_sub(elapsed);
                let pause = backoff(wait.poll, *count - 1)
                    .min(left)
                    .max(Duration::from_millis(1));
                // A stop shows at the top of the loop.
                let _ = session.sleep(pause);
            }
            Step::Done(message) => {
                return match aborted {
                    Some(reason) => Err(PhaseError::RolledBack {
                        reason,
                        now: message,
                    }),
                    None => Ok(Outcome {
                        message,
                        actions,
                        elapsed: clock.now().since(started),
                    }),
                };
            }
            Step::Refused(message) if aborted.is_none() && actions == 0 => {
                return Err(PhaseError::Refused(message));
            }
            Step::Refused(message) | Step::Failed(message) => {
                let reason = match &aborted {
                    Some(first) => format!("{first}; rolling it back then failed: {message}"),
                    None => message,
                };
                return Err(PhaseError::Failed { reason, actions });
            }
            Step::Abort(reason) => {
                session.emit(&EngineEvent::Aborting {
                    phase,
                    group: &group,
                    reason: &reason,
                });
                tracing::warn!(reason = %reason, "rolling the canary back");
                run.request.phase = Phase::Rollback;
                run.request.canary = Default::default();
                learn_canary(&mut run.request, &observation);
                // Its own canary is the rollback's to remove.
                *binding = bind(&run.request, &observation.apps);
                aborted = Some(reason);
                since.clear();
                repeats.clear();
            }
            action => {
                // Before the first change: every marathon-lb read, each
                // serving the group (a first deploy has no backend yet).
                if actions == 0 && aborted.is_none() {
                    lbs_ready(&observation)?;
                }
                // Nothing more is changed once someone else moved the group.
                binding
                    .check(&observation.apps)
                    .map_err(|moved| PhaseError::Moved { moved, actions })?;
                match &action {
                    Step::Create { app } => {
                        let id = app["id"].as_str().unwrap_or_default().to_owned();
                        binding.know(&id);
                        created.push(id);
                    }
                    Step::Delete { app_id, .. } => binding.release(app_id),
                    _ => {}
                }
                if let (
                    Step::Kill {
                        app_id, task_ids, ..
                    },
                    Some(hook),
                ) = (&action, run.hook.as_deref_mut())
                {
                    let kill = Kill {
                        app_id,
                        task_ids,
                        group: &group,
                        actions,
                    };
                    if !consult_hook(session, hook, &observation, binding, &kill)? {
                        continue;
                    }
                }
                // Said once the hook, if any, agreed: nothing is killed
                // before.
                session.emit(&EngineEvent::Acting {
                    phase,
                    group: &group,
                    step: &action,
                });
                last = action.to_string();
                tracing::info!(step = %action, "acting");
                carry_out(session, &action, &mut actions, &mut reconciliations)?;
                since.clear();
                repeats.clear();
            }
        }
    }
}

/// A batch of kills the pre-kill hook is asked about.
struct Kill<'a> {
    app_id: &'a str,
    task_ids: &'a [String],
    group: &'a str,
    /// The phase's changes so far (for the error when the group moved).
    actions: usize,
}

/// Asks the pre-kill hook about `kill`, then reads the group again: the
/// hook may have taken minutes, and the kill is for the group as it is
/// now. `Ok(false)`: the group changed shape meanwhile, look again before
/// killing anything.
fn consult_hook(
    session: &mut Session<'_>,
    hook: &mut dyn PreKillHook,
    observation: &Observation,
    binding: &Binding,
    kill: &Kill<'_>,
) -> Result<bool, PhaseError> {
    let definition =
        |app: Option<&MarathonApp>| app.map(|a| a.definition.clone()).unwrap_or_default();
    let old = definition(observation.apps.iter().find(|a| a.id == kill.app_id));
    let new = definition(observation.apps.iter().find(|a| a.id != kill.app_id));
    let stop = session.stop_flag();
    hook.before_kill(&old, kill.task_ids, &new, &|| {
        stop.load(std::sync::atomic::Ordering::SeqCst)
    })
    .map_err(|e| match e {
        HookError::Refused(reason) => PhaseError::Hook(reason),
        HookError::Stopped => PhaseError::Interrupted {
            last: "running the pre-kill hook (it was killed)".to_owned(),
        },
    })?;
    let group = kill.group;
    let apps = session
        .executor
        .group_apps(group)
        .map_err(|source| PhaseError::Cluster {
            doing: format!("reading deployment group {group} after the pre-kill hook"),
            source,
        })?;
    binding.check(&apps).map_err(|moved| PhaseError::Moved {
        moved,
        actions: kill.actions,
    })?;
    Ok(same_shape(&observation.apps, &apps))
}

/// Carries `action` out through the executor: counted when it lands; when
/// it meets what an earlier attempt (or another run) did, the loop looks
/// again and decides from what is there, at most [`MAX_RECONCILIATIONS`]
/// times in a row.
fn carry_out(
    session: &mut Session<'_>,
    action: &Step,
    actions: &mut usize,
    reconciliations: &mut usize,
) -> Result<(), PhaseError> {
    match act(session.executor.as_mut(), action) {
        Ok(()) => {
            *actions += 1;
            *reconciliations = 0;
            Ok(())
        }
        Err(
            e
            @ (ExecError::Conflict { .. } | ExecError::NotFound { .. } | ExecError::Locked { .. }),
        ) => {
            *reconciliations += 1;
            tracing::info!(step = %action, error = %e, "the cluster had changed; observing again");
            if *reconciliations > MAX_RECONCILIATIONS {
                return Err(PhaseError::Cluster {
                    doing: format!("{action} (tried {reconciliations} times)"),
                    source: e,
                });
            }
            Ok(())
        }
        Err(source) => Err(PhaseError::Cluster {
            doing: action.to_string(),
            source,
        }),
    }
}

/// Whether two readings of a group show the same apps with the same
/// versions, instance counts and tasks: what a step planned on the first
/// still fits the second.
fn same_shape(before: &[MarathonApp], now: &[MarathonApp]) -> bool {
    let shape = |apps: &[MarathonApp]| {
        let mut shape: Vec<_> = apps
            .iter()
            .map(|a| {
                let mut tasks: Vec<&str> = a.tasks.iter().map(|t| t.id.as_str()).collect();
                tasks.sort_unstable();
                (
                    a.id.clone(),
                    a.instances,
                    a.version.clone(),
                    tasks.join(","),
                )
            })
            .collect();
        shape.sort();
        shape
    };
    shape(before) == shape(now)
}

/// Whether every marathon-lb can carry the phase, checked before its first
/// change: each one read, and (once the group has an app) each listing the
/// group's backend. A phase never starts blind: mid-phase, an unreadable
/// one is waited for instead.
fn lbs_ready(observation: &Observation) -> Result<(), PhaseError> {
    for lb in &observation.lbs {
        match &lb.state {
            LbState::Unreachable { message } => {
                return Err(PhaseError::LoadBalancer(format!(
                    "marathon-lb {} could not be read: {message}",
                    lb.url
                )));
            }
            LbState::Stats { rows, .. } if rows.is_empty() && !observation.apps.is_empty() => {
                return Err(PhaseError::LoadBalancer(format!(
                    "marathon-lb {} lists no server of the group's backend: it does not serve the group",
                    lb.url
                )));
            }
            LbState::Stats { .. } => {}
        }
    }
    Ok(())
}

fn act(executor: &mut dyn Executor, step: &Step) -> Result<(), ExecError> {
    match step {
        Step::Create { app } => executor.create_app(app),
        Step::Scale { app_id, to, .. } => executor.scale_app(app_id, *to),
        Step::Kill {
            app_id, task_ids, ..
        } => executor.kill_tasks(app_id, task_ids),
        Step::Delete { app_id, .. } => executor.delete_app(app_id),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_back_off_to_four_times() {
        let poll = Duration::from_millis(250);
        let waits: Vec<u128> = (0..12).map(|r| backoff(poll, r).as_millis()).collect();
        assert_eq!(
            waits,
            [
                250, 250, 250, 250, 500, 500, 500, 500, 1000, 1000, 1000, 1000
            ]
        );
    }
}
