//! canary's [`Executor`](canary_core::executor::Executor) over the installed
//! `dcos` command (DC/OS CLI 0.6), for users who have only the CLI
//! configured: it drives `dcos` as a subprocess and behaves like the HTTP
//! executor (`exec-http`).
//!
//! The public surface is what a user of the crate needs: the
//! [`DcosCliExecutor`], its [`CliConfig`] and [`find_program`]. How it talks
//! to the CLI is private: one pure argument builder per `dcos` run, the
//! reading of the CLI's messages into errors, and the subprocess handling.
//!
//! # The model
//!
//! Every trait operation is one or a few `dcos` runs:
//!
//! | operation | `dcos` runs |
//! |---|---|
//! | `group_apps` | `marathon app list --json` (no filter in CLI 0.6.1: the whole list), then `marathon app show ID` per app of the group |
//! | `get_job` | `job list --json` (spec, active runs, history counts), then `job history ID --json [--failures]` only when those counts say there is something to read |
//! | `create_job` | `job add FILE` |
//! | `replace_job` | `job update FILE` (when it prints "Error updating job" and exits 0, the diagnosis below) |
//! | `stop_run` | `job kill ID RUN` (on its catch-all failure, `job show runs ID --run-id RUN --json` tells a missing run or job from the rest) |
//! | `start_run` | `job run ID --json` (when it prints "Error running job" and crashes, the diagnosis below) |
//! | `run_status` | `job show runs ID --run-id RUN --json`; once the run has left the active runs, `job history ID --json [--failures]` |
//!
//! Three commands swallow the cause of a failure (the CLI catches the HTTP
//! error and prints a fixed sentence). After them, one read-only
//! `job show runs ID --json` runs as a diagnosis: its own failure (a
//! refused token, an unreachable cluster, a missing job) is the error; if
//! it succeeds, the error is the first command's own words.
//!
//! The CLI's `--json` output passes the API's JSON through, so it is parsed
//! by the same readers as the HTTP executor's answers
//! ([`MarathonApp::group_from_marathon`], [`RunInfo::from_metronome`],
//! [`JobHistory::from_metronome`]).
//!
//! [`MarathonApp::group_from_marathon`]: canary_core::MarathonApp::group_from_marathon
//! [`RunInfo::from_metronome`]: canary_core::executor::RunInfo::from_metronome
//! [`JobHistory::from_metronome`]: canary_core::executor::JobHistory::from_metronome
//!
//! # What it never does
//!
//! * Put a document or a credential on a command line: job specs go through
//!   a temporary file created with mode 0600 in a private (0700) temporary
//!   directory, removed after the run; the token is the CLI's own business
//!   (its configuration in `DCOS_DIR`, or `DCOS_ACS_TOKEN` in the
//!   environment). A [`CliConfig::dcos_url`] other than the attached
//!   cluster's, while that cluster holds a token, is refused at
//!   [`DcosCliExecutor::new`]: the CLI would send that token there.
//! * Give up at the first transient failure: each `dcos` run is one attempt
//!   for canary-core's retry driver ([`canary_core::retry`]), classified from
//!   the CLI's output: the cluster unreachable, 502/503/504, Marathon's
//!   deployment lock, or a `dcos` killed at its time limit are retried per
//!   [`CliConfig::retry`] (the HTTP executor's policy, up to 60 s by
//!   default), waiting on [`CliConfig::clock`]. Every run sets
//!   `DCOS_LOG_LEVEL=error`, so the CLI's stderr also logs the HTTP status
//!   and the connection error its message leaves out. Repeats follow the
//!   HTTP executor's rules: `job run` is repeated only when it certainly did
//!   not reach the cluster (connection refused, 503), else the error says it
//!   may have started; what a repeated `job add` or `job kill` meets (its
//!   own job, a run gone) is reconciled by the use cases. What is left after
//!   the budget is `Unreachable` (or `Locked`) ending `(after N attempts in
//!   X s)`.
//! * Wait forever: each run has a time limit ([`CliConfig::timeout`]); a
//!   `dcos` still running then is killed with its process group; that run
//!   counts as one that may have reached the cluster.
//! * Read a terminal: standard input is empty, so a CLI that wants to
//!   prompt fails instead of hanging.
//!
//! # Errors and logs
//!
//! The CLI exits 1 for every failure and says why on stderr. Its messages
//! (dcoscli 0.6.1's, see `shared/docs/dcoscli.md`) map to the same
//! [`ExecError`](canary_core::executor::ExecError) kinds the HTTP executor
//! gives: not found, conflict (a duplicate job), locked (a Marathon
//! deployment), invalid, auth, unreachable; anything else is `Other` with the
//! command and the CLI's own words, with whatever looks like a token
//! replaced by [`REDACTED`](canary_core::redact::REDACTED).
//!
//! Each run is logged with [`tracing`](https://docs.rs/tracing), as the
//! HTTP executor logs its requests: at `info` the command, the attempt, how
//! long it took and its exit code, and each retry with its wait; at `debug`
//! what the CLI logged on stderr, scrubbed.

mod argv;
mod config;
mod errors;
mod executor;
mod log;
mod process;

pub use canary_core::retry::RetryPolicy;
pub use config::{CliConfig, DEFAULT_PROGRAM, DEFAULT_TIMEOUT, find_program};
pub use executor::{DcosCliExecutor, SetupError};
