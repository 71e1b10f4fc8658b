//! Metronome runs that execute: the simulated Mesos agent for job tasks
//! ([`crate::config::JobExecution::Execute`]).
//!
//! # The model
//!
//! A run of a job that no run hook decides is a Mesos command task here,
//! as Metronome and Mesos would run it with the container left out:
//!
//! * **Sandbox:** a fresh directory per run under the sim's private
//!   temporary directory (the Mesos layout
//!   `slaves/AGENT/frameworks/FRAMEWORK/executors/TASK/runs/CONTAINER`),
//!   the process's working directory and `HOME`, exported as
//!   `MESOS_SANDBOX` (and `MESOS_DIRECTORY`). All of it goes when the sim
//!   stops; past [`COMPLETED_KEPT`] finished runs the oldest sandboxes go
//!   too, as Mesos' garbage collection does.
//! * **Command:** `run.cmd` with `/bin/sh -c`, in its own process group,
//!   stdin from `/dev/null`. `run.args`, `run.volumes`, the image
//!   (`docker`/`ucr`), resources, `user`, placement and networks are not
//!   emulated: a job with `args` or `volumes`, or without `cmd`, fails with
//!   the reason; the image is never pulled or run.
//! * **Environment:** `PATH` (the runner directory first, then
//!   `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`),
//!   `HOME`, `LANG=C.UTF-8` and Mesos' `MESOS_SANDBOX`, `MESOS_DIRECTORY`,
//!   `MESOS_TASK_ID`, `MESOS_EXECUTOR_ID`, `MESOS_FRAMEWORK_ID` and
//!   `MESOS_SLAVE_ID`; then the job's `run.env` plain values, then its
//!   secret ones resolved from the secret store ([`crate::secrets`]). A
//!   secret that does not exist fails the run before anything starts.
//! * **Artifacts:** fetched into the sandbox first ([`fetch`]).
//! * **Limits:** the run's time limit (`run.restart.activeDeadlineSeconds`,
//!   else the configured default) counts in real time from the launch;
//!   past it, and on `actions/stop`, the group gets SIGTERM and, after
//!   `run.taskKillGracePeriodSeconds` (default 3 s), SIGKILL; the run then
//!   fails. The sim stopping SIGKILLs every group at once, and a crash
//!   guard (a small `sh` holding a pipe from the sim) does the same, and
//!   removes the sandboxes, if the sim's process dies. At most
//!   [`MAX_EXECUTING`] runs execute at once; a run past that fails.
//! * **Output:** stdout and stderr go to the sandbox files `stdout` and
//!   `stderr`, at most [`process::OUTPUT_CAP`] each (a line notes a cut);
//!   the fetcher's notes go first in `stderr`. They are read as on DC/OS:
//!   the Mesos master's and agent's state (`/mesos/master/state.json`,
//!   `/agent/{id}/state.json`), the agent's files API
//!   (`/agent/{id}/files/read` and `/files/browse`) and dcos-log v2
//!   (`/system/v1/logs/v2/task/{task}/file/{file}`).
//! * **Status:** the run is `INITIAL`/`STARTING` until its process has
//!   started, `ACTIVE` while it runs, then `SUCCESS` on exit 0 and `FAILED`
//!   otherwise, with the exit code or signal and a reason in the job's
//!   history. The process runs in real time; every timestamp is the
//!   cluster clock's when the event is reported, and a run whose process
//!   ended is finished at once, whether anyone polls or not.

pub mod fetch;
mod files;
mod guard;
mod mesos;
pub mod prepare;
pub mod process;
pub(crate) mod routes;
mod runner;

use crate::config::JobExecution;
use crate::state::Sim;
use guard::{GroupFile, Guard};
use prepare::Prepared;
use process::Group;
use runner::{Event, Runner};
use rustix::process::Signal;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// At most this many runs execute at once per sim.
pub const MAX_EXECUTING: usize = 16;

/// How many finished runs keep their sandbox (and their place in the
/// Mesos state); older ones are removed.
pub const COMPLETED_KEPT: usize = 100;

/// The one simulated agent's id (the one Marathon's tasks report too).
pub const AGENT_ID: &str = crate::marathon::AGENT_ID;

/// The `PATH` after the runner directory: Mesos' default for command
/// tasks.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskEnd {
    /// Exit 0: `TASK_FINISHED`, run `SUCCESS`.
    Finished,
    /// Another exit, a signal, or no start at all: `TASK_FAILED`.
    Failed,
    /// Killed (stop, time limit, shutdown): `TASK_KILLED`, run `FAILED`.
    Killed,
}

