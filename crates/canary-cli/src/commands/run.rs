//! `canary run PHASE --app APP [--wait]`: start a phase job's run (after
//! the engine's preflight), and with `--wait` follow it to its end.

use crate::args::{ClusterArgs, parse_duration};
use crate::display::Display;
use crate::failure::Failure;
use crate::output;
use crate::session::{OnSignal, with_session};
use canary_core::{AppName, Phase};
use canary_engine::run::{FollowError, StartError, follow, start};
use clap::Args;
use std::time::Duration;

/// `canary run`'s arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which phase's job to run.
    #[arg(value_enum)]
    pub phase: PhaseArg,

    /// The app name (the job is PHASE-APP-canary).
    #[arg(long, value_name = "APP")]
    pub app: String,

    /// Follow the run until it finishes; exit 7 if it fails or times out.
    #[arg(long)]
    pub wait: bool,

    /// Start the run even when the deployment group is not in a state for
    /// this phase (a canary already in progress for deploy, none for rollout
    /// or rollback, an active phase run, a Marathon deployment in progress).
    #[arg(long)]
    pub force: bool,

    /// How long --wait follows the run: seconds, or a number with s, m or h.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,

    /// How to reach the cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// A phase, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseArg {
    /// deploy-APP-canary: start the canary.
    Deploy,
    /// rollout-APP-canary: make the canary the whole app.
    Rollout,
    /// rollback-APP-canary: remove the canary.
    Rollback,
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
    let on_signal = if args.wait {
        OnSignal::Stop
    } else {
        OnSignal::End
    };
    let mut display = Display::following(&job_id, args.timeout);
    with_session(&args.cluster, None, on_signal, &mut display, |session| {
        let run =
            start(session, &name, phase, args.force).map_err(|e| match (&e, e.exec_error()) {
                (StartError::Refused { .. }, _) => Failure::refused(format!(
                    "{e}; see `canary status --app {name}` (--force starts it anyway)"
                )),
                (_, Some(source)) => Failure::from_exec(source, &e.to_string()),
                (_, None) => Failure::refused(e.to_string()),
            })?;
        output::print(&format!(
            "{job_id}: started run {}\n",
            output::terminal_safe(&run.run_id)
        ))?;
        if !args.wait {
            return Ok(());
        }
        follow_run(session, &job_id, &run, args.timeout)
    })
}

/// Follows the run to its end, saying how to follow it again when it is
/// not over.
fn follow_run(
    session: &mut canary_engine::Session<'_>,
    job_id: &str,
    run: &canary_core::executor::RunInfo,
    timeout: Duration,
) -> Result<(), Failure> {
    let logs = format!(
        "find its task with `dcos job history {job_id}`, then read its logs with `dcos task log --completed TASK_ID`"
    );
    match follow(session, run, POLL_INTERVAL, timeout) {
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
