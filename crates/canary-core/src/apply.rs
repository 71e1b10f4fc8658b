//! The `apply` use case, written once against [`Executor`]: make the
//! cluster's canary jobs equal to the rendered ones, idempotently.
//!
//! [`plan_apply`] reads the live jobs and decides per job: create it, keep it
//! (identical once Metronome's defaults are set aside), or replace it after
//! stopping its active runs. [`apply`] carries a plan out. Both are plain
//! data in, plain data out; the executor does the talking.

use crate::executor::{ExecError, Executor};
use serde_json::{Map, Value};
use std::fmt;

/// What apply will do, or did, with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAction {
    /// The job does not exist: create it.
    Create,
    /// The job exists and matches: leave it.
    Keep,
    /// The job exists and differs: stop these active runs, then replace it.
    Replace {
        /// Ids of the active runs to stop first.
        stop_runs: Vec<String>,
    },
}

impl fmt::Display for JobAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobAction::Create => f.write_str("create"),
            JobAction::Keep => f.write_str("unchanged"),
            JobAction::Replace { stop_runs } if stop_runs.is_empty() => f.write_str("replace"),
            JobAction::Replace { stop_runs } => {
                write!(
                    f,
                    "stop {} run(s) ({}), then replace",
                    stop_runs.len(),
                    stop_runs.join(", ")
                )
            }
        }
    }
}

/// The plan for one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// The job id.
    pub id: String,
    /// What to do.
    pub action: JobAction,
    /// The rendered job.
    pub desired: Value,
    /// The live job with Metronome's defaults set aside, if it exists (what
    /// a dry run diffs against [`strip_metronome_defaults`] of `desired`).
    pub live: Option<Value>,
}

/// A member path and the default Metronome fills in there.
type DefaultAt = (&'static [&'static str], fn() -> Value);

/// Metronome's defaults, by path: a live job shows these where the rendered
/// job says nothing (apis.md §2.4, §2.5).
const DEFAULTS: &[DefaultAt] = &[
    (&["labels"], || Value::Object(Map::new())),
    (&["schedules"], || Value::Array(Vec::new())),
    (&["dependencies"], || Value::Array(Vec::new())),
    (&["run", "disk"], || Value::from(0)),
    (&["run", "gpus"], || Value::from(0)),
    (&["run", "env"], || Value::Object(Map::new())),
    (&["run", "secrets"], || Value::Object(Map::new())),
    (&["run", "volumes"], || Value::Array(Vec::new())),
    (&["run", "artifacts"], || Value::Array(Vec::new())),
    (&["run", "networks"], || Value::Array(Vec::new())),
    (&["run", "maxLaunchDelay"], || Value::from(3600)),
    (
        &["run", "restart"],
        || serde_json::json!({"policy": "NEVER"}),
    ),
    (
        &["run", "placement"],
        || serde_json::json!({"constraints": []}),
    ),
    (&["run", "docker", "forcePullImage"], || Value::Bool(false)),
    (&["run", "docker", "privileged"], || Value::Bool(false)),
    (
        &["run", "docker", "parameters"],
        || Value::Array(Vec::new()),
    ),
];

/// Numbers compare by value: `256` and `256.0` are the same memory.
fn numbers_as_f64(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64()
                && let Some(number) = serde_json::Number::from_f64(f)
            {
                *n = number;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(numbers_as_f64),
        Value::Object(map) => map.values_mut().for_each(numbers_as_f64),
        _ => {}
    }
}

/// A job spec with every member that equals Metronome's default removed, so
/// a rendered job and its live copy compare equal when Metronome only added
/// defaults.
pub fn strip_metronome_defaults(spec: &Value) -> Value {
    let mut out = spec.clone();
    for (path, default) in DEFAULTS {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let parent: String = parents.iter().map(|k| format!("/{k}")).collect();
        if let Some(map) = out.pointer_mut(&parent).and_then(Value::as_object_mut)
            && map.get(*last) == Some(&default())
        {
            map.remove(*last);
        }
    }
    numbers_as_f64(&mut out);
    out
}

/// One difference between a live document and the rendered one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// JSON pointer of the member (`""` for the whole document).
    pub pointer: String,
    /// The live value, if the member exists there.
    pub before: Option<Value>,
    /// The rendered value, if the member exists there.
    pub after: Option<Value>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        match (&self.before, &self.after) {
            (Some(b), Some(a)) => write!(f, "~ {at}: {b} -> {a}"),
            (None, Some(a)) => write!(f, "+ {at}: {a}"),
            (Some(b), None) => write!(f, "- {at}: {b}"),
            (None, None) => write!(f, "  {at}"),
        }
    }
}

