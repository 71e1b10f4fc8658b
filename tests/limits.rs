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

/// How long a bounded case may take on a loaded 2-core machine.
const QUICK: Duration = Duration::from_secs(20);

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
        let message = refused(3, &render_with(&["--app-template", device]), &[]);
        assert_eq!(
            message,
            format!(
                "error: app template '{device}' (--app-template) is refused: it is larger than the limit of 1 MiB\n"
            )
        );
        let message = refused(3, &render_with(&["--job-template", device]), &[]);
        assert!(
            message.starts_with(&format!(
                "error: job template '{device}' (--job-template) is refused: it is larger than the limit of 1 MiB"
            )),
            "{message}"
        );
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
    assert!(
        message.contains(
            "(--app-template) is refused: it is not UTF-8 text (invalid byte at offset 12)"
        ),
        "{message}"
    );
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
        let mut args = apply.to_vec();
        args.extend(["--ca-cert", device]);
        let message = refused(3, &args, &[]);
        assert_eq!(
            message,
            format!(
                "error: --ca-cert: cannot read the CA certificate file {device}: it is larger than the limit of 1 MiB\n"
            )
        );
        let message = refused(3, &apply, &[("CANARY_CA_CERT", device)]);
        assert!(
            message.contains("it is larger than the limit of 1 MiB"),
            "{message}"
        );

        let message = refused(3, &apply, &[("DCOS_SERVICE_ACCOUNT_CREDENTIAL", device)]);
        assert_eq!(
            message,
            format!(
                "error: the service-account credential file '{device}' (DCOS_SERVICE_ACCOUNT_CREDENTIAL) is refused: it is larger than the limit of 64 KiB\n"
            )
        );
    }
    let message = refused(
        3,
        &apply,
        &[
            ("DCOS_USERNAME", "bootstrapuser"),
            ("DCOS_PASSWORD_FILE", "/dev/zero"),
        ],
    );
    assert_eq!(
        message,
        "error: the password file '/dev/zero' (DCOS_PASSWORD_FILE) is refused: its first line is longer than the limit of 4 KiB\n"
    );
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
    assert_eq!(
        message,
        format!(
            "error: cannot read the dcos CLI configuration {}: it is larger than the limit of 256 KiB\n",
            toml.display()
        )
    );
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
    assert_eq!(
        message,
        format!(
            "error: {nested}: the template took more than 100000 evaluation steps (a loop too large, or nested too deep?)\n"
        )
    );
    let joined = template(
        dir.path(),
        r#"{% for i in range(100000) %}{{ range(100000)|join(",") }}{% endfor %}"#,
    );
    let message = refused(3, &render_with(&["--app-template", &joined]), &[]);
    assert_eq!(
        message,
        format!(
            "error: {joined}: the template rendered more than 1024 KiB (an app definition or job is a few KiB)\n"
        )
    );
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
    assert_eq!(
        message,
        format!(
            "error: the templates ({hungry}, embedded:metronome-job.json.j2): rendering used more than 512 MiB of memory: a template builds values far beyond what a Marathon app or a Metronome job needs (nothing was written)\n"
        )
    );
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
    assert!(
        message.ends_with(
            "rendering took more than 10 s: a template does work far beyond what a Marathon app or a Metronome job needs (nothing was written)\n"
        ),
        "{message}"
    );
}
