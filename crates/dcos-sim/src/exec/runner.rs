//! One executing run, on its own thread: artifacts fetched into the
//! sandbox, the shell started, its output kept, the time limit and stop
//! requests enforced on its process group, and what happened reported to
//! the cluster (which records it at the cluster time of the report).

use super::fetch;
use super::prepare::Prepared;
use super::process::{self, Group, OUTPUT_CAP};
use super::{Outcome, Report, TaskEnd};
use crate::state::Sim;
use rustix::process::Signal;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long a run's output readers may go on after its process group is
/// gone: only a process that left the group (`setsid`) keeps a pipe open.
const READER_GRACE: Duration = Duration::from_secs(2);

/// What reaches a runner while it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The shell exited (it is not reaped yet).
    Exited,
    /// `actions/stop` (or a job deleted with its runs): SIGTERM, then
    /// SIGKILL after the grace.
    Stop,
    /// The sim stops: SIGKILL at once.
    Shutdown,
}

/// Why a run was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Stop,
    TimeLimit,
    Shutdown,
}

/// Everything a runner needs, handed over when the run is launched.
pub(crate) struct Runner {
    /// The run's Mesos task id.
    pub task_id: String,
    /// Its sandbox (the working directory).
    pub sandbox: PathBuf,
    /// What it executes.
    pub prepared: Prepared,
    /// The whole environment: the base, then the job's.
    pub env: Vec<(String, String)>,
    /// Its time limit, from the launch on.
    pub time_limit: Duration,
    /// The shell (`/bin/sh`).
    pub shell: PathBuf,
    /// Stop and shutdown requests, and the exit notice.
    pub events: Receiver<Event>,
    /// A sender for the exit notice.
    pub notify: Sender<Event>,
    /// The process group, shared with the sim (which kills it on shutdown).
    pub group: Arc<Mutex<Group>>,
    /// The groups the crash guard kills if the sim dies.
    pub guard: Arc<super::guard::GroupFile>,
    /// The cluster to report to.
    pub sim: Weak<Sim>,
}

/// Reports to the cluster, if it still exists.
fn report(sim: &Weak<Sim>, task_id: &str, report: Report) {
    if let Some(sim) = sim.upgrade() {
        sim.cluster().job_report(task_id, report);
    }
}

