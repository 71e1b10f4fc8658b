//! The loop: observe, plan, act or wait, until the phase ends.

use crate::hook::PreKillHook;
use canary_core::Phase;
use canary_core::clock::Clock;
use canary_core::engine::plan::human;
use canary_core::engine::{LbSource, Moment, Observation, PhaseRequest, Step, Wait, next_step};
use canary_core::executor::{ExecError, Executor};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One phase to drive, and what it drives it with.
pub struct PhaseRun<'a> {
    /// What to do.
    pub request: PhaseRequest,
    /// How long the whole phase may take.
    pub timeout: Duration,
    /// The cluster's Marathon.
    pub executor: &'a mut dyn Executor,
    /// Every marathon-lb.
    pub lbs: &'a mut dyn LbSource,
    /// Time, and waiting.
    pub clock: &'a dyn Clock,
    /// Runs before each batch of kills, if given.
    pub hook: Option<&'a mut dyn PreKillHook>,
    /// Set (by a signal handler) to stop after the request in flight.
    pub stop: &'a AtomicBool,
}

/// What the driver reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// The cluster as it was just seen.
    Observed(&'a Observation),
    /// About to carry out this step.
    Acting(&'a Step),
    /// Waiting, for this long so far.
    Waiting {
        /// What for.
        wait: &'a Wait,
        /// How long this has been waited for.
        waited: Duration,
    },
    /// A deploy's canary failed: rolling it back before failing.
    Aborting(&'a str),
}

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
    /// The pre-kill hook refused.
    #[error("{0}")]
    Hook(String),
}

/// Observes the group and every marathon-lb once.
fn observe(
    executor: &mut dyn Executor,
    lbs: &mut dyn LbSource,
    group: &str,
) -> Result<Observation, PhaseError> {
    let apps = executor
        .group_apps(group)
        .map_err(|source| PhaseError::Cluster {
            doing: format!("reading deployment group {group}"),
            source,
        })?;
    Ok(Observation {
        apps,
        lbs: lbs.observe(),
    })
}

/// The first step of `request` from the live state, changing nothing: what
/// `--dry-run` prints.
pub fn plan_once(
    request: &PhaseRequest,
    executor: &mut dyn Executor,
    lbs: &mut dyn LbSource,
    clock: &dyn Clock,
) -> Result<(Observation, Step), PhaseError> {
    let observation = observe(executor, lbs, &request.group)?;
    let waited = BTreeMap::new();
    let step = next_step(
        request,
        &observation,
        &Moment {
            now: clock.now(),
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
        let newest = if canary_core::engine::predict::by_started_at(a, b).is_gt() {
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

/// Runs the phase to its end; `observer` sees every event.
pub fn drive(
    mut run: PhaseRun<'_>,
    observer: &mut dyn FnMut(&Event<'_>),
) -> Result<Outcome, PhaseError> {
    let started = run.clock.now();
    let mut since: BTreeMap<String, canary_core::clock::Timestamp> = BTreeMap::new();
    let mut repeats: BTreeMap<String, u32> = BTreeMap::new();
    let mut actions = 0usize;
    let mut reconciliations = 0usize;
    let mut aborted: Option<String> = None;
    let mut last = "starting".to_owned();
    loop {
        if run.stop.load(Ordering::SeqCst) {
            return Err(PhaseError::Interrupted { last });
        }
        let now = run.clock.now();
        let elapsed = now.since(started);
        if elapsed > run.timeout {
            return Err(PhaseError::TimedOut {
                timeout: human(run.timeout),
                last,
            });
        }
        let observation = observe(run.executor, run.lbs, &run.request.group)?;
        learn_canary(&mut run.request, &observation);
        observer(&Event::Observed(&observation));
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
                observer(&Event::Waiting {
                    wait: &wait,
                    waited: now.since(first),
                });
                last = format!("waiting for {}", wait.reason);
                let left = run.timeout.saturating_sub(elapsed);
                let pause = backoff(wait.poll, *count - 1)
                    .min(left)
                    .max(Duration::from_millis(1));
                sleep_unless_stopped(run.clock, pause, run.stop);
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
                        elapsed: run.clock.now().since(started),
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
                observer(&Event::Aborting(&reason));
                tracing::warn!(reason = %reason, "rolling the canary back");
                run.request.phase = Phase::Rollback;
                run.request.canary = Default::default();
                learn_canary(&mut run.request, &observation);
                aborted = Some(reason);
                since.clear();
                repeats.clear();
            }
            action => {
                observer(&Event::Acting(&action));
                last = action.to_string();
                tracing::info!(step = %action, "acting");
                if let (
                    Step::Kill {
                        app_id, task_ids, ..
                    },
                    Some(hook),
                ) = (&action, run.hook.as_deref_mut())
                {
                    let old = observation.apps.iter().find(|a| a.id == *app_id);
                    let new = observation.apps.iter().find(|a| a.id != *app_id);
                    let (old, new) = (
                        old.map(|a| a.definition.clone()).unwrap_or_default(),
                        new.map(|a| a.definition.clone()).unwrap_or_default(),
                    );
                    hook.before_kill(&old, task_ids, &new)
                        .map_err(PhaseError::Hook)?;
                }
                match act(run.executor, &action) {
                    Ok(()) => {
                        actions += 1;
                        reconciliations = 0;
                    }
                    // Met what an earlier attempt (or another run) did: look
                    // again and decide from what is there.
                    Err(
                        e @ (ExecError::Conflict { .. }
                        | ExecError::NotFound { .. }
                        | ExecError::Locked { .. }),
                    ) => {
                        reconciliations += 1;
                        tracing::info!(step = %action, error = %e, "the cluster had changed; observing again");
                        if reconciliations > MAX_RECONCILIATIONS {
                            return Err(PhaseError::Cluster {
                                doing: format!("{action} (tried {reconciliations} times)"),
                                source: e,
                            });
                        }
                    }
                    Err(source) => {
                        return Err(PhaseError::Cluster {
                            doing: action.to_string(),
                            source,
                        });
                    }
                }
                since.clear();
                repeats.clear();
            }
        }
    }
}

/// Sleeps `pause` on `clock` in slices, so a stop request is seen within a
/// quarter of a second.
fn sleep_unless_stopped(clock: &dyn Clock, pause: Duration, stop: &AtomicBool) {
    let slice = Duration::from_millis(250);
    let mut left = pause;
    while !left.is_zero() && !stop.load(Ordering::SeqCst) {
        let now = left.min(slice);
        clock.sleep(now);
        left -= now;
    }
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
