//! [`RecordingExecutor`]: the in-memory fake of the executor port.

use super::{
    ExecError, Executor, FinishedRun, JobHistory, LiveJob, MarathonApp, RunInfo, RunStatus,
    app_what, job_what, run_what,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// One call an executor received, as the [`RecordingExecutor`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// [`Executor::get_job`].
    GetJob(String),
    /// [`Executor::create_job`], with the job id.
    CreateJob(String),
    /// [`Executor::replace_job`], with the job id.
    ReplaceJob(String),
    /// [`Executor::stop_run`].
    StopRun(String, String),
    /// [`Executor::start_run`].
    StartRun(String),
    /// [`Executor::run_status`].
    RunStatus(String, String),
    /// [`Executor::group_apps`].
    MarathonApps(String),
    /// [`Executor::create_app`], with the app id.
    CreateApp(String),
    /// [`Executor::scale_app`].
    ScaleApp(String, u32),
    /// [`Executor::kill_tasks`].
    KillTasks(String, Vec<String>),
    /// [`Executor::delete_app`].
    DeleteApp(String),
}

/// An in-memory executor that records every call: the fake the use cases
/// and the executor conformance tests run against.
///
/// Jobs are stored as given (no defaults added). Runs start `Active`;
/// [`RecordingExecutor::finish_run`] ends them.
#[derive(Debug, Default, Clone)]
pub struct RecordingExecutor {
    /// Marathon apps as JSON (with their tasks), for the engine's operations.
    marathon: BTreeMap<String, Value>,
    jobs: BTreeMap<String, LiveJob>,
    finished: BTreeMap<(String, String), RunStatus>,
    calls: Vec<Call>,
    next_run: u64,
    fail_next: Option<Failing>,
}

/// A failure the fake was told to give on its next call.
#[derive(Debug, Clone)]
struct Failing {
    error: ExecError,
    /// Whether the call is carried out before it fails, as when a
    /// request reached the cluster and only its answer was lost.
    applied: bool,
}