impl Runner {
    /// Runs it to the end and reports the outcome (a run whose supervisor
    /// failed still ends, failed, and its group is killed).
    pub(crate) fn run(self) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.execute()))
            .unwrap_or_else(|_| {
                process::lock(&self.group).signal(Signal::KILL);
                Outcome::failed("dcos-sim: the run's supervisor failed".into())
            });
        report(&self.sim, &self.task_id, Report::Finished(outcome));
    }

    /// A stop or shutdown that arrived before the process started.
    fn pending_stop(&self) -> Option<Cause> {
        self.events.try_iter().find_map(|event| match event {
            Event::Stop => Some(Cause::Stop),
            Event::Shutdown => Some(Cause::Shutdown),
            Event::Exited => None,
        })
    }

    fn execute(&self) -> Outcome {
        let launched = Instant::now();
        let deadline = launched + self.time_limit;
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.sandbox.join(name))
        };
        let (stdout, mut stderr) = match (open("stdout"), open("stderr")) {
            (Ok(out), Ok(err)) => (out, err),
            (Err(e), _) | (_, Err(e)) => {
                return Outcome::failed(format!("cannot create the sandbox's stdout/stderr: {e}"));
            }
        };
        for artifact in &self.prepared.artifacts {
            if let Some(cause) = self.pending_stop() {
                return self.killed(cause, None);
            }
            if Instant::now() >= deadline {
                return self.killed(Cause::TimeLimit, None);
            }
            match fetch::fetch(artifact, &self.sandbox, deadline) {
                Ok(note) => {
                    let _ = writeln!(stderr, "{note}");
                }
                Err(reason) => {
                    let _ = writeln!(stderr, "{reason}");
                    return Outcome::failed(reason);
                }
            }
        }
        if let Some(cause) = self.pending_stop() {
            return self.killed(cause, None);
        }
        let mut child =
            match process::spawn_shell(&self.shell, &self.prepared.cmd, &self.env, &self.sandbox) {
                Ok(child) => child,
                Err(e) => {
                    let reason = format!("Failed to launch {} -c: {e}", self.shell.display());
                    let _ = writeln!(stderr, "{reason}");
                    return Outcome::failed(reason);
                }
            };
        let pid = child.id();
        process::lock(&self.group).started(pid);
        self.guard.add(pid);
        report(&self.sim, &self.task_id, Report::Started);
        let (readers_done, readers) = std::sync::mpsc::channel::<()>();
        for (pipe, file) in [
            (
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
                stdout,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
                stderr,
            ),
        ] {
            let done = readers_done.clone();
            if let Some(pipe) = pipe {
                std::thread::spawn(move || {
                    process::copy_capped(pipe, file, OUTPUT_CAP);
                    drop(done);
                });
            }
        }
        drop(readers_done);
        let notify = self.notify.clone();
        std::thread::spawn(move || {
            process::wait_exited(pid);
            let _ = notify.send(Event::Exited);
        });
        let cause = self.supervise(deadline);
        let status = process::lock(&self.group).reap(&mut child);
        self.guard.remove(pid);
        // Both readers end once every writer is gone; a process that
        // escaped the group is not waited for long.
        let until = Instant::now() + READER_GRACE;
        while readers
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .is_ok()
        {}
        match status {
            Ok(status) => match cause {
                Some(cause) => self.killed(cause, Some(status)),
                None => Outcome::exited(status),
            },
            Err(e) => Outcome::failed(format!("waiting for the command failed: {e}")),
        }
    }

    /// Waits for the shell to exit, enforcing the time limit and stop
    /// requests on its group; what killed it, if anything.
    fn supervise(&self, deadline: Instant) -> Option<Cause> {
        let mut cause = None;
        let mut kill_at: Option<Instant> = None;
        let group = |signal| process::lock(&self.group).signal(signal);
        loop {
            let next = match (cause, kill_at) {
                (_, Some(at)) => at,
                (None, None) => deadline,
                // SIGKILL sent: only the exit notice is awaited.
                (Some(_), None) => Instant::now() + Duration::from_secs(3600),
            };
            match self
                .events
                .recv_timeout(next.saturating_duration_since(Instant::now()))
            {
                Ok(Event::Exited) | Err(RecvTimeoutError::Disconnected) => return cause,
                Ok(Event::Stop) => {
                    if cause.is_none() {
                        cause = Some(Cause::Stop);
                        group(Signal::TERM);
                        kill_at = Some(Instant::now() + self.prepared.kill_grace);
                    }
                }
                Ok(Event::Shutdown) => {
                    cause.get_or_insert(Cause::Shutdown);
                    group(Signal::KILL);
                    kill_at = None;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if kill_at.is_some_and(|at| Instant::now() >= at) {
                        group(Signal::KILL);
                        kill_at = None;
                    } else if cause.is_none() && Instant::now() >= deadline {
                        cause = Some(Cause::TimeLimit);
                        group(Signal::TERM);
                        kill_at = Some(Instant::now() + self.prepared.kill_grace);
                    }
                }
            }
        }
    }

    /// The outcome of a run killed for `cause` (after its process ended
    /// with `status`, or before it started).
    fn killed(&self, cause: Cause, status: Option<std::process::ExitStatus>) -> Outcome {
        let why = match cause {
            Cause::Stop => "Task killed: the run was stopped".to_owned(),
            Cause::TimeLimit => format!(
                "Task killed: the run went past its time limit of {} s ({})",
                self.time_limit.as_secs_f64(),
                if self.prepared.time_limit.is_some() {
                    "run.restart.activeDeadlineSeconds"
                } else {
                    "the sim's default time limit"
                }
            ),
            Cause::Shutdown => "Task killed: the simulated cluster stopped".to_owned(),
        };
        Outcome {
            end: TaskEnd::Killed,
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            message: why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::TaskEnd;
    use crate::exec::guard::GroupFile;

    fn runner(dir: &std::path::Path, shell: &str, cmd: &str) -> (Runner, Sender<Event>) {
        let (notify, events) = std::sync::mpsc::channel();
        let runner = Runner {
            task_id: "t".into(),
            sandbox: dir.to_owned(),
            prepared: Prepared {
                cmd: cmd.into(),
                env: Vec::new(),
                artifacts: Vec::new(),
                time_limit: None,
                kill_grace: Duration::from_secs(1),
                resources: serde_json::Value::Null,
            },
            env: Vec::new(),
            time_limit: Duration::from_secs(60),
            shell: shell.into(),
            events,
            notify: notify.clone(),
            group: Arc::default(),
            guard: Arc::new(GroupFile::new(dir.join("groups"))),
            sim: Weak::new(),
        };
        (runner, notify)
    }

    #[test]
    fn a_shell_that_cannot_start_fails_the_run_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _) = runner(dir.path(), "/nonexistent/dcos-sim/sh", "true");
        let outcome = runner.execute();
        assert_eq!(outcome.end, TaskEnd::Failed);
        assert!(
            outcome
                .message
                .starts_with("Failed to launch /nonexistent/dcos-sim/sh -c: "),
            "{}",
            outcome.message
        );
        let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
        assert!(stderr.contains(&outcome.message), "{stderr}");
    }

    #[test]
    fn a_stop_before_the_start_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let (runner, events) = runner(
            dir.path(),
            "/bin/sh",
            &format!("touch {}", marker.display()),
        );
        events.send(Event::Stop).unwrap();
        let outcome = runner.execute();
        assert_eq!(outcome.end, TaskEnd::Killed);
        assert_eq!(outcome.message, "Task killed: the run was stopped");
        assert!(!marker.exists());
    }
}
