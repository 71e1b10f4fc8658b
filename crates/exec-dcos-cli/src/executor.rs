//! [`DcosCliExecutor`]: canary-core's [`Executor`] over `dcos` runs.

use crate::argv::{Operation, command_line};
use crate::config::CliConfig;
use crate::errors::{classify, transient};
use crate::process::{self, Output, RunError};
use canary_core::executor::{
    ExecError, Executor, JobHistory, LiveJob, MarathonApp, RunInfo, app_what, job_what, run_what,
    spec_job_id,
};
use canary_core::retry::{Attempt, Retrier, Transient, TransientKind};
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn unexpected(command: &str, detail: &str) -> ExecError {
    ExecError::unexpected(&format!("`{command}`"), detail)
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

/// Whether a run failed, counting `dcos job update`'s "Error updating
/// job" (printed with exit 0).
fn failed(output: &Output) -> bool {
    !output.success() || output.stdout.contains("Error updating job")
}

/// One attempt: `op` run once, and how it ended classified for the retry
/// driver. A run that failed transiently names the URL the CLI named (else
/// the command) as what could not be reached.
fn attempt(
    config: &CliConfig,
    op: &Operation<'_>,
    command: &str,
    number: u32,
    time_left: Option<Duration>,
) -> Attempt<Output> {
    let started = Instant::now();
    let timeout = time_left.map_or(config.timeout, |left| left.min(config.timeout));
    let result = process::run(config, op, timeout);
    crate::log::run(command, number, started.elapsed(), &result);
    match result {
        Ok(output) => match failed(&output).then(|| transient(op, &output)).flatten() {
            None => Attempt::Done(output),
            Some((kind, said)) => Attempt::Transient(Transient {
                kind,
                target: crate::errors::named_url(&said)
                    .map_or_else(|| command.to_owned(), str::to_owned),
                message: format!("`{command}`: {said}"),
            }),
        },
        Err(e @ RunError::Cancelled { .. }) => Attempt::Fatal(ExecError::Interrupted {
            message: e.to_string(),
        }),
        // Killed at its time limit: it may have done its work.
        Err(e @ RunError::TimedOut { .. }) => Attempt::Transient(Transient {
            kind: TransientKind::MayHaveArrived,
            target: command.to_owned(),
            message: e.to_string(),
        }),
        Err(other) => Attempt::Fatal(ExecError::Other {
            message: other.to_string(),
        }),
    }
}

/// Why an executor could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL given is not the attached cluster's, and the CLI would send
    /// that cluster's stored token to it.
    #[error(
        "{url} is not the dcos CLI's attached cluster {attached}: the CLI would send that cluster's token to {url}"
    )]
    TokenForAnotherCluster {
        /// The URL given.
        url: String,
        /// The attached cluster's `core.dcos_url`.
        attached: String,
    },
    /// The CLI's configuration could not be read.
    #[error(transparent)]
    Config(#[from] dcos_cli_config::DcosConfigError),
}

/// The check [`DcosCliExecutor::new`] makes for a configured URL.
fn refuse_token_for_another_cluster(config: &CliConfig, url: &str) -> Result<(), SetupError> {
    let token_env = config
        .child_var("DCOS_ACS_TOKEN")
        .is_some_and(|t| !t.to_string_lossy().trim().is_empty());
    if token_env {
        return Ok(());
    }
    let dir = match config.child_var("DCOS_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => match config.child_var("HOME") {
            Some(home) => std::path::PathBuf::from(home).join(".dcos"),
            None => return Ok(()),
        },
    };
    let cluster = config
        .child_var("DCOS_CLUSTER")
        .map(|c| c.to_string_lossy().into_owned())
        .filter(|c| !c.is_empty());
    let Some(attached) = dcos_cli_config::DcosCliConfig::discover(&dir, cluster.as_deref())? else {
        return Ok(());
    };
    match attached.dcos_url.as_deref() {
        Some(own) if attached.token().is_some() && !attached.is_for(url) => {
            Err(SetupError::TokenForAnotherCluster {
                url: url.to_owned(),
                attached: own.to_owned(),
            })
        }
        _ => Ok(()),
    }
}

/// canary-core's [`Executor`] over the installed `dcos` CLI; see the crate
/// documentation for the commands each operation runs.
#[derive(Debug, Clone)]
pub struct DcosCliExecutor {
    config: CliConfig,
    retrier: Retrier,
}

