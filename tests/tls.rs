//! `canary apply` and `canary run` against dcos-sim served over HTTPS with a
//! CA of its own: refused without that CA (exit 5, naming the certificate
//! and --ca-cert), accepted with `--ca-cert`, `CANARY_CA_CERT` or the dcos
//! CLI's `core.ssl_verify`, and with `--insecure` after a warning.

mod common;

use dcos_sim::{SimConfig, SimHandle};
use std::path::{Path, PathBuf};
use std::process::Output;

const CREATED: &str =
    "rollback-web-canary: created\nrollout-web-canary: created\ndeploy-web-canary: created\n";

const WARNING: &str = "warning: TLS certificate verification is disabled";

/// A sim over HTTPS, and a directory holding its CA as `ca.pem`.
struct Tls {
    sim: SimHandle,
    dir: tempfile::TempDir,
}

impl Tls {
    fn start() -> Tls {
        let sim = SimHandle::start(SimConfig {
            time_scale: 0.0,
            tls: true,
            ..SimConfig::default()
        })
        .expect("the sim starts");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), sim.ca_cert_pem().unwrap()).unwrap();
        Tls { sim, dir }
    }

    fn url(&self) -> &str {
        self.sim.dcos_url()
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn ca_str(&self) -> String {
        self.ca().to_str().unwrap().to_owned()
    }

    /// A dcos CLI configuration directory `name` with one attached cluster.
    fn dcos_dir(&self, name: &str, dcos_url: &str, ssl_verify: &str) -> PathBuf {
        let dcos_dir = self.dir.path().join(name);
        assert!(!dcos_dir.exists(), "{name} is used once");
        let cluster = dcos_dir.join("clusters/5b1e5e4e-7d6a-4b0e-9a3c-0d1e2f3a4b5c");
        std::fs::create_dir_all(&cluster).unwrap();
        std::fs::write(
            cluster.join("dcos.toml"),
            format!(
                "[core]\ndcos_url = \"{dcos_url}\"\nssl_verify = \"{ssl_verify}\"\n\n[cluster]\nname = \"sim\"\n"
            ),
        )
        .unwrap();
        std::fs::write(cluster.join("attached"), "").unwrap();
        dcos_dir
    }
}

/// Runs canary with a clean environment (no DCOS_* or CANARY_* variables
/// but `env`) and `dcos_dir` (an empty one when `None`) as DCOS_DIR.
fn canary(args: &[&str], dcos_dir: Option<&Path>, env: &[(&str, &str)]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    common::canary_in(args, dcos_dir.unwrap_or(empty.path()), env)
}

fn apply_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["apply", "--app", "web", "--image", "nginx:1.25"];
    args.extend_from_slice(extra);
    args
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_created(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), CREATED);
}

