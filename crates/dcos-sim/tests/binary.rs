//! The `dcos-sim` binary: its first line names the DC/OS URL, then each
//! marathon-lb URL, all on 127.0.0.1; flags set faults and accounts.

mod common;

use common::jobs::{Api, wait_gone};
use common::{get, send, wait_until};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Running, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcos-sim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("dcos-sim starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    // Blocks until the sim has bound its listeners and printed their URLs.
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let urls = line.split_whitespace().map(str::to_owned).collect();
    (Running(child), urls)
}

#[test]
fn first_line_names_dcos_then_each_marathon_lb() {
    let (_sim, urls) = start(&["--port", "0", "--marathon-lb-count", "2", "--seed", "9"]);
    assert_eq!(urls.len(), 3, "{urls:?}");
    for url in &urls {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(url.rsplit(':').next().unwrap().parse::<u16>().unwrap() > 0);
    }
    assert_eq!(get(&format!("{}/metadata", urls[0])).status, 200);
    for lb in &urls[1..] {
        assert_eq!(
            get(&format!("{lb}/_haproxy_getpids"))
                .body
                .split(' ')
                .count(),
            2
        );
        assert!(
            get(&format!("{lb}/haproxy?stats;csv"))
                .body
                .starts_with("# pxname,svname,")
        );
    }
}

