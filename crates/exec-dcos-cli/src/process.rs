//! Running `dcos` once: no standard input, output captured, a time limit,
//! and the whole process group killed when it is exceeded.

use crate::argv::{Operation, argv, command_line};
use crate::config::CliConfig;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The most of a run's standard output kept (bytes): as much as the HTTP
/// executor reads of an answer. A run that prints more fails
/// ([`RunError::OutputTooLarge`]): its JSON could not be whole.
pub(crate) const STDOUT_LIMIT: usize = 64 * 1024 * 1024;

/// The most of a run's standard error kept (bytes); the rest is read and
/// counted, never kept, and errors quote a few thousand characters of it.
pub(crate) const STDERR_LIMIT: usize = 1024 * 1024;

/// How often a run in progress is checked for a stop request.
const CANCEL_CHECK: Duration = Duration::from_millis(20);

/// What one finished `dcos` run printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Output {
    /// Its exit code (`None`: ended by a signal).
    pub(crate) code: Option<i32>,
    /// Its standard output (lossy UTF-8).
    pub(crate) stdout: String,
    /// Its standard error (lossy UTF-8), the first [`STDERR_LIMIT`] bytes.
    pub(crate) stderr: String,
    /// How many bytes of standard error were read past the limit.
    pub(crate) stderr_cut: u64,
}

impl Output {
    /// Whether it exited 0.
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Why a `dcos` run did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// The program could not be started (missing, not executable).
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The configured program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than the time limit and was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    TimedOut {
        /// The command line (no secrets: argv has none).
        command: String,
        /// The limit.
        timeout: Duration,
    },
    /// It printed more than [`STDOUT_LIMIT`] on standard output; it was
    /// left to finish (its output read and dropped), so nothing is half-done.
    #[error("`{command}` printed more than {} MiB, more than canary reads", STDOUT_LIMIT / (1024 * 1024))]
    OutputTooLarge {
        /// The command line.
        command: String,
    },
    /// A stop was requested (a signal): the run's whole process group was
    /// killed, whatever it had done so far stands.
    #[error("`{command}` was stopped by a signal (its process group was killed)")]
    Cancelled {
        /// The command line.
        command: String,
    },
    /// Waiting for it failed.
    #[error("waiting for `{command}` failed: {source}")]
    Wait {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Which pipe a reader thread read.
enum Pipe {
    Out,
    Err,
}

/// Kills the child's process group (the child leads it, and is not reaped
/// yet, so its id cannot have been reused), then reaps the child.
fn kill(child: &mut Child) {
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::KILL,
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads `reader` to its end, keeping the first `limit` bytes; returns
/// them and how many more there were.
fn read_capped(reader: &mut dyn Read, limit: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut cut = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let take = limit.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buffer[..take]);
                cut += (n - take) as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, cut)
}

/// Whether a stop was requested.
fn cancelled(config: &CliConfig) -> bool {
    config
        .cancel
        .as_ref()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// Runs `dcos` for `op` under `config`'s program and environment, killed
/// after `timeout` (the configured limit, or less before a deadline); a
/// stop requested on [`CliConfig::cancel`] before or during the run ends it
/// (the child's process group killed).
pub(crate) fn run(
    config: &CliConfig,
    op: &Operation<'_>,
    timeout: Duration,
) -> Result<Output, RunError> {
    let command_text = command_line(op);
    let stopped = || RunError::Cancelled {
        command: command_text.clone(),
    };
    if cancelled(config) {
        return Err(stopped());
    }
    let mut command = Command::new(&config.program);
    command
        .args(argv(op))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills whatever it started.
        .process_group(0);
    if !config.inherit_env {
        command.env_clear();
        for key in ["PATH", "HOME", "LANG", "LC_ALL"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
    }
    // Failures then also log their HTTP status and connection error.
    command.env(crate::errors::LOG_LEVEL_ENV, "error");
    if let Some(dir) = &config.dcos_dir {
        command.env("DCOS_DIR", dir);
    }
    if let Some(cluster) = &config.cluster {
        command.env("DCOS_CLUSTER", cluster);
    }
    if let Some(url) = &config.dcos_url {
        command.env("DCOS_URL", url);
    }
    command.envs(config.env.iter().map(|(k, v)| (k, v)));
    let mut child = command.spawn().map_err(|source| RunError::Spawn {
        program: config.program.display().to_string(),
        source,
    })?;
    let deadline = Instant::now() + timeout;
    let timed_out = || RunError::TimedOut {
        command: command_text.clone(),
        timeout,
    };

    let (sender, pipes) = mpsc::channel();
    let readers = [
        child
            .stdout
            .take()
            .map(|p| (Pipe::Out, Box::new(p) as Box<dyn Read + Send>)),
        child
            .stderr
            .take()
            .map(|p| (Pipe::Err, Box::new(p) as Box<dyn Read + Send>)),
    ];
    let mut open = 0;
    for (pipe, mut reader) in readers.into_iter().flatten() {
        let sender = sender.clone();
        open += 1;
        let limit = match pipe {
            Pipe::Out => STDOUT_LIMIT,
            Pipe::Err => STDERR_LIMIT,
        };
        std::thread::spawn(move || {
            let (bytes, cut) = read_capped(&mut reader, limit);
            let _ = sender.send((pipe, bytes, cut));
        });
    }
    drop(sender);

    // Both pipes reach end of file when the child exits (or closes them).
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let (mut stdout_cut, mut stderr_cut) = (0, 0);
    while open > 0 {
        if cancelled(config) {
            kill(&mut child);
            return Err(stopped());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill(&mut child);
            return Err(timed_out());
        }
        match pipes.recv_timeout(left.min(CANCEL_CHECK)) {
            Ok((Pipe::Out, bytes, cut)) => (stdout, stdout_cut) = (bytes, cut),
            Ok((Pipe::Err, bytes, cut)) => (stderr, stderr_cut) = (bytes, cut),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        open -= 1;
    }
    let status = wait_until(&mut child, deadline, config).map_err(|source| RunError::Wait {
        command: command_text.clone(),
        source,
    })?;
    let status = match status {
        Waited::Exited(status) => status,
        Waited::Cancelled => {
            kill(&mut child);
            return Err(stopped());
        }
        Waited::TimedOut => {
            kill(&mut child);
            return Err(timed_out());
        }
    };
    if stdout_cut > 0 {
        return Err(RunError::OutputTooLarge {
            command: command_text,
        });
    }
    Ok(Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        stderr_cut,
    })
}

/// How waiting for a child ended.
enum Waited {
    Exited(ExitStatus),
    TimedOut,
    Cancelled,
}

/// The child's exit status once its pipes are closed: at once when it has
/// exited; for a child that closed its output and goes on, checked every
/// few milliseconds until `deadline` or a stop request.
fn wait_until(child: &mut Child, deadline: Instant, config: &CliConfig) -> std::io::Result<Waited> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Waited::Exited(status));
        }
        if cancelled(config) {
            return Ok(Waited::Cancelled);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Waited::TimedOut);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
