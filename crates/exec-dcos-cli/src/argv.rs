//! The `dcos` runs the executor makes, and the argument vector of each.

use canary_core::retry::Replay;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;

/// One run of `dcos`: what it is for and what it needs. [`argv`] turns it
/// into arguments; nothing else decides what is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation<'a> {
    /// `dcos marathon app list --json`: every app (`GET /v2/apps`).
    ListApps,
    /// `dcos job list --json`: every job with its active runs and history
    /// summary.
    ListJobs,
    /// `dcos job history ID --json [--failures]`: a job's successful (or
    /// failed) finished runs.
    History {
        /// The job id.
        job_id: &'a str,
        /// The failed runs instead of the successful ones.
        failures: bool,
    },
    /// `dcos job add FILE`: creates the job in the file.
    AddJob {
        /// The job spec's file.
        file: &'a Path,
    },
    /// `dcos job update FILE`: replaces the job in the file.
    UpdateJob {
        /// The job spec's file.
        file: &'a Path,
    },
    /// `dcos job kill ID RUN`: stops one run.
    KillRun {
        /// The job id.
        job_id: &'a str,
        /// The run id.
        run_id: &'a str,
    },
    /// `dcos job run ID --json`: starts a run and prints it.
    StartRun {
        /// The job id.
        job_id: &'a str,
    },
    /// `dcos job show runs ID --json`: a job's active runs.
    ListRuns {
        /// The job id.
        job_id: &'a str,
    },
    /// `dcos job show runs ID --run-id RUN --json`: one active run.
    ShowRun {
        /// The job id.
        job_id: &'a str,
        /// The run id.
        run_id: &'a str,
    },
    /// `dcos marathon app show ID`: one app with its tasks (`GET /v2/apps/ID`).
    ShowApp {
        /// The app id.
        app_id: &'a str,
    },
    /// `dcos marathon app add FILE`: creates the app in the file.
    AddApp {
        /// The app definition's file.
        file: &'a Path,
    },
    /// `dcos marathon app update ID instances=N`: scales the app (a partial
    /// `PUT` of `{"instances": N}`).
    ScaleApp {
        /// The app id.
        app_id: &'a str,
        /// The new count.
        instances: u32,
    },
    /// `dcos marathon task kill --scale --json TASK...`:
    /// `POST /v2/tasks/delete?scale=True`.
    KillTasks {
        /// The tasks.
        task_ids: &'a [String],
    },
    /// `dcos marathon app remove ID`: deletes the app.
    RemoveApp {
        /// The app id.
        app_id: &'a str,
    },
}

impl Operation<'_> {
    /// Whether the operation may be run again once an earlier run may have
    /// reached the cluster: every one may, except starting a run (that
    /// could start a second run). A create or a stop repeated so is
    /// reconciled by the executor (its own job, a run already gone).
    pub(crate) fn replay(&self) -> Replay {
        match self {
            Operation::StartRun { .. } | Operation::KillTasks { .. } => Replay::OnlyIfNotSent,
            _ => Replay::Safe,
        }
    }

    /// Whether a failure "deployment already in progress" means a Marathon
    /// deployment lock (`true`) rather than Metronome's duplicate job.
    pub(crate) fn is_marathon(&self) -> bool {
        matches!(
            self,
            Operation::ListApps
                | Operation::ShowApp { .. }
                | Operation::AddApp { .. }
                | Operation::ScaleApp { .. }
                | Operation::KillTasks { .. }
                | Operation::RemoveApp { .. }
        )
    }
}

