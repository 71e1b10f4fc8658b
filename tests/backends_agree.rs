//! `canary apply` then `canary run deploy --wait` through each backend
//! (`http`, `dcos-cli` with the real dcos CLI) leave dcos-sim in the same
//! state: the same jobs, runs, history and apps, once run ids and
//! timestamps (which legitimately differ) are normalised; and
//! `canary status --json` then reads the same through both.
//!
//! Each backend gets a fresh sim with the same seed, authentication on and
//! a still clock, set up as a user would: `dcos cluster setup` into a
//! private `DCOS_DIR`, which both backends read (the HTTP one takes the URL
//! and token from it). Runs finish at the first look after they start
//! (a run hook with no duration), so `--wait` needs no clock.
//!
//! The CLI is found by [`executor_conformance::real_cli::find`]; without
//! it (decided when the tests are built), the tests that need it are
//! ignored with the reason, except under `CI=true`, where they fail.

use dcos_sim::metronome::{RunHook, RunPlan};
use dcos_sim::{SimConfig, SimHandle};
use executor_conformance::real_cli;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "bootstrapuser";
const PASSWORD: &str = "deleteme";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A sim and the dcos CLI configuration directory attached to it.
struct Cluster {
    sim: SimHandle,
    home: tempfile::TempDir,
    dcos_dir: PathBuf,
}

impl Cluster {
    fn start(cli: &Path) -> Cluster {
        let sim = SimHandle::start(SimConfig {
            auth: true,
            time_scale: 0.0,
            seed: 7,
            ..SimConfig::default()
        })
        .expect("the sim starts");
        let at_once: RunHook = Arc::new(|_| RunPlan::success(Duration::ZERO));
        sim.set_run_hook(Some(at_once));
        let home = tempfile::tempdir().expect("a temporary home");
        let dcos_dir = real_cli::setup_cluster(cli, sim.dcos_url(), home.path(), USER, PASSWORD);
        Cluster {
            sim,
            home,
            dcos_dir,
        }
    }

    /// `canary ARGS` with only this cluster's dcos configuration.
    fn canary(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_canary-under-test"))
            .args(args)
            .current_dir(self.home.path())
            .env_remove("DCOS_URL")
            .env_remove("DCOS_ACS_TOKEN")
            .env_remove("DCOS_CLUSTER")
            .env("HOME", self.home.path())
            .env("DCOS_DIR", &self.dcos_dir)
            .stdin(Stdio::null())
            .output()
            .expect("canary runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "canary {args:?}\n--- stdout\n{}--- stderr\n{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        output
    }

    /// GET a path of the sim's API with a token.
    fn get(&self, path: &str) -> Value {
        let token = self.sim.issue_token(USER);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut reply = agent
            .get(&format!("{}{path}", self.sim.dcos_url()))
            .header("Authorization", &format!("token={token}"))
            .call()
            .expect("the sim answers");
        assert_eq!(reply.status().as_u16(), 200, "GET {path}");
        reply.body_mut().read_json().expect("JSON")
    }

    /// POST a document to a path of the sim's API with a token.
    fn post(&self, path: &str, body: &Value) {
        let token = self.sim.issue_token(USER);
        let reply = ureq::post(&format!("{}{path}", self.sim.dcos_url()))
            .header("Authorization", &format!("token={token}"))
            .send_json(body)
            .expect("the sim accepts it");
        assert!(reply.status().is_success(), "POST {path}");
    }

    /// Everything canary can have changed: Metronome's jobs with their
    /// runs and history, Marathon's apps and deployments.
    fn state(&self) -> Value {
        let mut state = Map::new();
        state.insert(
            "jobs".into(),
            self.get(
                "/service/metronome/v1/jobs?embed=activeRuns&embed=history&embed=historySummary",
            ),
        );
        state.insert("apps".into(), self.get("/service/marathon/v2/apps"));
        state.insert(
            "deployments".into(),
            self.get("/service/marathon/v2/deployments"),
        );
        Value::Object(state)
    }
}

/// Replaces what legitimately differs between two sims: timestamps (the
/// clocks started at different real times), run ids (they embed the time)
/// and task ids (they embed run ids). Run ids are numbered in order of
/// appearance, so the same structure still compares equal and a different
/// one does not.
fn normalise(value: &mut Value, runs: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if key.ends_with("At") && member.is_string() {
                    *member = Value::String("<time>".into());
                } else if key == "tasks" {
                    if let Value::Array(tasks) = member {
                        for task in tasks {
                            *task = Value::String("<task>".into());
                        }
                    }
                } else if key == "id" && map_is_run(member) {
                    let next = format!("<run {}>", runs.len() + 1);
                    let id = member.as_str().unwrap_or_default().to_owned();
                    *member = Value::String(runs.entry(id).or_insert(next).clone());
                } else {
                    normalise(member, runs);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalise(v, runs)),
        _ => {}
    }
}

/// A Metronome run id: `yyyyMMddHHmmss` and five characters.
fn map_is_run(id: &Value) -> bool {
    id.as_str()
        .is_some_and(|id| id.len() == 19 && id[..14].bytes().all(|b| b.is_ascii_digit()))
}

/// apply, then run deploy --wait, through `backend`; the sim's state after.
fn apply_and_deploy(cli: &Path, backend: &str) -> Value {
    let cluster = Cluster::start(cli);
    let dcos_bin = cli.to_str().expect("a UTF-8 path");
    let apply_args = [
        "apply",
        "--backend",
        backend,
        "--dcos-bin",
        dcos_bin,
        "--app",
        "testapp",
        "--image",
        "httpd:2.4",
    ];
    let apply = cluster.canary(&apply_args);
    assert!(text(&apply.stdout).contains("deploy-testapp-canary: created"));
    // What the backend reads back compares equal to what it wrote.
    let again = cluster.canary(&apply_args);
    assert_eq!(
        text(&again.stdout),
        "rollback-testapp-canary: unchanged\nrollout-testapp-canary: unchanged\n\
         deploy-testapp-canary: unchanged\n"
    );
    let run = cluster.canary(&[
        "run",
        "deploy",
        "--backend",
        backend,
        "--dcos-bin",
        dcos_bin,
        "--app",
        "testapp",
        "--wait",
        "--timeout",
        "60s",
    ]);
    assert!(
        text(&run.stdout).contains(" succeeded"),
        "{}",
        text(&run.stdout)
    );
    let mut state = cluster.state();
    normalise(&mut state, &mut BTreeMap::new());

    // `canary status` reads the same group through the backend.
    cluster.post(
        "/service/marathon/v2/apps",
        &serde_json::json!({
            "id": "/testapp", "instances": 2, "cpus": 0.1, "mem": 64,
            "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4"}},
            "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/"}],
            "labels": {"HAPROXY_DEPLOYMENT_GROUP": "testapp", "HAPROXY_DEPLOYMENT_COLOUR": "blue"}
        }),
    );
    cluster.sim.advance(Duration::from_secs(10));
    let status = cluster.canary(&[
        "status",
        "--backend",
        backend,
        "--dcos-bin",
        dcos_bin,
        "--app",
        "testapp",
        "--json",
    ]);
    let mut status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    forget_times_and_runs(&mut status);
    state["status"] = status;
    state
}

