//! The `run` use case, written once against [`Executor`]: start a phase's
//! job and, if asked, follow the run until it finishes.
//!
//! Waiting needs time, which this crate does not take for itself: the caller
//! hands in a [`Waiter`] (real sleeps in the binary, a fake in tests).

use crate::executor::{ExecError, Executor, RunInfo, RunStatus};
use std::time::Duration;

/// Time as the caller provides it.
pub trait Waiter {
    /// How long the follow has been going.
    fn elapsed(&self) -> Duration;
    /// Waits `for_` before the next poll.
    fn wait(&mut self, for_: Duration);
}

/// Why following a run stopped without a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// The run finished and failed.
    #[error("run {} of job {} failed", .0.run_id, .0.job_id)]
    Failed(RunInfo),
    /// The run did not finish in time (it goes on).
    #[error("run {} of job {} did not finish within {timeout:?}; it is still {}", .last.run_id, .last.job_id, .last.status)]
    TimedOut {
        /// The last state seen.
        last: RunInfo,
        /// The limit.
        timeout: Duration,
    },
    /// The executor failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// Polls a run every `interval` until it finishes or `timeout` passes;
/// `on_change` sees every new status (for a progress display).
pub fn follow(
    executor: &mut dyn Executor,
    run: &RunInfo,
    waiter: &mut dyn Waiter,
    interval: Duration,
    timeout: Duration,
    on_change: &mut dyn FnMut(&RunInfo),
) -> Result<RunInfo, FollowError> {
    let mut last = run.clone();
    on_change(&last);
    loop {
        let now = executor.run_status(&run.job_id, &run.run_id)?;
        if now.status != last.status {
            on_change(&now);
        }
        last = now;
        match last.status {
            RunStatus::Success => return Ok(last),
            RunStatus::Failed => return Err(FollowError::Failed(last)),
            _ => {}
        }
        if waiter.elapsed() >= timeout {
            return Err(FollowError::TimedOut { last, timeout });
        }
        waiter.wait(
            interval
                .min(timeout.saturating_sub(waiter.elapsed()))
                .max(Duration::from_millis(1)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::RecordingExecutor;
    use serde_json::json;

    /// A fake clock: waiting only moves it.
    struct FakeTime {
        now: Duration,
    }

    impl Waiter for FakeTime {
        fn elapsed(&self) -> Duration {
            self.now
        }
        fn wait(&mut self, for_: Duration) {
            self.now += for_;
        }
    }

    fn started() -> (RecordingExecutor, RunInfo) {
        let mut exec = RecordingExecutor::new();
        exec.insert_job(json!({"id": "deploy-a-canary", "run": {"cmd": "x"}}));
        let run = exec.start_run("deploy-a-canary").unwrap();
        (exec, run)
    }

    #[test]
    fn a_finished_run_is_reported_with_every_status_seen() {
        let (mut exec, run) = started();
        exec.finish_run("deploy-a-canary", &run.run_id, RunStatus::Success);
        let mut time = FakeTime {
            now: Duration::ZERO,
        };
        let mut seen = Vec::new();
        let done = follow(
            &mut exec,
            &run,
            &mut time,
            Duration::from_secs(2),
            Duration::from_secs(60),
            &mut |r| seen.push(r.status),
        )
        .unwrap();
        assert_eq!(done.status, RunStatus::Success);
        assert_eq!(seen, [RunStatus::Active, RunStatus::Success]);
        assert_eq!(time.now, Duration::ZERO, "no wait once finished");
    }

    #[test]
    fn failure_and_timeout() {
        let (mut exec, run) = started();
        exec.finish_run("deploy-a-canary", &run.run_id, RunStatus::Failed);
        let mut time = FakeTime {
            now: Duration::ZERO,
        };
        let err = follow(
            &mut exec,
            &run,
            &mut time,
            Duration::from_secs(2),
            Duration::from_secs(60),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, FollowError::Failed(ref r) if r.status == RunStatus::Failed));

        let (mut exec, run) = started();
        let mut time = FakeTime {
            now: Duration::ZERO,
        };
        let err = follow(
            &mut exec,
            &run,
            &mut time,
            Duration::from_secs(2),
            Duration::from_secs(7),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("did not finish within 7s; it is still ACTIVE"),
            "{err}"
        );
        assert_eq!(
            time.now,
            Duration::from_secs(7),
            "waits never overshoot the timeout"
        );
    }
}
