//! Phase jobs that really run, on dcos-sim with auth whose runs execute
//! their `cmd` (this canary first on PATH): a native deploy job reaches the
//! same group state as `canary deploy` run directly, logged in with the
//! service account from the secret store; a zdd.py job, where zdd.py is
//! not installed, fails honestly with the shell's message.

mod common;

use dcos_sim::{JobExecution, ServiceAccount, SimConfig, SimHandle};
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

const ACCOUNT: &str = "canary-jobs";
const SECRET: &str = "canary/service-account";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("an RSA key"))
}

fn credential() -> String {
    let private = key().to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    json!({"scheme": "RS256", "uid": ACCOUNT, "private_key": private}).to_string()
}

/// A sim with auth, the service account, its credential in the secret
/// store, runs that execute with `runner` first on PATH, and one
/// marathon-lb on a loopback address of this test alone.
fn cluster(runner: &Path) -> SimHandle {
    let sim = SimHandle::start(SimConfig {
        time_scale: 20.0,
        auth: true,
        service_accounts: vec![ServiceAccount {
            uid: ACCOUNT.into(),
            public_key_pem: key()
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        }],
        lb_binds: vec![std::net::SocketAddr::from((common::unique_loopback(), 0))],
        jobs: JobExecution::Execute {
            runner_path: Some(runner.to_owned()),
            default_time_limit: Duration::from_secs(300),
        },
        ..SimConfig::default()
    })
    .expect("the sim starts");
    sim.put_secret(SECRET, &credential()).unwrap();
    sim
}

/// A directory holding `canary`, standing for the runner image's PATH.
fn runner_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_canary-under-test"),
        dir.path().join("canary"),
    )
    .unwrap();
    dir
}

struct User {
    dcos_dir: tempfile::TempDir,
    credential: PathBuf,
}

impl User {
    fn new() -> User {
        let dcos_dir = tempfile::tempdir().unwrap();
        let file = dcos_dir.path().join("credential.json");
        std::fs::write(&file, credential()).unwrap();
        User {
            dcos_dir,
            credential: file,
        }
    }

    /// `canary ARGS --dcos-url URL`, logged in as the service account.
    fn canary(&self, sim: &SimHandle, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--dcos-url", sim.dcos_url()]);
        common::canary_in(
            &all,
            self.dcos_dir.path(),
            &[(
                "DCOS_SERVICE_ACCOUNT_CREDENTIAL",
                self.credential.to_str().unwrap(),
            )],
        )
    }

