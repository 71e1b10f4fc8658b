//! The `apply` use case: make the cluster's canary jobs equal to the
//! rendered ones, idempotently. [`plan_apply`] reads the live jobs and
//! decides per job (canary-core's [`plan_job`]); [`apply`] carries a plan
//! out, reconciling what a repeated create meets.

use crate::session::Session;
use canary_core::apply::{JobAction, JobPlan, plan_job, same_job, write_rank};
use canary_core::executor::{ExecError, Executor, spec_job_id};
use serde_json::Value;

/// Reads the live state of each rendered job and plans what [`apply`] does.
pub fn plan_apply(session: &mut Session<'_>, jobs: &[Value]) -> Result<Vec<JobPlan>, ExecError> {
    jobs.iter()
        .map(|desired| {
            let id = desired
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let live = session.executor().get_job(id)?;
            Ok(plan_job(desired, live))
        })
        .collect()
}

/// An apply that stopped part way: what was done, and what failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "applying job {job} failed: {source}; done before it: [{}]; apply is idempotent: run it again to finish",
    done.iter().map(|(id, a)| format!("{id}: {a}")).collect::<Vec<_>>().join(", ")
)]
pub struct ApplyError {
    /// The job whose step failed.
    pub job: String,
    /// What the executor reported.
    pub source: ExecError,
    /// The jobs completed before it, and what was done to each.
    pub done: Vec<(String, JobAction)>,
}

/// Creates the job `spec`. When the cluster answers that it exists already
/// (the repeat of a create whose first answer was lost, or another apply of
/// the same jobs at the same moment), the job there is read: equal to
/// `spec` (Metronome's defaults set aside) it counts as created, anything
/// else is the conflict.
fn create(executor: &mut dyn Executor, spec: &Value) -> Result<(), ExecError> {
    match executor.create_job(spec) {
        Err(conflict @ ExecError::Conflict { .. }) => {
            let id = spec_job_id(spec)?;
            match executor.get_job(id)? {
                Some(live) if same_job(&live.spec, spec) => Ok(()),
                _ => Err(conflict),
            }
        }
        other => other,
    }
}

