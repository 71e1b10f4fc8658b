//! The DC/OS port over HTTPS: a client that trusts the sim's CA gets the
//! same answers as over plain HTTP (path clean-up, faults, auth); one that
//! does not trust it fails the handshake; marathon-lb stays plain HTTP.

use dcos_sim::{SimConfig, SimHandle};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, parse_pem};

/// A ureq agent that reports every status and trusts `roots`.
fn agent(roots: RootCerts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build()
        .into()
}

/// The certificates in a PEM text.
fn certificates(pem: &str) -> Vec<Certificate<'static>> {
    parse_pem(pem.as_bytes())
        .filter_map(|item| match item.expect("valid PEM") {
            PemItem::Certificate(cert) => Some(cert),
            _ => None,
        })
        .collect()
}

/// An agent that trusts only the sim's CA.
fn trusting(sim_ca_pem: &str) -> ureq::Agent {
    agent(RootCerts::new_with_certs(&certificates(sim_ca_pem)))
}

fn status(agent: &ureq::Agent, url: &str, token: Option<&str>) -> u16 {
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("token={token}"));
    }
    request.call().expect("an answer").status().as_u16()
}

fn start(config: SimConfig) -> SimHandle {
    SimHandle::start(SimConfig {
        tls: true,
        time_scale: 0.0,
        ..config
    })
    .expect("the sim starts")
}

#[test]
fn a_client_trusting_the_ca_is_served_and_others_are_refused() {
    let sim = start(SimConfig::default());
    let url = sim.dcos_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca = sim.ca_cert_pem().expect("a CA with TLS");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert_eq!(certificates(ca).len(), 1);

    let trusted = trusting(ca);
    assert_eq!(status(&trusted, &format!("{url}/metadata"), None), 200);
    assert_eq!(
        status(&trusted, &format!("{url}/service/metronome/v1/jobs"), None),
        200
    );
    // The certificate names localhost too.
    let localhost = url.replace("127.0.0.1", "localhost");
    assert_eq!(
        status(&trusted, &format!("{localhost}/metadata"), None),
        200
    );

    // Mozilla's roots do not include the sim's CA.
    let error = agent(RootCerts::WebPki)
        .get(&format!("{url}/metadata"))
        .call()
        .expect_err("an untrusted certificate is refused")
        .to_string();
    assert!(
        error.contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );
    // Another run's CA does not verify this one.
    let other = start(SimConfig::default());
    let error = trusting(other.ca_cert_pem().unwrap())
        .get(&format!("{url}/metadata"))
        .call()
        .expect_err("a different CA is refused");
    assert!(error.to_string().contains("certificate"), "{error}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = url.replace("https://", "http://");
    assert!(
        agent(RootCerts::WebPki)
            .get(&format!("{plain}/metadata"))
            .call()
            .is_err()
    );

    // marathon-lb's stats stay plain HTTP.
    for lb in sim.lb_urls() {
        assert!(lb.starts_with("http://127.0.0.1:"), "{lb}");
        assert_eq!(
            status(&trusted, &format!("{lb}/_haproxy_getpids"), None),
            200
        );
    }
}

#[test]
fn without_tls_there_is_no_ca() {
    let sim = SimHandle::start(SimConfig::default()).unwrap();
    assert!(sim.dcos_url().starts_with("http://"));
    assert_eq!(sim.ca_cert_pem(), None);
}

#[test]
fn auth_faults_and_path_clean_up_work_over_tls_as_over_http() {
    let sim = start(SimConfig {
        auth: true,
        control: true,
        ..SimConfig::default()
    });
    let url = sim.dcos_url().to_owned();
    let client = trusting(sim.ca_cert_pem().unwrap());
    let jobs = format!("{url}/service/metronome/v1/jobs");
    assert_eq!(status(&client, &jobs, None), 401, "auth applies over TLS");
    let login = client
        .post(&format!("{url}/acs/api/v1/auth/login"))
        .send_json(serde_json::json!({"uid": "bootstrapuser", "password": "deleteme"}))
        .unwrap()
        .into_body()
        .read_json::<serde_json::Value>()
        .unwrap();
    let token = login["token"].as_str().expect("a token").to_owned();
    assert_eq!(status(&client, &jobs, Some(&token)), 200);
    assert_eq!(
        status(
            &client,
            &format!("{url}/service/metronome//v1//jobs"),
            Some(&token)
        ),
        200,
        "double slashes collapse"
    );

    let fault = serde_json::json!({"path_prefix": "/service/metronome", "action": {"status": {"code": 503}}, "times": 1});
    let added = client
        .post(&format!("{url}/__sim/faults"))
        .header("authorization", format!("token={token}"))
        .send_json(fault)
        .unwrap()
        .status()
        .as_u16();
    assert!((200..300).contains(&added), "{added}");
    assert_eq!(
        status(&client, &jobs, Some(&token)),
        503,
        "the fault applies"
    );
    assert_eq!(status(&client, &jobs, Some(&token)), 200, "once");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_writes_the_ca_before_printing_an_https_url() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcos-sim"))
        .args([
            "--tls-ca-out",
            ca_path.to_str().unwrap(),
            "--marathon-lb-count",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("dcos-sim starts");
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut line = String::new();
    // Blocks until the sim has written the CA and printed its URLs.
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let urls = line.split_whitespace().collect::<Vec<_>>();
    assert_eq!(urls.len(), 2, "{line}");
    assert!(urls[0].starts_with("https://127.0.0.1:"), "{line}");
    assert!(urls[1].starts_with("http://127.0.0.1:"), "{line}");
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let client = trusting(&ca);
    assert_eq!(status(&client, &format!("{}/metadata", urls[0]), None), 200);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file is left");
}

#[test]
fn an_unwritable_ca_file_exits_4_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_dcos-sim"))
        .args(["--tls-ca-out", "/nonexistent-dir/ca.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--tls-ca-out: cannot write /nonexistent-dir/ca.pem"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
