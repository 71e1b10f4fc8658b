//! Running `dcos` once: no standard input, output captured, a time limit,
//! and the whole process group killed when it is exceeded.

use crate::argv::{Operation, argv, command_line};
use crate::config::CliConfig;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one finished `dcos` run printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    /// Its exit code (`None`: ended by a signal).
    pub(crate) code: Option<i32>,
    /// Its standard output (lossy UTF-8).
    pub(crate) stdout: String,
    /// Its standard error (lossy UTF-8).
    pub(crate) stderr: String,
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

/// Runs `dcos` for `op` under `config`'s program, environment and time
/// limit.
pub(crate) fn run(config: &CliConfig, op: &Operation<'_>) -> Result<Output, RunError> {
    let command_text = command_line(op);
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
    let deadline = Instant::now() + config.timeout;
    let timed_out = || RunError::TimedOut {
        command: command_text.clone(),
        timeout: config.timeout,
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
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = reader.read_to_end(&mut bytes);
            let _ = sender.send((pipe, bytes));
        });
    }
    drop(sender);

    // Both pipes reach end of file when the child exits (or closes them).
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match pipes.recv_timeout(left) {
            Ok((Pipe::Out, bytes)) => stdout = bytes,
            Ok((Pipe::Err, bytes)) => stderr = bytes,
            Err(_) => {
                kill(&mut child);
                return Err(timed_out());
            }
        }
        open -= 1;
    }
    let status = wait_until(&mut child, deadline).map_err(|source| RunError::Wait {
        command: command_text.clone(),
        source,
    })?;
    let Some(status) = status else {
        kill(&mut child);
        return Err(timed_out());
    };
    Ok(Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// The child's exit status once its pipes are closed: at once when it has
/// exited; for a child that closed its output and goes on, checked every
/// few milliseconds until `deadline` (`None`: still running then).
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
