//! canary against a flaky dcos-sim: injected 5xx answers, dropped
//! connections and Marathon deployment locks are retried until apply and
//! status converge, never duplicating a job; a lasting failure stops with the
//! server's own message and the documented exit code.

mod common;

use dcos_sim::faults::FaultRule;
use dcos_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use std::process::Output;

const JOBS: &str = "/service/metronome/v1/jobs";

fn canary(args: &[&str]) -> Output {
    let dcos_dir = tempfile::tempdir().unwrap();
    common::canary_in(args, dcos_dir.path(), &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sim() -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .unwrap()
}

fn fault(sim: &SimHandle, rule: Value) {
    let rule: FaultRule = serde_json::from_value(rule).unwrap();
    sim.add_fault(rule);
}

fn faults_left(sim: &SimHandle) -> usize {
    sim.fault_rules().len()
}

fn job_ids(sim: &SimHandle) -> Vec<String> {
    sim.job_ids()
}

fn apply(sim: &SimHandle, image: &str) -> Output {
    canary(&common::apply_web(sim.dcos_url(), image))
}

#[test]
fn apply_converges_through_5xx_and_dropped_connections_without_duplicates() {
    let sim = sim();
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "POST",
               "action": {"status": {"code": 503}}, "times": 2}),
    );
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "GET", "action": "drop", "times": 1}),
    );
    let out = apply(&sim, "nginx:1.25");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(faults_left(&sim), 0, "every fault was met");
    assert_eq!(
        job_ids(&sim),
        [
            "deploy-web-canary",
            "rollback-web-canary",
            "rollout-web-canary"
        ]
    );

    // Replacing through gateway errors on the PUTs.
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "PUT",
               "action": {"status": {"code": 502}}, "times": 2}),
    );
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "PUT", "action": "drop", "times": 1}),
    );
    let out = apply(&sim, "nginx:1.26");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(faults_left(&sim), 0);
    assert_eq!(job_ids(&sim).len(), 3);
    // Converged: the next apply changes nothing.
    let out = apply(&sim, "nginx:1.26");
    assert_eq!(
        text(&out.stdout),
        "rollback-web-canary: unchanged\nrollout-web-canary: unchanged\ndeploy-web-canary: unchanged\n"
    );
}

#[test]
fn status_waits_out_a_deployment_lock() {
    let sim = sim();
    fault(
        &sim,
        json!({"path_prefix": "/service/marathon/v2/apps",
               "action": {"status": {"code": 409, "body": {
                   "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                   "deployments": [{"id": "97c136bf-5a28-4821-9d94-480d9fbb01c8"}]}}},
               "times": 2}),
    );
    let out = canary(&["status", "--app", "web", "--dcos-url", sim.dcos_url()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(faults_left(&sim), 0);
    assert!(text(&out.stdout).contains("no app of the group runs"));
}

#[test]
fn a_permanent_500_fails_fast_with_the_servers_message() {
    let sim = sim();
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "POST",
               "action": {"status": {"code": 500, "body": {"message": "disk quota exceeded on zk"}}}}),
    );
    let out = apply(&sim, "nginx:1.25");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("500 Internal Server Error: disk quota exceeded on zk"),
        "{stderr}"
    );
    assert!(job_ids(&sim).is_empty());
}

/// The retry budget is time (`--retry-for`, 60 s by default): a lasting
/// 503 is retried until it is spent, then fails with the server's message
/// and how many attempts were made in how long.
#[test]
fn a_lasting_503_fails_after_the_retry_budget_with_the_servers_message() {
    let sim = sim();
    fault(
        &sim,
        json!({"path_prefix": JOBS,
               "action": {"status": {"code": 503, "body": {"message": "Metronome is restarting"}}}}),
    );
    let out = canary(&[
        "apply",
        "--app",
        "web",
        "--image",
        "nginx:1.25",
        "--dcos-url",
        sim.dcos_url(),
        "--retry-for",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("503 Service Unavailable: Metronome is restarting"),
        "{stderr}"
    );
    // Waits of 125-250 ms, 250-500 ms, 0.5-1 s fit in 2 s: at least 4
    // attempts, and no wait past the budget.
    let (attempts, seconds) = stderr
        .split_once("(after ")
        .and_then(|(_, rest)| rest.split_once(" attempts in "))
        .and_then(|(n, rest)| Some((n.parse::<u32>().ok()?, rest.split_once(" s)")?.0)))
        .and_then(|(n, s)| Some((n, s.parse::<f64>().ok()?)))
        .unwrap_or_else(|| panic!("no attempts note: {stderr}"));
    assert!(attempts >= 4, "{stderr}");
    assert!(seconds <= 2.5, "{stderr}");
    assert!(job_ids(&sim).is_empty());
}

/// `--timeout` bounds the whole wait of `run --wait`, slow answers included:
/// with every poll of the run held 45 s by the cluster (longer than a
/// request's own 30 s limit), a 3 s timeout still ends the command at about
/// 3 s, saying the run goes on and how to follow it.
#[test]
fn run_wait_timeout_bounds_slow_polls() {
    let sim = SimHandle::start(SimConfig {
        time_scale: 1.0,
        ..SimConfig::default()
    })
    .unwrap();
    sim.set_run_hook(Some(std::sync::Arc::new(
        |_: &dcos_sim::metronome::RunContext| {
            dcos_sim::metronome::RunPlan::success(std::time::Duration::from_secs(86_400))
        },
    )));
    assert_eq!(apply(&sim, "nginx:1.25").status.code(), Some(0));
    fault(
        &sim,
        json!({"path_prefix": format!("{JOBS}/deploy-web-canary/runs/"), "method": "GET",
               "action": {"delay": {"ms": 45_000}}}),
    );
    let started = std::time::Instant::now();
    let out = canary(&[
        "run",
        "deploy",
        "--app",
        "web",
        "--wait",
        "--timeout",
        "3s",
        "--dcos-url",
        sim.dcos_url(),
    ]);
    let took = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("did not finish within 3s; it is still"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("it goes on: follow it with `dcos job show runs deploy-web-canary --run-id "),
        "{stderr}"
    );
    // Far below one held answer (45 s), let alone a request's 30 s limit
    // plus its retries: the bound held.
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
}

/// A cluster's error answer of 1.5 MB is quoted to its first 2000
/// characters, saying it was cut.
#[test]
fn a_huge_error_answer_is_quoted_cut() {
    let sim = sim();
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "POST",
               "action": {"status": {"code": 400, "body": {"message": "x".repeat(1_500_000)}}}}),
    );
    let out = apply(&sim, "nginx:1.25");
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        &stderr[..stderr.len().min(3000)]
    );
    assert!(stderr.len() < 4000, "{} bytes of error", stderr.len());
    assert!(
        stderr.contains(&format!(
            "{}… (cut: 1498000 more characters)",
            "x".repeat(2000)
        )),
        "{}",
        &stderr[..stderr.len().min(3000)]
    );
}
