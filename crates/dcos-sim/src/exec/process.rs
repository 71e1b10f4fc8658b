//! The processes of runs that execute: a shell in its own process group,
//! its output copied into the sandbox with a cap, its exit noticed without
//! reaping it (so its process group id cannot be reused while the group is
//! signalled), and small bounded commands (the archive listing and
//! extraction of artifacts).

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The most of a run's stdout, and of its stderr, kept in the sandbox.
pub const OUTPUT_CAP: u64 = 16 * 1024 * 1024;

/// A run's process group, as far as signalling it is safe: the leader's
/// pid (the group id) until the leader is reaped. While the leader is an
/// unreaped zombie no new process can get its pid, so the group id names
/// this run's group and nothing else.
#[derive(Debug, Default)]
pub(crate) struct Group {
    leader: Option<u32>,
    reaped: bool,
}

impl Group {
    /// Records the leader of a new group.
    pub(crate) fn started(&mut self, pid: u32) {
        self.leader = Some(pid);
    }

    /// Sends `signal` to the whole group, unless its leader is reaped (or
    /// was never started). A group with no process left is no error.
    pub(crate) fn signal(&self, signal: Signal) {
        if self.reaped {
            return;
        }
        let Some(pid) = self.leader.and_then(|p| Pid::from_raw(p as i32)) else {
            return;
        };
        let _ = rustix::process::kill_process_group(pid, signal);
    }

    /// Kills whatever is left of the group, then reaps the leader (which
    /// has exited): from then on the group is never signalled again.
    pub(crate) fn reap(&mut self, child: &mut Child) -> std::io::Result<ExitStatus> {
        self.signal(Signal::KILL);
        let status = child.wait();
        self.reaped = true;
        status
    }
}

/// Locks a group, whatever a panicking holder left.
pub(crate) fn lock(group: &Mutex<Group>) -> std::sync::MutexGuard<'_, Group> {
    group.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts `shell -c cmd` in `dir` with exactly `env`, stdin from
/// `/dev/null`, stdout and stderr piped, as the leader of its own process
/// group (so that a kill reaches everything it started).
pub(crate) fn spawn_shell(
    shell: &Path,
    cmd: &str,
    env: &[(String, String)],
    dir: &Path,
) -> std::io::Result<Child> {
    Command::new(shell)
        .arg("-c")
        .arg(cmd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// Blocks until process `pid` (a child of ours) has exited, leaving it
/// unreaped.
pub(crate) fn wait_exited(pid: u32) {
    let Some(pid) = Pid::from_raw(pid as i32) else {
        return;
    };
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            // Exited, or no such child (reaped already): either way done.
            _ => return,
        }
    }
}

/// Copies `reader` to `out` until the reader ends, writing at most `cap`
/// bytes; past the cap the rest is read and dropped (so the writer never
/// blocks) and one line says how much was cut. A write error stops the
/// writing, not the reading.
pub(crate) fn copy_capped(mut reader: impl Read, mut out: impl Write, cap: u64) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    let mut dropped = 0u64;
    let mut writable = true;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let keep = cap.saturating_sub(written).min(n as u64) as usize;
        if writable && keep > 0 {
            writable = out.write_all(&buffer[..keep]).is_ok();
        }
        written += keep as u64;
        dropped += (n - keep) as u64;
    }
    if dropped > 0 && writable {
        let _ = writeln!(
            out,
            "\n[dcos-sim: {dropped} more bytes were cut: a sandbox keeps {} MiB of each stream]",
            cap / (1024 * 1024)
        );
    }
    let _ = out.flush();
}

/// What a bounded command printed and how it ended.
#[derive(Debug)]
pub(crate) struct Bounded {
    /// How it ended.
    pub status: ExitStatus,
    /// Its stdout, at most the cap asked for.
    pub stdout: Vec<u8>,
    /// The start of its stderr.
    pub stderr: String,
}

/// Runs `program args` (no stdin, its own process group, `LANG=C`) and
/// waits at most `limit`; past it the group is killed. More than
/// `stdout_cap` bytes of stdout is an error.
pub(crate) fn run_bounded(
    program: &str,
    args: &[&std::ffi::OsStr],
    limit: Duration,
    stdout_cap: usize,
) -> Result<Bounded, String> {
    let mut child = Command::new(program)
        .args(args)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let pid = child.id();
    let mut group = Group::default();
    group.started(pid);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let out_reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(pipe) = stdout {
            let _ = pipe.take(stdout_cap as u64 + 1).read_to_end(&mut kept);
        }
        kept
    });
    let err_reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(pipe) = stderr {
            let mut limited = pipe.take(4096);
            let _ = limited.read_to_end(&mut kept);
            // Drain the rest so the command never blocks on a full pipe.
            let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let (exited, exits) = mpsc::channel();
    std::thread::spawn(move || {
        wait_exited(pid);
        let _ = exited.send(());
    });
    let deadline = Instant::now() + limit;
    let timed_out = exits
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_err();
    if timed_out {
        group.signal(Signal::KILL);
        let _ = exits.recv_timeout(Duration::from_secs(5));
    }
    let status = group
        .reap(&mut child)
        .map_err(|e| format!("waiting for {program} failed: {e}"))?;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if timed_out {
        return Err(format!(
            "{program} did not finish within {} s and was killed",
            limit.as_secs()
        ));
    }
    if stdout.len() > stdout_cap {
        return Err(format!(
            "{program} printed more than {stdout_cap} bytes, more than dcos-sim reads"
        ));
    }
    Ok(Bounded {
        status,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_cap_is_cut_with_a_note() {
        let mut out = Vec::new();
        copy_capped(&[b'x'; 100][..], &mut out, 10);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("xxxxxxxxxx\n[dcos-sim: 90 more bytes"),
            "{text}"
        );
        let mut whole = Vec::new();
        copy_capped(&b"short"[..], &mut whole, 10);
        assert_eq!(whole, b"short");
    }

    #[test]
    fn bounded_commands_report_their_output_and_time_limit() {
        let ok = run_bounded(
            "sh",
            &["-c".as_ref(), "echo hi; echo err >&2".as_ref()],
            Duration::from_secs(30),
            100,
        )
        .unwrap();
        assert!(ok.status.success());
        assert_eq!(ok.stdout, b"hi\n");
        assert_eq!(ok.stderr, "err\n");
        let slow = run_bounded(
            "sh",
            &["-c".as_ref(), "sleep 30".as_ref()],
            Duration::from_millis(100),
            100,
        )
        .unwrap_err();
        assert!(slow.contains("did not finish"), "{slow}");
        let loud = run_bounded(
            "sh",
            &["-c".as_ref(), "echo 0123456789".as_ref()],
            Duration::from_secs(30),
            4,
        )
        .unwrap_err();
        assert!(loud.contains("more than 4 bytes"), "{loud}");
        let missing =
            run_bounded("/nonexistent/dcos-sim-tool", &[], Duration::from_secs(1), 4).unwrap_err();
        assert!(
            missing.contains("cannot run /nonexistent/dcos-sim-tool"),
            "{missing}"
        );
    }
}