/// In `canary status --json`: the times and run ids, which differ between
/// two sims.
fn forget_times_and_runs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if matches!(key.as_str(), "started_at" | "finished_at" | "run_id")
                    && member.is_string()
                {
                    *member = Value::String(format!("<{key}>"));
                } else {
                    forget_times_and_runs(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(forget_times_and_runs),
        _ => {}
    }
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn apply_and_run_deploy_leave_the_same_state_through_every_backend() {
    let cli = real_cli::find().expect("the real dcos CLI");
    let http = apply_and_deploy(&cli, "http");
    let dcos_cli = apply_and_deploy(&cli, "dcos-cli");
    // The comparison means something: three jobs, one successful run.
    let jobs = http["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 3, "{http:#}");
    let deploy = jobs
        .iter()
        .find(|j| j["id"] == "deploy-testapp-canary")
        .expect("the deploy job");
    assert_eq!(deploy["history"]["successCount"], 1, "{deploy:#}");
    assert_eq!(
        deploy["history"]["successfulFinishedRuns"][0]["id"],
        "<run 1>"
    );
    let status = &http["status"];
    assert_eq!(status["apps"][0]["healthy"], 2, "{status:#}");
    assert_eq!(status["apps"][0]["role"], "stable", "{status:#}");
    assert_eq!(
        status["jobs"][0]["last_run"]["status"], "SUCCESS",
        "{status:#}"
    );
    assert_eq!(http, dcos_cli);
}

/// `canary ARGS` in a temporary directory with an empty dcos
/// configuration and `env` added.
fn canary_without_cluster(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("a temporary home");
    Command::new(env!("CARGO_BIN_EXE_canary-under-test"))
        .args(args)
        .current_dir(home.path())
        .env_remove("DCOS_URL")
        .env_remove("DCOS_ACS_TOKEN")
        .env_remove("DCOS_CLUSTER")
        .env("HOME", home.path())
        .env("DCOS_DIR", home.path().join("dcos"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("canary runs")
}

#[test]
fn a_missing_dcos_bin_is_invalid_input() {
    let out = canary_without_cluster(
        &[
            "apply",
            "--backend",
            "dcos-cli",
            "--dcos-bin",
            "/nonexistent/dcos",
            "--app",
            "web",
            "--image",
            "httpd:2.4",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--dcos-bin: '/nonexistent/dcos' not found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn through_the_cli_without_a_login_apply_exits_6_and_an_unreachable_cluster_5() {
    let cli = real_cli::find().expect("the real dcos CLI");
    let sim = SimHandle::start(SimConfig {
        auth: true,
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .expect("the sim starts");
    let dcos_bin = cli.to_str().expect("a UTF-8 path");
    let args = [
        "apply",
        "--backend",
        "dcos-cli",
        "--dcos-bin",
        dcos_bin,
        "--app",
        "web",
        "--image",
        "httpd:2.4",
    ];
    let out = canary_without_cluster(&args, &[("DCOS_URL", sim.dcos_url())]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("dcos auth login"),
        "{}",
        text(&out.stderr)
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let url = format!("http://127.0.0.1:{closed}");
    let out = canary_without_cluster(&args, &[("DCOS_URL", &url), ("CANARY_RETRY_FOR", "1s")]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("cannot reach {url}")),
        "{}",
        text(&out.stderr)
    );
}
