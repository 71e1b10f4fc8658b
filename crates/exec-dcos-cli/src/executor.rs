//! [`DcosCliExecutor`]: canary-core's [`Executor`] over `dcos` runs.

use crate::argv::{Operation, command_line};
use crate::config::CliConfig;
use crate::errors::{Transient, classify, transient};
use crate::process::{self, Output, RunError};
use canary_core::apply::strip_metronome_defaults;
use canary_core::executor::{
    ExecError, Executor, JobHistory, LiveApp, LiveJob, RunInfo, job_what, run_what, spec_job_id,
};
use canary_core::retry::{Replay, attempts_note};
use serde_json::{Value, json};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn unexpected(command: &str, detail: &str) -> ExecError {
    ExecError::Other {
        message: format!("unexpected output from `{command}`: {detail}"),
    }
}

/// Refuses an id the CLI would read as an option or could not pass.
fn check_id(kind: &str, id: &str) -> Result<(), ExecError> {
    if id.is_empty() || id.starts_with('-') || id.chars().any(char::is_whitespace) {
        return Err(ExecError::Invalid {
            what: format!("{kind} id {id:?}"),
            message: "not a Metronome id (empty, starting with '-', or with spaces)".to_owned(),
        });
    }
    Ok(())
}

/// The `id` of a job spec, and that it has the `run` object the CLI needs
/// (`dcos job add` crashes without one).
fn spec_id(spec: &Value) -> Result<&str, ExecError> {
    let id = spec_job_id(spec)?;
    check_id("job", id)?;
    if !spec.get("run").is_some_and(Value::is_object) {
        return Err(ExecError::Invalid {
            what: job_what(id),
            message: "it has no `run` object".to_owned(),
        });
    }
    Ok(id)
}

/// The backoff jitter: a number in `[0, 1)` from the standard library's
/// randomly keyed hasher (a fresh key each time).
fn jitter_unit() -> f64 {
    (RandomState::new().hash_one(0u8) >> 11) as f64 / (1u64 << 53) as f64
}

/// What an error says of a run that was not repeated.
fn not_repeated(what_happened: &str) -> String {
    format!(
        "{what_happened}; it may have reached the cluster, so it was not repeated: check before trying again"
    )
}

/// One `dcos` run once retrying is over: its output (a success or a
/// failure that is not transient), and whether an earlier attempt may have
/// reached the cluster.
struct Ran {
    output: Output,
    after_ambiguous: bool,
}

impl Ran {
    /// Whether it failed, counting `dcos job update`'s "Error updating
    /// job" (printed with exit 0).
    fn failed(output: &Output) -> bool {
        !output.success() || output.stdout.contains("Error updating job")
    }
}

/// canary-core's [`Executor`] over the installed `dcos` CLI; see the crate
/// documentation for the commands each operation runs.
#[derive(Debug, Clone)]
pub struct DcosCliExecutor {
    config: CliConfig,
}

impl DcosCliExecutor {
    /// An executor that runs `dcos` as `config` says. Nothing is run yet.
    pub fn new(config: CliConfig) -> Self {
        DcosCliExecutor { config }
    }

    /// Its configuration.
    pub fn config(&self) -> &CliConfig {
        &self.config
    }

