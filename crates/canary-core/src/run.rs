//! The `run` use case, written once against [`Executor`]: check that the
//! deployment group is in a state for a phase ([`preflight`]), start the
//! phase's job ([`start`]) and, if asked, follow the run until it finishes
//! ([`follow`]).
//!
//! Waiting needs time, which this crate does not take for itself: the caller
//! hands in a [`Clock`] (the system's in the binary, a manual one in tests).

use crate::clock::Clock;
use crate::executor::{ExecError, Executor, RunInfo, RunStatus};
use crate::ids::AppName;
use crate::job::Phase;
use crate::status::GroupStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why a phase should not start now, given its group's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A phase job of the app is running: two zdd.py runs at once on one
    /// group would fight over it.
    #[error("job {job_id} has an active run ({run_id}): wait for it to finish or stop it first")]
    ActiveRun {
        /// The job.
        job_id: String,
        /// Its active run.
        run_id: String,
    },
    /// Marathon is still deploying an app of the group.
    #[error(
        "Marathon is still deploying app {app_id} (deployment {deployment}): wait until it finishes"
    )]
    Deploying {
        /// The app.
        app_id: String,
        /// The deployment.
        deployment: String,
    },
    /// A deploy while a canary is in progress.
    #[error(
        "a canary is already in progress in deployment group {group} (newest app {canary}): roll it out or back first"
    )]
    CanaryInProgress {
        /// The group.
        group: String,
        /// The newest app.
        canary: String,
    },
    /// A rollout or rollback without a canary (zdd.py would exit 3:
    /// `--complete-cur`/`--complete-prev` need two apps in the group).
    #[error(
        "no canary in progress in deployment group {group} ({apps} app(s) found): {phase} needs one"
    )]
    NoCanary {
        /// The group.
        group: String,
        /// How many apps the group has.
        apps: usize,
        /// The phase asked for.
        phase: Phase,
    },
}

/// Whether `phase` may start now. A deploy needs no canary in progress (an
/// empty group is a first deploy, which zdd.py allows); a rollout or
/// rollback needs one. No phase starts while a phase job of the app runs or
/// Marathon is deploying an app of the group.
pub fn preflight(phase: Phase, status: &GroupStatus) -> Result<(), Refusal> {
    if let Some((job, run)) = status
        .jobs
        .iter()
        .find_map(|j| j.active_runs.first().map(|r| (j, r)))
    {
        return Err(Refusal::ActiveRun {
            job_id: job.id.clone(),
            run_id: run.clone(),
        });
    }
    if let Some((app, deployment)) = status
        .apps
        .iter()
        .find_map(|a| a.deployments.first().map(|d| (a, d)))
    {
        return Err(Refusal::Deploying {
            app_id: app.id.clone(),
            deployment: deployment.clone(),
        });
    }
    match (phase, status.canary_in_progress) {
        (Phase::Deploy, true) => Err(Refusal::CanaryInProgress {
            group: status.deployment_group.clone(),
            canary: status.apps.last().map(|a| a.id.clone()).unwrap_or_default(),
        }),
        (Phase::Rollout | Phase::Rollback, false) => Err(Refusal::NoCanary {
            group: status.deployment_group.clone(),
            apps: status.apps.len(),
            phase,
        }),
        _ => Ok(()),
    }
}

/// Why a phase's run was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The group is not in a state for the phase; nothing was started.
    #[error("not starting {job_id}: {refusal}")]
    Refused {
        /// The phase's job.
        job_id: String,
        /// Why not.
        refusal: Refusal,
    },
    /// Reading the group's state failed; nothing was started.
    #[error("checking {app}'s deployment group: {source}")]
    Check {
        /// The app.
        app: String,
        /// What the executor reported.
        source: ExecError,
    },
    /// Starting the run failed.
    #[error("starting job {job_id}: {source}")]
    Start {
        /// The phase's job.
        job_id: String,
        /// What the executor reported.
        source: ExecError,
    },
}