#[test]
fn without_the_ca_apply_fails_with_exit_5_naming_the_certificate_and_the_flag() {
    let tls = Tls::start();
    let out = canary(&apply_args(&["--dcos-url", tls.url()]), None, &[]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(tls.url()), "{stderr}");
    assert!(
        stderr.contains("TLS certificate could not be verified"),
        "{stderr}"
    );
    assert!(stderr.contains("--ca-cert FILE"), "{stderr}");
    assert!(!stderr.contains(WARNING), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn with_ca_cert_apply_works_and_run_too() {
    let tls = Tls::start();
    let ca = tls.ca_str();
    let out = canary(
        &apply_args(&["--dcos-url", tls.url(), "--ca-cert", &ca]),
        None,
        &[],
    );
    assert_created(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    let run = [
        "run",
        "deploy",
        "--app",
        "web",
        "--dcos-url",
        tls.url(),
        "--ca-cert",
        &ca,
    ];
    let out = canary(&run, None, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("deploy-web-canary: started run "),
        "{}",
        text(&out.stdout)
    );
    let out = canary(&run[..6], None, &[]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "run verifies too: {}",
        text(&out.stderr)
    );
}

#[test]
fn canary_ca_cert_in_the_environment_works() {
    let tls = Tls::start();
    let ca = tls.ca_str();
    let out = canary(
        &apply_args(&["--dcos-url", tls.url()]),
        None,
        &[("CANARY_CA_CERT", &ca)],
    );
    assert_created(&out);
}

#[test]
fn insecure_works_with_one_warning_and_wins_over_ca_cert() {
    let tls = Tls::start();
    let out = canary(
        &apply_args(&["--dcos-url", tls.url(), "--insecure"]),
        None,
        &[],
    );
    assert_created(&out);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{WARNING} (--insecure);")),
        "{stderr}"
    );

    // A CA file that would fail is not even read.
    let out = canary(
        &apply_args(&[
            "--dcos-url",
            tls.url(),
            "--ca-cert",
            "/nonexistent/ca.pem",
            "--insecure",
        ]),
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_dcos_cli_ssl_verify_path_is_used_for_its_own_cluster_only() {
    let tls = Tls::start();
    let dcos_dir = tls.dcos_dir("dcos-1", tls.url(), &tls.ca_str());
    let out = canary(&apply_args(&[]), Some(&dcos_dir), &[]);
    assert_created(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    // The configuration is for another cluster: its CA is not used here.
    let other = tls.dcos_dir("dcos-2", "https://dcos.example.com", &tls.ca_str());
    let out = canary(&apply_args(&["--dcos-url", tls.url()]), Some(&other), &[]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("could not be verified"));

    // --ca-cert wins over ssl_verify.
    let wrong = tls.dcos_dir("dcos-3", tls.url(), "/nonexistent/dcos-ca.crt");
    let ca = tls.ca_str();
    let out = canary(&apply_args(&["--ca-cert", &ca]), Some(&wrong), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn ssl_verify_false_works_with_a_warning_naming_the_setting() {
    let tls = Tls::start();
    let dcos_dir = tls.dcos_dir("dcos-4", tls.url(), "false");
    let out = canary(&apply_args(&[]), Some(&dcos_dir), &[]);
    assert_created(&out);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(WARNING), "{stderr}");
    assert!(stderr.contains("core.ssl_verify in "), "{stderr}");
    assert!(stderr.contains("dcos.toml is \"false\""), "{stderr}");
}

#[test]
fn ssl_verify_true_means_the_built_in_roots() {
    let tls = Tls::start();
    let dcos_dir = tls.dcos_dir("dcos-5", tls.url(), "true");
    let out = canary(&apply_args(&[]), Some(&dcos_dir), &[]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
}

#[test]
fn a_bad_ca_file_fails_before_any_request_naming_the_file_and_the_flag() {
    let tls = Tls::start();
    let out = canary(
        &apply_args(&["--dcos-url", tls.url(), "--ca-cert", "/nonexistent/ca.pem"]),
        None,
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "unreadable: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).starts_with(
            "error: --ca-cert: cannot read the CA certificate file /nonexistent/ca.pem: "
        ),
        "{}",
        text(&out.stderr)
    );

    let not_pem = tls.dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let out = canary(
        &apply_args(&["--dcos-url", tls.url(), "--ca-cert", not_pem]),
        None,
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "no certificate: {}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: --ca-cert: the CA certificate file {not_pem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n"
        )
    );

    let dcos_dir = tls.dcos_dir("dcos-6", tls.url(), "/nonexistent/dcos-ca.crt");
    let out = canary(&apply_args(&[]), Some(&dcos_dir), &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: core.ssl_verify in "), "{stderr}");
    assert!(stderr.contains("/nonexistent/dcos-ca.crt"), "{stderr}");
    // Nothing reached the cluster.
    assert!(tls.sim.job_ids().is_empty());
}

#[test]
fn the_dcos_cli_backend_refuses_tls_flags_it_cannot_honour() {
    for flag in [["--insecure", ""], ["--ca-cert", "ca.pem"]] {
        let mut args = vec![
            "status",
            "--app",
            "web",
            "--backend",
            "dcos-cli",
            "--dcos-bin",
            "/nonexistent/dcos",
        ];
        args.extend(flag.iter().filter(|a| !a.is_empty()));
        let out = canary(&args, None, &[]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("apply to --backend http only"),
            "{}",
            text(&out.stderr)
        );
    }
}
