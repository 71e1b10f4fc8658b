//! Everything that can be checked before the first change is checked
//! first, every time bound holds within a second or two of what was asked,
//! and what a command says is true: through the binary against dcos-sim.
//! Each case failed before its fix (the figures: a hook path found
//! missing only at the first kill, after the canary was created;
//! `deploy --timeout 3s` against a silent Marathon ending after 61 s with
//! exit 5; `--drain-timeout 1s` with a silent marathon-lb after 22 s; a
//! literal `\u{a}` in `--dry-run`; a refused plan exiting 0; a usage error
//! without a last `failed` line; `--group` echoed raw; `rollback --image`
//! of an image never deployed saying "rolled back").

mod common;

use common::Running;
use common::sim_cli::{apps, canary, command, ended_with, live, ok, sim, text};
use dcos_sim::SimHandle;
use dcos_sim::faults::FaultRule;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// Runs `args`, which must end with exit `code` within `limit`: a bound
/// the command was given, plus its last answer's grace and the process's
/// start.
fn ends_within(sim: &SimHandle, args: &[&str], code: i32, limit: Duration) {
    let started = Instant::now();
    let out = canary(sim, args);
    let took = started.elapsed();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {said}");
    assert!(took < limit, "{args:?} took {took:?}: {said}");
}

fn fault(sim: &SimHandle, rule: Value) {
    sim.add_fault(serde_json::from_value::<FaultRule>(rule).unwrap());
}