impl StartError {
    /// The executor's error behind it, if any.
    pub fn exec_error(&self) -> Option<&ExecError> {
        match self {
            StartError::Refused { .. } => None,
            StartError::Check { source, .. } | StartError::Start { source, .. } => Some(source),
        }
    }
}

/// Starts a run of `phase`'s job for `app`: first [`preflight`] on the
/// group's state as [`crate::status::gather`] reads it (skipped with
/// `force`), then the run.
pub fn start(
    executor: &mut dyn Executor,
    app: &AppName,
    phase: Phase,
    force: bool,
) -> Result<RunInfo, StartError> {
    let job_id = app.job_id(phase);
    if !force {
        let status =
            crate::status::gather(executor, app.as_str()).map_err(|source| StartError::Check {
                app: app.to_string(),
                source,
            })?;
        preflight(phase, &status).map_err(|refusal| StartError::Refused {
            job_id: job_id.clone(),
            refusal,
        })?;
    }
    executor
        .start_run(&job_id)
        .map_err(|source| StartError::Start { job_id, source })
}

/// Why following a run stopped without a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// The run finished and failed.
    #[error("run {} of job {} failed", .0.run_id, .0.job_id)]
    Failed(RunInfo),
    /// The run did not finish in time (it goes on).
    #[error("run {} of job {} did not finish within {timeout:?}; it is still {}", .last.run_id, .last.job_id, .last.status)]
    TimedOut {
        /// The last state seen.
        last: RunInfo,
        /// The limit.
        timeout: Duration,
    },
    /// Stopped on request (a signal); the run goes on.
    #[error("stopped following run {} of job {}; it goes on, last seen {}", .last.run_id, .last.job_id, .last.status)]
    Interrupted {
        /// The last state seen.
        last: RunInfo,
    },
    /// The executor failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// Polls a run every `interval` until it finishes, `timeout` passes on
