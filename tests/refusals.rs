//! Refusals of the cluster commands, through the binary: URLs that carry
//! credentials (every flag, variable and setting that gives one), ports out
//! of range, fragments, tokens that cannot be an HTTP header. Each is exit 3
//! naming the flag, variable or file, never echoing the secret, and before
//! any request: a listener stands in for the cluster and must see no
//! connection.

mod common;

use std::net::TcpListener;
use std::process::Output;

const PASSWORD: &str = "S3cretPw";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A port on 127.0.0.1 that accepts connections into its backlog: after
/// canary ends, [`Silent::saw_a_request`] tells whether it connected.
struct Silent(TcpListener);

impl Silent {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Silent(listener)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.0.local_addr().unwrap().port())
    }

    fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.0.local_addr().unwrap().port())
    }

    fn saw_a_request(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// Runs a cluster command with `env`, asserts exit 3, an empty stdout, no
/// password anywhere and no connection to `cluster`; returns stderr with
/// the listener's port replaced.
fn refused(
    cluster: &Silent,
    dcos_dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> String {
    let out: Output = common::canary_in(args, dcos_dir, env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{args:?} {env:?}: {stderr}");
    assert_eq!(text(&out.stdout), "");
    assert!(
        !stderr.contains(PASSWORD),
        "the secret was echoed: {stderr}"
    );
    assert!(!cluster.saw_a_request(), "{args:?}: a request was sent");
    stderr.replace(&cluster.host_port(), "127.0.0.1:PORT")
}

fn status_args<'a>(backend: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-v", "status", "--app", "web", "--backend", backend];
    args.extend_from_slice(extra);
    args
}

#[test]
fn credentials_in_any_url_are_refused_naming_where_it_came_from() {
    let cluster = Silent::new();
    let dcos_dir = tempfile::tempdir().unwrap();
    let with_password = cluster
        .url()
        .replace("http://", &format!("http://admin:{PASSWORD}@"));
    for backend in ["http", "dcos-cli"] {
        let message = refused(
            &cluster,
            dcos_dir.path(),
            &status_args(backend, &["--dcos-url", &with_password]),
            &[],
        );
        insta::assert_snapshot!(format!("credentials_dcos_url_flag_{backend}"), message);
        let message = refused(
            &cluster,
            dcos_dir.path(),
            &status_args(backend, &[]),
            &[("DCOS_URL", &with_password)],
        );
        assert!(message.starts_with("error: DCOS_URL: "), "{message}");
        insta::assert_snapshot!(format!("credentials_dcos_url_env_{backend}"), message);
    }
    // The dcos CLI's own setting (what `dcos config set core.dcos_url` wrote).
    let attached = tempfile::tempdir().unwrap();
    common::attached_cluster(attached.path(), &with_password, "token");
    let toml = attached
        .path()
        .join("clusters/0b6f1e7e-5d43-4b0e-8c43-2f6e5a3c0d11/dcos.toml");
    for backend in ["http", "dcos-cli"] {
        let message = refused(&cluster, attached.path(), &status_args(backend, &[]), &[]);
        assert!(
            message.starts_with(&format!("error: core.dcos_url in {}: ", toml.display())),
            "{message}"
        );
    }
}

#[test]
fn credentials_in_a_login_endpoint_are_refused_without_echoing_it() {
    let cluster = Silent::new();
    let dcos_dir = tempfile::tempdir().unwrap();
    // The endpoint is checked before the key, so none is needed here.
    let credential = serde_json::json!({
        "uid": "canary-sa",
        "private_key": "not a key",
        "login_endpoint": format!("https://admin:{PASSWORD}@dcos.example.com/acs/api/v1/auth/login"),
    })
    .to_string();
    let out = common::canary_in(
        &status_args("http", &["--dcos-url", &cluster.url()]),
        dcos_dir.path(),
        &[("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &credential)],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains(PASSWORD),
        "{}",
        text(&out.stderr)
    );
    assert!(!cluster.saw_a_request());
    insta::assert_snapshot!("credentials_login_endpoint", text(&out.stderr));
}

#[test]
fn ports_out_of_range_and_fragments_in_the_dcos_url_are_refused() {
    let cluster = Silent::new();
    let dcos_dir = tempfile::tempdir().unwrap();
    for (name, url) in [
        ("port_zero", "http://127.0.0.1:0".to_owned()),
        ("port_too_big", "http://127.0.0.1:65536".to_owned()),
        ("fragment", format!("{}#top", cluster.url())),
    ] {
        let message = refused(
            &cluster,
            dcos_dir.path(),
            &status_args("http", &["--dcos-url", &url]),
            &[],
        );
        insta::assert_snapshot!(format!("dcos_url_{name}"), message);
    }
}

#[test]
fn a_token_that_cannot_be_a_header_is_refused_naming_its_source() {
    let cluster = Silent::new();
    let dcos_dir = tempfile::tempdir().unwrap();
    let url = cluster.url();
    for (name, token) in [
        ("non_ascii", format!("t\u{f6}k{PASSWORD}")),
        ("newline", format!("{PASSWORD}\nX-Injected: 1")),
    ] {
        let message = refused(
            &cluster,
            dcos_dir.path(),
            &status_args("http", &["--dcos-url", &url]),
            &[("DCOS_ACS_TOKEN", &token)],
        );
        insta::assert_snapshot!(format!("token_{name}"), message);
        // The dcos CLI reads the variable too: refused the same way.
        let message_cli = refused(
            &cluster,
            dcos_dir.path(),
            &status_args("dcos-cli", &["--dcos-url", &url]),
            &[("DCOS_ACS_TOKEN", &token)],
        );
        assert_eq!(message_cli, message);
    }
    // The dcos CLI's stored token, for its own cluster.
    let attached = tempfile::tempdir().unwrap();
    common::attached_cluster(attached.path(), &url, &format!("{PASSWORD}\u{e9}"));
    let message = refused(&cluster, attached.path(), &status_args("http", &[]), &[]);
    assert!(
        message.starts_with("error: core.dcos_acs_token in "),
        "{message}"
    );
    assert!(
        message.contains("holds a non-ASCII character at byte 8"),
        "{message}"
    );
}
