//! The `dcos` child of `--backend dcos-cli`, played by small shell scripts:
//! SIGTERM during an operation ends the child's whole process group and
//! removes its job file, and what a child prints is bounded in memory and in
//! the error that quotes it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes an executable `dcos` into `dir` whose `job list` prints `[]` and
/// whose other commands run `body`.
fn fake_dcos(dir: &Path, job_list: &str, body: &str) -> PathBuf {
    let path = dir.join("dcos");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$1 $2\" in\n  \"job list\") {job_list} ;;\n  *) {body} ;;\nesac\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Whether process `pid` is gone (or a zombie no one reaped: it runs no
/// more either way).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits (bounded) until `check` holds, polling the condition itself.
fn eventually(what: &str, limit: Duration, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn canary_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("canary-dcos-"))
        .collect()
}

const APPLY: [&str; 9] = [
    "apply",
    "--backend",
    "dcos-cli",
    "--app",
    "web",
    "--image",
    "nginx:1.25",
    "--retry-for",
    "1s",
];

#[test]
fn sigterm_during_a_dcos_run_ends_its_process_group_and_removes_its_job_file() {
    let bin = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("pids");
    // `job add FILE`: starts a long child of its own, records both pids,
    // and waits; nothing ends it but a signal.
    let dcos = fake_dcos(
        bin.path(),
        "echo '[]'",
        "sleep 1000 & echo \"$$ $!\" > \"$MARKER.part\"; mv \"$MARKER.part\" \"$MARKER\"; wait",
    );
    let dcos_dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = APPLY.to_vec();
    let dcos_path = dcos.to_str().unwrap();
    args.extend(["--dcos-bin", dcos_path]);
    let mut child = common::canary_command(
        &args,
        dcos_dir.path(),
        &[
            ("TMPDIR", tmp.path().to_str().unwrap()),
            ("MARKER", marker.to_str().unwrap()),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while !marker.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!("canary ended first ({status}): {}", text(&out.stderr));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the fake `dcos job add` starts"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pids = std::fs::read_to_string(&marker).unwrap();
    let (shell, sleeper) = pids.trim().split_once(' ').unwrap();
    assert_eq!(
        canary_dirs(tmp.path()).len(),
        1,
        "the job file's directory exists meanwhile"
    );
    assert!(!gone(shell) && !gone(sleeper));

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    assert!(stderr.contains("run it again to finish"), "{stderr}");
    // canary reaped the shell before it exited; the sleeper died with its
    // group (and may wait for a reaper as a zombie).
    assert!(gone(shell), "the dcos child is ended");
    eventually(
        "the dcos child's own child ends",
        Duration::from_secs(10),
        || gone(sleeper),
    );
    assert!(
        canary_dirs(tmp.path()).is_empty(),
        "the job file is removed"
    );
}

#[test]
fn what_a_dcos_child_prints_is_bounded() {
    let bin = tempfile::tempdir().unwrap();
    let dcos_dir = tempfile::tempdir().unwrap();
    // 300 MB on stderr, then a failure: the error quotes 2000 characters.
    let noisy = fake_dcos(
        bin.path(),
        "head -c 300000000 /dev/zero | tr '\\0' x >&2; exit 1",
        "exit 1",
    );
    let mut args: Vec<&str> = APPLY.to_vec();
    args.extend(["--dcos-bin", noisy.to_str().unwrap()]);
    let (out, _) = common::canary_limited(&args, dcos_dir.path(), &[], 1024 * 1024);
    let stderr = text(&out.stderr);
    let head = &stderr[..stderr.len().min(3000)];
    assert_eq!(out.status.code(), Some(5), "{:?}: {head}", out.status);
    assert!(stderr.len() < 4000, "{} bytes of error", stderr.len());
    assert!(stderr.contains("… (cut: "), "{head}");
    assert!(
        stderr.contains("more bytes of its output were not kept"),
        "{head}"
    );

    // 300 MB of standard output: refused, not read into memory.
    let flood = fake_dcos(
        bin.path(),
        "head -c 300000000 /dev/zero | tr '\\0' x",
        "exit 1",
    );
    let mut args: Vec<&str> = APPLY.to_vec();
    args.extend(["--dcos-bin", flood.to_str().unwrap()]);
    let (out, _) = common::canary_limited(&args, dcos_dir.path(), &[], 1024 * 1024);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{:?}: {stderr}", out.status);
    assert!(
        stderr.contains("`dcos job list --json` printed more than 64 MiB, more than canary reads"),
        "{stderr}"
    );
}