impl DcosCliExecutor {
    /// An executor that runs `dcos` as `config` says. Nothing is run yet,
    /// but with a [`CliConfig::dcos_url`] the CLI's configuration is read
    /// (where the child will look: `DCOS_DIR`, `DCOS_CLUSTER`): a URL other
    /// than the attached cluster's, while that cluster holds a token and no
    /// `DCOS_ACS_TOKEN` replaces it, is refused, because the CLI would send
    /// the stored token to that URL.
    pub fn new(config: CliConfig) -> Result<Self, SetupError> {
        if let Some(url) = &config.dcos_url {
            refuse_token_for_another_cluster(&config, url)?;
        }
        let seed = config
            .jitter_seed
            .unwrap_or_else(canary_system::entropy_seed);
        Ok(DcosCliExecutor {
            retrier: Retrier::new(config.retry, config.clock.clone(), seed),
            config,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &CliConfig {
        &self.config
    }

    /// Runs `op` (about `what`) through canary-core's retry driver, one
    /// classified attempt at a time: the cluster unreachable, 502/503/504,
    /// Marathon's deployment lock and a `dcos` killed at its time limit are
    /// retried per the configured policy, as the HTTP executor does; a run
    /// that may have reached the cluster only when [`Operation::replay`]
    /// allows it. Any other finished run is returned for the caller to
    /// read.
    fn run(&mut self, op: &Operation<'_>, what: &str) -> Result<Output, ExecError> {
        let command = command_line(op);
        let DcosCliExecutor { config, retrier } = self;
        retrier.run(
            what,
            op.replay(),
            |number, limit| attempt(config, op, &command, number, Some(limit)),
            &mut |event| {
                tracing::info!(
                    command = %command,
                    attempt = event.attempt,
                    wait_ms = event.wait.as_millis() as u64,
                    reason = %event.failure.message,
                    "retrying"
                );
            },
        )
    }

    /// Runs `op` and returns its stdout; a failure mapped by [`classify`].
    fn expect_success(&mut self, op: &Operation<'_>, what: &str) -> Result<String, ExecError> {
        let output = self.run(op, what)?;
        if output.success() {
            Ok(output.stdout)
        } else {
            Err(classify(op, what, &output))
        }
    }

    /// Runs `op` and parses its stdout as JSON.
    fn json(&mut self, op: &Operation<'_>, what: &str) -> Result<Value, ExecError> {
        let stdout = self.expect_success(op, what)?;
        serde_json::from_str(&stdout).map_err(|e| {
            unexpected(
                &command_line(op),
                &format!("not JSON ({e}): {}", crate::errors::quoted(&stdout)),
            )
        })
    }

    /// Runs `op(FILE)` with `document` in a private 0600 file (in a 0700
    /// directory), and hands the run's output to `read` while the file
    /// still exists (its path is in the command's words); the file is
    /// removed afterwards. `what` names the document in errors.
    fn with_document_file<T>(
        &mut self,
        document: &Value,
        what: &str,
        op: impl Fn(&Path) -> Operation<'_>,
        read: impl FnOnce(&mut Self, &Operation<'_>, Output) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        let io = |e: std::io::Error| ExecError::Other {
            message: format!("cannot write the file for {what}: {e}"),
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
            .prefix("doc-")
            .suffix(".json")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir.path())
            .map_err(io)?;
        file.write_all(document.to_string().as_bytes())
            .map_err(io)?;
        file.flush().map_err(io)?;
        let op = op(file.path());
        let output = self.run(&op, what)?;
        read(self, &op, output)
    }

    /// Runs `dcos job add|update FILE` with `spec` in a private 0600 file.
    /// A create repeated after an attempt that may have reached the cluster
    /// may meet its own job (`Conflict`): the apply use case reconciles it.
    fn with_spec_file(
        &mut self,
        spec: &Value,
        id: &str,
        op: impl Fn(&Path) -> Operation<'_>,
    ) -> Result<String, ExecError> {
        let what = job_what(id);
        self.with_document_file(spec, &what, op, |me, op, output| {
            if !output.success() {
                return Err(classify(op, &what, &output));
            }
            let stdout = output.stdout;
            // `dcos job update` prints this and exits 0 for some HTTP errors
            // (a refused token among them), without saying which.
            if stdout.contains("Error updating job") {
                return Err(me.diagnose(
                    id,
                    ExecError::Other {
                        message: format!(
                            "`{}`: {}",
                            command_line(op),
                            crate::errors::quoted(&stdout)
                        ),
                    },
                ));
            }
            Ok(stdout)
        })
    }

    /// After a failure the CLI reported without its cause (it swallows the
    /// HTTP status of `job run`, `job update` and `job kill`): the error a
    /// read-only `dcos job show runs ID --json` gets (auth, unreachable, a
    /// missing job), else `fallback`.
    fn diagnose(&mut self, job_id: &str, fallback: ExecError) -> ExecError {
        match self.json(&Operation::ListRuns { job_id }, &job_what(job_id)) {
            Ok(_) => fallback,
            Err(cause) => cause,
        }
    }

    /// A job's finished runs, successful or failed (`dcos job history`).
    fn finished_runs(&mut self, job_id: &str, failures: bool) -> Result<Value, ExecError> {
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
    /// is told apart by `dcos job show runs ID --run-id RUN --json`. A run
    /// not found (after an attempt that may have stopped it, too) is
    /// `NotFound`, which the use cases take as stopped.
    fn stop_run(&mut self, job_id: &str, run_id: &str) -> Result<(), ExecError> {
        check_id("job", job_id)?;
        check_id("run", run_id)?;
        let what = run_what(job_id, run_id);
        let op = Operation::KillRun { job_id, run_id };
        let output = self.run(&op, &what)?;
        if output.success() {
            return Ok(());
        }
        let error = classify(&op, &what, &output);
        if !output.stderr.contains("Unable stop run") {
            return Err(error);
        }
        match self.json(&Operation::ShowRun { job_id, run_id }, &what) {
            // The run is there and still could not be stopped.
            Ok(_) => Err(error),
            Err(ExecError::NotFound { .. }) => Err(ExecError::NotFound { what }),
            Err(other) => Err(other),
        }
    }

    /// `dcos job run ID --json`. Repeated only when the cluster certainly
    /// did not get it (unreachable, 503): a second run otherwise.
    fn start_run(&mut self, job_id: &str) -> Result<RunInfo, ExecError> {
        check_id("job", job_id)?;
        let what = job_what(job_id);
        let op = Operation::StartRun { job_id };
        let output = self.run(&op, &what)?;
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
                &format!("not JSON ({e}): {}", crate::errors::quoted(&output.stdout)),
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

    /// `dcos marathon app list --json` for the group's apps, then
    /// `dcos marathon app show ID` for each (the list has no tasks). The
    /// dcos CLI 0.6.1 has no way to filter the list (`app list` takes no
    /// label or id), so each reading costs `GET /v2/apps` of the whole
    /// cluster (without tasks) plus one `GET /v2/apps/ID` per group app:
    /// O(cluster) bytes where the HTTP backend's label selector reads
    /// O(group).
    fn group_apps(&mut self, group: &str) -> Result<Vec<MarathonApp>, ExecError> {
        let apps = self.json(&Operation::ListApps, "Marathon apps")?;
        let members = MarathonApp::group_from_marathon(&apps, group)?;
        let mut out = Vec::with_capacity(members.len());
        for member in members {
            check_id("app", &member.id)?;
            let op = Operation::ShowApp { app_id: &member.id };
            match self.json(&op, &app_what(&member.id)) {
                Ok(app) => out.push(MarathonApp::from_marathon(&app)?),
                // Deleted since it was listed.
                Err(ExecError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `dcos marathon app add FILE` (the definition in a private 0600 file).
    fn create_app(&mut self, app: &Value) -> Result<(), ExecError> {
        let id = app.get("id").and_then(Value::as_str).unwrap_or_default();
        check_id("app", id)?;
        let what = app_what(id);
        self.with_document_file(
            app,
            &what,
            |file| Operation::AddApp { file },
            |_, op, output| {
                if output.success() {
                    Ok(())
                } else {
                    Err(classify(op, &what, &output))
                }
            },
        )
    }

    /// `dcos marathon app update ID instances=N`.
    fn scale_app(&mut self, app_id: &str, instances: u32) -> Result<(), ExecError> {
        check_id("app", app_id)?;
        self.expect_success(
            &Operation::ScaleApp { app_id, instances },
            &app_what(app_id),
        )
        .map(drop)
    }

    /// `dcos marathon task kill --scale --json TASK...`.
    fn kill_tasks(&mut self, app_id: &str, task_ids: &[String]) -> Result<(), ExecError> {
        for id in task_ids {
            check_id("task", id)?;
        }
        let what = format!("tasks {} of {}", task_ids.join(", "), app_what(app_id));
        self.expect_success(&Operation::KillTasks { task_ids }, &what)
            .map(drop)
    }

    /// `dcos marathon app remove ID`.
    fn delete_app(&mut self, app_id: &str) -> Result<(), ExecError> {
        check_id("app", app_id)?;
        self.expect_success(&Operation::RemoveApp { app_id }, &app_what(app_id))
            .map(drop)
    }

    /// Caps every later `dcos` run's time limit, and the retry driver's
    /// waits, to end by then.
    fn set_deadline_in(&mut self, within: Option<Duration>) {
        self.retrier.set_deadline_in(within);
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
