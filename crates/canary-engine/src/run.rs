//! The `run` use case: check that the deployment group is in a state for
//! a phase (canary-core's [`preflight`]), start the phase's job
//! ([`start`]), settle a race with a run started at the same moment, and,
//! if asked, follow the run until it finishes ([`follow`]).

use crate::events::EngineEvent;
use crate::session::Session;
use canary_core::executor::{ExecError, Executor, RunInfo, RunStatus};
use canary_core::run::{Refusal, preflight};
use canary_core::{AppName, Phase};
use std::time::Duration;

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
    /// Another phase run of the group started at about the same moment,
    /// no later than this one: this one was stopped, so that at most one
    /// phase runs (both stop when they started in the same millisecond).
    #[error(
        "run {ours} of {job_id} was stopped: run {rival} of {rival_job} started at the same moment, no later; only the older goes on (neither, if they started together): see `canary status`"
    )]
    Raced {
        /// The phase's job.
        job_id: String,
        /// The run started, then stopped.
        ours: String,
        /// The rival run, as old or older.
        rival: String,
        /// Its job.
        rival_job: String,
    },
}

impl StartError {
    /// The executor's error behind it, if any.
    pub fn exec_error(&self) -> Option<&ExecError> {
        match self {
            StartError::Refused { .. } | StartError::Raced { .. } => None,
            StartError::Check { source, .. } | StartError::Start { source, .. } => Some(source),
        }
    }
}

/// Starts a run of `phase`'s job for `app`: first [`preflight`] on the
/// group's state as [`crate::status::gather`] reads it, then the run, then
/// a settlement with any phase run of the group started at the same moment
/// (the older goes on, see [`StartError::Raced`]). `force` skips the
/// preflight and the settlement: the run starts beside whatever runs.
pub fn start(
    session: &mut Session<'_>,
    app: &AppName,
    phase: Phase,
    force: bool,
) -> Result<RunInfo, StartError> {
    let job_id = app.job_id(phase);
    if !force {
        let status =
            crate::status::gather(session, app.as_str()).map_err(|source| StartError::Check {
                app: app.to_string(),
                source,
            })?;
        preflight(phase, &status).map_err(|refusal| StartError::Refused {
            job_id: job_id.clone(),
            refusal,
        })?;
    }
    let executor = session.executor();
    let run = executor
        .start_run(&job_id)
        .map_err(|source| StartError::Start {
            job_id: job_id.clone(),
            source,
        })?;
    if force {
        return Ok(run);
    }
    settle_race(executor, app, run)
}

