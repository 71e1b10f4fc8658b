//! The HTTP executor against dcos-sim over loopback: every operation's
//! success and error cases, canary-core's apply through it, auth and faults.
//! The cluster clock is manual and retry waits happen on a manual clock
//! that records them.

use canary_core::apply::JobAction;
use canary_core::clock::{ManualClock, Timestamp};
use canary_core::executor::{ExecError, Executor, RunStatus};
use canary_core::{AppName, CanaryRequest};
use canary_engine::apply::{apply, plan_apply};
use canary_engine::{NoEvents, NoLoadBalancers, Session};
use canary_render::Renderer;
use dcos_sim::{SimConfig, SimHandle};
use exec_http::{Credentials, Endpoints, HttpConfig, HttpExecutor, RetryPolicy, Timeouts};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use test_support::ClusterClock;

/// A session of the engine over `exec` (no marathon-lb, no events): the
/// apply use case's.
fn session(exec: &mut HttpExecutor) -> Session<'_> {
    Session::new(
        Box::new(exec),
        Box::new(NoLoadBalancers),
        Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1))),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
        Box::new(NoEvents),
    )
}

const JOBS: &str = "/service/metronome/v1/jobs";

/// The executor's clock: waits are recorded and return at once.
type Waits = ManualClock;

fn start(auth: bool) -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        start_time_ms: Some(1_700_000_000_000),
        auth,
        control: true,
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

fn tiny_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_total: Duration::from_secs(10),
    }
}

fn config_for(endpoints: Endpoints, retry: RetryPolicy) -> (HttpConfig, Arc<Waits>) {
    let waits = Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(
        1_700_000_000,
    )));
    let config = HttpConfig::new(endpoints)
        .with_retry(retry)
        .with_clock(waits.clone())
        .with_jitter_seed(1);
    (config, waits)
}

fn executor_with(sim: &SimHandle, credentials: Credentials) -> (HttpExecutor, Arc<Waits>) {
    let (config, waits) = config_for(Endpoints::dcos(sim.dcos_url()).unwrap(), tiny_retries(3));
    let executor = HttpExecutor::new(config.with_credentials(credentials)).unwrap();
    (executor, waits)
}

fn executor(sim: &SimHandle) -> (HttpExecutor, Arc<Waits>) {
    executor_with(sim, Credentials::None)
}

/// Adds a fault rule through the sim's control endpoint `POST /__sim/faults`.
fn fault(sim: &SimHandle, rule: Value) {
    let url = format!("{}/__sim/faults", sim.dcos_url());
    let reply = ureq::post(&url)
        .send_json(&rule)
        .expect("the fault is added");
    assert!(reply.status().is_success(), "{rule}");
}

/// How many hits the active fault rules have left, in order.
fn faults_left(sim: &SimHandle) -> Vec<Option<u32>> {
    sim.fault_rules().iter().map(|r| r.times).collect()
}

fn job_ids(sim: &SimHandle) -> Vec<String> {
    sim.job_ids()
}

fn job(id: &str) -> Value {
    json!({"id": id, "run": {"cmd": "sleep 1", "cpus": 0.1, "mem": 32, "disk": 0}})
}

/// The three canary jobs for `web` with `image`.
fn rendered_jobs(image: &str) -> Vec<Value> {
    let request = CanaryRequest::new(AppName::new("web").unwrap(), image);
    Renderer::embedded()
        .render(&request, &BTreeMap::new())
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.document)
        .collect()
}

/// Every job as the sim's Metronome shows it.
fn all_jobs(sim: &SimHandle) -> Value {
    let (mut exec, _) = executor(sim);
    let jobs: Vec<Value> = job_ids(sim)
        .iter()
        .map(|id| exec.get_job(id).unwrap().unwrap().spec)
        .collect();
    Value::Array(jobs)
}

