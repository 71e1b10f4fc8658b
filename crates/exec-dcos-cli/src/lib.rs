//! canary's [`Executor`](canary_core::executor::Executor) over the installed
//! `dcos` command (DC/OS CLI 0.6), for users who have only the CLI
//! configured: it drives `dcos` as a subprocess and behaves like the HTTP
//! executor (`exec-http`).
//!
//! # The model
//!
//! Every trait operation is one or a few `dcos` runs, each described by an
//! [`Operation`] whose argument vector [`argv`] builds as a pure function:
//!
//! | operation | `dcos` runs |
//! |---|---|
//! | `list_apps` | `marathon app list --json` |
//! | `get_job` | `job list --json` (spec, active runs, history counts), then `job history ID --json [--failures]` only when those counts say there is something to read |
//! | `create_job` | `job add FILE` |
//! | `replace_job` | `job update FILE` (when it prints "Error updating job" and exits 0, the diagnosis below) |
//! | `stop_run` | `job kill ID RUN` (on its catch-all failure, `job show runs ID --run-id RUN --json` tells a missing run or job from the rest) |
//! | `start_run` | `job run ID --json` (when it prints "Error running job" and crashes, the diagnosis below) |
//! | `run_status` | `job show runs ID --run-id RUN --json`; once the run has left the active runs, `job history ID --json [--failures]` |
//!
//!
//! Three commands swallow the cause of a failure (the CLI catches the HTTP
//! error and prints a fixed sentence). After them, one read-only
//! `job show runs ID --json` runs as a diagnosis: its own failure (a
//! refused token, an unreachable cluster, a missing job) is the error; if
//! it succeeds, the error is the first command's own words.
//!
//! The CLI's `--json` output passes the API's JSON through, so it is parsed
//! by the same readers as the HTTP executor's answers
//! ([`LiveApp::list_from_marathon`], [`RunInfo::from_metronome`],
//! [`JobHistory::from_metronome`]).
//!
//! [`LiveApp::list_from_marathon`]: canary_core::executor::LiveApp::list_from_marathon
//! [`RunInfo::from_metronome`]: canary_core::executor::RunInfo::from_metronome
//! [`JobHistory::from_metronome`]: canary_core::executor::JobHistory::from_metronome
//!
//! # What it never does
//!
//! * Put a document or a credential on a command line: job specs go through
//!   a temporary file created with mode 0600 in a private (0700) temporary
//!   directory, removed after the run; the token is the CLI's own business
//!   (its configuration in `DCOS_DIR`, or `DCOS_ACS_TOKEN` in the
//!   environment).
//! * Give up at the first transient failure: a run that failed because
//!   the cluster was unreachable, answered 502/503/504, Marathon's
//!   deployment lock, or a `dcos` killed at its time limit is run again per
//!   [`CliConfig::retry`] (canary-core's [`RetryPolicy`], the HTTP
//!   executor's: capped, jittered exponential backoff, 5 attempts and 60 s
//!   by default), waiting through [`CliConfig::sleeper`]. Every run sets
//!   [`LOG_LEVEL_ENV`]`=error`, so the CLI's stderr also logs the HTTP status
//!   and the connection error its message leaves out; [`transient`] reads
//!   them. Repeats follow the HTTP executor's rules: reads and `job update`
//!   are safe; `job add` repeated after an attempt that may have reached
//!   the cluster (a 502/504, a dropped connection, a killed `dcos`) that
//!   then meets "already exists" succeeds only when the job there equals
//!   the spec; `job kill` repeated so that finds the run gone succeeds;
//!   `job run` is repeated only when it certainly did not reach the cluster
//!   (connection refused, 503), else the error says it may have started.
//!   What is left after the budget is [`ExecError::Unreachable`] (or
//!   [`ExecError::Locked`]) ending `(after N attempts in X s)`.
//! * Wait forever: each run has a time limit ([`CliConfig::timeout`]); a
//!   `dcos` still running then is killed with its process group; that run
//!   counts as one that may have reached the cluster (see above), and the
//!   operation fails with [`ExecError::Unreachable`] naming the command.
//! * Read a terminal: standard input is empty, so a CLI that wants to
//!   prompt fails instead of hanging.
//!
//! # Errors
//!
//! The CLI exits 1 for every failure and says why on stderr.
//! [`classify`] reads those messages (dcoscli 0.6.1's, see
//! `shared/docs/dcoscli.md`) into the same [`ExecError`] kinds the HTTP
//! executor gives: not found, conflict (a duplicate job), locked (a Marathon
//! deployment), invalid, auth, unreachable; anything else is
//! [`ExecError::Other`] with the command and the CLI's own words. Whatever
//! looks like a token is removed from those words first ([`scrub`]).
//!
//! [`ExecError`]: canary_core::executor::ExecError
//! [`ExecError::Unreachable`]: canary_core::executor::ExecError::Unreachable
//! [`ExecError::Locked`]: canary_core::executor::ExecError::Locked
//! [`ExecError::Other`]: canary_core::executor::ExecError::Other

mod argv;
mod config;
mod errors;
mod executor;
mod process;

pub use argv::{Operation, argv, command_line};
pub use canary_core::retry::{RetryPolicy, Sleeper};
pub use config::{CliConfig, DEFAULT_PROGRAM, DEFAULT_TIMEOUT, ThreadSleeper, find_program};
pub use errors::{LOG_LEVEL_ENV, Stderr, Transient, classify, scrub, split_log, transient};
pub use executor::DcosCliExecutor;
pub use process::{Output, RunError};
