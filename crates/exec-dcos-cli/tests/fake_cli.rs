//! The executor against small shell scripts standing in for `dcos`: what
//! reaches the command line, the job file's mode, the environment, a
//! missing program, and a hung `dcos` killed at its time limit.

use canary_core::apply::JobAction;
use canary_core::clock::{ManualClock, Timestamp};
use canary_core::executor::{ExecError, Executor};
use canary_engine::apply::{apply, plan_apply};
use canary_engine::{NoEvents, NoLoadBalancers, Session};
use exec_dcos_cli::{CliConfig, DcosCliExecutor};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Writes an executable script `dcos` into `dir`.
fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("dcos");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn job_documents_go_through_a_private_file_never_argv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seen");
    std::fs::create_dir(&out).unwrap();
    // Records its arguments, the file's mode and content, the directory's
    // mode and its DCOS_* environment.
    let program = script(
        dir.path(),
        &format!(
            "out={out}\nprintf '%s\\n' \"$@\" > $out/args\nstat -c %a \"$3\" > $out/mode\n\
             stat -c %a \"$(dirname \"$3\")\" > $out/dirmode\ncat \"$3\" > $out/body\n\
             env | grep '^DCOS_' | sort > $out/env",
            out = out.display()
        ),
    );
    let temp = dir.path().join("tmp");
    std::fs::create_dir(&temp).unwrap();
    let mut executor = DcosCliExecutor::new(
        CliConfig::new(&program)
            .with_dcos_dir("/nowhere/dcos-dir")
            .with_cluster("sim-cluster")
            .with_temp_dir(&temp),
    )
    .unwrap();
    let spec = json!({"id": "deploy-web-canary", "run": {"cmd": "echo 'secret-ish'", "cpus": 0.1, "mem": 32, "disk": 0}});
    executor.create_job(&spec).unwrap();

    let args = std::fs::read_to_string(out.join("args")).unwrap();
    let lines: Vec<&str> = args.lines().collect();
    assert_eq!(&lines[..2], ["job", "add"], "{args}");
    assert_eq!(lines.len(), 3, "{args}");
    assert!(
        !args.contains("echo"),
        "the document is not on the command line: {args}"
    );
    assert!(lines[2].starts_with(temp.to_str().unwrap()), "{args}");
    assert_eq!(
        std::fs::read_to_string(out.join("mode")).unwrap().trim(),
        "600"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("dirmode")).unwrap().trim(),
        "700"
    );
    let body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("body")).unwrap()).unwrap();
    assert_eq!(body, spec);
    let env = std::fs::read_to_string(out.join("env")).unwrap();
    assert!(env.contains("DCOS_DIR=/nowhere/dcos-dir\n"), "{env}");
    assert!(env.contains("DCOS_CLUSTER=sim-cluster\n"), "{env}");
    // The file and its directory are gone afterwards.
    assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0);

    executor.replace_job(&spec).unwrap();
    let args = std::fs::read_to_string(out.join("args")).unwrap();
    assert!(args.starts_with("job\nupdate\n"), "{args}");
}