#[test]
fn create_conflict_and_invalid_carry_metronomes_words() {
    let sim = start(false);
    let (mut exec, waits) = executor(&sim);
    exec.create_job(&job("a")).unwrap();
    match exec.create_job(&job("a")) {
        Err(ExecError::Conflict { what, message }) => {
            assert_eq!(what, "job a");
            assert_eq!(message, "Job with this id already exists");
        }
        other => panic!("{other:?}"),
    }
    let mut bad = job("b");
    bad["run"]["mem"] = json!(16);
    match exec.create_job(&bad) {
        Err(ExecError::Invalid { what, message }) => {
            assert_eq!(what, "job b");
            assert!(
                message.starts_with("Object is not valid: /run/mem: "),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        exec.create_job(&json!({"run": {}})),
        Err(ExecError::Invalid { .. })
    ));
    assert_eq!(job_ids(&sim), ["a"]);
    assert!(waits.sleeps().is_empty(), "nothing was retried");
}

#[test]
fn apply_creates_three_jobs_then_keeps_them_without_writing() {
    let sim = start(false);
    let (mut exec, _) = executor(&sim);
    let jobs = rendered_jobs("nginx:1.25");
    let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
    assert!(
        plan.iter().all(|p| p.action == JobAction::Create),
        "{plan:?}"
    );
    let done = apply(&mut session(&mut exec), &plan).unwrap();
    assert_eq!(done.len(), 3);
    assert_eq!(
        job_ids(&sim),
        [
            "deploy-web-canary",
            "rollback-web-canary",
            "rollout-web-canary"
        ]
    );
    let before = all_jobs(&sim);

    // Any write to the jobs now would be counted by these rules.
    for method in ["POST", "PUT"] {
        fault(
            &sim,
            json!({"path_prefix": JOBS, "method": method,
                   "action": {"status": {"code": 500}}, "times": 100}),
        );
    }
    let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
    assert!(plan.iter().all(|p| p.action == JobAction::Keep), "{plan:?}");
    apply(&mut session(&mut exec), &plan).unwrap();
    assert_eq!(faults_left(&sim), [Some(100), Some(100)], "no POST or PUT");
    assert_eq!(all_jobs(&sim), before);
}

#[test]
fn apply_with_an_active_run_stops_it_then_replaces_the_job() {
    let sim = start(false);
    let (mut exec, _) = executor(&sim);
    let plan = plan_apply(&mut session(&mut exec), &rendered_jobs("nginx:1.25")).unwrap();
    apply(&mut session(&mut exec), &plan).unwrap();
    let run = exec.start_run("deploy-web-canary").unwrap();
    sim.advance(Duration::from_secs(2));

    let jobs = rendered_jobs("nginx:1.26");
    let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
    let deploy = plan.iter().find(|p| p.id == "deploy-web-canary").unwrap();
    assert_eq!(
        deploy.action,
        JobAction::Replace {
            stop_runs: vec![run.run_id.clone()]
        }
    );
    apply(&mut session(&mut exec), &plan).unwrap();
    assert_eq!(
        exec.run_status("deploy-web-canary", &run.run_id)
            .unwrap()
            .status,
        RunStatus::Failed
    );
    let live = exec.get_job("deploy-web-canary").unwrap().unwrap();
    assert!(live.active_runs.is_empty());
    let desired = jobs
        .iter()
        .find(|j| j["id"] == "deploy-web-canary")
        .unwrap();
    assert_eq!(
        canary_core::apply::strip_metronome_defaults(&live.spec),
        canary_core::apply::strip_metronome_defaults(desired)
    );
    let plan = plan_apply(&mut session(&mut exec), &jobs).unwrap();
    assert!(plan.iter().all(|p| p.action == JobAction::Keep), "{plan:?}");
}

#[test]
fn auth_a_token_works_and_its_absence_says_how_to_log_in() {
    let sim = start(true);
    let token = sim.issue_token("bootstrapuser");
    let (mut exec, _) = executor_with(&sim, Credentials::Token(token.clone()));
    assert_eq!(exec.get_job("a").unwrap(), None);
    exec.create_job(&job("a")).unwrap();
    assert!(!format!("{exec:?}").contains(&token));

    let (mut anonymous, waits) = executor(&sim);
    match anonymous.get_job("a") {
        Err(ExecError::Auth { message }) => {
            assert!(message.contains("no token was given"), "{message}");
            assert!(message.contains("dcos auth login"), "{message}");
            assert!(message.contains("DCOS_ACS_TOKEN"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(waits.sleeps().is_empty(), "401 is not retried");

    let wrong = "not-a-valid-token-S3CR3T";
    let (mut bad, _) = executor_with(&sim, Credentials::Token(wrong.into()));
    let err = bad.create_job(&job("b")).unwrap_err();
    assert!(matches!(err, ExecError::Auth { .. }), "{err:?}");
    for text in [err.to_string(), format!("{err:?}"), format!("{bad:?}")] {
        assert!(!text.contains(wrong), "{text}");
        assert!(!text.contains(&token), "{text}");
    }
    assert!(err.to_string().contains("refused"), "{err}");
}

#[test]
fn a_token_echoed_by_the_server_is_redacted() {
    let sim = start(false);
    let secret = "tok-ECHOED-123";
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "GET",
               "action": {"status": {"code": 500, "body": {"message": format!("bad header token={secret}")}}},
               "times": 1}),
    );
    let (mut exec, _) = executor_with(&sim, Credentials::Token(secret.into()));
    let err = exec.get_job("a").unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(err.to_string().contains("token=<redacted>"), "{err}");
}

/// The executor reports the 409 a repeated create meets; the apply use
/// case reads the job and, equal to its own, counts it as created.
#[test]
fn an_apply_whose_repeated_create_meets_its_own_job_is_done() {
    let sim = start(false);
    let (mut exec, waits) = executor(&sim);
    let jobs = rendered_jobs("nginx:1.25");
    let plan = plan_apply(&mut session(&mut exec), &jobs[..1]).unwrap();
    // As if the first POST had created the job before the connection broke.
    exec.create_job(&jobs[0]).unwrap();
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "POST", "action": "drop", "times": 1}),
    );
    assert!(matches!(
        exec.create_job(&jobs[0]),
        Err(ExecError::Conflict { .. })
    ));
    assert_eq!(waits.sleeps().len(), 1, "the dropped POST was repeated");
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "POST", "action": "drop", "times": 1}),
    );
    let done = apply(&mut session(&mut exec), &plan).unwrap();
    assert_eq!(done[0].1, JobAction::Create);
    assert_eq!(job_ids(&sim).len(), 1);
    // A different job under that id is still a conflict.
    let mut other = jobs[0].clone();
    other["run"]["cmd"] = json!("echo other");
    let plan = vec![canary_core::apply::JobPlan {
        desired: other,
        ..plan[0].clone()
    }];
    let err = apply(&mut session(&mut exec), &plan).unwrap_err();
    assert!(matches!(err.source, ExecError::Conflict { .. }), "{err}");
}