/// Carries a plan out, job by job, rollback, rollout, then deploy (see
/// [`write_rank`]); returns what was done to each, in that order.
pub fn apply(
    session: &mut Session<'_>,
    plan: &[JobPlan],
) -> Result<Vec<(String, JobAction)>, ApplyError> {
    let executor = session.executor();
    let mut done = Vec::with_capacity(plan.len());
    let mut ordered: Vec<&JobPlan> = plan.iter().collect();
    ordered.sort_by_key(|job| write_rank(job));
    for job in ordered {
        let step = match &job.action {
            JobAction::Create => create(executor, &job.desired),
            JobAction::Keep => Ok(()),
            JobAction::Replace { stop_runs } => stop_runs
                .iter()
                .try_for_each(|run| match executor.stop_run(&job.id, run) {
                    // A run that finished meanwhile needs no stopping.
                    Err(ExecError::NotFound { .. }) => Ok(()),
                    other => other,
                })
                .and_then(|()| executor.replace_job(&job.desired)),
        };
        if let Err(source) = step {
            return Err(ApplyError {
                job: job.id.clone(),
                source,
                done,
            });
        }
        done.push((job.id.clone(), job.action.clone()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_session as session;
    use canary_core::Phase;
    use canary_core::executor::{Call, Executor, RecordingExecutor, RunStatus};
    use serde_json::json;

    fn job(id: &str, cmd: &str) -> Value {
        json!({"id": id, "labels": {"canary.phase": "deploy"},
               "run": {"cmd": cmd, "cpus": 0.1, "mem": 256, "disk": 0,
                       "docker": {"image": "mesosphere/marathon-lb:v1.14.2", "forcePullImage": false},
                       "env": {"A": "b"}, "restart": {"policy": "NEVER"}}})
    }

    /// The job as Metronome returns it: our spec plus its defaults, its
    /// memory as a float.
    fn as_metronome_shows(spec: &Value) -> Value {
        let mut live = canary_core::apply::with_metronome_defaults(spec);
        live["run"]["mem"] = json!(256.0);
        live
    }

    #[test]
    fn first_apply_creates_second_changes_nothing() {
        let mut exec = RecordingExecutor::new();
        let jobs = [job("deploy-a-canary", "x"), job("rollout-a-canary", "y")];
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        assert!(plan.iter().all(|p| p.action == JobAction::Create));
        apply(&mut session(&mut exec), &plan).unwrap();
        // The cluster now shows the jobs with Metronome's defaults.
        for j in &jobs {
            let id = j["id"].as_str().unwrap();
            exec.insert_job(as_metronome_shows(&exec.job(id).unwrap().spec.clone()));
        }
        exec.clear_calls();
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        assert!(plan.iter().all(|p| p.action == JobAction::Keep), "{plan:?}");
        apply(&mut session(&mut exec), &plan).unwrap();
        assert!(
            exec.calls().iter().all(|c| matches!(c, Call::GetJob(_))),
            "{:?}",
            exec.calls()
        );
    }

    #[test]
    fn a_changed_job_has_its_active_runs_stopped_then_is_replaced() {
        let mut exec = RecordingExecutor::new();
        exec.insert_job(job("deploy-a-canary", "old"));
        let run = exec.start_run("deploy-a-canary").unwrap();
        let finished = exec.start_run("deploy-a-canary").unwrap();
        exec.finish_run("deploy-a-canary", &finished.run_id, RunStatus::Success);
        exec.clear_calls();
        let plan = plan_apply(&mut session(&mut exec), &[job("deploy-a-canary", "new")]).unwrap();
        assert_eq!(
            plan[0].action,
            JobAction::Replace {
                stop_runs: vec![run.run_id.clone()]
            }
        );
        assert_eq!(
            plan[0].action.to_string(),
            format!("stop 1 run(s) ({}), then replace", run.run_id)
        );
        let done = apply(&mut session(&mut exec), &plan).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(
            exec.calls(),
            [
                Call::GetJob("deploy-a-canary".into()),
                Call::StopRun("deploy-a-canary".into(), run.run_id.clone()),
                Call::ReplaceJob("deploy-a-canary".into()),
            ]
        );
        assert_eq!(
            exec.job("deploy-a-canary").unwrap().spec["run"]["cmd"],
            "new"
        );
        assert_eq!(
            exec.run_status("deploy-a-canary", &run.run_id)
                .unwrap()
                .status,
            RunStatus::Failed
        );
    }

    #[test]
    fn a_create_that_meets_its_own_job_is_done() {
        let mut exec = RecordingExecutor::new();
        let jobs = [job("deploy-a-canary", "x")];
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        exec.apply_then_fail_next(ExecError::Conflict {
            what: "job deploy-a-canary".into(),
            message: "Job with this id already exists".into(),
        });
        let done = apply(&mut session(&mut exec), &plan).unwrap();
        assert_eq!(done, [("deploy-a-canary".to_owned(), JobAction::Create)]);
        assert_eq!(
            exec.calls(),
            [
                Call::GetJob("deploy-a-canary".into()),
                Call::CreateJob("deploy-a-canary".into()),
                Call::GetJob("deploy-a-canary".into()),
            ]
        );
        assert_eq!(exec.job_count(), 1);

        let mut exec = RecordingExecutor::new();
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        exec.insert_job(as_metronome_shows(&jobs[0]));
        apply(&mut session(&mut exec), &plan).unwrap();
    }

    #[test]
    fn jobs_are_written_rollback_rollout_deploy_so_a_stop_never_leaves_the_deploy_ahead() {
        let phased = |phase: Phase| {
            let mut spec = job(&phase.job_id("a"), "new");
            spec["labels"]["canary.phase"] = json!(phase.as_str());
            spec
        };
        let jobs: Vec<Value> = Phase::ALL.into_iter().map(phased).collect();
        let mut exec = RecordingExecutor::new();
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        exec.clear_calls();
        let done = apply(&mut session(&mut exec), &plan).unwrap();
        let order: Vec<&str> = done.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            order,
            ["rollback-a-canary", "rollout-a-canary", "deploy-a-canary"]
        );
        let created: Vec<String> = exec
            .calls()
            .iter()
            .filter_map(|c| match c {
                Call::CreateJob(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(created, order);

        // Stopped at the second write (the rollout job was created
        // meanwhile, differently): the deploy job is not written.
        let mut exec = RecordingExecutor::new();
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        exec.create_job(&job("rollout-a-canary", "other")).unwrap();
        let err = apply(&mut session(&mut exec), &plan).unwrap_err();
        assert_eq!(err.job, "rollout-a-canary");
        assert_eq!(err.done.len(), 1);
        assert!(exec.job("rollback-a-canary").is_some());
        assert!(
            exec.job("deploy-a-canary").is_none(),
            "the deploy job comes last"
        );
    }

    #[test]
    fn a_failure_says_what_was_done_and_how_to_resume() {
        let mut exec = RecordingExecutor::new();
        let jobs = [job("deploy-a-canary", "x"), job("rollout-a-canary", "y")];
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        // Created meanwhile by someone else, differently.
        exec.create_job(&job("deploy-a-canary", "other")).unwrap();
        let err = apply(&mut session(&mut exec), &plan).unwrap_err();
        assert_eq!(err.job, "deploy-a-canary");
        assert!(matches!(err.source, ExecError::Conflict { .. }));
        assert!(err.to_string().contains("run it again to finish"));

        let mut exec = RecordingExecutor::new();
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        apply(&mut session(&mut exec), &plan[..1]).unwrap();
        exec.fail_next(ExecError::Unreachable {
            target: "http://x".into(),
            message: "refused".into(),
        });
        let err = apply(&mut session(&mut exec), &plan[1..]).unwrap_err();
        assert_eq!(err.job, "rollout-a-canary");
        // Running apply again converges.
        let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
        assert_eq!(plan[0].action, JobAction::Keep);
        assert_eq!(plan[1].action, JobAction::Create);
        apply(&mut session(&mut exec), &plan).unwrap();
        assert!(exec.job("rollout-a-canary").is_some());
    }

    #[test]
    fn a_run_that_ended_meanwhile_does_not_block_the_replace() {
        let mut exec = RecordingExecutor::new();
        exec.insert_job(job("deploy-a-canary", "old"));
        let run = exec.start_run("deploy-a-canary").unwrap();
        let plan = plan_apply(&mut session(&mut exec), &[job("deploy-a-canary", "new")]).unwrap();
        exec.finish_run("deploy-a-canary", &run.run_id, RunStatus::Success);
        apply(&mut session(&mut exec), &plan).unwrap();
        assert_eq!(
            exec.job("deploy-a-canary").unwrap().spec["run"]["cmd"],
            "new"
        );
    }
}