#[test]
fn flags_set_faults_and_accounts() {
    let dir = tempfile_dir();
    let users = dir.join("users");
    let mut file = std::fs::File::create(&users).unwrap();
    writeln!(file, "# test accounts\nalice:wonderland").unwrap();
    let fault = r#"{"path_prefix":"/metadata","action":{"status":{"code":503}},"times":1}"#;
    let (_sim, urls) = start(&[
        "--auth",
        "--users-file",
        users.to_str().unwrap(),
        "--fault",
        fault,
    ]);
    let login = |uid: &str, password: &str| {
        send(
            "POST",
            &format!("{}/acs/api/v1/auth/login", urls[0]),
            &[],
            Some(&serde_json::json!({"uid": uid, "password": password})),
        )
        .status
    };
    assert_eq!(login("alice", "wonderland"), 200);
    assert_eq!(
        login("bootstrapuser", "deleteme"),
        401,
        "the file replaces the default account"
    );
    assert_eq!(
        get(&format!("{}/metadata", urls[0])).status,
        503,
        "the fault comes before auth"
    );
    assert_eq!(get(&format!("{}/metadata", urls[0])).status, 401);
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dcos-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bad_account_flags_exit_3_naming_the_flag() {
    for (args, needle) in [
        (
            vec!["--service-account", "ci-bot"],
            "--service-account: 'ci-bot' is not UID=PEM_FILE",
        ),
        (
            vec!["--service-account", "ci-bot=/nonexistent.pem"],
            "--service-account: cannot read /nonexistent.pem",
        ),
        (
            vec!["--users-file", "/nonexistent-users"],
            "--users-file: cannot read /nonexistent-users",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dcos-sim"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn lb_bind_puts_marathon_lbs_on_loopback_addresses_with_one_port_and_their_flags_apply() {
    let (_sim, urls) = start(&[
        "--lb-bind",
        "127.0.0.2:0",
        "--lb-bind",
        "127.0.0.3:0",
        "--lb-reload-window",
        "3",
        "--lb-delay",
        "2",
        "--control",
        "--time-scale",
        "0",
    ]);
    assert_eq!(urls.len(), 3, "{urls:?}");
    assert!(urls[0].starts_with("http://127.0.0.1:"));
    assert!(urls[1].starts_with("http://127.0.0.2:"), "{urls:?}");
    assert!(urls[2].starts_with("http://127.0.0.3:"), "{urls:?}");
    let port = |u: &str| u.rsplit(':').next().unwrap().to_owned();
    assert_eq!(port(&urls[1]), port(&urls[2]));
    // Each change an instance adopts (the new app's empty backend at 2 s,
    // its healthy task at 9 s) is a reload of 3 s.
    let app = serde_json::json!({"id": "/web", "instances": 1, "cmd": "serve",
        "portDefinitions": [{"port": 10000}],
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}]});
    assert_eq!(
        send("POST", &format!("{}/v2/apps", urls[0]), &[], Some(&app)).status,
        201
    );
    let clock = format!("{}/__sim/clock/advance", urls[0]);
    let pids = |lb: &str| {
        get(&format!("{lb}/_haproxy_getpids"))
            .body
            .split_whitespace()
            .count()
    };
    // Healthy at 7 s, adopted 2 s later.
    let advance = serde_json::json!({"seconds": 8});
    assert_eq!(send("POST", &clock, &[], Some(&advance)).status, 200);
    assert!(urls[1..].iter().all(|lb| pids(lb) == 2));
    let advance = serde_json::json!({"seconds": 1});
    assert_eq!(send("POST", &clock, &[], Some(&advance)).status, 200);
    assert!(urls[1..].iter().all(|lb| pids(lb) == 3));
}

#[test]
fn bad_marathon_lb_flags_are_usage_errors_naming_the_flag() {
    for (args, needle) in [
        (
            vec!["--lb-bind", "10.0.0.1:9090"],
            "invalid value '10.0.0.1:9090' for '--lb-bind <ADDR:PORT>': 10.0.0.1:9090 is not on loopback",
        ),
        (
            vec!["--lb-bind", "127.0.0.2"],
            "'127.0.0.2' is not ADDR:PORT",
        ),
        (
            vec!["--lb-bind", "127.0.0.2:0", "--marathon-lb-count", "2"],
            "'--lb-bind <ADDR:PORT>' cannot be used with '--marathon-lb-count <N>'",
        ),
        (
            vec!["--lb-bind", "127.0.0.2:0", "--lb-port", "9090"],
            "'--lb-bind <ADDR:PORT>' cannot be used with '--lb-port <PORT>'",
        ),
        (vec!["--session-drain", "2"], "'2' is not N:SECONDS"),
        (
            vec!["--lb-delay=-1"],
            "'-1' is not a number of seconds >= 0",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dcos-sim"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_haproxy_that_cannot_run_exits_4_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_dcos-sim"))
        .args([
            "--haproxy",
            "/nonexistent/haproxy",
            "--lb-bind",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/nonexistent/haproxy"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn runner_path_must_be_a_directory() {
    let output = Command::new(env!("CARGO_BIN_EXE_dcos-sim"))
        .args(["--runner-path", "/nonexistent/dcos-sim-runner"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--runner-path") && stderr.contains("is not a directory"),
        "{stderr}"
    );
}

/// A sim killed with SIGKILL cannot clean up: its guard kills the job
/// runs' process groups and removes their sandboxes.
#[test]
fn a_killed_sim_leaves_no_job_process_or_sandbox_behind() {
    let runner = tempfile_dir();
    let (mut sim, urls) = start(&[
        "--time-scale",
        "0",
        "--runner-path",
        runner.to_str().unwrap(),
    ]);
    let api = Api::at(&urls[0]);
    api.add_job(
        "hold",
        serde_json::json!({"cmd": "sleep 1000 & echo $! > child.pid; echo $$ > sh.pid; wait"}),
    );
    let run = api.run("hold");
    let task = api.active_task("hold", &run);
    let pids: Vec<u32> = ["sh.pid", "child.pid"]
        .iter()
        .map(|name| api.wait_line(&task, name).parse().unwrap())
        .collect();
    let (_, sandbox) = api.sandbox(&task);
    sim.0.kill().unwrap();
    sim.0.wait().unwrap();
    wait_gone(&pids);
    wait_until(common::jobs::LIMIT, "the sandboxes to be removed", || {
        !std::path::Path::new(&sandbox).exists()
    });
}