/// The members that differ between `before` and `after`, objects compared
/// member by member and anything else (arrays too) as a whole, ordered by
/// pointer. Empty when they are equal.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    fn walk(at: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
        match (before, after) {
            (Some(Value::Object(b)), Some(Value::Object(a))) => {
                let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
                for key in keys {
                    let escaped = key.replace('~', "~0").replace('/', "~1");
                    walk(format!("{at}/{escaped}"), b.get(key), a.get(key), out);
                }
            }
            (b, a) if b != a => out.push(Change {
                pointer: at,
                before: b.cloned(),
                after: a.cloned(),
            }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), Some(before), Some(after), &mut out);
    out
}

/// Reads the live state of each rendered job and plans what [`apply`] does.
pub fn plan_apply(executor: &mut dyn Executor, jobs: &[Value]) -> Result<Vec<JobPlan>, ExecError> {
    jobs.iter()
        .map(|desired| {
            let id = desired
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let live = executor.get_job(&id)?;
            let (action, live) = match live {
                None => (JobAction::Create, None),
                Some(live) => {
                    let stripped = strip_metronome_defaults(&live.spec);
                    let action = if stripped == strip_metronome_defaults(desired) {
                        JobAction::Keep
                    } else {
                        JobAction::Replace {
                            stop_runs: live.active_runs.iter().map(|r| r.run_id.clone()).collect(),
                        }
                    };
                    (action, Some(stripped))
                }
            };
            Ok(JobPlan {
                id,
                action,
                desired: desired.clone(),
                live,
            })
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
            let id = crate::executor::spec_job_id(spec)?;
            match executor.get_job(id)? {
                Some(live)
                    if strip_metronome_defaults(&live.spec) == strip_metronome_defaults(spec) =>
                {
                    Ok(())
                }
                _ => Err(conflict),
            }
        }
        other => other,
    }
}

/// Where a job is written in [`apply`]: the rollback job first, then the
/// rollout job, the deploy job last (then any other job, in plan order).
/// An apply stopped part way therefore never leaves a deploy job ahead of
/// the jobs that finish or undo what it starts.
fn write_rank(job: &JobPlan) -> u8 {
    let phase = job
        .desired
        .get("labels")
        .and_then(|labels| labels.get(crate::bundle::labels::PHASE))
        .and_then(Value::as_str);
    match phase {
        Some(p) if p == crate::Phase::Rollback.as_str() => 0,
        Some(p) if p == crate::Phase::Rollout.as_str() => 1,
        Some(p) if p == crate::Phase::Deploy.as_str() => 2,
        _ => 3,
    }
}