    fn ok(&self, sim: &SimHandle, args: &[&str]) -> String {
        let out = self.canary(sim, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

/// The group's apps as Marathon shows them, without what differs run to
/// run (versions, timestamps, task ids, ports): id, instances, healthy,
/// image, labels but HAPROXY_DEPLOYMENT_STARTED_AT.
fn group(sim: &SimHandle) -> Vec<Value> {
    let token = sim.issue_token(ACCOUNT);
    let apps: Value = ureq::get(&format!("{}/service/marathon/v2/apps", sim.dcos_url()))
        .header("Authorization", &format!("token={token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let mut out: Vec<Value> = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut labels = a["labels"].clone();
            labels
                .as_object_mut()
                .unwrap()
                .remove("HAPROXY_DEPLOYMENT_STARTED_AT");
            json!({
                "id": a["id"], "instances": a["instances"], "healthy": a["tasksHealthy"],
                "image": a["container"]["docker"]["image"], "labels": labels,
            })
        })
        .collect();
    out.sort_by_key(|a| a["id"].as_str().unwrap().to_owned());
    out
}

fn lb_flag(sim: &SimHandle) -> [&str; 2] {
    ["--marathon-lb", sim.lb_urls()[0].as_str()]
}

#[test]
fn a_native_deploy_job_reaches_the_state_canary_deploy_reaches_directly() {
    let runner = runner_dir();
    let user = User::new();

    // Directly: the first deploy, then the canary, by canary deploy.
    let direct = cluster(runner.path());
    for image in ["nginx:1.25", "httpd:2.4"] {
        let mut args = vec!["deploy", "--app", "testapp", "--image", image];
        args.extend(lb_flag(&direct));
        user.ok(&direct, &args);
    }

    // Through the job: the same first deploy, then the native deploy job.
    let jobs = cluster(runner.path());
    let mut args = vec!["deploy", "--app", "testapp", "--image", "nginx:1.25"];
    args.extend(lb_flag(&jobs));
    user.ok(&jobs, &args);
    let mut apply = vec![
        "apply",
        "--app",
        "testapp",
        "--image",
        "httpd:2.4",
        "--runner",
        "native",
        "--runner-image",
        "registry.example.com/canary:test",
        "--service-account-secret",
        SECRET,
        "--runner-dcos-url",
        jobs.dcos_url(),
    ];
    apply.extend(lb_flag(&jobs));
    user.ok(&jobs, &apply);
    let stdout = user.ok(
        &jobs,
        &[
            "run",
            "deploy",
            "--app",
            "testapp",
            "--wait",
            "--timeout",
            "2m",
        ],
    );
    assert!(stdout.contains(" succeeded"), "{stdout}");

    let state = group(&jobs);
    assert_eq!(state, group(&direct));
    let images: Vec<(&str, u64)> = state
        .iter()
        .map(|a| {
            (
                a["image"].as_str().unwrap(),
                a["instances"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(images, [("nginx:1.25", 3), ("httpd:2.4", 1)]);

    // The job's JSON holds no secret: the credential is a secret reference.
    let token = jobs.issue_token(ACCOUNT);
    let job: Value = ureq::get(&format!(
        "{}/service/metronome/v1/jobs/deploy-testapp-canary",
        jobs.dcos_url()
    ))
    .header("Authorization", &format!("token={token}"))
    .call()
    .unwrap()
    .body_mut()
    .read_json()
    .unwrap();
    let document = job.to_string();
    assert!(!document.contains("PRIVATE KEY"), "{document}");
    assert_eq!(
        job["run"]["env"]["DCOS_SERVICE_ACCOUNT_CREDENTIAL"],
        json!({"secret": "canary-service-account"})
    );
}

#[test]
fn a_zdd_job_where_zdd_py_is_not_installed_fails_with_the_shells_message() {
    let runner = runner_dir();
    let user = User::new();
    let sim = cluster(runner.path());
    let mut args = vec!["deploy", "--app", "testapp", "--image", "nginx:1.25"];
    args.extend(lb_flag(&sim));
    user.ok(&sim, &args);
    let mut apply = vec!["apply", "--app", "testapp", "--image", "httpd:2.4"];
    apply.extend(lb_flag(&sim));
    user.ok(&sim, &apply);
    let out = user.canary(
        &sim,
        &[
            "run",
            "deploy",
            "--app",
            "testapp",
            "--wait",
            "--timeout",
            "1m",
        ],
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("failed"),
        "{}",
        text(&out.stderr)
    );
    // Nothing changed: the shell could not find zdd.py.
    let images: Vec<u64> = group(&sim)
        .iter()
        .map(|a| a["instances"].as_u64().unwrap())
        .collect();
    assert_eq!(images, [4]);
    let token = sim.issue_token(ACCOUNT);
    let job: Value = ureq::get(&format!(
        "{}/service/metronome/v1/jobs/deploy-testapp-canary?embed=history",
        sim.dcos_url()
    ))
    .header("Authorization", &format!("token={token}"))
    .call()
    .unwrap()
    .body_mut()
    .read_json()
    .unwrap();
    let failed = &job["history"]["failedFinishedRuns"][0];
    let task = failed["tasks"][0].as_str().unwrap();
    // dcos-log redirects to the agent's endpoint; the token goes along,
    // as the dcos CLI sends it.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let mut url = format!(
        "{}/system/v1/logs/v2/task/{task}/file/stderr",
        sim.dcos_url()
    );
    let log = loop {
        let mut answer = agent
            .get(&url)
            .header("Authorization", &format!("token={token}"))
            .call()
            .unwrap();
        if answer.status().is_redirection() {
            let location = answer.headers()["location"].to_str().unwrap().to_owned();
            url = if location.starts_with('/') {
                format!("{}{location}", sim.dcos_url())
            } else {
                location
            };
            continue;
        }
        assert_eq!(answer.status(), 200);
        break answer.body_mut().read_to_string().unwrap();
    };
    assert!(
        log.contains("/marathon-lb/zdd.py") && log.contains("not found"),
        "{log}"
    );
}