    /// Runs `op` (about `what`), retrying transient failures per the
    /// configured [`RetryPolicy`](canary_core::retry::RetryPolicy) as the
    /// HTTP executor does: the cluster unreachable, 502/503/504, Marathon's
    /// deployment lock, a `dcos` killed at its time limit. A run that may
    /// have reached the cluster (502/504, a dropped connection, a timeout)
    /// is repeated only when [`Operation::replay`] allows it. What is left
    /// after the budget is [`ExecError::Unreachable`] (or
    /// [`ExecError::Locked`]) saying how many attempts were made; any other
    /// finished run is returned for the caller to read.
    fn run(&self, op: &Operation<'_>, what: &str) -> Result<Ran, ExecError> {
        let policy = self.config.retry;
        let replay = op.replay();
        let command = command_line(op);
        let (mut busy, mut slept) = (Duration::ZERO, Duration::ZERO);
        let mut after_ambiguous = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = process::run(&self.config, op);
            busy += started.elapsed();
            let (failure, ambiguous) = match result {
                Ok(output) => match Ran::failed(&output)
                    .then(|| transient(op, &output))
                    .flatten()
                {
                    None => {
                        return Ok(Ran {
                            output,
                            after_ambiguous,
                        });
                    }
                    Some(Transient::Ambiguous(said)) => (Transient::Ambiguous(said), true),
                    Some(other) => (other, false),
                },
                Err(e @ RunError::TimedOut { .. }) => (Transient::Ambiguous(e.to_string()), true),
                Err(other) => {
                    return Err(ExecError::Other {
                        message: other.to_string(),
                    });
                }
            };
            let locked = matches!(failure, Transient::Locked(_));
            let (last, retry) = match failure {
                Transient::Ambiguous(said) if replay == Replay::OnlyIfNotSent => {
                    (not_repeated(&said), false)
                }
                Transient::NotSent(said) | Transient::Ambiguous(said) | Transient::Locked(said) => {
                    after_ambiguous |= ambiguous;
                    (said, true)
                }
            };
            // Time spent: the runs' real time plus the waits (which a test's
            // sleeper does not really spend).
            let spent = busy + slept;
            let wait = if retry {
                policy.next_wait(attempt, spent, jitter_unit())
            } else {
                None
            };
            let Some(delay) = wait else {
                let message = format!("`{command}`: {last}{}", attempts_note(attempt, spent));
                return Err(if locked {
                    ExecError::Locked {
                        what: what.to_owned(),
                        message,
                    }
                } else {
                    ExecError::Unreachable {
                        // As classify names it: the URL, else the command.
                        target: crate::errors::named_url(&last).map_or(command, str::to_owned),
                        message,
                    }
                });
            };
            self.config.sleeper.sleep(delay);
            slept += delay;
        }
    }

    /// Runs `op` and returns its stdout; a failure mapped by [`classify`].
    fn expect_success(&self, op: &Operation<'_>, what: &str) -> Result<String, ExecError> {
        let Ran { output, .. } = self.run(op, what)?;
        if output.success() {
            Ok(output.stdout)
        } else {
            Err(classify(op, what, &output))
        }
    }

    /// Runs `op` and parses its stdout as JSON.
    fn json(&self, op: &Operation<'_>, what: &str) -> Result<Value, ExecError> {
        let stdout = self.expect_success(op, what)?;
        serde_json::from_str(&stdout).map_err(|e| {
            unexpected(
                &command_line(op),
                &format!("not JSON ({e}): {}", crate::scrub(stdout.trim())),
            )
        })
    }

    /// Runs `dcos job add|update FILE` with `spec` in a private 0600 file.
    /// A create repeated after an attempt that may have reached the cluster
    /// and then refused as a duplicate succeeds when the job there equals
    /// `spec` (Metronome's defaults set aside), as with the HTTP executor.
    fn with_spec_file(
        &mut self,
        spec: &Value,
        id: &str,
        op: impl Fn(&Path) -> Operation<'_>,
    ) -> Result<String, ExecError> {
        let what = &job_what(id);
        let io = |e: std::io::Error| ExecError::Other {
            message: format!("cannot write the job file for {what}: {e}"),
        };
        let mut builder = tempfile::Builder::new();
        builder
            .prefix("canary-dcos-")
            .permissions(std::fs::Permissions::from_mode(0o700));
        // A private directory (0700), then the file in it (0600).
        let dir = match &self.config.temp_dir {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .map_err(io)?;
        let mut file = tempfile::Builder::new()
            .prefix("job-")
            .suffix(".json")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir.path())
            .map_err(io)?;
        file.write_all(spec.to_string().as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        let op = op(file.path());
        let Ran {
            output,
            after_ambiguous,
        } = self.run(&op, what)?;
        if !output.success() {
            let error = classify(&op, what, &output);
            // A create repeated after an attempt that may have reached the
            // cluster, meeting a job equal to its own: that attempt made it.
            let repeated_create = matches!(op, Operation::AddJob { .. })
                && after_ambiguous
                && matches!(error, ExecError::Conflict { .. });
            if repeated_create
                && self.get_job(id)?.is_some_and(|job| {
                    strip_metronome_defaults(&job.spec) == strip_metronome_defaults(spec)
                })
            {
                return Ok(output.stdout);
            }
            return Err(error);
        }
        let stdout = output.stdout;
        // `dcos job update` prints this and exits 0 for some HTTP errors
        // (a refused token among them), without saying which.
        if stdout.contains("Error updating job") {
            return Err(self.diagnose(
                id,
                ExecError::Other {
                    message: format!("`{}`: {}", command_line(&op), crate::scrub(stdout.trim())),
                },
            ));
        }
        Ok(stdout)
    }

    /// After a failure the CLI reported without its cause (it swallows the
    /// HTTP status of `job run`, `job update` and `job kill`): the error a
    /// read-only `dcos job show runs ID --json` gets (auth, unreachable, a
    /// missing job), else `fallback`.
    fn diagnose(&self, job_id: &str, fallback: ExecError) -> ExecError {
        match self.json(&Operation::ListRuns { job_id }, &job_what(job_id)) {
            Ok(_) => fallback,
            Err(cause) => cause,
        }
    }

    /// A job's finished runs, successful or failed (`dcos job history`).
    fn finished_runs(&self, job_id: &str, failures: bool) -> Result<Value, ExecError> {
        let op = Operation::History { job_id, failures };
        let runs = self.json(&op, &job_what(job_id))?;
        if !runs.is_array() {
            return Err(unexpected(
                &command_line(&op),
                &format!("not an array: {runs}"),
            ));
        }
        Ok(runs)
    }
}