/// `clock`, or `stop` is set (a signal: the poll in flight finishes first);
/// `on_change` sees every new status (for a progress display).
pub fn follow(
    executor: &mut dyn Executor,
    run: &RunInfo,
    clock: &dyn Clock,
    interval: Duration,
    timeout: Duration,
    stop: &AtomicBool,
    on_change: &mut dyn FnMut(&RunInfo),
) -> Result<RunInfo, FollowError> {
    let started = clock.now();
    let elapsed = || clock.now().since(started);
    let mut last = run.clone();
    on_change(&last);
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(FollowError::Interrupted { last });
        }
        let now = executor.run_status(&run.job_id, &run.run_id)?;
        if now.status != last.status {
            on_change(&now);
        }
        last = now;
        match last.status {
            RunStatus::Success => return Ok(last),
            RunStatus::Failed => return Err(FollowError::Failed(last)),
            _ => {}
        }
        if elapsed() >= timeout {
            return Err(FollowError::TimedOut { last, timeout });
        }
        clock.sleep(
            interval
                .min(timeout.saturating_sub(elapsed()))
                .max(Duration::from_millis(1)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::RecordingExecutor;
    use serde_json::json;

    use crate::clock::{ManualClock, Timestamp};

    fn started() -> (RecordingExecutor, RunInfo) {
        let mut exec = RecordingExecutor::new();
        exec.insert_job(json!({"id": "deploy-a-canary", "run": {"cmd": "x"}}));
        let run = exec.start_run("deploy-a-canary").unwrap();
        (exec, run)
    }

    fn group(apps: usize) -> RecordingExecutor {
        let mut exec = RecordingExecutor::new();
        for i in 0..apps {
            exec.insert_app(crate::executor::LiveApp {
                id: format!("/web-{i}"),
                instances: 2,
                tasks_staged: 0,
                tasks_running: 2,
                tasks_healthy: 2,
                tasks_unhealthy: 0,
                image: None,
                labels: [
                    ("HAPROXY_DEPLOYMENT_GROUP".to_owned(), "web".to_owned()),
                    ("HAPROXY_DEPLOYMENT_STARTED_AT".to_owned(), format!("{i}")),
                ]
                .into(),
                version: None,
                deployments: Vec::new(),
            });
        }
        exec
    }

    #[test]
    fn preflight_matches_phases_to_the_groups_state() {
        use crate::status::gather;
        for apps in [0, 1] {
            let status = gather(&mut group(apps), "web").unwrap();
            assert_eq!(preflight(Phase::Deploy, &status), Ok(()));
            for phase in [Phase::Rollout, Phase::Rollback] {
                let refusal = preflight(phase, &status).unwrap_err();
                assert_eq!(
                    refusal.to_string(),
                    format!(
                        "no canary in progress in deployment group web ({apps} app(s) found): {phase} needs one"
                    )
                );
            }
        }
        let status = gather(&mut group(2), "web").unwrap();
        assert_eq!(preflight(Phase::Rollout, &status), Ok(()));
        assert_eq!(preflight(Phase::Rollback, &status), Ok(()));
        assert!(matches!(
            preflight(Phase::Deploy, &status),
            Err(Refusal::CanaryInProgress { ref canary, .. }) if canary == "/web-1"
        ));
    }

    #[test]
    fn preflight_waits_for_runs_and_marathon_deployments() {
        use crate::status::gather;
        let mut exec = group(1);
        exec.insert_job(json!({"id": "rollback-web-canary"}));
        let run = exec.start_run("rollback-web-canary").unwrap();
        let status = gather(&mut exec, "web").unwrap();
        assert_eq!(
            preflight(Phase::Deploy, &status),
            Err(Refusal::ActiveRun {
                job_id: "rollback-web-canary".into(),
                run_id: run.run_id.clone()
            })
        );
        exec.finish_run("rollback-web-canary", &run.run_id, RunStatus::Success);
        let mut app = exec.list_apps().unwrap().remove(0);
        app.deployments = vec!["d-1".into()];
        exec.insert_app(app);
        let status = gather(&mut exec, "web").unwrap();
        assert_eq!(
            preflight(Phase::Deploy, &status).unwrap_err().to_string(),
            "Marathon is still deploying app /web-0 (deployment d-1): wait until it finishes"
        );
    }

    /// Follows `run` with a fake clock from zero, polling every 2 s;
    /// returns the outcome, every status seen and the time spent.
    fn follow_from_zero(
        exec: &mut RecordingExecutor,
        run: &RunInfo,
        timeout: Duration,
    ) -> (Result<RunInfo, FollowError>, Vec<RunStatus>, Duration) {
        let clock = ManualClock::starting_at(Timestamp::from_unix_secs(1_000));
        let mut seen = Vec::new();
        let outcome = follow(
            exec,
            run,
            &clock,
            Duration::from_secs(2),
            timeout,
            &AtomicBool::new(false),
            &mut |r| seen.push(r.status),
        );
        (outcome, seen, clock.slept())
    }

    #[test]
    fn a_finished_run_is_reported_with_every_status_seen() {
        let (mut exec, run) = started();
        exec.finish_run("deploy-a-canary", &run.run_id, RunStatus::Success);
        let (done, seen, spent) = follow_from_zero(&mut exec, &run, Duration::from_secs(60));
        assert_eq!(done.unwrap().status, RunStatus::Success);
        assert_eq!(seen, [RunStatus::Active, RunStatus::Success]);
        assert_eq!(spent, Duration::ZERO, "no wait once finished");
    }

    #[test]
    fn failure_and_timeout() {
        let (mut exec, run) = started();
        exec.finish_run("deploy-a-canary", &run.run_id, RunStatus::Failed);
        let (outcome, _, _) = follow_from_zero(&mut exec, &run, Duration::from_secs(60));
        let err = outcome.unwrap_err();
        assert!(matches!(err, FollowError::Failed(ref r) if r.status == RunStatus::Failed));

        let (mut exec, run) = started();
        let (outcome, _, spent) = follow_from_zero(&mut exec, &run, Duration::from_secs(7));
        let err = outcome.unwrap_err();
        assert!(
            err.to_string()
                .ends_with("did not finish within 7s; it is still ACTIVE"),
            "{err}"
        );
        assert_eq!(
            spent,
            Duration::from_secs(7),
            "waits never overshoot the timeout"
        );
    }
}
