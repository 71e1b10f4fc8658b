//! The real DC/OS CLI (PyPI `dcoscli` 0.6.1) as the tests run it: found
//! through `DCOS_CLI`, else `<workspace>/target/dcoscli-venv/bin/dcos`, else
//! `PATH`; each run with a fresh temporary `HOME` and `DCOS_DIR`, an
//! otherwise empty environment, no standard input and a time limit.

use dcos_sim::SimHandle;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tempfile::TempDir;

/// The longest one `dcos` run may take (a run takes about half a second).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);
pub const USER: &str = "bootstrapuser";
pub const PASSWORD: &str = "deleteme";

/// Where the CLI is: `DCOS_CLI`, the workspace's venv, or `PATH`. The tests
/// are compiled ignored when build.rs found none of them, so a missing CLI
/// here is a failure.
pub fn find_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("DCOS_CLI") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "DCOS_CLI={} is not a file", path.display());
        return path;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.ancestors().nth(2).unwrap_or(manifest);
    let default = workspace.join("target/dcoscli-venv/bin/dcos");
    if default.is_file() {
        return default;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("dcos"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the real dcos CLI is not installed: DCOS_CLI is unset, {} does not exist and \
                 no dcos is on PATH (run scripts/install-dcoscli.sh target/dcoscli-venv, or set DCOS_CLI)",
                default.display()
            )
        })
}

/// One CLI user: the executable and a private home and `DCOS_DIR`.
pub struct Dcos {
    pub exe: PathBuf,
    pub home: TempDir,
}

/// What one run printed and how it ended.
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dcos {:?}: exit {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Asserts exit code 0 and nothing on stderr.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self}");
        assert_eq!(self.stderr, "", "{self}");
        self
    }

    /// Asserts exit code 1, nothing on stdout, and `message` in stderr.
    #[track_caller]
    pub fn fails_with(&self, message: &str) -> &Self {
        assert_eq!(self.code, Some(1), "{self}");
        assert_eq!(self.stdout, "", "{self}");
        assert!(self.stderr.contains(message), "want {message:?}: {self}");
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self}"))
    }
}

impl Dcos {
    pub fn new() -> Dcos {
        Dcos {
            exe: find_cli(),
            home: tempfile::Builder::new()
                .prefix("dcos-cli-test")
                .tempdir()
                .expect("a temporary home"),
        }
    }

    /// `DCOS_DIR`: the CLI's configuration directory.
    pub fn dcos_dir(&self) -> PathBuf {
        self.home.path().join(".dcos")
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs `dcos args...` with `env` added to the minimal environment.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let bin = self.exe.parent().unwrap_or(Path::new("/"));
        let path = match std::env::var("PATH") {
            Ok(path) if !path.is_empty() => format!("{}:{path}", bin.display()),
            _ => format!("{}:/usr/bin:/bin", bin.display()),
        };
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.home.path())
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env("DCOS_DIR", self.dcos_dir())
            .envs(env.iter().copied())
            .current_dir(self.home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.exe.display()));
        let pid = child.id();
        let (done, outcome) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let output = match outcome.recv_timeout(RUN_LIMIT) {
            Ok(output) => output.expect("the dcos run's output"),
            Err(_) => {
                // Our own child, still unreaped: its pid is still its own.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("dcos {args:?} ran longer than {RUN_LIMIT:?}");
            }
        };
        Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `dcos cluster setup URL --username bootstrapuser --password deleteme`.
    pub fn setup(&self, sim: &SimHandle) -> Run {
        self.run(&[
            "cluster",
            "setup",
            sim.dcos_url(),
            "--username",
            USER,
            "--password",
            PASSWORD,
        ])
    }

    /// `dcos config show KEY`, trimmed, when it succeeds.
    pub fn config(&self, key: &str) -> Option<String> {
        let run = self.run(&["config", "show", key]);
        (run.code == Some(0)).then(|| run.stdout.trim().to_owned())
    }

    /// Writes `value` as JSON to a file in the home and returns its path.
    pub fn write_json(&self, name: &str, value: &Value) -> String {
        let path = self.home.path().join(name);
        std::fs::write(&path, value.to_string()).expect("write the file");
        path.display().to_string()
    }
}
