//! The real DC/OS CLI (PyPI `dcoscli` 0.6.1) against the sim: if the CLI
//! cannot tell the sim from a cluster, neither can canary.
//!
//! The CLI is found through the environment variable `DCOS_CLI` (the path of
//! a `dcos` executable), else at `<workspace>/target/dcoscli-venv/bin/dcos`,
//! where `scripts/install-dcoscli.sh target/dcoscli-venv` puts it, else on
//! `PATH`. Without any (decided when the tests are built, see build.rs), every
//! test here is ignored with the reason, except under `CI=true`, where they
//! run and fail.
//!
//! Each run of `dcos` gets a fresh temporary `HOME` and `DCOS_DIR`, an
//! otherwise empty environment (`PATH`, `LANG`), no standard input (so a
//! prompt fails instead of hanging) and a time limit. Expected exit codes and
//! texts are those `shared/docs/dcoscli.md` records for 0.6.1.

mod common;

use common::cli::{Dcos, PASSWORD, USER};
use dcos_sim::iam::TOKEN_LIFETIME;
use dcos_sim::{ServiceAccount, SimConfig, SimHandle};
use std::net::TcpListener;
use std::time::Duration;

/// A sim with authentication on and a manual clock at the real time now
/// (the CLI's own notion of time, for service login tokens).
fn sim() -> SimHandle {
    sim_with(SimConfig::default())
}

fn sim_with(config: SimConfig) -> SimHandle {
    SimHandle::start(SimConfig {
        auth: true,
        time_scale: 0.0,
        ..config
    })
    .expect("the sim starts")
}