#[test]
fn a_permanent_500_fails_fast_with_the_servers_message() {
    let sim = start(false);
    let (mut exec, waits) = executor(&sim);
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "GET",
               "action": {"status": {"code": 500, "body": {"message": "disk quota exceeded"}}},
               "times": 10}),
    );
    match exec.get_job("a") {
        Err(ExecError::Other { message }) => {
            assert!(message.contains("500"), "{message}");
            assert!(message.contains("disk quota exceeded"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(faults_left(&sim), [Some(9)], "one request only");
    assert!(waits.sleeps().is_empty());
}

#[test]
fn retries_are_bounded_in_count() {
    let sim = start(false);
    let (mut exec, waits) = executor(&sim);
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "GET",
               "action": {"status": {"code": 503, "body": {"message": "leader unknown"}}},
               "times": 10}),
    );
    match exec.get_job("a") {
        Err(ExecError::Unreachable { target, message }) => {
            assert!(target.contains(sim.dcos_url()), "{target}");
            assert!(target.contains("/service/metronome/v1/jobs/a"), "{target}");
            assert!(message.contains("503"), "{message}");
            assert!(message.contains("leader unknown"), "{message}");
            assert!(message.contains("3 attempts"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(faults_left(&sim), [Some(7)], "three attempts");
    let taken = waits.sleeps();
    assert_eq!(taken.len(), 2, "{taken:?}");
    // Capped exponential backoff with jitter in the upper half.
    assert!(taken[0] >= Duration::from_micros(500) && taken[0] <= Duration::from_millis(1));
    assert!(taken[1] >= Duration::from_millis(1) && taken[1] <= Duration::from_millis(2));
}

#[test]
fn retries_are_bounded_in_total_time() {
    let sim = start(false);
    let retry = RetryPolicy {
        max_attempts: 1000,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(2),
        max_total: Duration::from_secs(5),
    };
    let (config, waits) = config_for(Endpoints::dcos(sim.dcos_url()).unwrap(), retry);
    let mut exec = HttpExecutor::new(config).unwrap();
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "GET",
               "action": {"status": {"code": 502}}, "times": 100}),
    );
    assert!(matches!(
        exec.get_job("a"),
        Err(ExecError::Unreachable { .. })
    ));
    let taken = waits.sleeps();
    let total: Duration = taken.iter().sum();
    assert!(total <= Duration::from_secs(5), "{taken:?}");
    assert!(taken.len() >= 2 && taken.len() < 10, "{taken:?}");
    assert!(
        taken.iter().all(|d| *d <= Duration::from_secs(2)),
        "{taken:?}"
    );
    let attempts = taken.len() as u32 + 1;
    assert_eq!(faults_left(&sim), [Some(100 - attempts)]);
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let sim = start(false);
    let (config, waits) = config_for(Endpoints::dcos(sim.dcos_url()).unwrap(), tiny_retries(2));
    let config = config.with_timeouts(Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_millis(300),
    });
    let mut exec = HttpExecutor::new(config).unwrap();
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "GET",
               "action": {"delay": {"ms": 3000}}, "times": 1}),
    );
    assert_eq!(exec.get_job("a").unwrap(), None);
    assert_eq!(waits.sleeps().len(), 1);
}

