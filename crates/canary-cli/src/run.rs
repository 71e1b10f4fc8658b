//! `canary run PHASE --app APP [--wait]`.

use crate::cli::{PhaseArg, RunArgs};
use crate::failure::Failure;
use crate::output;
use canary_core::run::{FollowError, StartError, follow};
use canary_core::{AppName, Phase};
use canary_system::SystemClock;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// What `--wait` shows on stderr: on a terminal a spinner with the run's
/// status and the time spent, each status change also kept as a line above
/// it; elsewhere (logs, CI) only the status-change lines.
struct Progress {
    job_id: String,
    spinner: Option<ProgressBar>,
}

impl Progress {
    fn new(job_id: &str, timeout: Duration) -> Self {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed} of {prefix})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(humantime(timeout));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            job_id: job_id.to_owned(),
            spinner,
        }
    }

    fn changed(&mut self, info: &canary_core::executor::RunInfo) {
        let line = format!(
            "{} run {}: {}",
            self.job_id,
            crate::output::terminal_safe(&info.run_id),
            info.status
        );
        match &self.spinner {
            Some(bar) => {
                bar.println(&line);
                bar.set_message(line);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}

/// `90s`, `15m`, `1h30m`: the `--timeout` form of a duration.
fn humantime(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".to_owned() } else { out }
}

/// How often --wait asks Metronome about the run.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Runs `canary run`.
pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let name = AppName::new(&args.app).map_err(|e| Failure::invalid(format!("--app: {e}")))?;
    let phase = match args.phase {
        PhaseArg::Deploy => Phase::Deploy,
        PhaseArg::Rollout => Phase::Rollout,
        PhaseArg::Rollback => Phase::Rollback,
    };
    let job_id = name.job_id(phase);
    let mut executor = crate::backend::executor(&args.cluster)?;
    let run = canary_core::run::start(executor.as_mut(), &name, phase, args.force).map_err(
        |e| match (&e, e.exec_error()) {
            (StartError::Refused { .. }, _) => Failure::refused(format!(
                "{e}; see `canary status --app {name}` (--force starts it anyway)"
            )),
            (_, Some(source)) => Failure::from_exec(source, &e.to_string()),
            (_, None) => Failure::refused(e.to_string()),
        },
    )?;
    output::print(&format!(
        "{job_id}: started run {}\n",
        output::terminal_safe(&run.run_id)
    ))?;
    if !args.wait {
        return Ok(());
    }
    let logs = format!(
        "find its task with `dcos job history {job_id}`, then read its logs with `dcos task log --completed TASK_ID`"
    );
    let mut progress = Progress::new(&job_id, args.timeout);
    let stop = crate::signals::install();
    let followed = follow(
        executor.as_mut(),
        &run,
        &SystemClock::new(),
        POLL_INTERVAL,
        args.timeout,
        &stop,
        &mut |info| progress.changed(info),
    );
    progress.finish();
    match followed {
        Ok(done) => output::print(&format!(
            "{job_id}: run {} succeeded\n",
            output::terminal_safe(&done.run_id)
        )),
        // The run may well go on: say how to follow it again.
        Err(FollowError::Exec(e)) => Err(Failure::from_exec_message(
            &e,
            format!(
                "following run {} of {job_id}: {e}; the run may still be going: follow it again with `dcos job show runs {job_id} --run-id {}`",
                run.run_id, run.run_id
            ),
        )),
        Err(e @ FollowError::Interrupted { .. }) => Err(Failure::run(format!(
            "{e}: follow it again with `dcos job show runs {job_id} --run-id {}`",
            run.run_id
        ))),
        // Still going: its task has not completed, so `--completed` logs
        // would find nothing.
        Err(e @ FollowError::TimedOut { .. }) => Err(Failure::run(format!(
            "{e}; it goes on: follow it with `dcos job show runs {job_id} --run-id {}` (its task ids are there), and read its logs with `dcos task log TASK_ID`",
            run.run_id
        ))),
        Err(e) => Err(Failure::run(format!("{e}; {logs}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::humantime;
    use std::time::Duration;

    #[test]
    fn timeouts_print_as_given() {
        assert_eq!(humantime(Duration::from_secs(90)), "1m30s");
        assert_eq!(humantime(Duration::from_secs(1800)), "30m");
        assert_eq!(humantime(Duration::from_secs(3600 + 5)), "1h5s");
        assert_eq!(humantime(Duration::ZERO), "0s");
    }
}