#[test]
fn a_hung_dcos_is_killed_at_its_time_limit_with_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    // A grandchild that keeps the output pipes open, and a child that
    // never exits: both must go.
    let program = script(dir.path(), "sleep 300 &\nsleep 300");
    let mut executor =
        DcosCliExecutor::new(CliConfig::new(&program).with_timeout(Duration::from_millis(300)))
            .unwrap();
    let started = Instant::now();
    let error = executor.start_run("deploy-web-canary").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    match error {
        ExecError::Unreachable { target, message } => {
            assert_eq!(target, "dcos job run deploy-web-canary --json");
            assert!(
                message.contains("did not finish within 300ms and was killed"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_program_is_named_with_the_systems_reason() {
    let mut executor = DcosCliExecutor::new(CliConfig::new("/nonexistent/dcos")).unwrap();
    match executor.group_apps("web").unwrap_err() {
        ExecError::Other { message } => {
            assert!(
                message.contains("cannot run `/nonexistent/dcos`"),
                "{message}"
            );
            assert!(message.contains("No such file"), "{message}");
            // The library names no flag of the binary's (which words the hint).
            assert!(!message.contains("--"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unrecognised_failures_keep_the_clis_stderr_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiJib290c3RyYXB1c2VyIn0.c2lnbmF0dXJl";
    let program = script(
        dir.path(),
        &format!("echo 'Something odd happened near token={jwt}' >&2\nexit 3"),
    );
    let mut executor = DcosCliExecutor::new(CliConfig::new(&program)).unwrap();
    match executor.get_job("deploy-web-canary").unwrap_err() {
        ExecError::Other { message } => {
            assert!(
                message.starts_with("`dcos job list --json` exited 3: Something odd happened"),
                "{message}"
            );
            assert!(!message.contains(jwt), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_isolated_child_sees_only_the_basics_and_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    // Prints its environment as a failure's message (which keeps stderr).
    let program = script(dir.path(), "env | sort >&2\nexit 1");
    let env_of = |config: CliConfig| match DcosCliExecutor::new(config).unwrap().group_apps("web") {
        Err(ExecError::Other { message }) => message,
        other => panic!("{other:?}"),
    };
    // cargo runs tests with CARGO_MANIFEST_DIR in the environment.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let inherited = env_of(CliConfig::new(&program));
    assert!(inherited.contains("CARGO_MANIFEST_DIR="), "{inherited}");
    let isolated = env_of(
        CliConfig::new(&program)
            .isolated()
            .with_env("DCOS_URL", "http://127.0.0.1:9"),
    );
    assert!(!isolated.contains("CARGO_MANIFEST_DIR="), "{isolated}");
    assert!(
        isolated.contains("DCOS_URL=http://127.0.0.1:9"),
        "{isolated}"
    );
    assert!(isolated.contains("PATH="), "{isolated}");
}

/// A 502 as dcoscli logs it with `DCOS_LOG_LEVEL=error`.
const LOGGED_502: &str = "MainThread: 2026-11-27 13:30:40,323 /venv/dcos/rpcclient.py:http_req:130 - DCOS Error: Bad Gateway\n{\"message\":\"injected fault\"}\nError: injected fault";

/// `dcos job add` meets a 502 (the job was made all the same), is
/// repeated, and meets its own job: the executor reports the conflict, and
/// the apply use case reads the job and, equal to its own, counts it as
/// created. Another job under that id stays a conflict.
/// A session of the engine over `exec` (no marathon-lb, no events).
fn session(exec: &mut DcosCliExecutor) -> Session<'_> {
    Session::new(
        Box::new(exec),
        Box::new(NoLoadBalancers),
        std::sync::Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1))),
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        Box::new(NoEvents),
    )
}

#[test]
fn a_create_repeated_after_a_502_that_meets_its_own_job_is_reconciled_by_apply() {
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({"id": "deploy-web-canary", "run": {"cmd": "sleep 5", "cpus": 0.1, "mem": 32, "disk": 0}});
    let mut listed = spec.clone();
    listed["description"] = json!("as it stands");
    // `job add`: a 502 (the job was made all the same), then a duplicate;
    // `job list`: nothing before the first add, then the job as the first
    // attempt made it, or another one.
    let program = |listed: &serde_json::Value| {
        script(
            dir.path(),
            &format!(
                "test \"$DCOS_LOG_LEVEL\" = error || exit 9\n\
                 if [ \"$2\" = add ]; then\n\
                   if [ ! -e {count} ]; then touch {count}; printf '%s\\n' '{logged}' >&2; exit 1; fi\n\
                   echo 'Changes blocked: deployment already in progress for resource.' >&2; exit 1\n\
                 fi\n\
                 if [ -e {count} ]; then echo '[{listed}]'; else echo '[]'; fi",
                count = dir.path().join("added").display(),
                logged = LOGGED_502,
                listed = listed,
            ),
        )
    };
    let waits = std::sync::Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1)));
    let config = |program: &Path| {
        CliConfig::new(program)
            .with_retry(exec_dcos_cli::RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(4),
                max_total: Duration::from_secs(30),
            })
            .with_clock(waits.clone())
    };
    let same = program(&spec);
    let mut exec = DcosCliExecutor::new(config(&same)).unwrap();
    let plan = plan_apply(&mut session(&mut exec), std::slice::from_ref(&spec)).unwrap();
    assert_eq!(plan[0].action, JobAction::Create);
    match exec.create_job(&spec) {
        Err(ExecError::Conflict { what, .. }) => assert_eq!(what, "job deploy-web-canary"),
        other => panic!("{other:?}"),
    }
    assert_eq!(waits.sleeps().len(), 1, "the 502 was repeated");
    apply(&mut session(&mut exec), &plan).expect("the first attempt made it");

    // Another job with that id: a conflict after all.
    std::fs::remove_file(dir.path().join("added")).unwrap();
    let other = program(&listed);
    let mut exec = DcosCliExecutor::new(config(&other)).unwrap();
    let plan = plan_apply(&mut session(&mut exec), std::slice::from_ref(&spec)).unwrap();
    let err = apply(&mut session(&mut exec), &plan).unwrap_err();
    assert!(matches!(err.source, ExecError::Conflict { .. }), "{err}");
}
