//! `canary apply --backend http` against dcos-sim over loopback: creates,
//! then changes nothing, dry-runs with a diff, replaces after stopping runs,
//! and maps auth and connection failures to their exit codes.

mod common;

use dcos_sim::{SimConfig, SimHandle};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

/// An empty dcos CLI configuration directory, so the machine's ~/.dcos
/// never leaks into a test.
fn empty_dcos_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn canary(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dcos_dir = empty_dcos_dir();
    common::canary_in(args, dcos_dir.path(), env)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn apply(sim: &SimHandle, image: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "apply",
        "--backend",
        "http",
        "--app",
        "web",
        "--image",
        image,
        "--dcos-url",
        sim.dcos_url(),
    ];
    args.extend_from_slice(extra);
    canary(&args, env)
}

fn jobs(sim: &SimHandle) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let token = sim.issue_token("bootstrapuser");
    let mut response = agent
        .get(&format!("{}/service/metronome/v1/jobs", sim.dcos_url()))
        .header("Authorization", &format!("token={token}"))
        .call()
        .unwrap();
    response.body_mut().read_json::<Vec<Value>>().unwrap()
}

#[test]
fn apply_creates_then_changes_nothing_then_replaces_after_stopping_runs() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let out = apply(&sim, "nginx:1.25", &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "rollback-web-canary: created\nrollout-web-canary: created\ndeploy-web-canary: created\n"
    );
    let before = jobs(&sim);
    assert_eq!(before.len(), 3);

    let out = apply(&sim, "nginx:1.25", &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "rollback-web-canary: unchanged\nrollout-web-canary: unchanged\ndeploy-web-canary: unchanged\n"
    );
    assert_eq!(jobs(&sim), before, "a second apply changes nothing");

    // A run of the deploy job is active; a new image changes every job.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let started = agent
        .post(&format!(
            "{}/service/metronome/v1/jobs/deploy-web-canary/runs",
            sim.dcos_url()
        ))
        .send_empty()
        .unwrap();
    assert_eq!(started.status().as_u16(), 201);
    sim.advance(Duration::from_secs(2));

    let out = apply(&sim, "nginx:1.26", &["--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dry = text(&out.stdout);
    assert!(
        dry.starts_with("deploy-web-canary: would stop 1 run(s) ("),
        "{dry}"
    );
    assert!(
        dry.contains("~ /labels/canary.image: \"nginx:1.25\" -> \"nginx:1.26\""),
        "{dry}"
    );
    assert!(dry.contains("rollout-web-canary: would replace\n"), "{dry}");
    assert_eq!(jobs(&sim), before, "a dry run changes nothing");

    let out = apply(&sim, "nginx:1.26", &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let done = text(&out.stdout);
    // Written rollback first, deploy last.
    assert!(
        done.starts_with("rollback-web-canary: replaced\nrollout-web-canary: replaced\n"),
        "{done}"
    );
    assert!(
        done.contains("\ndeploy-web-canary: replaced (stopped runs: "),
        "{done}"
    );
    let after = jobs(&sim);
    assert_eq!(after.len(), 3, "replaced, never duplicated");
    assert!(
        after
            .iter()
            .all(|j| j["labels"]["canary.image"] == "nginx:1.26")
    );
}

#[test]
fn auth_failures_exit_6_and_never_print_the_token() {
    let sim = SimHandle::start(SimConfig {
        auth: true,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let out = apply(&sim, "nginx:1.25", &[], &[]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("DCOS_ACS_TOKEN"),
        "{}",
        text(&out.stderr)
    );

    let wrong = "not-a-valid-token-0123456789";
    let out = apply(&sim, "nginx:1.25", &[], &[("DCOS_ACS_TOKEN", wrong)]);
    assert_eq!(out.status.code(), Some(6));
    assert!(!text(&out.stderr).contains(wrong) && !text(&out.stdout).contains(wrong));

    let token = sim.issue_token("bootstrapuser");
    let out = apply(&sim, "nginx:1.25", &[], &[("DCOS_ACS_TOKEN", &token)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains(&token) && !text(&out.stdout).contains(&token));
}

#[test]
fn an_unreachable_cluster_exits_5_and_no_url_at_all_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = canary(
        &[
            "apply",
            "--app",
            "web",
            "--image",
            "nginx:1.25",
            "--dcos-url",
            &url,
            "--retry-for",
            "1s",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("cannot reach GET {url}/service/metronome")),
        "{}",
        text(&out.stderr)
    );

    let out = canary(&["apply", "--app", "web", "--image", "nginx:1.25"], &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("no DC/OS URL: pass --dcos-url URL"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn after_dcos_cluster_setup_apply_needs_no_url_and_no_token() {
    let sim = SimHandle::start(SimConfig {
        auth: true,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let token = sim.issue_token("bootstrapuser");
    // What `dcos cluster setup` writes.
    let dcos_dir = empty_dcos_dir();
    common::attached_cluster(dcos_dir.path(), sim.dcos_url(), &token);
    let dir = dcos_dir.path().to_str().unwrap();
    let out = canary(
        &["apply", "--app", "web", "--image", "nginx:1.25"],
        &[("DCOS_DIR", dir)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("deploy-web-canary: created"));
    assert!(!text(&out.stdout).contains(&token) && !text(&out.stderr).contains(&token));
    assert_eq!(jobs(&sim).len(), 3);

    // The stored token belongs to that cluster: another URL does not get it.
    let other = SimHandle::start(SimConfig {
        auth: true,
        seed: 1,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap();
    let out = canary(
        &[
            "apply",
            "--app",
            "web",
            "--image",
            "nginx:1.25",
            "--dcos-url",
            other.dcos_url(),
        ],
        &[("DCOS_DIR", dir)],
    );
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no token was given"),
        "{}",
        text(&out.stderr)
    );

    // Nor through the dcos CLI, which would send it wherever DCOS_URL says:
    // refused before any `dcos` runs (the program given is never started).
    let out = canary(
        &[
            "status",
            "--app",
            "web",
            "--backend",
            "dcos-cli",
            "--dcos-bin",
            "/bin/false",
            "--dcos-url",
            other.dcos_url(),
        ],
        &[("DCOS_DIR", dir)],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not the dcos CLI's attached cluster") && !stderr.contains(&token),
        "{stderr}"
    );
}

fn run_phase(sim: &SimHandle, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "deploy",
        "--app",
        "web",
        "--dcos-url",
        sim.dcos_url(),
    ];
    args.extend_from_slice(extra);
    canary(&args, &[])
}

#[test]
fn run_wait_follows_the_run_to_success_failure_or_timeout() {
    // 1,000 cluster seconds per real second: a 10 s run takes 10 ms.
    let sim = SimHandle::start(SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(apply(&sim, "nginx:1.25", &[], &[]).status.code(), Some(0));

    // No canary in progress: nothing to roll out; nothing is started.
    let rollout = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "rollout",
            "--app",
            "web",
            "--dcos-url",
            sim.dcos_url(),
        ];
        args.extend_from_slice(extra);
        canary(&args, &[])
    };
    let out = rollout(&[]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "error: not starting rollout-web-canary: no canary in progress in deployment group web \
         (0 app(s) found): rollout needs one; see `canary status --app web` (--force starts it anyway)\n"
    );
    assert!(sim.active_run_ids("rollout-web-canary").is_empty());

    let out = run_phase(&sim, &["--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("deploy-web-canary: started run ") && stdout.contains(" succeeded\n"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains(": SUCCESS"),
        "{}",
        text(&out.stderr)
    );

    sim.set_run_hook(Some(std::sync::Arc::new(
        |_: &dcos_sim::metronome::RunContext| {
            dcos_sim::metronome::RunPlan::failure(Duration::from_secs(5))
        },
    )));
    let out = run_phase(&sim, &["--wait"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("failed; find its task with `dcos job history deploy-web-canary`"),
        "{stderr}"
    );

    // A day-long run, started without --wait, stays active.
    sim.set_run_hook(Some(std::sync::Arc::new(
        |_: &dcos_sim::metronome::RunContext| {
            dcos_sim::metronome::RunPlan::success(Duration::from_secs(86_400))
        },
    )));
    let out = run_phase(&sim, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let started = text(&out.stdout);
    let run_id = started
        .strip_prefix("deploy-web-canary: started run ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{started}"));

    // While it runs, no phase starts...
    let out = run_phase(&sim, &["--wait"]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "job deploy-web-canary has an active run ({run_id}): wait for it to finish or stop it first"
        )),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(sim.active_run_ids("deploy-web-canary"), [run_id]);
    // ...unless forced, and then --wait gives up after --timeout.
    let out = run_phase(&sim, &["--wait", "--timeout", "1s", "--force"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("did not finish within 1s; it is still ACTIVE"),
        "{}",
        text(&out.stderr)
    );
    // A run still going has no completed task: the hint says how to follow
    // it, not how to read completed logs.
    let forced = text(&out.stdout);
    let forced_id = forced
        .strip_prefix("deploy-web-canary: started run ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{forced}"));
    assert!(
        text(&out.stderr).contains(&format!(
            "it goes on: follow it with `dcos job show runs deploy-web-canary --run-id {forced_id}`"
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("--completed"),
        "{}",
        text(&out.stderr)
    );

    let out = run_phase(&sim, &["--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2));
}