/// An executable script in `dir` with `body`.
fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Waits (at most 60 s) for `path` to exist: what a hook writes once it
/// runs.
fn appears(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dry_runs_print_lines_and_a_refused_plan_is_refused() {
    let sim = sim();
    live(&sim);
    let out = canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--dry-run",
        ],
    );
    let plan = ok(&out);
    assert!(!plan.contains("\\u{a}"), "{plan}");
    assert!(
        plan.lines()
            .next()
            .unwrap()
            .starts_with("deployment group testapp: ")
            && plan.lines().nth(1).unwrap().starts_with("marathon-lb: "),
        "{plan}"
    );
    let out = canary(&sim, &["rollback", "--app", "testapp", "--dry-run"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("next step: refused"));
    assert!(
        text(&out.stderr).contains("rollback refused: no canary in progress"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn json_events_end_with_done_or_failed_even_on_a_usage_error() {
    let sim = sim();
    live(&sim);
    let last = |out: &Output| -> Value {
        serde_json::from_str(text(&out.stdout).lines().last().expect("a line")).unwrap()
    };
    let out = canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--dry-run",
            "--events",
            "json",
        ],
    );
    assert_eq!(last(&out)["event"], "done");
    let out = canary(
        &sim,
        &["deploy", "--app", "testapp", "--events", "json", "--bogus"],
    );
    assert_eq!(out.status.code(), Some(2));
    let failed = last(&out);
    assert_eq!(
        (failed["event"].as_str(), failed["exit_code"].as_u64()),
        (Some("failed"), Some(2))
    );
    assert!(failed["error"].as_str().unwrap().contains("'--bogus'"));
}

#[test]
fn groups_hooks_and_durations_are_refused_before_anything() {
    let sim = sim();
    live(&sim);
    let before = apps(&sim);
    let out = canary(&sim, &["rollout", "--app", "testapp", "--group", "a\nb"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("--group: 'a\\nb' contains whitespace"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("hook.sh");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    for (hook, why) in [
        ("/nonexistent/hook", "No such file or directory"),
        (not_executable.to_str().unwrap(), "is not executable"),
    ] {
        let out = canary(
            &sim,
            &[
                "deploy",
                "--app",
                "testapp",
                "--image",
                "httpd:2.4",
                "--pre-kill-hook",
                hook,
            ],
        );
        ended_with(&out, 3, why);
    }
    for flag in ["--pause", "--interval", "--timeout"] {
        let out = canary(
            &sim,
            &[
                "deploy",
                "--app",
                "testapp",
                "--image",
                "httpd:2.4",
                "--steps",
                "1,2",
                flag,
                "99999999999h",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(
            text(&out.stderr).contains("is longer than 168h"),
            "{flag}: {}",
            text(&out.stderr)
        );
    }
    // An analysis that cannot end within --max-duration (30m by default)
    // is refused at once: `--interval 1h --timeout 5s` once ran for hours.
    for (method, said) in [
        (
            "sequential",
            "--interval 1h is longer than --max-duration 30m",
        ),
        (
            "windows",
            "--interval 3600s × --count 5 is 5h, longer than --max-duration 30m",
        ),
    ] {
        let out = canary(
            &sim,
            &[
                "deploy",
                "--app",
                "testapp",
                "--image",
                "httpd:2.4",
                "--analyze",
                "--analysis",
                method,
                "--interval",
                "1h",
                "--timeout",
                "5s",
            ],
        );
        ended_with(&out, 3, said);
    }
    // Nothing of any of it reached the cluster.
    assert_eq!(apps(&sim), before);
}

#[test]
fn a_marathon_lb_that_cannot_be_read_is_found_before_the_canary_is_created() {
    let sim = sim();
    live(&sim);
    let before = apps(&sim);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--marathon-lb",
            &format!("http://127.0.0.1:{closed}"),
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("deploy refused before any change: marathon-lb http://127.0.0.1:")
            && text(&out.stderr).contains("nothing was changed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(apps(&sim), before);
}

#[test]
fn rollback_image_says_what_it_found() {
    let sim = sim();
    live(&sim);
    let out = ok(&canary(
        &sim,
        &[
            "rollback",
            "--app",
            "testapp",
            "--image",
            "never-deployed:1",
        ],
    ));
    assert!(
        out.contains("nothing to roll back in deployment group testapp")
            && !out.contains("rolled back ("),
        "{out}"
    );
    ok(&canary(
        &sim,
        &["deploy", "--app", "testapp", "--image", "httpd:2.4"],
    ));
    let canary_up = apps(&sim);
    for phase in ["rollback", "rollout"] {
        let out = canary(&sim, &[phase, "--app", "testapp", "--image", "httpd:2.5"]);
        ended_with(&out, 8, "is /testapp-green with httpd:2.4, not httpd:2.5");
    }
    assert_eq!(apps(&sim), canary_up);
}

#[test]
fn a_hook_past_its_timeout_or_stopped_by_a_signal_is_killed_with_its_children() {
    let sim = sim();
    live(&sim);
    let dir = tempfile::tempdir().unwrap();
    let child_pid = dir.path().join("child");
    let hook = script(
        dir.path(),
        "hang.sh",
        &format!(
            "sleep 300 &\necho $! > {p}.tmp && mv {p}.tmp {p}\nwait",
            p = child_pid.display()
        ),
    );
    // Past its timeout: exit 7, nothing killed, the hook's child gone.
    let out = canary(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--pre-kill-hook",
            hook.to_str().unwrap(),
            "--pre-kill-hook-timeout",
            "1s",
        ],
    );
    ended_with(
        &out,
        7,
        "did not finish within 1 s and was killed with its children",
    );
    let said = text(&out.stderr);
    assert!(!said.contains(": kill "), "no kill was said: {said}");
    let pid = std::fs::read_to_string(&child_pid).unwrap();
    assert!(
        test_support::process_gone(pid.trim()),
        "the hook's child {pid} survived"
    );
    std::fs::remove_file(&child_pid).unwrap();
    // A signal while it runs: exit 9 at once, the hook and its child gone.
    let deploy = Running::start(command(
        &sim,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--pre-kill-hook",
            hook.to_str().unwrap(),
        ],
        dir.path(),
    ));
    appears(&child_pid);
    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &deploy.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, said) = deploy.finish(Duration::from_secs(30));
    assert_eq!(code, Some(9), "{said}");
    assert!(signalled.elapsed() < Duration::from_secs(5), "{said}");
    assert!(said.contains("running the pre-kill hook"), "{said}");
    let pid = std::fs::read_to_string(&child_pid).unwrap();
    assert!(
        test_support::process_gone(pid.trim()),
        "the hook's child {pid} survived"
    );
}

#[test]
fn time_limits_hold_whatever_the_cluster_does() {
    let sim = sim();
    live(&sim);
    ok(&canary(
        &sim,
        &["deploy", "--app", "testapp", "--image", "httpd:2.4"],
    ));
    // A Marathon that never answers: the phase ends at its --timeout, 9.
    fault(
        &sim,
        json!({"path_prefix": "/service/marathon", "action": {"delay": {"ms": 600000}}}),
    );
    ends_within(
        &sim,
        &[
            "rollout",
            "--app",
            "testapp",
            "--group",
            "testapp",
            "--image",
            "httpd:2.4",
            "--timeout",
            "3s",
            "--retry-for",
            "60s",
        ],
        9,
        Duration::from_secs(7),
    );
    // --retry-for 1s bounds a read that is never answered.
    ends_within(
        &sim,
        &[
            "analyze",
            "--app",
            "testapp",
            "--group",
            "testapp",
            "--retry-for",
            "1s",
        ],
        5,
        Duration::from_secs(4),
    );
    sim.clear_faults();
    // A marathon-lb that stops answering mid-drain: --drain-timeout 1s
    // holds (the phase fails, saying so, within a few seconds).
    let dir = tempfile::tempdir().unwrap();
    let mut rollback = Running::start(command(
        &sim,
        &["rollback", "--app", "testapp", "--drain-timeout", "1s"],
        dir.path(),
    ));
    rollback.wait_for("scale /testapp-blue", Duration::from_secs(60));
    fault(
        &sim,
        json!({"path_prefix": "/haproxy", "lb": 0, "action": {"delay": {"ms": 600000}}}),
    );
    let started = Instant::now();
    let (code, said) = rollback.finish(Duration::from_secs(60));
    assert_ne!(code, Some(0), "{said}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}: {said}",
        started.elapsed()
    );
}
