//! Resource limits, through the binary: every file canary reads has a size
//! cap, and templates are bounded in steps, output, memory and time. Each
//! case runs under a 1 GiB virtual-memory limit (2 GiB where the watchdog
//! is what stops it) and must end with its documented exit code and a
//! message naming the flag, variable or file, quickly: an unbounded read of
//! `/dev/zero` would abort on the limit instead, and `/dev/urandom` would
//! never end.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Virtual memory for a bounded case: far below what an unbounded read of
/// an endless device would take, far above what canary needs.
const MEMORY_KIB: u64 = 1024 * 1024;

/// How long a bounded case may take on a loaded 2-core machine (the
/// watchdog's cases take up to its 10 s, and a debug build spends seconds
/// escaping 100 MB strings before the memory limit is reached).
const QUICK: Duration = Duration::from_secs(60);

/// Snapshots the message, with temporary paths made stable.
macro_rules! snapshot {
    ($name:expr, $message:expr) => {
        insta::with_settings!({filters => vec![(r"[^\s']*/\.tmp[A-Za-z0-9]+", "[TMP]")]}, {
            insta::assert_snapshot!($name, $message);
        })
    };
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs canary under [`MEMORY_KIB`], asserts `code`, an empty stdout and
/// [`QUICK`], and returns stderr.
fn refused(code: i32, args: &[&str], env: &[(&str, &str)]) -> String {
    let dcos_dir = tempfile::tempdir().unwrap();
    refused_in(code, args, env, dcos_dir.path(), MEMORY_KIB)
}

fn refused_in(code: i32, args: &[&str], env: &[(&str, &str)], dcos_dir: &Path, kib: u64) -> String {
    let (out, took): (Output, Duration) = common::canary_limited(args, dcos_dir, env, kib);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?} {env:?}: {:?}\n{}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "", "{args:?}: nothing on stdout");
    assert!(took < QUICK, "{args:?} {env:?} took {took:?}");
    text(&out.stderr)
}

const RENDER: [&str; 5] = ["render", "--app", "web", "--image", "httpd:2.4"];

fn render_with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    RENDER
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

#[test]
fn endless_devices_as_templates_are_refused_quickly() {
    for device in ["/dev/zero", "/dev/urandom"] {
        let name = device.trim_start_matches("/dev/");
        let message = refused(3, &render_with(&["--app-template", device]), &[]);
        snapshot!(format!("app_template_{name}"), message);
        let message = refused(3, &render_with(&["--job-template", device]), &[]);
        snapshot!(format!("job_template_{name}"), message);
    }
}

#[test]
fn a_template_in_another_encoding_is_refused_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("latin1.template.json");
    std::fs::write(&latin1, b"{\"id\": \"/caf\xe9\"}").unwrap();
    let message = refused(
        3,
        &render_with(&["--app-template", latin1.to_str().unwrap()]),
        &[],
    );
    snapshot!("app_template_latin1", message);
}

/// Everything the cluster commands read: the CA bundle, a service-account
/// credential file, a password file (only its first line matters).
#[test]
fn endless_devices_as_credentials_or_certificates_are_refused_before_any_request() {
    // Nothing listens on the discard port: a request would be exit 5.
    let apply = [
        "apply",
        "--app",
        "web",
        "--image",
        "httpd:2.4",
        "--dcos-url",
        "https://127.0.0.1:9",
    ];
    for device in ["/dev/zero", "/dev/urandom"] {
        let name = device.trim_start_matches("/dev/");
        let mut args = apply.to_vec();
        args.extend(["--ca-cert", device]);
        let message = refused(3, &args, &[]);
        snapshot!(format!("ca_cert_{name}"), message);
        let message = refused(3, &apply, &[("CANARY_CA_CERT", device)]);
        snapshot!(format!("ca_cert_env_{name}"), message);

        let message = refused(3, &apply, &[("DCOS_SERVICE_ACCOUNT_CREDENTIAL", device)]);
        snapshot!(format!("service_account_file_{name}"), message);
    }
    let message = refused(
        3,
        &apply,
        &[
            ("DCOS_USERNAME", "bootstrapuser"),
            ("DCOS_PASSWORD_FILE", "/dev/zero"),
        ],
    );
    snapshot!("password_file_zero", message);
}

/// A huge (sparse) `dcos.toml`: refused naming the file, without reading it.
#[test]
fn a_huge_dcos_cli_configuration_is_refused_naming_the_file() {
    let dcos_dir = tempfile::tempdir().unwrap();
    let cluster = dcos_dir.path().join("clusters").join("c1");
    std::fs::create_dir_all(&cluster).unwrap();
    let toml = cluster.join("dcos.toml");
    std::fs::File::create(&toml)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    std::fs::write(cluster.join("attached"), "").unwrap();
    let message = refused_in(
        3,
        &["status", "--app", "web"],
        &[],
        dcos_dir.path(),
        MEMORY_KIB,
    );
    snapshot!("dcos_toml_huge", message);
}

fn template(dir: &Path, text: &str) -> String {
    let path = dir.join("big.template.json");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The issue's two templates: nested loops (hours of evaluation) and a loop
/// rendering gigabytes. Both are invalid input naming the template.
#[test]
fn runaway_templates_are_invalid_input_naming_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let nested = template(
        dir.path(),
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    );
    let message = refused(3, &render_with(&["--app-template", &nested]), &[]);
    snapshot!("template_nested_loops", message);
    let joined = template(
        dir.path(),
        r#"{% for i in range(100000) %}{{ range(100000)|join(",") }}{% endfor %}"#,
    );
    let message = refused(3, &render_with(&["--app-template", &joined]), &[]);
    snapshot!("template_renders_gigabytes", message);
}

/// One step of a template can make 100 MB (`"x" * 100000000`), and a
/// `{% set %}` block keeps what it renders in memory: the binary's
/// watchdog stops it at 512 MiB, well before the 2 GiB it is given here.
#[test]
fn a_template_that_fills_memory_is_stopped_by_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let hungry = template(
        dir.path(),
        r#"{% set x %}{% for i in range(100000) %}{{ "x" * 100000000 }}{% endfor %}{% endset %}{}"#,
    );
    let dcos_dir = tempfile::tempdir().unwrap();
    let message = refused_in(
        3,
        &render_with(&["--app-template", &hungry]),
        &[],
        dcos_dir.path(),
        2 * MEMORY_KIB,
    );
    snapshot!("template_fills_memory", message);
}

/// Steps that each take long (a 100 MB string made anew per iteration)
/// are stopped by the watchdog's clock.
#[test]
fn a_template_that_takes_too_long_is_stopped_by_the_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let slow = template(
        dir.path(),
        r#"{% for i in range(100000) %}{% if "y" in "x" * (100000000 - i) %}{% endif %}{% endfor %}{}"#,
    );
    let message = refused(3, &render_with(&["--app-template", &slow]), &[]);
    snapshot!("template_takes_too_long", message);
}