fn job_id_of(spec: &Value) -> String {
    spec.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl RecordingExecutor {
    /// An empty cluster.
    pub fn new() -> Self {
        RecordingExecutor::default()
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Forgets the recorded calls (not the state).
    pub fn clear_calls(&mut self) {
        self.calls.clear();
    }

    /// The stored spec of a job.
    pub fn job(&self, id: &str) -> Option<&LiveJob> {
        self.jobs.get(id)
    }

    /// How many jobs it holds.
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    /// Puts a job in place as if it existed already.
    pub fn insert_job(&mut self, spec: Value) {
        self.jobs.insert(
            job_id_of(&spec),
            LiveJob {
                spec,
                active_runs: Vec::new(),
                history: JobHistory::default(),
            },
        );
    }

    /// Puts a Marathon app in place as Marathon's JSON, tasks included
    /// (what [`Executor::group_apps`] reads and the app operations change).
    pub fn insert_marathon_app(&mut self, app: Value) {
        let id = app["id"].as_str().unwrap_or_default().to_owned();
        self.marathon.insert(id, app);
    }

    /// A Marathon app as the fake holds it.
    pub fn marathon_app(&self, id: &str) -> Option<&Value> {
        self.marathon.get(id)
    }

    fn missing_app(id: &str) -> ExecError {
        ExecError::NotFound { what: app_what(id) }
    }

    fn set_instances(&mut self, id: &str, instances: u32) {
        if let Some(app) = self.marathon.get_mut(id) {
            app["instances"] = Value::from(instances);
            let app = app.clone();
            self.insert_marathon_app(app);
        }
    }

    /// Makes the next call fail with `error`, changing nothing.
    pub fn fail_next(&mut self, error: ExecError) {
        self.fail_next = Some(Failing {
            error,
            applied: false,
        });
    }

    /// Makes the next call take effect and then report `error`, as an
    /// executor does when its request reached the cluster but the answer
    /// was lost and a repeat met what the first attempt did.
    pub fn apply_then_fail_next(&mut self, error: ExecError) {
        self.fail_next = Some(Failing {
            error,
            applied: true,
        });
    }

    /// Ends an active run with `status` (`Success` or `Failed`); its job's
    /// history counts it. `finished_at` is a Metronome timestamp, handed in
    /// because this crate reads no clock.
    pub fn finish_run(&mut self, job_id: &str, run_id: &str, status: RunStatus) {
        self.finish_run_at(job_id, run_id, status, None);
    }

    /// [`RecordingExecutor::finish_run`] with the time it finished.
    pub fn finish_run_at(
        &mut self,
        job_id: &str,
        run_id: &str,
        status: RunStatus,
        finished_at: Option<&str>,
    ) {
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.active_runs.retain(|r| r.run_id != run_id);
            match status {
                RunStatus::Success => job.history.success_count += 1,
                _ => job.history.failure_count += 1,
            }
            job.history.last_run = Some(FinishedRun {
                run_id: run_id.to_owned(),
                status,
                finished_at: finished_at.map(str::to_owned),
            });
        }
        self.finished
            .insert((job_id.to_owned(), run_id.to_owned()), status);
    }

    /// Records `call`, then carries it out with `op` unless it was told
    /// to fail; a failure told to be applied first runs `op` too.
    fn call<T>(
        &mut self,
        call: Call,
        op: impl FnOnce(&mut Self) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        self.calls.push(call);
        match self.fail_next.take() {
            None => op(self),
            Some(Failing { error, applied }) => {
                if applied {
                    let _ = op(self);
                }
                Err(error)
            }
        }
    }

    fn missing(job_id: &str) -> ExecError {
        ExecError::NotFound {
            what: job_what(job_id),
        }
    }
}

impl Executor for RecordingExecutor {
    fn get_job(&mut self, id: &str) -> Result<Option<LiveJob>, ExecError> {
        self.call(Call::GetJob(id.to_owned()), |me| {
            Ok(me.jobs.get(id).cloned())
        })
    }

    fn create_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        let id = job_id_of(spec);
        self.call(Call::CreateJob(id.clone()), |me| {
            if me.jobs.contains_key(&id) {
                return Err(ExecError::Conflict {
                    what: job_what(&id),
                    message: "Job with this id already exists".into(),
                });
            }
            me.insert_job(spec.clone());
            Ok(())
        })
    }

    fn replace_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        let id = job_id_of(spec);
        self.call(Call::ReplaceJob(id.clone()), |me| {
            let job = me.jobs.get_mut(&id).ok_or_else(|| Self::missing(&id))?;
            job.spec = spec.clone();
            Ok(())
        })
    }

    fn stop_run(&mut self, job_id: &str, run_id: &str) -> Result<(), ExecError> {
        self.call(Call::StopRun(job_id.to_owned(), run_id.to_owned()), |me| {
            let job = me.jobs.get(job_id).ok_or_else(|| Self::missing(job_id))?;
            if !job.active_runs.iter().any(|r| r.run_id == run_id) {
                return Err(ExecError::NotFound {
                    what: run_what(job_id, run_id),
                });
            }
            me.finish_run(job_id, run_id, RunStatus::Failed);
            Ok(())
        })
    }

    fn start_run(&mut self, job_id: &str) -> Result<RunInfo, ExecError> {
        self.call(Call::StartRun(job_id.to_owned()), |me| {
            let job = me
                .jobs
                .get_mut(job_id)
                .ok_or_else(|| Self::missing(job_id))?;
            me.next_run += 1;
            let run = RunInfo {
                job_id: job_id.to_owned(),
                run_id: format!("run{:05}", me.next_run),
                status: RunStatus::Active,
                // Metronome's format; the fake's runs are a second apart.
                created_at: Some(format!(
                    "2026-01-01T00:{:02}:{:02}.000+0000",
                    me.next_run / 60 % 60,
                    me.next_run % 60
                )),
            };
            job.active_runs.push(run.clone());
            Ok(run)
        })
    }

    fn run_status(&mut self, job_id: &str, run_id: &str) -> Result<RunInfo, ExecError> {
        self.call(
            Call::RunStatus(job_id.to_owned(), run_id.to_owned()),
            |me| {
                if let Some(status) = me.finished.get(&(job_id.to_owned(), run_id.to_owned())) {
                    return Ok(RunInfo {
                        job_id: job_id.to_owned(),
                        run_id: run_id.to_owned(),
                        status: *status,
                        created_at: None,
                    });
                }
                me.jobs
                    .get(job_id)
                    .and_then(|j| j.active_runs.iter().find(|r| r.run_id == run_id).cloned())
                    .ok_or_else(|| ExecError::NotFound {
                        what: run_what(job_id, run_id),
                    })
            },
        )
    }

    fn group_apps(&mut self, group: &str) -> Result<Vec<MarathonApp>, ExecError> {
        self.call(Call::MarathonApps(group.to_owned()), |me| {
            let apps: Vec<Value> = me.marathon.values().cloned().collect();
            MarathonApp::group_from_marathon(&Value::Array(apps), group)
        })
    }

    fn create_app(&mut self, app: &Value) -> Result<(), ExecError> {
        let id = app["id"].as_str().unwrap_or_default().to_owned();
        self.call(Call::CreateApp(id.clone()), |me| {
            if me.marathon.contains_key(&id) {
                return Err(ExecError::Conflict {
                    what: app_what(&id),
                    message: format!("An app with id [{id}] already exists."),
                });
            }
            let mut app = app.clone();
            app["tasks"] = Value::Array(Vec::new());
            me.insert_marathon_app(app);
            Ok(())
        })
    }

    fn scale_app(&mut self, app_id: &str, instances: u32) -> Result<(), ExecError> {
        self.call(Call::ScaleApp(app_id.to_owned(), instances), |me| {
            if !me.marathon.contains_key(app_id) {
                return Err(Self::missing_app(app_id));
            }
            me.set_instances(app_id, instances);
            Ok(())
        })
    }

    fn kill_tasks(&mut self, app_id: &str, task_ids: &[String]) -> Result<(), ExecError> {
        self.call(
            Call::KillTasks(app_id.to_owned(), task_ids.to_vec()),
            |me| {
                let app = me
                    .marathon
                    .get_mut(app_id)
                    .ok_or_else(|| Self::missing_app(app_id))?;
                let tasks = app["tasks"]
                    .as_array_mut()
                    .map(std::mem::take)
                    .unwrap_or_default();
                let before = tasks.len();
                let kept: Vec<Value> = tasks
                    .into_iter()
                    .filter(|t| !task_ids.iter().any(|id| t["id"] == id.as_str()))
                    .collect();
                let killed = (before - kept.len()) as u64;
                let instances = app["instances"]
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(killed);
                app["tasks"] = Value::Array(kept);
                me.set_instances(app_id, instances as u32);
                Ok(())
            },
        )
    }

    fn delete_app(&mut self, app_id: &str) -> Result<(), ExecError> {
        self.call(Call::DeleteApp(app_id.to_owned()), |me| {
            me.marathon
                .remove(app_id)
                .ok_or_else(|| Self::missing_app(app_id))?;
            Ok(())
        })
    }
}