/// The arguments (without the program) of one `dcos` run. Ids are passed
/// as they are; the executor refuses ids the CLI would read as options.
pub(crate) fn argv(op: &Operation<'_>) -> Vec<OsString> {
    let words = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
    match *op {
        Operation::ListApps => words(&["marathon", "app", "list", "--json"]),
        Operation::ListJobs => words(&["job", "list", "--json"]),
        Operation::History { job_id, failures } => {
            let mut args = words(&["job", "history", job_id, "--json"]);
            if failures {
                args.push("--failures".into());
            }
            args
        }
        Operation::AddJob { file } => {
            let mut args = words(&["job", "add"]);
            args.push(file.as_os_str().to_owned());
            args
        }
        Operation::UpdateJob { file } => {
            let mut args = words(&["job", "update"]);
            args.push(file.as_os_str().to_owned());
            args
        }
        Operation::KillRun { job_id, run_id } => words(&["job", "kill", job_id, run_id]),
        Operation::StartRun { job_id } => words(&["job", "run", job_id, "--json"]),
        Operation::ListRuns { job_id } => words(&["job", "show", "runs", job_id, "--json"]),
        Operation::ShowRun { job_id, run_id } => {
            words(&["job", "show", "runs", job_id, "--run-id", run_id, "--json"])
        }
        Operation::ShowApp { app_id } => words(&["marathon", "app", "show", app_id]),
        Operation::AddApp { file } => {
            let mut args = words(&["marathon", "app", "add"]);
            args.push(file.as_os_str().to_owned());
            args
        }
        Operation::ScaleApp { app_id, instances } => {
            let mut args = words(&["marathon", "app", "update", app_id]);
            args.push(format!("instances={instances}").into());
            args
        }
        Operation::KillTasks { task_ids } => {
            let mut args = words(&["marathon", "task", "kill", "--scale", "--json"]);
            args.extend(task_ids.iter().map(OsString::from));
            args
        }
        Operation::RemoveApp { app_id } => words(&["marathon", "app", "remove", app_id]),
    }
}

/// `dcos ARGS...` as text, for messages (argv holds no secret).
pub(crate) fn command_line(op: &Operation<'_>) -> String {
    struct Line<'a, 'b>(&'a Operation<'b>);
    impl fmt::Display for Line<'_, '_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("dcos")?;
            for arg in argv(self.0) {
                write!(f, " {}", arg.to_string_lossy())?;
            }
            Ok(())
        }
    }
    Line(op).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation's argv, one per line: the snapshot is the reviewed
    /// contract with the CLI.
    #[test]
    fn argv_per_operation() {
        let file = Path::new("/tmp/canary-dcos-XXXX/job.json");
        let ops = [
            Operation::ListApps,
            Operation::ListJobs,
            Operation::History {
                job_id: "deploy-web-canary",
                failures: false,
            },
            Operation::History {
                job_id: "deploy-web-canary",
                failures: true,
            },
            Operation::AddJob { file },
            Operation::UpdateJob { file },
            Operation::KillRun {
                job_id: "deploy-web-canary",
                run_id: "20261127123255TQ54F",
            },
            Operation::StartRun {
                job_id: "deploy-web-canary",
            },
            Operation::ListRuns {
                job_id: "deploy-web-canary",
            },
            Operation::ShowRun {
                job_id: "deploy-web-canary",
                run_id: "20261127123255TQ54F",
            },
            Operation::ShowApp {
                app_id: "/web-green",
            },
            Operation::AddApp { file },
            Operation::ScaleApp {
                app_id: "/web-green",
                instances: 3,
            },
            Operation::KillTasks {
                task_ids: &[
                    "web-blue.instance-1._app.1".to_owned(),
                    "web-blue.instance-2._app.1".to_owned(),
                ],
            },
            Operation::RemoveApp {
                app_id: "/web-blue",
            },
        ];
        let table: String = ops
            .iter()
            .map(|op| format!("{:?}\n    {:?}\n", op, argv(op)))
            .collect();
        insta::assert_snapshot!(table);
    }

    #[test]
    fn command_lines_read_as_typed() {
        assert_eq!(
            command_line(&Operation::StartRun { job_id: "j" }),
            "dcos job run j --json"
        );
        assert!(Operation::ListApps.is_marathon());
        assert_eq!(
            Operation::StartRun { job_id: "j" }.replay(),
            Replay::OnlyIfNotSent
        );
        assert_eq!(Operation::ListJobs.replay(), Replay::Safe);
        assert!(!Operation::ListJobs.is_marathon());
    }
}
