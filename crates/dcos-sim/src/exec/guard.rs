//! The crash guard: a small `sh` process that outlives the sim only to
//! clean up after it. It holds a pipe from the sim; when the pipe closes
//! (the sim stopped, or its process died, even by SIGKILL) it kills every
//! process group listed in a file and removes the sandboxes' directory.
//! The sim keeps that file current: a group is listed from its start until
//! its leader is reaped, so no group id that may have been reused is ever
//! listed.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The guard's script: `$1` the file of group ids, `$2` the directory.
/// `kill -KILL -N` (no `--`) is what dash and bash both read as "group N".
const SCRIPT: &str = r#"read -r _; if [ -f "$1" ]; then while read -r g; do kill -KILL "-$g" 2>/dev/null; done < "$1"; fi; rm -rf -- "$2""#;

/// The process groups of the runs that execute, mirrored in a file.
#[derive(Debug)]
pub(crate) struct GroupFile {
    path: PathBuf,
    groups: Mutex<BTreeSet<u32>>,
}

impl GroupFile {
    /// An empty list kept in `path`.
    pub(crate) fn new(path: PathBuf) -> GroupFile {
        GroupFile {
            path,
            groups: Mutex::new(BTreeSet::new()),
        }
    }

    fn write(&self, groups: &BTreeSet<u32>) {
        let temp = self.path.with_extension("tmp");
        let text: String = groups.iter().map(|g| format!("{g}\n")).collect();
        // Best effort: the guard only matters when the sim dies.
        if std::fs::write(&temp, text).is_ok() {
            let _ = std::fs::rename(&temp, &self.path);
        }
    }

    /// Lists group `pgid`.
    pub(crate) fn add(&self, pgid: u32) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups.insert(pgid);
        self.write(&groups);
    }

    /// Unlists group `pgid` (its leader is about to be, or was, reaped).
    pub(crate) fn remove(&self, pgid: u32) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups.remove(&pgid);
        self.write(&groups);
    }
}

/// The running guard process.
#[derive(Debug)]
pub(crate) struct Guard {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Guard {
    /// Starts the guard for `file` and `dir`, in its own process group (a
    /// Ctrl-C meant for the sim's terminal does not reach it). `None` when
    /// no shell can be started: the sim then runs without one (and the
    /// runs, which need the same shell, fail with the reason).
    pub(crate) fn start(file: &Path, dir: &Path) -> Option<Guard> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("dcos-sim-guard")
            .arg(file)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        Some(Guard { child, stdin })
    }

    /// Closes the pipe (the guard then does its work) and waits at most
    /// `limit` for it to end.
    pub(crate) fn finish(mut self, limit: Duration) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Unfinished (the agent went without a shutdown): closing the pipe
        // is what makes the guard clean up and end.
        self.stdin.take();
    }
}