impl Executor for DcosCliExecutor {
    /// `dcos marathon app list --json`.
    fn list_apps(&mut self) -> Result<Vec<LiveApp>, ExecError> {
        let apps = self.json(&Operation::ListApps, "Marathon apps")?;
        LiveApp::list_from_marathon(&apps)
    }

    /// `dcos job list --json`, then `dcos job history ID --json` and
    /// `... --failures` when the history summary counts such runs.
    fn get_job(&mut self, id: &str) -> Result<Option<LiveJob>, ExecError> {
        check_id("job", id)?;
        let what = job_what(id);
        let list = self.json(&Operation::ListJobs, "jobs")?;
        let Some(jobs) = list.as_array() else {
            return Err(unexpected(
                &command_line(&Operation::ListJobs),
                "not an array",
            ));
        };
        let Some(mut job) = jobs
            .iter()
            .find(|j| j.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
        else {
            return Ok(None);
        };
        let summary = job.get("historySummary").cloned().unwrap_or(json!({}));
        let count = |key: &str| summary.get(key).and_then(Value::as_u64).unwrap_or(0);
        let (successes, failures) = (count("successCount"), count("failureCount"));
        let mut history = json!({"successCount": successes, "failureCount": failures});
        for (key, wanted, failed) in [
            ("successfulFinishedRuns", successes, false),
            ("failedFinishedRuns", failures, true),
        ] {
            if wanted > 0 {
                match self.finished_runs(id, failed) {
                    Ok(runs) => history[key] = runs,
                    // Removed since it was listed.
                    Err(ExecError::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        }
        job["history"] = history;
        LiveJob::from_metronome(job, id, &what).map(Some)
    }

    /// `dcos job add FILE`. The CLI adds `run.disk: 0` when it is missing
    /// (Metronome's default) and posts schedules separately.
    fn create_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        let id = spec_id(spec)?.to_owned();
        self.with_spec_file(spec, &id, |file| Operation::AddJob { file })
            .map(drop)
    }

    /// `dcos job update FILE` (the CLI leaves schedules alone).
    fn replace_job(&mut self, spec: &Value) -> Result<(), ExecError> {
        let id = spec_id(spec)?.to_owned();
        self.with_spec_file(spec, &id, |file| Operation::UpdateJob { file })
            .map(drop)
    }

    /// `dcos job kill ID RUN`. Its catch-all failure ("Unable stop run")
    /// is told apart by `dcos job show runs ID --run-id RUN --json`; a run
    /// not found after an attempt that may have stopped it counts as
    /// stopped.
    fn stop_run(&mut self, job_id: &str, run_id: &str) -> Result<(), ExecError> {
        check_id("job", job_id)?;
        check_id("run", run_id)?;
        let what = run_what(job_id, run_id);
        let op = Operation::KillRun { job_id, run_id };
        let Ran {
            output,
            after_ambiguous,
        } = self.run(&op, &what)?;
        if output.success() {
            return Ok(());
        }
        let error = classify(&op, &what, &output);
        let missing = if output.stderr.contains("Unable stop run") {
            match self.json(&Operation::ShowRun { job_id, run_id }, &what) {
                // The run is there and still could not be stopped.
                Ok(_) => return Err(error),
                Err(ExecError::NotFound { .. }) => ExecError::NotFound { what },
                Err(other) => return Err(other),
            }
        } else if matches!(error, ExecError::NotFound { .. }) {
            error
        } else {
            return Err(error);
        };
        // Repeated after an attempt that may have stopped it: that one did.
        if after_ambiguous {
            return Ok(());
        }
        Err(missing)
    }

    /// `dcos job run ID --json`. Repeated only when the cluster certainly
    /// did not get it (unreachable, 503): a second run otherwise.
    fn start_run(&mut self, job_id: &str) -> Result<RunInfo, ExecError> {
        check_id("job", job_id)?;
        let what = job_what(job_id);
        let op = Operation::StartRun { job_id };
        let Ran { output, .. } = self.run(&op, &what)?;
        if !output.success() {
            let error = classify(&op, &what, &output);
            // "Error running job" (then a crash): the cause is not said.
            return Err(if output.stdout.contains("Error running job") {
                self.diagnose(job_id, error)
            } else {
                error
            });
        }
        let run = serde_json::from_str(&output.stdout).map_err(|e| {
            unexpected(
                &command_line(&op),
                &format!("not JSON ({e}): {}", crate::scrub(output.stdout.trim())),
            )
        })?;
        RunInfo::from_metronome(&run, job_id, &what)
    }

    /// `dcos job show runs ID --run-id RUN --json`; once the run is not
    /// active any more, `dcos job history ID --json [--failures]`.
    fn run_status(&mut self, job_id: &str, run_id: &str) -> Result<RunInfo, ExecError> {
        check_id("job", job_id)?;
        check_id("run", run_id)?;
        let what = run_what(job_id, run_id);
        match self.json(&Operation::ShowRun { job_id, run_id }, &what) {
            Ok(run) => return RunInfo::from_metronome(&run, job_id, &what),
            Err(ExecError::NotFound { what: missing }) if missing == what => {}
            Err(e) => return Err(e),
        }
        for failures in [false, true] {
            let runs = self.finished_runs(job_id, failures)?;
            let key = if failures {
                "failedFinishedRuns"
            } else {
                "successfulFinishedRuns"
            };
            if let Some(run) = JobHistory::find_run(&json!({ key: runs }), job_id, run_id) {
                return Ok(run);
            }
        }
        Err(ExecError::NotFound { what })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_the_cli_would_misread_are_refused() {
        assert!(check_id("job", "deploy-web-canary").is_ok());
        for bad in ["", "-h", "--all", "a b"] {
            assert!(
                matches!(check_id("job", bad), Err(ExecError::Invalid { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            spec_id(&json!({"run": {}})),
            Err(ExecError::Invalid { .. })
        ));
        assert!(matches!(
            spec_id(&json!({"id": "j"})),
            Err(ExecError::Invalid { .. })
        ));
        assert_eq!(spec_id(&json!({"id": "j", "run": {}})).unwrap(), "j");
    }
}
