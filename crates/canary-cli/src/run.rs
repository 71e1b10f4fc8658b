//! `canary run PHASE --app APP [--wait]`.

use crate::cli::{Backend, PhaseArg, RunArgs};
use crate::failure::Failure;
use crate::output;
use canary_core::run::{FollowError, Waiter, follow};
use canary_core::{AppName, Phase};
use std::io::Write;
use std::time::{Duration, Instant};

/// Real time for [`follow`].
struct Clock(Instant);

impl Waiter for Clock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    fn wait(&mut self, for_: Duration) {
        std::thread::sleep(for_);
    }
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
    let mut executor = match args.backend {
        Backend::Http => crate::backend::http(args.dcos_url.as_deref(), &args.tls)?,
    };
    let run = executor
        .start_run(&job_id)
        .map_err(|e| Failure::from_exec(&e, &format!("starting job {job_id}")))?;
    output::print(&format!("{job_id}: started run {}\n", run.run_id))?;
    if !args.wait {
        return Ok(());
    }
    let logs = format!(
        "find its task with `dcos job history {job_id}`, then read its logs with `dcos task log --completed TASK_ID`"
    );
    let mut stderr = std::io::stderr();
    let mut progress = |info: &canary_core::executor::RunInfo| {
        let _ = writeln!(stderr, "{job_id} run {}: {}", info.run_id, info.status);
    };
    match follow(
        executor.as_mut(),
        &run,
        &mut Clock(Instant::now()),
        POLL_INTERVAL,
        args.timeout,
        &mut progress,
    ) {
        Ok(done) => output::print(&format!("{job_id}: run {} succeeded\n", done.run_id)),
        Err(FollowError::Exec(e)) => Err(Failure::from_exec(
            &e,
            &format!("following run {} of {job_id}", run.run_id),
        )),
        Err(e) => Err(Failure::run(format!("{e}; {logs}"))),
    }
}