/// Carries a plan out, job by job, rollback, rollout, then deploy (see
/// `write_rank`); returns what was done to each, in that order.
pub fn apply(
    executor: &mut dyn Executor,
    plan: &[JobPlan],
) -> Result<Vec<(String, JobAction)>, ApplyError> {
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
    use crate::executor::{Call, RecordingExecutor, RunStatus};
    use serde_json::json;

    fn job(id: &str, cmd: &str) -> Value {
        json!({"id": id, "labels": {"canary.phase": "deploy"},
               "run": {"cmd": cmd, "cpus": 0.1, "mem": 256, "disk": 0,
                       "docker": {"image": "mesosphere/marathon-lb:v1.14.2", "forcePullImage": false},
                       "env": {"A": "b"}, "restart": {"policy": "NEVER"}}})
    }

    /// The job as Metronome returns it: our spec plus its defaults.
    fn as_metronome_shows(spec: &Value) -> Value {
        let mut live = spec.clone();
        live["schedules"] = json!([]);
        let run = live["run"].as_object_mut().unwrap();
        run.insert("gpus".into(), json!(0));
        run.insert("mem".into(), json!(256.0));
        run.insert("secrets".into(), json!({}));
        run.insert("volumes".into(), json!([]));
        run.insert("artifacts".into(), json!([]));
        run.insert("networks".into(), json!([]));
        run.insert("maxLaunchDelay".into(), json!(3600));
        run.insert("placement".into(), json!({"constraints": []}));
        run["docker"]["privileged"] = json!(false);
        run["docker"]["parameters"] = json!([]);
        live
    }

    #[test]
    fn diff_lists_changed_added_and_removed_members() {
        let before =
            json!({"id": "j", "run": {"cmd": "a", "env": {"X": "1"}, "args": [1]}, "old": true});
        let after =
            json!({"id": "j", "run": {"cmd": "b", "env": {"X": "1", "a/b": "2"}, "args": [1, 2]}});
        let changes: Vec<String> = diff(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "- /old: true",
                "~ /run/args: [1] -> [1,2]",
                "~ /run/cmd: \"a\" -> \"b\"",
                "+ /run/env/a~1b: \"2\"",
            ]
        );
        assert!(diff(&after, &after).is_empty());
        assert_eq!(diff(&json!(1), &json!(2))[0].to_string(), "~ /: 1 -> 2");
    }

    #[test]
    fn defaults_are_set_aside_but_real_differences_are_not() {
        let desired = job("deploy-a-canary", "x");
        assert_eq!(
            strip_metronome_defaults(&as_metronome_shows(&desired)),
            strip_metronome_defaults(&desired)
        );
        let mut changed = as_metronome_shows(&desired);
        changed["run"]["user"] = json!("nobody");
        assert_ne!(
            strip_metronome_defaults(&changed),
            strip_metronome_defaults(&desired)
        );
        let mut changed = as_metronome_shows(&desired);
        changed["run"]["maxLaunchDelay"] = json!(60);
        assert_ne!(
            strip_metronome_defaults(&changed),
            strip_metronome_defaults(&desired)
        );
    }

    #[test]
    fn first_apply_creates_second_changes_nothing() {
        let mut exec = RecordingExecutor::new();
        let jobs = [job("deploy-a-canary", "x"), job("rollout-a-canary", "y")];
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        assert!(plan.iter().all(|p| p.action == JobAction::Create));
        apply(&mut exec, &plan).unwrap();
        // The cluster now shows the jobs with Metronome's defaults.
        for j in &jobs {
            let id = j["id"].as_str().unwrap();
            exec.insert_job(as_metronome_shows(&exec.job(id).unwrap().spec.clone()));
        }
        exec.clear_calls();
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        assert!(plan.iter().all(|p| p.action == JobAction::Keep), "{plan:?}");
        apply(&mut exec, &plan).unwrap();
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
        let plan = plan_apply(&mut exec, &[job("deploy-a-canary", "new")]).unwrap();
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
        let done = apply(&mut exec, &plan).unwrap();
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

    /// A create repeated after an attempt whose answer was lost meets its
    /// own job (409): the use case reads it and, equal to the spec, counts
    /// it as created; the same holds for a job an identical apply created
    /// at the same moment.
    #[test]
    fn a_create_that_meets_its_own_job_is_done() {
        let mut exec = RecordingExecutor::new();
        let jobs = [job("deploy-a-canary", "x")];
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        exec.apply_then_fail_next(ExecError::Conflict {
            what: "job deploy-a-canary".into(),
            message: "Job with this id already exists".into(),
        });
        let done = apply(&mut exec, &plan).unwrap();
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
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        exec.insert_job(as_metronome_shows(&jobs[0]));
        apply(&mut exec, &plan).unwrap();
    }

    #[test]
    fn jobs_are_written_rollback_rollout_deploy_so_a_stop_never_leaves_the_deploy_ahead() {
        let phased = |phase: crate::Phase| {
            let mut spec = job(&phase.job_id("a"), "new");
            spec["labels"]["canary.phase"] = json!(phase.as_str());
            spec
        };
        let jobs: Vec<Value> = crate::Phase::ALL.into_iter().map(phased).collect();
        let mut exec = RecordingExecutor::new();
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        exec.clear_calls();
        let done = apply(&mut exec, &plan).unwrap();
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
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        exec.create_job(&job("rollout-a-canary", "other")).unwrap();
        let err = apply(&mut exec, &plan).unwrap_err();
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
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        // Created meanwhile by someone else, differently.
        exec.create_job(&job("deploy-a-canary", "other")).unwrap();
        let err = apply(&mut exec, &plan).unwrap_err();
        assert_eq!(err.job, "deploy-a-canary");
        assert!(matches!(err.source, ExecError::Conflict { .. }));
        assert!(err.to_string().contains("run it again to finish"));

        let mut exec = RecordingExecutor::new();
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        apply(&mut exec, &plan[..1]).unwrap();
        exec.fail_next(ExecError::Unreachable {
            target: "http://x".into(),
            message: "refused".into(),
        });
        let err = apply(&mut exec, &plan[1..]).unwrap_err();
        assert_eq!(err.job, "rollout-a-canary");
        // Running apply again converges.
        let plan = plan_apply(&mut exec, &jobs).unwrap();
        assert_eq!(plan[0].action, JobAction::Keep);
        assert_eq!(plan[1].action, JobAction::Create);
        apply(&mut exec, &plan).unwrap();
        assert!(exec.job("rollout-a-canary").is_some());
    }

    #[test]
    fn a_run_that_ended_meanwhile_does_not_block_the_replace() {
        let mut exec = RecordingExecutor::new();
        exec.insert_job(job("deploy-a-canary", "old"));
        let run = exec.start_run("deploy-a-canary").unwrap();
        let plan = plan_apply(&mut exec, &[job("deploy-a-canary", "new")]).unwrap();
        exec.finish_run("deploy-a-canary", &run.run_id, RunStatus::Success);
        apply(&mut exec, &plan).unwrap();
        assert_eq!(
            exec.job("deploy-a-canary").unwrap().spec["run"]["cmd"],
            "new"
        );
    }
}