#[test]
fn metronome_directly_and_a_wrong_url_is_no_missing_job() {
    let sim = start(false);
    let (config, _) = config_for(
        Endpoints::metronome(sim.dcos_url()).unwrap(),
        tiny_retries(2),
    );
    let mut direct = HttpExecutor::new(config).unwrap();
    direct.create_job(&job("a")).unwrap();
    assert!(direct.get_job("a").unwrap().is_some());

    let wrong = format!("{}/service/nothing-here", sim.dcos_url());
    let (config, _) = config_for(Endpoints::metronome(&wrong).unwrap(), tiny_retries(2));
    let mut wrong = HttpExecutor::new(config).unwrap();
    match wrong.get_job("a") {
        Err(ExecError::Other { message }) => {
            assert!(message.contains("Metronome's URL"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_redirect_is_not_followed() {
    let sim = start(false);
    let (mut exec, waits) = executor_with(&sim, Credentials::Token("t0ken".into()));
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "GET",
               "action": {"status": {"code": 307}}, "times": 1}),
    );
    match exec.get_job("a") {
        Err(ExecError::Other { message }) => {
            assert!(message.contains("307"), "{message}");
            assert!(message.contains("redirects are not followed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(waits.sleeps().is_empty());
}

#[test]
fn forbidden_is_an_auth_error_naming_the_operation() {
    let sim = start(false);
    let (mut exec, waits) = executor_with(&sim, Credentials::Token("t0ken-XYZ".into()));
    fault(
        &sim,
        json!({"path_prefix": JOBS, "method": "PUT",
               "action": {"status": {"code": 403, "body": {"message": "Not Authorized to perform this action!"}}},
               "times": 1}),
    );
    match exec.replace_job(&job("a")) {
        Err(ExecError::Auth { message }) => {
            assert!(message.contains("not permitted to PUT job a"), "{message}");
            assert!(
                message.contains("Not Authorized to perform this action!"),
                "{message}"
            );
            assert!(message.contains("dcos auth login"), "{message}");
            assert!(!message.contains("t0ken-XYZ"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(waits.sleeps().is_empty());
}

/// Marathon's answer to a change while a deployment holds the app.
fn lock_body() -> Value {
    json!({
        "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": [{"id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}]
    })
}

#[test]
fn marathon_needs_a_url_when_metronome_is_addressed_directly() {
    let sim = start(false);
    let metronome = format!("{}/service/metronome", sim.dcos_url());
    let (config, _) = config_for(Endpoints::metronome(&metronome).unwrap(), tiny_retries(1));
    let mut exec = HttpExecutor::new(config).unwrap();
    let err = exec.group_apps("web").unwrap_err();
    assert!(
        err.to_string().contains("Marathon's URL is not configured"),
        "{err}"
    );
    let marathon = format!("{}/service/marathon", sim.dcos_url());
    let endpoints = Endpoints::metronome(&metronome)
        .unwrap()
        .with_marathon(&marathon)
        .unwrap();
    assert_eq!(endpoints.marathon_url(), Some(marathon.as_str()));
    let (config, _) = config_for(endpoints, tiny_retries(1));
    assert_eq!(
        HttpExecutor::new(config)
            .unwrap()
            .group_apps("web")
            .unwrap(),
        []
    );
}

#[test]
fn a_lasting_lock_is_a_locked_error_after_the_retry_budget() {
    let sim = start(false);
    let (mut exec, waits) = executor(&sim);
    fault(
        &sim,
        json!({"path_prefix": "/service/marathon/v2/apps",
               "action": {"status": {"code": 409, "body": lock_body()}}}),
    );
    let err = exec.group_apps("web").unwrap_err();
    let ExecError::Locked { what, message } = &err else {
        panic!("not a lock: {err:?}");
    };
    assert_eq!(what, "Marathon apps");
    assert!(
        message.contains("locked by one or more deployments"),
        "{message}"
    );
    assert!(message.contains("after 3 attempts"), "{message}");
    assert_eq!(waits.sleeps().len(), 2);
}

#[test]
fn metronomes_own_conflicts_are_not_locks_and_not_retried() {
    let sim = start(false);
    let (mut exec, waits) = executor(&sim);
    exec.create_job(&job("a")).unwrap();
    let err = exec.create_job(&job("a")).unwrap_err();
    assert!(matches!(err, ExecError::Conflict { .. }), "{err:?}");
    assert!(waits.sleeps().is_empty());
}

/// `group_apps` during a Marathon leader election of `seconds` (503 on
/// every Marathon path), retrying per `policy` on the cluster's clock;
/// returns the outcome and the cluster time it took.
fn group_apps_during_a_leader_election(
    seconds: u64,
    policy: RetryPolicy,
) -> (Result<Vec<canary_core::MarathonApp>, ExecError>, u64) {
    let sim = start(false);
    let clock = Arc::new(ClusterClock(sim.sim().clone()));
    let config = HttpConfig::new(Endpoints::dcos(sim.dcos_url()).unwrap())
        .with_retry(policy)
        .with_clock(clock)
        .with_jitter_seed(7);
    let mut exec = HttpExecutor::new(config).unwrap();
    let url = format!("{}/__sim/faults/leader-change", sim.dcos_url());
    let reply = ureq::post(&url)
        .send_json(json!({"seconds": seconds}))
        .expect("the leader change starts");
    assert!(reply.status().is_success());
    let before = sim.now_ms();
    let outcome = exec.group_apps("web");
    (outcome, sim.now_ms() - before)
}

/// Marathon answers 503 for 10 s while it elects a leader; the default
/// retry policy (60 s in all) outlasts it, and the waits it took add up to
/// the election's length. The control: the old policy of 5 quick attempts
/// gives up after about 3 s, so the test can tell them apart.
#[test]
fn a_ten_second_marathon_leader_election_is_outlasted_by_the_default_policy() {
    let (outcome, waited) = group_apps_during_a_leader_election(10, RetryPolicy::default());
    assert_eq!(outcome.unwrap(), []);
    assert!((10_000..20_000).contains(&waited), "waited {waited} ms");

    let five_attempts = RetryPolicy {
        max_attempts: 5,
        ..RetryPolicy::default()
    };
    let (outcome, waited) = group_apps_during_a_leader_election(10, five_attempts);
    match outcome {
        Err(ExecError::Unreachable { message, .. }) => {
            assert!(message.contains("after 5 attempts"), "{message}");
            assert!(message.contains("503"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(waited < 10_000, "gave up after {waited} ms");
}
