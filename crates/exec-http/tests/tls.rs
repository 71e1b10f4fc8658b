//! The HTTP executor against dcos-sim served over HTTPS with its own CA:
//! refused by default (the CA is not a default root) as `Untrusted`, naming
//! the URL (the binary adds how to trust the CA), accepted with that CA as
//! the trust roots or with verification off.

use canary_core::clock::{ManualClock, Timestamp};
use canary_core::executor::{ExecError, Executor};
use dcos_sim::{SimConfig, SimHandle};
use exec_http::{CaBundle, Credentials, Endpoints, HttpConfig, HttpExecutor, RetryPolicy, Tls};
use std::sync::Arc;
use std::time::Duration;

/// The executor's clock: waits are recorded and return at once.
type Waits = ManualClock;

const TOKEN: &str = "tls-test-s3cret-token";

fn start(tls: bool) -> SimHandle {
    SimHandle::start(SimConfig {
        time_scale: 0.0,
        tls,
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

fn executor(url: &str, tls: Tls) -> (HttpExecutor, Arc<Waits>) {
    let waits = Arc::new(ManualClock::starting_at(Timestamp::from_unix_secs(1)));
    let config = HttpConfig::new(Endpoints::dcos(url).unwrap())
        .with_credentials(Credentials::Token(TOKEN.into()))
        .with_retry(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_total: Duration::from_secs(10),
        })
        .with_clock(waits.clone())
        .with_jitter_seed(1)
        .with_tls(tls);
    (HttpExecutor::new(config).unwrap(), waits)
}

fn sim_ca(sim: &SimHandle) -> Tls {
    Tls::CaCert(CaBundle::from_pem("sim-ca.pem", sim.ca_cert_pem().unwrap().as_bytes()).unwrap())
}

fn job(id: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "run": {"cpus": 0.1, "mem": 32, "disk": 0, "cmd": "true"}})
}

#[test]
fn the_default_roots_refuse_the_sims_certificate_at_once_as_untrusted() {
    let sim = start(true);
    let (mut exec, waits) = executor(sim.dcos_url(), Tls::default());
    let error = exec
        .get_job("a")
        .expect_err("the certificate is not trusted");
    match &error {
        ExecError::Untrusted { target, message } => {
            let url = format!("{}/service/metronome/v1/jobs/a", sim.dcos_url());
            assert!(target.starts_with(&url), "{error}");
            assert!(
                message.contains("certificate could not be verified"),
                "{message}"
            );
            // The library names no flag of the binary's.
            assert!(!message.contains("--"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains(sim.dcos_url()), "{error}");
    assert!(!format!("{error} {error:?}").contains(TOKEN));
    assert!(waits.sleeps().is_empty(), "not retried");
}

#[test]
fn the_sims_ca_as_trust_root_works() {
    let sim = start(true);
    let (mut exec, _) = executor(sim.dcos_url(), sim_ca(&sim));
    assert_eq!(exec.get_job("a").unwrap(), None);
    exec.create_job(&job("a")).unwrap();
    assert!(exec.get_job("a").unwrap().is_some());
    // Several certificates in one bundle: any of them may be the root.
    let other = start(true);
    let bundle = format!(
        "{}{}",
        other.ca_cert_pem().unwrap(),
        sim.ca_cert_pem().unwrap()
    );
    let both = CaBundle::from_pem("bundle.pem", bundle.as_bytes()).unwrap();
    assert_eq!(both.len(), 2);
    let (mut exec, _) = executor(sim.dcos_url(), Tls::CaCert(both));
    assert!(exec.get_job("a").unwrap().is_some());
}

#[test]
fn another_ca_is_refused() {
    let sim = start(true);
    let other = start(true);
    let (mut exec, _) = executor(sim.dcos_url(), sim_ca(&other));
    match exec.get_job("a") {
        Err(ExecError::Untrusted { message, .. }) => {
            assert!(
                message.contains("certificate could not be verified"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn insecure_skips_verification() {
    let sim = start(true);
    let (mut exec, _) = executor(sim.dcos_url(), Tls::Insecure);
    exec.create_job(&job("b")).unwrap();
    assert!(exec.get_job("b").unwrap().is_some());
}

#[test]
fn https_to_a_plain_http_server_fails_the_handshake_without_retries() {
    let sim = start(false);
    let url = sim.dcos_url().replace("http://", "https://");
    let (mut exec, waits) = executor(&url, Tls::default());
    match exec.get_job("a") {
        Err(ExecError::Unreachable { target, message }) => {
            assert!(target.contains(&url), "{target}");
            assert!(message.contains("TLS handshake failed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(waits.sleeps().is_empty(), "not retried");
}

#[test]
fn plain_http_urls_ignore_the_tls_setting() {
    let sim = start(false);
    for tls in [Tls::Verify, Tls::Insecure] {
        let (mut exec, _) = executor(sim.dcos_url(), tls);
        assert_eq!(exec.get_job("a").unwrap(), None);
    }
}