/// How an executed run ended, as its history entry shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The task's end.
    pub end: TaskEnd,
    /// The exit code, when the process exited.
    pub exit_code: Option<i32>,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
    /// A short reason, as Mesos words a task status message.
    pub message: String,
}

impl Outcome {
    /// A failure before (or instead of) the process.
    pub(crate) fn failed(message: String) -> Outcome {
        Outcome {
            end: TaskEnd::Failed,
            exit_code: None,
            signal: None,
            message,
        }
    }

    /// How a process that ended by itself went.
    fn exited(status: std::process::ExitStatus) -> Outcome {
        match (status.code(), status.signal()) {
            (Some(0), _) => Outcome {
                end: TaskEnd::Finished,
                exit_code: Some(0),
                signal: None,
                message: "Command exited with status 0".into(),
            },
            (Some(code), _) => Outcome {
                end: TaskEnd::Failed,
                exit_code: Some(code),
                signal: None,
                message: format!("Command exited with status {code}"),
            },
            (None, signal) => Outcome {
                end: TaskEnd::Failed,
                exit_code: None,
                signal,
                message: format!(
                    "Command terminated by signal {}",
                    signal.map_or("?".into(), |s| s.to_string())
                ),
            },
        }
    }

    /// The Mesos task state it ends in.
    pub(crate) fn task_state(&self) -> &'static str {
        match self.end {
            TaskEnd::Finished => "TASK_FINISHED",
            TaskEnd::Failed => "TASK_FAILED",
            TaskEnd::Killed => "TASK_KILLED",
        }
    }

    /// Whether the run succeeded.
    pub(crate) fn success(&self) -> bool {
        self.end == TaskEnd::Finished
    }
}

/// What a runner tells the cluster.
#[derive(Debug)]
pub(crate) enum Report {
    /// The process started.
    Started,
    /// The run ended.
    Finished(Outcome),
}

/// One status of a task, for the Mesos state.
#[derive(Debug, Clone)]
pub(crate) struct TaskStatus {
    pub(crate) state: &'static str,
    pub(crate) at_ms: u64,
    pub(crate) message: Option<String>,
}

/// A job task the agent ran or runs.
#[derive(Debug, Clone)]
pub(crate) struct TaskRecord {
    pub(crate) id: String,
    pub(crate) job_id: String,
    pub(crate) run_id: String,
    pub(crate) container_id: String,
    pub(crate) sandbox: PathBuf,
    pub(crate) statuses: Vec<TaskStatus>,
    pub(crate) resources: Value,
}

impl TaskRecord {
    /// Its current state.
    pub(crate) fn state(&self) -> &'static str {
        self.statuses.last().map_or("TASK_STAGING", |s| s.state)
    }

    /// Whether it has ended.
    pub(crate) fn completed(&self) -> bool {
        matches!(
            self.state(),
            "TASK_FINISHED" | "TASK_FAILED" | "TASK_KILLED"
        )
    }
}

/// What the sim keeps to steer one executing run.
#[derive(Debug)]
struct Control {
    events: Sender<Event>,
    group: Arc<Mutex<Group>>,
}

/// Where the sandboxes live, and the guard that cleans up after a crash.
#[derive(Debug)]
struct Root {
    dir: tempfile::TempDir,
    /// `dir`'s canonical path (what the files API compares against).
    path: PathBuf,
    groups: Arc<GroupFile>,
    guard: Option<Guard>,
}

/// How runs execute.
#[derive(Debug, Clone)]
struct Settings {
    runner_path: Option<PathBuf>,
    default_time_limit: Duration,
    shell: PathBuf,
}

