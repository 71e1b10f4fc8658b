//! The executor port: the few operations canary needs on a cluster's
//! Metronome jobs and runs and its Marathon apps, as a trait with typed
//! results and errors, and a recording in-memory fake. Executors (HTTP, the
//! `dcos` CLI) implement the trait; use cases such as [`crate::apply`],
//! [`crate::run`], [`crate::status`] and the engine's driver are written
//! once against it.

pub use crate::live::{FinishedRun, JobHistory};
pub use crate::marathon::MarathonApp;
pub use fake::{Call, RecordingExecutor};
use serde_json::Value;
use std::fmt;

mod fake;

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
    /// A stop was requested (a signal) while the operation ran or before
    /// it started: it was abandoned, never retried; whatever reached the
    /// cluster stands.
    #[error("stopped by a signal: {message}")]
    Interrupted {
        /// What was stopped.
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

/// `text` trimmed and cut to `limit` characters, saying how many were left
/// out: how every executor quotes what a server or a tool said, so that a
/// multi-megabyte answer never becomes a multi-megabyte error line.
pub fn quote(text: &str, limit: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!(
            "{}… (cut: {} more characters)",
            &text[..cut],
            text[cut..].chars().count()
        ),
        None => text.to_owned(),
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
    /// When Metronome created it (its timestamp text, which sorts in time
    /// order), if known.
    pub created_at: Option<String>,
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

    /// The Marathon apps of deployment group `group` (their
    /// `HAPROXY_DEPLOYMENT_GROUP` label equals it) with their tasks and
    /// health (`GET /v2/apps?embed=apps.tasks`).
    fn group_apps(&mut self, group: &str) -> Result<Vec<MarathonApp>, ExecError>;
    /// Creates a Marathon app (`POST /v2/apps`); `Conflict` when one with
    /// its id exists.
    fn create_app(&mut self, app: &Value) -> Result<(), ExecError>;
    /// Sets an app's instance count (`PUT /v2/apps/{id}` `{"instances": n}`).
    fn scale_app(&mut self, app_id: &str, instances: u32) -> Result<(), ExecError>;
    /// Kills tasks of an app and lowers its count by as many, so Marathon
    /// does not replace them (`POST /v2/tasks/delete?scale=true`).
    fn kill_tasks(&mut self, app_id: &str, task_ids: &[String]) -> Result<(), ExecError>;
    /// Deletes an app and its tasks (`DELETE /v2/apps/{id}`).
    fn delete_app(&mut self, app_id: &str) -> Result<(), ExecError>;

    /// Bounds every later operation to end within `within` of this call,
    /// retries and waits included, or lifts the bound (`None`): past it an
    /// operation fails (as [`ExecError::Unreachable`] when no answer came
    /// in time) rather than wait on. What a caller with its own time limit
    /// (`canary run --wait --timeout`) sets, so that slow answers cannot
    /// stretch it. The default does nothing: an executor that never waits
    /// long needs no bound.
    fn set_deadline_in(&mut self, within: Option<std::time::Duration>) {
        let _ = within;
    }
}

/// A borrowed executor is one: a use case that takes an owned executor
/// (a boxed one in a session) can be handed a caller's for a while, which
/// keeps it (a test reads the fake's calls afterwards).
impl<E: Executor + ?Sized> Executor for &mut E {
    fn get_job(&mut self, id: &str) -> Result<Option<LiveJob>, ExecError> {
        (**self).get_job(id)
    }
    fn create_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        (**self).create_job(spec)
    }
    fn replace_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        (**self).replace_job(spec)
    }
    fn stop_run(&mut self, job_id: &str, run_id: &str) -> Result<(), ExecError> {
        (**self).stop_run(job_id, run_id)
    }
    fn start_run(&mut self, job_id: &str) -> Result<RunInfo, ExecError> {
        (**self).start_run(job_id)
    }
    fn run_status(&mut self, job_id: &str, run_id: &str) -> Result<RunInfo, ExecError> {
        (**self).run_status(job_id, run_id)
    }
    fn group_apps(&mut self, group: &str) -> Result<Vec<MarathonApp>, ExecError> {
        (**self).group_apps(group)
    }
    fn create_app(&mut self, app: &Value) -> Result<(), ExecError> {
        (**self).create_app(app)
    }
    fn scale_app(&mut self, app_id: &str, instances: u32) -> Result<(), ExecError> {
        (**self).scale_app(app_id, instances)
    }
    fn kill_tasks(&mut self, app_id: &str, task_ids: &[String]) -> Result<(), ExecError> {
        (**self).kill_tasks(app_id, task_ids)
    }
    fn delete_app(&mut self, app_id: &str) -> Result<(), ExecError> {
        (**self).delete_app(app_id)
    }
    fn set_deadline_in(&mut self, within: Option<std::time::Duration>) {
        (**self).set_deadline_in(within)
    }
}

/// How errors name a Marathon app (`app /web-green`).
pub fn app_what(id: &str) -> String {
    format!("app {id}")
}
