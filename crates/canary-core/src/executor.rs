//! The executor port: the few operations canary needs on a cluster's
//! Metronome jobs and runs and its Marathon apps, as a trait with typed
//! results and errors, and a recording in-memory fake. Executors (HTTP, the
//! `dcos` CLI) implement the trait; use cases such as [`crate::apply`],
//! [`crate::run`] and [`crate::status`] are written once against it.

pub use crate::live::{FinishedRun, JobHistory, LiveApp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Why an executor operation failed, independent of how it talked to the
/// cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The job or run does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `job deploy-web-canary`.
        what: String,
    },
    /// The change conflicts with the cluster's state (a job that already
    /// exists, active runs on a delete).
    #[error("conflict on {what}: {message}")]
    Conflict {
        /// What the change was about.
        what: String,
        /// The server's message.
        message: String,
    },
    /// The cluster refused the document.
    #[error("{what} was refused as invalid: {message}")]
    Invalid {
        /// What was refused.
        what: String,
        /// The server's message and details.
        message: String,
    },
    /// A Marathon app is locked by a deployment in progress, and stayed so
    /// for as long as the executor retried.
    #[error("{what} is locked by a deployment in progress: {message}")]
    Locked {
        /// What the change was about.
        what: String,
        /// The server's message.
        message: String,
    },
    /// Authentication failed or expired.
    #[error("not authorized: {message}")]
    Auth {
        /// What the cluster or client said.
        message: String,
    },
    /// The cluster could not be reached (after any retries).
    #[error("cannot reach {target}: {message}")]
    Unreachable {
        /// The URL or command.
        target: String,
        /// What failed.
        message: String,
    },
    /// The cluster's TLS certificate could not be verified against the
    /// trusted roots: it was not reached, and retrying cannot help.
    #[error("cannot verify the TLS certificate of {target}: {message}")]
    Untrusted {
        /// The URL.
        target: String,
        /// What the TLS library said.
        message: String,
    },
    /// Anything else, with the server's or tool's own words.
    #[error("{message}")]
    Other {
        /// The message.
        message: String,
    },
}

impl ExecError {
    /// An answer that could not be read as what it should be: `what` is
    /// what it was about (`job deploy-web-canary`, `Marathon apps`, a
    /// command), `detail` what was wrong with it.
    pub fn unexpected(what: &str, detail: &str) -> ExecError {
        ExecError::Other {
            message: format!("unexpected answer about {what}: {detail}"),
        }
    }
}

/// How errors name a job (`job deploy-web-canary`): the same words from
/// every executor, so their errors compare equal.
pub fn job_what(id: &str) -> String {
    format!("job {id}")
}

/// How errors name a run (`run 20160715130259A34HX of job deploy-web-canary`).
pub fn run_what(job_id: &str, run_id: &str) -> String {
    format!("run {run_id} of job {job_id}")
}

/// The `id` of a job spec about to be sent: `Invalid` when it has none.
pub fn spec_job_id(spec: &Value) -> Result<&str, ExecError> {
    spec.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ExecError::Invalid {
            what: "job spec".to_owned(),
            message: "it has no `id` string".to_owned(),
        })
}

/// The state of a job run, as Metronome reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunStatus {
    /// Created, not yet started.
    Initial,
    /// Its task is being launched.
    Starting,
    /// Its task runs.
    Active,
    /// Finished successfully.
    Success,
    /// Finished with a failure (or stopped).
    Failed,
}

impl RunStatus {
    /// Whether the run has finished.
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::Failed)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunStatus::Initial => "INITIAL",
            RunStatus::Starting => "STARTING",
            RunStatus::Active => "ACTIVE",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failed => "FAILED",
        })
    }
}

/// One job run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// The job it belongs to.
    pub job_id: String,
    /// Its id, e.g. `20160715130259A34HX`.
    pub run_id: String,
    /// Where it stands.
    pub status: RunStatus,
}

/// A job as it exists on the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveJob {
    /// The job spec as the cluster returns it (with its defaults).
    pub spec: Value,
    /// Its runs that have not finished.
    pub active_runs: Vec<RunInfo>,
    /// Its finished runs.
    pub history: JobHistory,
}

/// The operations canary needs on Metronome and Marathon. Small on purpose:
/// the HTTP executor and the `dcos` CLI executor implement exactly this.
pub trait Executor {
    /// Every Marathon app, with its task counts and deployments.
    fn list_apps(&mut self) -> Result<Vec<LiveApp>, ExecError>;
    /// The job with this id, if it exists, with its active runs and history.
    fn get_job(&mut self, id: &str) -> Result<Option<LiveJob>, ExecError>;
    /// Creates a job.
    fn create_job(&mut self, spec: &Value) -> Result<(), ExecError>;
    /// Replaces an existing job's spec.
    fn replace_job(&mut self, spec: &Value) -> Result<(), ExecError>;
    /// Stops one active run.
    fn stop_run(&mut self, job_id: &str, run_id: &str) -> Result<(), ExecError>;
    /// Starts a run of a job.
    fn start_run(&mut self, job_id: &str) -> Result<RunInfo, ExecError>;
    /// Where a run stands, finished or not.
    fn run_status(&mut self, job_id: &str, run_id: &str) -> Result<RunInfo, ExecError>;
}

/// One call an executor received, as the [`RecordingExecutor`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// [`Executor::list_apps`].
    ListApps,
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
}

/// An in-memory executor that records every call: the fake the use cases
/// and the executor conformance tests run against.
///
/// Jobs are stored as given (no defaults added). Runs start `Active`;
/// [`RecordingExecutor::finish_run`] ends them.
#[derive(Debug, Default, Clone)]
pub struct RecordingExecutor {
    apps: BTreeMap<String, LiveApp>,
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

    /// Puts a Marathon app in place (replacing one with the same id).
    pub fn insert_app(&mut self, app: LiveApp) {
        self.apps.insert(app.id.clone(), app);
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
    fn list_apps(&mut self) -> Result<Vec<LiveApp>, ExecError> {
        self.call(Call::ListApps, |me| Ok(me.apps.values().cloned().collect()))
    }

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
}