/// Why the job agent could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// The runner directory is not usable.
    #[error("runner path {path}: {why}")]
    RunnerPath {
        /// The directory given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The sandboxes' directory could not be made.
    #[error("cannot make the job sandboxes' directory: {0}")]
    Sandboxes(#[from] std::io::Error),
}

/// The simulated agent's job tasks: what runs, what ran, and the means to
/// stop them. Without [`JobExecution::Execute`] it executes nothing.
#[derive(Debug, Default)]
pub(crate) struct JobAgent {
    settings: Option<Settings>,
    root: Option<Root>,
    framework_id: String,
    tasks: BTreeMap<String, TaskRecord>,
    /// Finished task ids, oldest first.
    completed: VecDeque<String>,
    running: BTreeMap<String, Control>,
    /// Held by every runner thread; all dropped once every runner ended.
    alive: Option<(Sender<()>, mpsc::Receiver<()>)>,
}

/// What is left to finish when the sim stops, outside the cluster lock.
#[derive(Debug)]
pub(crate) struct Remains {
    alive: Option<mpsc::Receiver<()>>,
    root: Option<Root>,
}

impl Remains {
    /// Waits at most `limit` for the runners to end, then removes the
    /// sandboxes and lets the guard go.
    pub(crate) fn finish(self, limit: Duration) {
        let deadline = Instant::now() + limit;
        if let Some(alive) = self.alive {
            while alive
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
            {}
        }
        if let Some(root) = self.root {
            let Root { dir, guard, .. } = root;
            let _ = dir.close();
            if let Some(guard) = guard {
                guard.finish(Duration::from_secs(5));
            }
        }
    }
}

impl JobAgent {
    /// The agent `jobs` asks for: with execution, its sandboxes' directory
    /// and crash guard are made now.
    pub(crate) fn new(jobs: &JobExecution) -> Result<JobAgent, JobsError> {
        let JobExecution::Execute {
            runner_path,
            default_time_limit,
        } = jobs
        else {
            return Ok(JobAgent::default());
        };
        if let Some(path) = runner_path {
            let why = if path.to_string_lossy().contains(':') {
                Some("a PATH entry cannot hold ':'".to_owned())
            } else if !path.is_absolute() {
                Some("it must be an absolute path".to_owned())
            } else if !path.is_dir() {
                Some("it is not a directory".to_owned())
            } else {
                None
            };
            if let Some(why) = why {
                return Err(JobsError::RunnerPath {
                    path: path.clone(),
                    why,
                });
            }
        }
        let dir = tempfile::Builder::new().prefix("dcos-sim-jobs").tempdir()?;
        let path = dir.path().canonicalize()?;
        let groups = Arc::new(GroupFile::new(path.join("process-groups")));
        let guard = Guard::start(&path.join("process-groups"), &path);
        Ok(JobAgent {
            settings: Some(Settings {
                runner_path: runner_path.clone(),
                default_time_limit: *default_time_limit,
                shell: PathBuf::from("/bin/sh"),
            }),
            root: Some(Root {
                dir,
                path,
                groups,
                guard,
            }),
            framework_id: String::new(),
            tasks: BTreeMap::new(),
            completed: VecDeque::new(),
            running: BTreeMap::new(),
            alive: Some(mpsc::channel()),
        })
    }

    /// Sets Metronome's framework id (known once the cluster id is drawn).
    pub(crate) fn set_framework_id(&mut self, id: String) {
        self.framework_id = id;
    }

    /// Metronome's framework id.
    pub(crate) fn framework_id(&self) -> &str {
        &self.framework_id
    }

    /// Whether runs execute.
    pub(crate) fn executes(&self) -> bool {
        self.settings.is_some()
    }

    /// How many runs execute now.
    pub(crate) fn executing(&self) -> usize {
        self.running.len()
    }

    /// The task records, running and kept finished ones, by id.
    pub(crate) fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.values()
    }

    /// One task record.
    pub(crate) fn task(&self, id: &str) -> Option<&TaskRecord> {
        self.tasks.get(id)
    }

    /// Starts executing a run: its sandbox made now, the rest on a thread
    /// of its own. `Err`: the run cannot execute and fails at once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn launch(
        &mut self,
        job_id: &str,
        run_id: &str,
        task_id: &str,
        container_id: &str,
        prepared: Prepared,
        sim: Weak<Sim>,
        now_ms: u64,
    ) -> Result<(), String> {
        let (Some(settings), Some(root), Some((alive, _))) =
            (&self.settings, &self.root, &self.alive)
        else {
            return Err("dcos-sim: this cluster does not execute job runs".into());
        };
        if self.running.len() >= MAX_EXECUTING {
            return Err(format!(
                "dcos-sim: at most {MAX_EXECUTING} runs execute at once; this one could not start"
            ));
        }
        let sandbox = root
            .path
            .join("slaves")
            .join(AGENT_ID)
            .join("frameworks")
            .join(&self.framework_id)
            .join("executors")
            .join(task_id)
            .join("runs")
            .join(container_id);
        std::fs::create_dir_all(&sandbox)
            .map_err(|e| format!("dcos-sim: cannot make the run's sandbox: {e}"))?;
        let env = self.base_env(settings, &sandbox, task_id, &prepared);
        let (events, receiver) = mpsc::channel();
        let group = Arc::new(Mutex::new(Group::default()));
        let runner = Runner {
            task_id: task_id.to_owned(),
            sandbox: sandbox.clone(),
            time_limit: prepared.time_limit.unwrap_or(settings.default_time_limit),
            env,
            shell: settings.shell.clone(),
            events: receiver,
            notify: events.clone(),
            group: group.clone(),
            guard: root.groups.clone(),
            sim,
            prepared,
        };
        let resources = runner.prepared.resources.clone();
        let alive = alive.clone();
        std::thread::Builder::new()
            .name(format!("dcos-sim-run-{run_id}"))
            .spawn(move || {
                runner.run();
                drop(alive);
            })
            .map_err(|e| format!("dcos-sim: cannot start the run's thread: {e}"))?;
        self.running
            .insert(task_id.to_owned(), Control { events, group });
        self.tasks.insert(
            task_id.to_owned(),
            TaskRecord {
                id: task_id.to_owned(),
                job_id: job_id.to_owned(),
                run_id: run_id.to_owned(),
                container_id: container_id.to_owned(),
                sandbox,
                statuses: vec![TaskStatus {
                    state: "TASK_STAGING",
                    at_ms: now_ms,
                    message: None,
                }],
                resources,
            },
        );
        Ok(())
    }

    /// The environment before the job's own: `PATH`, `HOME`, `LANG` and
    /// Mesos' variables; then the job's.
    fn base_env(
        &self,
        settings: &Settings,
        sandbox: &Path,
        task_id: &str,
        prepared: &Prepared,
    ) -> Vec<(String, String)> {
        let path = match &settings.runner_path {
            Some(dir) => format!("{}:{DEFAULT_PATH}", dir.display()),
            None => DEFAULT_PATH.to_owned(),
        };
        let sandbox = sandbox.display().to_string();
        let mut env: Vec<(String, String)> = [
            ("PATH", path),
            ("HOME", sandbox.clone()),
            ("LANG", "C.UTF-8".to_owned()),
            ("MESOS_SANDBOX", sandbox.clone()),
            ("MESOS_DIRECTORY", sandbox),
            ("MESOS_TASK_ID", task_id.to_owned()),
            ("MESOS_EXECUTOR_ID", task_id.to_owned()),
            ("MESOS_FRAMEWORK_ID", self.framework_id.clone()),
            ("MESOS_SLAVE_ID", AGENT_ID.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // The job's variables win over the base, as on Mesos.
        env.retain(|(k, _)| !prepared.env.iter().any(|(name, _)| name == k));
        env.extend(prepared.env.iter().cloned());
        env
    }

    /// Asks a running task to stop (SIGTERM, then SIGKILL after its
    /// grace); `false` when it is not running.
    pub(crate) fn stop(&self, task_id: &str) -> bool {
        self.running
            .get(task_id)
            .is_some_and(|control| control.events.send(Event::Stop).is_ok())
    }

    /// Records a runner's report at `now_ms`; the record, if the task is
    /// known.
    pub(crate) fn record(
        &mut self,
        task_id: &str,
        report: &Report,
        now_ms: u64,
    ) -> Option<&TaskRecord> {
        let (state, message) = match report {
            Report::Started => ("TASK_RUNNING", None),
            Report::Finished(outcome) => (outcome.task_state(), Some(outcome.message.clone())),
        };
        let finished = matches!(report, Report::Finished(_));
        let record = self.tasks.get_mut(task_id)?;
        record.statuses.push(TaskStatus {
            state,
            at_ms: now_ms,
            message,
        });
        if finished {
            self.running.remove(task_id);
            self.completed.push_back(task_id.to_owned());
            while self.completed.len() > COMPLETED_KEPT {
                if let Some(old) = self.completed.pop_front()
                    && let Some(gone) = self.tasks.remove(&old)
                {
                    let _ = std::fs::remove_dir_all(&gone.sandbox);
                }
            }
        }
        self.tasks.get(task_id)
    }

    /// Kills every running group at once and tells the runners; what is
    /// left to finish outside the cluster lock.
    pub(crate) fn shutdown(&mut self) -> Remains {
        for control in self.running.values() {
            process::lock(&control.group).signal(Signal::KILL);
            let _ = control.events.send(Event::Shutdown);
        }
        Remains {
            alive: self.alive.take().map(|(_, receiver)| receiver),
            root: self.root.take(),
        }
    }
}

impl Drop for JobAgent {
    fn drop(&mut self) {
        for control in self.running.values() {
            process::lock(&control.group).signal(Signal::KILL);
        }
    }
}
