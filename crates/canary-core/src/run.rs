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
    /// The three phase jobs deploy different images (applies that raced,
    /// or one that stopped part way): a rollout could finish another canary
    /// than the one deployed.
    #[error("the phase jobs disagree on the image they deploy ({jobs}): apply the jobs again")]
    MixedImages {
        /// Each existing job and its `canary.image`.
        jobs: String,
    },
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
/// Marathon is deploying an app of the group (for a rollback, an app other
/// than the canary: a canary that never gets healthy keeps its deployment
/// going, and removing it is the rollback's work), nor while the phase jobs
/// disagree on the image they deploy.
pub fn preflight(phase: Phase, status: &GroupStatus) -> Result<(), Refusal> {
    if !status.job_images_agree {
        return Err(Refusal::MixedImages {
            jobs: status
                .jobs
                .iter()
                .filter(|j| j.exists)
                .map(|j| {
                    format!(
                        "{} {}",
                        j.id,
                        j.image.as_deref().unwrap_or("(no canary.image)")
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
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
    // A canary whose Marathon deployment never ends (it never gets
    // healthy) is what a rollback is for: only the other apps' deployments
    // hold a rollback back.
    let canary = status
        .canary_in_progress
        .then(|| status.apps.last().map(|a| a.id.as_str()))
        .flatten();
    if let Some((app, deployment)) = status
        .apps
        .iter()
        .filter(|a| !(phase == Phase::Rollback && Some(a.id.as_str()) == canary))
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
    // Slow answers must not stretch the timeout: every poll, its retries
    // and waits included, ends by then, but for the poll made at the
    // timeout itself, which gets a moment to answer.
    executor.set_deadline_in(Some(timeout + LAST_ANSWER));
    let mut poll = || -> Result<RunInfo, FollowError> {
        let mut last = run.clone();
        on_change(&last);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(FollowError::Interrupted { last });
            }
            let now = match executor.run_status(&run.job_id, &run.run_id) {
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
    };
    let outcome = poll();
    executor.set_deadline_in(None);
    outcome
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

    #[test]
    fn a_rollback_is_not_held_back_by_the_canarys_own_deployment() {
        use crate::status::gather;
        let mut exec = group(2);
        // The canary (newest) never gets healthy: its deployment goes on.
        let mut canary = exec.list_apps().unwrap().remove(1);
        assert_eq!(canary.id, "/web-1");
        canary.deployments = vec!["d-canary".into()];
        exec.insert_app(canary);
        let status = gather(&mut exec, "web").unwrap();
        assert_eq!(preflight(Phase::Rollback, &status), Ok(()));
        assert!(matches!(
            preflight(Phase::Rollout, &status),
            Err(Refusal::Deploying { ref app_id, .. }) if app_id == "/web-1"
        ));
        // The previous app's deployment still holds a rollback back.
        let mut previous = exec.list_apps().unwrap().remove(0);
        previous.deployments = vec!["d-previous".into()];
        exec.insert_app(previous);
        let status = gather(&mut exec, "web").unwrap();
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
        let status = crate::status::gather(&mut exec, "web").unwrap();
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
        let forced = start(&mut exec, &app, Phase::Deploy, true).unwrap();
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
        let status = crate::status::gather(&mut exec, "web").unwrap();
        assert!(!status.job_images_agree);
        for phase in Phase::ALL {
            assert_eq!(
                preflight(phase, &status).unwrap_err().to_string(),
                "the phase jobs disagree on the image they deploy (deploy-web-canary a:1, \
                 rollout-web-canary a:1, rollback-web-canary a:2): apply the jobs again"
            );
        }
        exec.insert_job(json!({"id": "rollback-web-canary", "labels": {"canary.image": "a:1"}}));
        let status = crate::status::gather(&mut exec, "web").unwrap();
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