fn cluster_id(sim: &SimHandle) -> String {
    sim.cluster_id()
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn cluster_setup_logs_in_and_attaches_the_cluster() {
    let dcos = Dcos::new();
    let sim = sim();
    let setup = dcos.setup(&sim);
    setup.ok();
    assert_eq!(setup.stdout, "", "setup prints nothing: {setup}");

    let id = cluster_id(&sim);
    let cluster_dir = dcos.dcos_dir().join("clusters").join(&id);
    assert!(cluster_dir.join("dcos.toml").is_file());
    assert!(cluster_dir.join("attached").is_file());

    let list = dcos.run(&["cluster", "list", "--json"]);
    let clusters = list.ok().json();
    let clusters = clusters.as_array().expect("an array");
    assert_eq!(clusters.len(), 1, "{list}");
    let cluster = &clusters[0];
    assert_eq!(cluster["cluster_id"], id.as_str());
    assert_eq!(cluster["url"], sim.dcos_url());
    assert_eq!(cluster["name"], "dcos-sim");
    assert_eq!(cluster["attached"], true);
    assert_eq!(cluster["status"], "AVAILABLE");
    assert_eq!(cluster["version"], dcos_sim::DCOS_VERSION);

    let table = dcos.run(&["cluster", "list"]);
    assert!(table.ok().stdout.contains("dcos-sim*"), "{table}");

    assert_eq!(
        dcos.config("core.dcos_url").as_deref(),
        Some(sim.dcos_url())
    );
    assert_eq!(dcos.config("core.ssl_verify").as_deref(), Some("false"));
    let token = dcos.config("core.dcos_acs_token").expect("a stored token");
    let claims = sim
        .verify_token(&token)
        .expect("the stored token is the sim's");
    assert_eq!(claims.uid, USER);
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn cluster_setup_twice_is_already_setup() {
    let dcos = Dcos::new();
    let sim = sim();
    dcos.setup(&sim).ok();
    dcos.setup(&sim)
        .fails_with(&format!("Cluster [{}] is already setup", sim.dcos_url()));
    let list = dcos.run(&["cluster", "list", "--json"]);
    assert_eq!(list.ok().json().as_array().map(Vec::len), Some(1));
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn cluster_setup_with_a_bad_password_fails() {
    let dcos = Dcos::new();
    let sim = sim();
    let run = dcos.run(&[
        "cluster",
        "setup",
        sim.dcos_url(),
        "--username",
        USER,
        "--password",
        "wrong",
    ]);
    run.fails_with("Authentication failed");
    let list = dcos.run(&["cluster", "list", "--json"]);
    assert_eq!(list.ok().json(), serde_json::json!([]));
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn cluster_setup_against_a_closed_port_is_unreachable() {
    let dcos = Dcos::new();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let run = dcos.run(&[
        "cluster",
        "setup",
        &url,
        "--username",
        USER,
        "--password",
        PASSWORD,
    ]);
    run.fails_with(&format!(
        "URL [{url}/acs/api/v1/auth/login] is unreachable."
    ));
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn auth_login_stores_a_new_token() {
    let dcos = Dcos::new();
    let sim = sim();
    dcos.setup(&sim).ok();
    let first = dcos.config("core.dcos_acs_token").expect("a token");
    // A later login (cluster time) gives a token with a later exp.
    sim.advance(Duration::from_secs(60));
    let login = dcos.run(&["auth", "login", "--username", USER, "--password", PASSWORD]);
    assert_eq!(login.ok().stdout, "Login successful!\n");
    let second = dcos.config("core.dcos_acs_token").expect("a token");
    assert_ne!(first, second);
    assert!(sim.verify_token(&second).is_ok());

    // The password from an environment variable: off the command line.
    sim.advance(Duration::from_secs(60));
    let login = dcos.run_with(
        &[
            "auth",
            "login",
            "--username",
            USER,
            "--password-env",
            "SIM_PW",
        ],
        &[("SIM_PW", PASSWORD)],
    );
    assert_eq!(login.ok().stdout, "Login successful!\n");
    assert_ne!(dcos.config("core.dcos_acs_token"), Some(second));
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn auth_login_with_a_bad_password_fails_and_forgets_the_token() {
    let dcos = Dcos::new();
    let sim = sim();
    dcos.setup(&sim).ok();
    dcos.run_with(
        &[
            "auth",
            "login",
            "--username",
            USER,
            "--password-env",
            "SIM_PW",
        ],
        &[("SIM_PW", "wrong")],
    )
    .fails_with("Authentication failed");
    dcos.run(&["auth", "login", "--username", USER, "--password", "wrong"])
        .fails_with("Authentication failed");
    // The CLI drops the stored token before it tries.
    dcos.run(&["config", "show", "core.dcos_acs_token"])
        .fails_with("Property 'core.dcos_acs_token' doesn't exist");
    // Without a token, Admin Router's 401 on /capabilities.
    dcos.run(&["job", "list", "--json"])
        .fails_with("Authentication failed. Please run `dcos auth login`.");
    // Logging in again repairs it.
    dcos.run(&["auth", "login", "--username", USER, "--password", PASSWORD])
        .ok();
    assert!(dcos.config("core.dcos_acs_token").is_some());
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn expired_and_invalid_tokens_ask_for_a_new_login() {
    let dcos = Dcos::new();
    let sim = sim();
    dcos.setup(&sim).ok();
    let invalid = "Your core.dcos_acs_token is invalid. Please run: `dcos auth login`";
    let fine = dcos.run(&["job", "list", "--json"]);
    assert!(!fine.stderr.contains(invalid), "{fine}");

    // DCOS_ACS_TOKEN overrides the stored token.
    dcos.run_with(&["job", "list", "--json"], &[("DCOS_ACS_TOKEN", "garbage")])
        .fails_with(invalid);

    sim.advance(TOKEN_LIFETIME);
    dcos.run(&["job", "list", "--json"]).fails_with(invalid);
    dcos.run(&["auth", "login", "--username", USER, "--password", PASSWORD])
        .ok();
    let again = dcos.run(&["job", "list", "--json"]);
    assert!(!again.stderr.contains(invalid), "{again}");
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn auth_list_providers() {
    let dcos = Dcos::new();
    let sim = sim();
    dcos.setup(&sim).ok();
    let providers = dcos.run(&["auth", "list-providers", "--json"]).ok().json();
    assert_eq!(
        providers["dcos-users"]["authentication-type"],
        "dcos-uid-password"
    );
    assert_eq!(
        providers["dcos-services"]["authentication-type"],
        "dcos-uid-servicekey"
    );
    let table = dcos.run(&["auth", "list-providers"]);
    assert!(table.ok().stdout.contains("dcos-users"), "{table}");
}

/// The CLI signs the service login token itself (RS256, `exp` = its clock +
/// 5 minutes). Blocked on the CLI side: PyJWT 1.4.2 signs through
/// cryptography's `signer()` API, which cryptography 37 removed, and the
/// install recipe uses 43.0.3. It passes with `DCOS_CLI` pointing at a venv
/// that has cryptography 36.0.2 instead.
#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn auth_login_with_a_service_account_key() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use std::os::unix::fs::PermissionsExt;
    let dcos = Dcos::new();
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("an RSA key");
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    let private = key.to_pkcs8_pem(LineEnding::LF).expect("PEM");
    let key_path = dcos.home.path().join("canary-sa.pem");
    std::fs::write(&key_path, private.as_bytes()).expect("write the key");
    // The CLI refuses a key file others can read.
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let sim = sim_with(SimConfig {
        service_accounts: vec![ServiceAccount {
            uid: "canary-sa".into(),
            public_key_pem: public,
        }],
        ..SimConfig::default()
    });
    dcos.setup(&sim).ok();
    // cryptography 36 warns that signer() is deprecated.
    let login = dcos.run_with(
        &[
            "auth",
            "login",
            "--username",
            "canary-sa",
            "--private-key",
            &key_path.display().to_string(),
        ],
        &[("PYTHONWARNINGS", "ignore")],
    );
    assert_eq!(login.ok().stdout, "Login successful!\n");
    let token = dcos.config("core.dcos_acs_token").expect("a token");
    let claims = sim.verify_token(&token).expect("the sim's token");
    assert_eq!(claims.uid, "canary-sa");
}

// ---------------------------------------------------------------------------
// Marathon and Metronome through the CLI. These run once the emulations land.

/// A deployment id as Marathon makes them (a UUID).
#[track_caller]
fn assert_uuid(text: &str) {
    let text = text.trim();
    assert_eq!(text.len(), 36, "not a UUID: {text:?}");
    assert_eq!(text.matches('-').count(), 4, "not a UUID: {text:?}");
}

/// Enough cluster time for tasks to start and pass their health checks.
const SETTLE: Duration = Duration::from_secs(120);

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn marathon_app_lifecycle() {
    let dcos = Dcos::new();
    let sim = sim();
    dcos.setup(&sim).ok();
    let app = serde_json::json!({
        "id": "/canary-cli", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 2
    });
    let file = dcos.write_json("app.json", &app);

    let add = dcos.run(&["marathon", "app", "add", &file]);
    let deployment = add
        .ok()
        .stdout
        .strip_prefix("Created deployment ")
        .unwrap_or_else(|| panic!("{add}"))
        .to_owned();
    assert_uuid(&deployment);
    dcos.run(&["marathon", "app", "add", &file])
        .fails_with("Application '/canary-cli' already exists");

    // The clock is manual: the deployment is still running.
    let deployments = dcos
        .run(&["marathon", "deployment", "list", "--json"])
        .ok()
        .json();
    let deployments = deployments.as_array().expect("an array");
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    assert_eq!(deployments[0]["id"], deployment.trim());
    assert_eq!(deployments[0]["affectedApps"][0], "/canary-cli");
    let table = dcos.run(&["marathon", "deployment", "list"]);
    assert!(table.ok().stdout.contains("/canary-cli"), "{table}");

    sim.advance(SETTLE);
    let none = dcos.run(&["marathon", "deployment", "list", "--json"]);
    assert_eq!(none.ok().json(), serde_json::json!([]));
    let none = dcos.run(&["marathon", "deployment", "list"]);
    assert_eq!(none.code, Some(1), "{none}");
    assert!(
        format!("{}{}", none.stdout, none.stderr).contains("There are no deployments"),
        "{none}"
    );

    let shown = dcos
        .run(&["marathon", "app", "show", "/canary-cli"])
        .ok()
        .json();
    assert_eq!(shown["id"], "/canary-cli");
    assert_eq!(shown["instances"], 2);
    assert_eq!(shown["tasksRunning"], 2);
    let listed = dcos.run(&["marathon", "app", "list", "--json"]).ok().json();
    assert!(
        listed
            .as_array()
            .expect("an array")
            .iter()
            .any(|a| a["id"] == "/canary-cli"),
        "{listed}"
    );
    let table = dcos.run(&["marathon", "app", "list"]);
    assert!(table.ok().stdout.contains("/canary-cli"), "{table}");

    let update = dcos.run(&["marathon", "app", "update", "/canary-cli", "instances=3"]);
    assert!(
        update.ok().stdout.starts_with("Created deployment "),
        "{update}"
    );
    // The scale is still deploying (manual clock): Marathon's 409 lock.
    dcos.run(&["marathon", "app", "update", "/canary-cli", "instances=4"])
        .fails_with("Changes blocked: deployment already in progress for app.");
    let forced = dcos.run(&[
        "marathon",
        "app",
        "update",
        "--force",
        "/canary-cli",
        "instances=3",
    ]);
    assert!(
        forced.ok().stdout.starts_with("Created deployment "),
        "{forced}"
    );
    sim.advance(SETTLE);
    let shown = dcos
        .run(&["marathon", "app", "show", "/canary-cli"])
        .ok()
        .json();
    assert_eq!(shown["instances"], 3);
    assert_eq!(shown["tasksRunning"], 3);

    let kill = dcos.run(&["marathon", "app", "kill", "/canary-cli"]);
    assert!(kill.ok().stdout.starts_with("Killed tasks: ["), "{kill}");

    let remove = dcos.run(&["marathon", "app", "remove", "/canary-cli"]);
    assert_eq!(remove.ok().stdout, "", "{remove}");
    sim.advance(SETTLE);
    dcos.run(&["marathon", "app", "show", "/canary-cli"])
        .fails_with("Error: App '/canary-cli' does not exist");
    dcos.run(&["marathon", "app", "remove", "/canary-cli"])
        .fails_with("Error: App '/canary-cli' does not exist");
}

#[test]
#[cfg_attr(
    not(canary_dcos_cli),
    ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
)]
fn job_lifecycle() {
    let dcos = Dcos::new();
    let sim = sim();
    dcos.setup(&sim).ok();
    let job = serde_json::json!({
        "id": "canary-cli-job",
        "run": {"cmd": "sleep 5", "cpus": 0.1, "mem": 32, "disk": 0}
    });
    let file = dcos.write_json("job.json", &job);

    assert_eq!(dcos.run(&["job", "add", &file]).ok().stdout, "");
    dcos.run(&["job", "add", &file])
        .fails_with("Changes blocked");

    let listed = dcos.run(&["job", "list", "--json"]).ok().json();
    assert!(
        listed
            .as_array()
            .expect("an array")
            .iter()
            .any(|j| j["id"] == "canary-cli-job"),
        "{listed}"
    );
    let shown = dcos.run(&["job", "show", "canary-cli-job"]).ok().json();
    assert_eq!(shown["id"], "canary-cli-job");
    assert_eq!(shown["run"]["cmd"], "sleep 5");
    dcos.run(&["job", "show", "no-such-job"])
        .fails_with("Error: ");

    // A run, killed.
    let run = dcos.run(&["job", "run", "canary-cli-job"]);
    let run_id = run
        .ok()
        .stdout
        .trim()
        .strip_prefix("Run ID: ")
        .unwrap_or_else(|| panic!("{run}"))
        .to_owned();
    let kill = dcos.run(&["job", "kill", "canary-cli-job", &run_id]);
    assert_eq!(
        kill.ok().stdout.trim(),
        format!("Run '{run_id}' for job 'canary-cli-job' killed.")
    );

    // A run that finishes: one successful run in the history.
    let run = dcos.run(&["job", "run", "canary-cli-job"]);
    let run_id = run.ok().stdout.trim().replace("Run ID: ", "");
    sim.advance(SETTLE);
    let history = dcos
        .run(&["job", "history", "canary-cli-job", "--json"])
        .ok()
        .json();
    assert!(
        history
            .as_array()
            .expect("an array")
            .iter()
            .any(|r| r["id"] == run_id.as_str()),
        "{history}"
    );
    let text = dcos.run(&["job", "history", "canary-cli-job"]);
    assert!(
        text.ok()
            .stdout
            .contains("'canary-cli-job'  Successful runs: 1"),
        "{text}"
    );

    // Removing a job with an active run needs --stop-current-job-runs.
    dcos.run(&["job", "run", "canary-cli-job"]).ok();
    dcos.run(&["job", "remove", "canary-cli-job"])
        .fails_with("Unable to remove 'canary-cli-job'.");
    let remove = dcos.run(&["job", "remove", "canary-cli-job", "--stop-current-job-runs"]);
    assert_eq!(remove.ok().stdout, "");
    dcos.run(&["job", "show", "canary-cli-job"])
        .fails_with("Error: ");
}