/// Settles a race between phase runs of one group started at the same
/// moment (each passed the preflight before the other started): every
/// starter, after starting, lists the active runs of the three phase jobs.
/// It stops every rival strictly younger than its run (Metronome's
/// `createdAt`), and stops its own run when a rival is as old or older (or
/// either age is unknown). A starter that listed before a rival existed
/// goes on, and that rival, created later, sees it and stops itself; two
/// runs created in the same millisecond both stop, so at most one ever goes
/// on.
fn settle_race(
    executor: &mut dyn Executor,
    app: &AppName,
    ours: RunInfo,
) -> Result<RunInfo, StartError> {
    let mut rivals: Vec<RunInfo> = Vec::new();
    for phase in Phase::ALL {
        match executor.get_job(&app.job_id(phase)) {
            Ok(Some(job)) => rivals.extend(
                job.active_runs
                    .into_iter()
                    .filter(|r| !(r.job_id == ours.job_id && r.run_id == ours.run_id)),
            ),
            Ok(None) => {}
            // The run started; a failed look leaves it running, as a
            // start without the settlement would.
            Err(_) => return Ok(ours),
        }
    }
    let younger = |rival: &RunInfo| match (&ours.created_at, &rival.created_at) {
        (Some(mine), Some(theirs)) => theirs > mine,
        _ => false,
    };
    for rival in rivals.iter().filter(|r| younger(r)) {
        // Finished, or stopped by its own starter meanwhile: nothing to do.
        let _ = executor.stop_run(&rival.job_id, &rival.run_id);
    }
    let Some(elder) = rivals.iter().find(|r| !younger(r)) else {
        return Ok(ours);
    };
    // Ours was already stopped by the elder's starter, if not by us.
    let _ = executor.stop_run(&ours.job_id, &ours.run_id);
    Err(StartError::Raced {
        job_id: ours.job_id,
        ours: ours.run_id,
        rival: elder.run_id.clone(),
        rival_job: elder.job_id.clone(),
    })
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

/// How long past the timeout the poll made at the timeout may take to be
/// answered: the whole wait ends within `timeout` and this.
pub const LAST_ANSWER: Duration = Duration::from_secs(2);

/// Polls a run every `interval` until it finishes, `timeout` passes on
/// `clock`, or `stop` is set (a signal: the poll in flight finishes first);
/// `on_change` sees every new status (for a progress display). The executor
/// is bounded meanwhile ([`Executor::set_deadline_in`]), so slow or missing
/// answers end the wait within `timeout` plus [`LAST_ANSWER`], as a
/// [`FollowError::TimedOut`].
pub fn follow(
    session: &mut Session<'_>,
    run: &RunInfo,
    interval: Duration,
    timeout: Duration,
) -> Result<RunInfo, FollowError> {
    let clock = session.clock_arc();
    let started = clock.now();
    let elapsed = || clock.now().since(started);
    // Slow answers must not stretch the timeout: every poll, its retries
    // and waits included, ends by then, but for the poll made at the
    // timeout itself, which gets a moment to answer.
    session
        .executor()
        .set_deadline_in(Some(timeout + LAST_ANSWER));
    let mut poll = || -> Result<RunInfo, FollowError> {
        let mut last = run.clone();
        session.emit(&EngineEvent::RunChanged { run: &last });
        loop {
            if session.stop_requested() {
                return Err(FollowError::Interrupted { last });
            }
            let now = match session.executor().run_status(&run.job_id, &run.run_id) {
                Ok(now) => now,
                Err(ExecError::Interrupted { .. }) => {
                    return Err(FollowError::Interrupted { last });
                }
                // No answer in time: the timeout, not the cluster, ended it.
                Err(_) if elapsed() >= timeout => {
                    return Err(FollowError::TimedOut { last, timeout });
                }
                Err(e) => return Err(e.into()),
            };
            if now.status != last.status {
                session.emit(&EngineEvent::RunChanged { run: &now });
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
            let pause = interval
                .min(timeout.saturating_sub(elapsed()))
                .max(Duration::from_millis(1));
            if session.sleep(pause).is_err() {
                return Err(FollowError::Interrupted { last });
            }
        }
    };
    let outcome = poll();
    session.executor().set_deadline_in(None);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_session as session;
    use canary_core::clock::{ManualClock, Timestamp};
    use canary_core::executor::RecordingExecutor;
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn started() -> (RecordingExecutor, RunInfo) {
        let mut exec = RecordingExecutor::new();
        exec.insert_job(json!({"id": "deploy-a-canary", "run": {"cmd": "x"}}));
        let run = exec.start_run("deploy-a-canary").unwrap();
        (exec, run)
    }

    fn group(apps: usize) -> RecordingExecutor {
        let mut exec = RecordingExecutor::new();
        for i in 0..apps {
            exec.insert_marathon_app(json!({
                "id": format!("/web-{i}"), "instances": 2,
                "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_STARTED_AT": format!("{i}")},
                "tasks": [{"id": format!("web-{i}.1"), "host": "h", "state": "TASK_RUNNING"},
                          {"id": format!("web-{i}.2"), "host": "h", "state": "TASK_RUNNING"}]
            }));
        }
        exec
    }

    /// Marks app `id` of the fake as changed by Marathon deployment
    /// `deployment`.
    fn deploying(exec: &mut RecordingExecutor, id: &str, deployment: &str) {
        let mut app = exec.marathon_app(id).unwrap().clone();
        app["deployments"] = json!([{"id": deployment}]);
        exec.insert_marathon_app(app);
    }

    #[test]
    fn preflight_matches_phases_to_the_groups_state() {
        use crate::status::gather;
        for apps in [0, 1] {
            let status = gather(&mut session(&mut group(apps)), "web").unwrap();
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
        let status = gather(&mut session(&mut group(2)), "web").unwrap();
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
        let status = gather(&mut session(&mut exec), "web").unwrap();
        assert_eq!(
            preflight(Phase::Deploy, &status),
            Err(Refusal::ActiveRun {
                job_id: "rollback-web-canary".into(),
                run_id: run.run_id.clone()
            })
        );
        exec.finish_run("rollback-web-canary", &run.run_id, RunStatus::Success);
        deploying(&mut exec, "/web-0", "d-1");
        let status = gather(&mut session(&mut exec), "web").unwrap();
        assert_eq!(
            preflight(Phase::Deploy, &status).unwrap_err().to_string(),
            "Marathon is still deploying app /web-0 (deployment d-1): wait until it finishes"
        );
    }

    #[test]
    fn a_rollback_is_not_held_back_by_the_canarys_own_deployment() {
        use crate::status::gather;
        let mut exec = group(2);
        // The canary (newest) never gets healthy: its deployment goes on.
        deploying(&mut exec, "/web-1", "d-canary");
        let status = gather(&mut session(&mut exec), "web").unwrap();
        assert_eq!(preflight(Phase::Rollback, &status), Ok(()));
        assert!(matches!(
            preflight(Phase::Rollout, &status),
            Err(Refusal::Deploying { ref app_id, .. }) if app_id == "/web-1"
        ));
        // The previous app's deployment still holds a rollback back.
        deploying(&mut exec, "/web-0", "d-previous");
        let status = gather(&mut session(&mut exec), "web").unwrap();
        assert!(matches!(
            preflight(Phase::Rollback, &status),
            Err(Refusal::Deploying { ref app_id, .. }) if app_id == "/web-0"
        ));
    }

    #[test]
    fn of_two_runs_started_at_once_the_older_goes_on_and_the_younger_is_stopped() {
        let mut exec = group(1);
        for phase in Phase::ALL {
            exec.insert_job(json!({"id": phase.job_id("web")}));
        }
        let app = AppName::new("web").unwrap();
        // Both passed the preflight; the rollback's starter was quicker.
        let older = exec.start_run("rollback-web-canary").unwrap();
        let younger = exec.start_run("deploy-web-canary").unwrap();
        match settle_race(&mut exec, &app, younger.clone()) {
            Err(StartError::Raced {
                ours,
                rival,
                rival_job,
                ..
            }) => {
                assert_eq!(
                    (ours, rival),
                    (younger.run_id.clone(), older.run_id.clone())
                );
                assert_eq!(rival_job, "rollback-web-canary");
            }
            other => panic!("{other:?}"),
        }
        let status = crate::status::gather(&mut session(&mut exec), "web").unwrap();
        let active: Vec<&String> = status.jobs.iter().flat_map(|j| &j.active_runs).collect();
        assert_eq!(active, [&older.run_id], "only the older run goes on");
        // The winner's own settlement sees no rival left and goes on.
        assert_eq!(settle_race(&mut exec, &app, older.clone()).unwrap(), older);

        // The winner settles first: it stops the younger run itself.
        let mut exec = group(1);
        for phase in Phase::ALL {
            exec.insert_job(json!({"id": phase.job_id("web")}));
        }
        let older = exec.start_run("deploy-web-canary").unwrap();
        let younger = exec.start_run("rollout-web-canary").unwrap();
        assert_eq!(settle_race(&mut exec, &app, older.clone()).unwrap(), older);
        assert!(
            exec.get_job("rollout-web-canary")
                .unwrap()
                .unwrap()
                .active_runs
                .is_empty()
        );
        assert!(matches!(
            settle_race(&mut exec, &app, younger),
            Err(StartError::Raced { .. })
        ));

        // Same age (or an unknown one): ours stops, the rival is left to
        // its own starter, which sees ours the same way.
        let mut exec = group(1);
        for phase in Phase::ALL {
            exec.insert_job(json!({"id": phase.job_id("web")}));
        }
        let first = exec.start_run("deploy-web-canary").unwrap();
        let mut second = exec.start_run("deploy-web-canary").unwrap();
        for created_at in [first.created_at.clone(), None] {
            second.created_at = created_at;
            assert!(matches!(
                settle_race(&mut exec, &app, second.clone()),
                Err(StartError::Raced { ref rival, .. }) if *rival == first.run_id
            ));
            let job = exec.get_job("deploy-web-canary").unwrap().unwrap();
            let ids: Vec<&str> = job.active_runs.iter().map(|r| r.run_id.as_str()).collect();
            assert_eq!(ids, [first.run_id.as_str()]);
        }
    }

    #[test]
    fn a_forced_start_runs_beside_an_active_run() {
        let mut exec = group(1);
        exec.insert_job(json!({"id": "deploy-web-canary"}));
        let app = AppName::new("web").unwrap();
        let first = exec.start_run("deploy-web-canary").unwrap();
        let forced = start(&mut session(&mut exec), &app, Phase::Deploy, true).unwrap();
        let job = exec.get_job("deploy-web-canary").unwrap().unwrap();
        let ids: Vec<&str> = job.active_runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, [first.run_id.as_str(), forced.run_id.as_str()]);
    }

    #[test]
    fn jobs_that_disagree_on_the_image_refuse_every_phase() {
        let mut exec = group(2);
        for (phase, image) in Phase::ALL.into_iter().zip(["a:1", "a:1", "a:2"]) {
            exec.insert_job(json!({"id": phase.job_id("web"), "labels": {"canary.image": image}}));
        }
        let status = crate::status::gather(&mut session(&mut exec), "web").unwrap();
        assert!(!status.job_images_agree);
        for phase in Phase::ALL {
            assert_eq!(
                preflight(phase, &status).unwrap_err().to_string(),
                "the phase jobs disagree on the image they deploy (deploy-web-canary a:1, \
                 rollout-web-canary a:1, rollback-web-canary a:2): apply the jobs again"
            );
        }
        exec.insert_job(json!({"id": "rollback-web-canary", "labels": {"canary.image": "a:1"}}));
        let status = crate::status::gather(&mut session(&mut exec), "web").unwrap();
        assert!(status.job_images_agree);
        assert_eq!(preflight(Phase::Rollout, &status), Ok(()));
    }

    /// Follows `run` with a fake clock from zero, polling every 2 s;
    /// returns the outcome, every status seen and the time spent.
    fn follow_from_zero(
        exec: &mut RecordingExecutor,
        run: &RunInfo,
        timeout: Duration,
    ) -> (Result<RunInfo, FollowError>, Vec<RunStatus>, Duration) {
        let clock = Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1_000)));
        let mut seen = Vec::new();
        let outcome = {
            let mut session = Session::new(
                Box::new(exec),
                Box::new(crate::NoLoadBalancers),
                clock.clone(),
                Arc::new(AtomicBool::new(false)),
                Box::new(|event: &EngineEvent<'_>| {
                    if let EngineEvent::RunChanged { run } = event {
                        seen.push(run.status);
                    }
                }),
            );
            follow(&mut session, run, Duration::from_secs(2), timeout)
        };
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
