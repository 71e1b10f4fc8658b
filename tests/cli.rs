//! Black-box tests of the `canary` binary: help and version text, every
//! documented exit code, bad input, `--out`, and faithful free text.
//!
//! Commands run from the repository root with relative paths, so messages
//! (and their snapshots) do not depend on where the repository is checked out.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn canary_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canary-under-test"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the canary binary runs")
}

fn canary(args: &[&str]) -> Output {
    canary_in(&repo_root(), args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Runs canary, asserts the exit code and that nothing reached stdout, and
/// returns stderr.
fn fails(code: i32, args: &[&str]) -> String {
    let out = canary(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "args {args:?}\nstderr: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "", "a failure prints no document");
    stderr(&out)
}

const RENDER: [&str; 5] = ["render", "--app", "testapp", "--image", "httpd:2.4"];

fn render_with(extra: &[&str]) -> Vec<String> {
    RENDER
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect()
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------- help text

#[test]
fn help_and_version() {
    let out = canary(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("help", stdout(&out));
    let out = canary(&["render", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("render_help", stdout(&out));
    let out = canary(&["apply", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("apply_help", stdout(&out));
    let out = canary(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("run_help", stdout(&out));
    let out = canary(&["status", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("status_help", stdout(&out));
    let out = canary(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("canary {}\n", env!("CARGO_PKG_VERSION"))
    );
}

// ---------------------------------------------------------------- exit 0

/// `--runner zdd` by name says plainly where zdd.py cannot read marathon-lb's
/// stats and which runner to use; the document is the default's.
#[test]
fn runner_zdd_by_name_says_where_zdd_py_fails_and_what_to_use() {
    let default = canary(&["render", "--app", "testapp", "--image", "httpd"]);
    let named = canary(&[
        "render", "--app", "testapp", "--image", "httpd", "--runner", "zdd",
    ]);
    assert_eq!(named.status.code(), Some(0), "{}", stderr(&named));
    assert_eq!(stdout(&named), stdout(&default));
    let note = stderr(&named);
    assert!(
        note.starts_with("note: --runner zdd:")
            && note.contains("column is named `-`")
            && note.contains("use --runner native"),
        "{note}"
    );
    assert_eq!(stderr(&default), "");
}

#[test]
fn exit_0_prints_one_bundle_document() {
    let out = canary(&["render", "--app", "testapp", "--image", "httpd"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["app"]["id"], "/testapp");
    assert_eq!(doc["app"]["container"]["docker"]["image"], "httpd");
    let ids: Vec<&str> = doc["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "deploy-testapp-canary",
            "rollout-testapp-canary",
            "rollback-testapp-canary"
        ]
    );
}

#[test]
fn the_conventional_app_template_is_picked_up_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo_root().join("tests/data/templates/testapp.template.json"),
        dir.path().join("shop.template.json"),
    )
    .unwrap();
    let out = canary_in(
        dir.path(),
        &["render", "--app", "shop", "--image", "httpd:2.4"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // The legacy template's own id and ports, with the placeholder filled.
    assert_eq!(doc["app"]["id"], "/testapp");
    assert_eq!(doc["app"]["container"]["docker"]["image"], "httpd:2.4");
    assert_eq!(doc["jobs"][0]["id"], "deploy-shop-canary");
}

#[test]
fn out_dir_gets_the_original_file_names_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("rendered");
    let out_arg = out_dir.to_str().unwrap();
    let out = canary(&as_strs(&render_with(&[
        "--app-template",
        "tests/data/templates/testapp.template.json",
        "--out",
        out_arg,
    ])));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("wrote 4 files into "),
        "--out says what it wrote, no document"
    );
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "deploy-testapp-canary.json",
            "new-app-definition.json",
            "rollback-testapp-canary.json",
            "rollout-testapp-canary.json"
        ],
        "exactly the four files, no temporary leftovers"
    );
    // The files hold the same documents `render` prints.
    let printed: Value = serde_json::from_str(&stdout(&canary(&as_strs(&render_with(&[
        "--app-template",
        "tests/data/templates/testapp.template.json",
    ])))))
    .unwrap();
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out_dir.join(name)).unwrap()).unwrap()
    };
    assert_eq!(read("new-app-definition.json"), printed["app"]);
    assert_eq!(read("deploy-testapp-canary.json"), printed["jobs"][0]);
    assert_eq!(read("rollout-testapp-canary.json"), printed["jobs"][1]);
    assert_eq!(read("rollback-testapp-canary.json"), printed["jobs"][2]);
}

#[test]
fn nothing_is_written_when_rendering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("rendered");
    let args = render_with(&[
        "--app-template",
        "tests/data/bad/missing-group.template.json",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    fails(3, &as_strs(&args));
    assert!(
        !out_dir.exists(),
        "the output directory is not even created"
    );
}

// ---------------------------------------------------------------- exit 2

#[test]
fn exit_2_usage_errors() {
    insta::assert_snapshot!(
        "usage_missing_image",
        fails(2, &["render", "--app", "testapp"])
    );
    insta::assert_snapshot!(
        "usage_unknown_flag",
        fails(2, &as_strs(&render_with(&["--colour", "blue"])))
    );
    insta::assert_snapshot!(
        "usage_bad_number",
        fails(2, &as_strs(&render_with(&["--max-wait", "soon"])))
    );
    insta::assert_snapshot!(
        "usage_bad_var",
        fails(2, &as_strs(&render_with(&["--var", "vhost"])))
    );
    insta::assert_snapshot!("usage_no_command", fails(2, &[]));
    let observe = |extra: &[&str]| {
        let mut args = vec!["status", "--app", "testapp"];
        args.extend_from_slice(extra);
        fails(2, &args)
    };
    assert!(observe(&["--observe", "11m"]).contains("longer than the 10m --observe may last"));
    assert!(
        observe(&["--observe", "2s", "--sample", "10"]).contains("cannot be used with"),
        "--observe and --sample exclude each other"
    );
    // The analysis flags name what they take.
    let analyze = |extra: &[&str]| {
        let mut args = vec!["analyze", "--app", "testapp"];
        args.extend_from_slice(extra);
        fails(2, &args)
    };
    assert!(analyze(&["--max-error-rate", "120%"]).contains("between 0% and 100%"));
    assert!(analyze(&["--max-latency-ratio", "0"]).contains("a ratio above 0"));
    assert!(analyze(&["--analysis", "windows", "--count", "0"]).contains("--count"));
    // deploy's analysis options need --analyze (else nothing is judged).
    let message = fails(
        2,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--max-error-rate",
            "1%",
        ],
    );
    assert!(
        message.contains("--max-error-rate is an analysis option: it needs --analyze"),
        "{message}"
    );
}

// ---------------------------------------------------------------- exit 3

/// Bad input: each case asserts exit 3 and snapshots the message, which must
/// name the problem (the snapshot makes that reviewable; the `contains`
/// checks make it fail loudly if a message loses its subject).
#[test]
fn exit_3_invalid_input() {
    let template = |file: &str| render_with(&["--app-template", file]);
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "invalid_json",
            template("tests/data/bad/invalid-json.template.json"),
            "not valid JSON (line 4",
        ),
        (
            "template_syntax",
            template("tests/data/bad/syntax-error.template.json"),
            "syntax-error.template.json:5: template error: syntax error",
        ),
        (
            "undefined_variable",
            template("tests/data/bad/undefined-variable.template.json"),
            "undefined value",
        ),
        (
            "quoted_value",
            template("tests/data/bad/quoted-value.template.json"),
            "not \"{{ x | json }}\"",
        ),
        (
            "not_an_object",
            template("tests/data/bad/not-an-object.template.json"),
            "must be a JSON object, found an array",
        ),
        (
            "missing_group",
            template("tests/data/bad/missing-group.template.json"),
            "labels.HAPROXY_DEPLOYMENT_GROUP: missing",
        ),
        (
            "missing_alt_port",
            template("tests/data/bad/missing-alt-port.template.json"),
            "labels.HAPROXY_DEPLOYMENT_ALT_PORT: missing",
        ),
        (
            "alt_port_not_a_number",
            template("tests/data/bad/alt-port-not-a-number.template.json"),
            "'10l29' is not a port number",
        ),
        (
            "no_service_port",
            template("tests/data/bad/no-service-port.template.json"),
            "no service port found",
        ),
        (
            "two_service_ports",
            template("tests/data/bad/two-service-ports.template.json"),
            "portDefinitions[1].port=10103",
        ),
        (
            "zero_instances",
            template("tests/data/bad/zero-instances.template.json"),
            "instances: is 0",
        ),
        (
            "invalid_app_id",
            template("tests/data/bad/invalid-app-id.template.json"),
            "id: '/Test_App' is not a valid Marathon app id",
        ),
        (
            "placeholder_inside_string",
            template("tests/data/bad/placeholder-inside-string.template.json"),
            "/container/docker/image",
        ),
        (
            "schema_violation",
            template("tests/data/bad/schema-violation.template.json"),
            "at /cpus",
        ),
        (
            "app_name_makes_bad_job_id",
            vec![
                "render".into(),
                "--app".into(),
                "My_App".into(),
                "--image".into(),
                "httpd".into(),
            ],
            "deploy-My_App-canary",
        ),
        (
            "image_empty",
            vec![
                "render".into(),
                "--app".into(),
                "testapp".into(),
                "--image".into(),
                "".into(),
            ],
            "image '' is empty",
        ),
        (
            "image_quotes",
            vec![
                "render".into(),
                "--app".into(),
                "testapp".into(),
                "--image".into(),
                "httpd\"x".into(),
            ],
            "a double quote",
        ),
        (
            "image_space",
            vec![
                "render".into(),
                "--app".into(),
                "testapp".into(),
                "--image".into(),
                "httpd 2".into(),
            ],
            "a space",
        ),
        (
            "image_newline",
            vec![
                "render".into(),
                "--app".into(),
                "testapp".into(),
                "--image".into(),
                "httpd\n:2".into(),
            ],
            "a newline",
        ),
        (
            "image_shell",
            vec![
                "render".into(),
                "--app".into(),
                "testapp".into(),
                "--image".into(),
                "httpd;rm -rf /".into(),
            ],
            "';'",
        ),
        (
            "image_command_substitution",
            vec![
                "render".into(),
                "--app".into(),
                "testapp".into(),
                "--image".into(),
                "$(id)".into(),
            ],
            "'$'",
        ),
        (
            "canary_instances_too_many",
            render_with(&["--canary-instances", "5"]),
            "canary instances: 5 is out of range",
        ),
        (
            "max_wait_zero",
            render_with(&["--max-wait", "0"]),
            "max wait 0 s is out of range",
        ),
        (
            "marathon_lb_without_port",
            render_with(&["--marathon-lb", "http://marathon-lb.marathon.mesos"]),
            "needs an explicit port",
        ),
        (
            "runner_image_bad",
            render_with(&["--runner-image", "marathon-lb:"]),
            "runner image 'marathon-lb:'",
        ),
        (
            "secret_path_bad",
            render_with(&["--service-account-secret", "a secret"]),
            "service-account secret path 'a secret'",
        ),
        (
            "job_template_changes_id",
            render_with(&["--job-template", "tests/data/bad/wrong-id.job.json.j2"]),
            "rendered id = \"my-deploy-testapp-canary\"",
        ),
        (
            "duplicate_key",
            template("tests/data/bad/duplicate-key.template.json"),
            "names the key \"image\" twice in the object at /container/docker",
        ),
        (
            "var_not_a_number",
            render_with(&["--var", "service_port=abc"]),
            "vars.service_port = \"abc\" from --var service_port",
        ),
        (
            "marathon_credentials",
            render_with(&["--marathon", "http://admin:S3cretPw@marathon.mesos:8080"]),
            "--marathon: Marathon URL must not carry credentials",
        ),
        (
            "marathon_lb_credentials",
            render_with(&[
                "--marathon-lb",
                "http://S3cretPw@marathon-lb.marathon.mesos:9090",
            ]),
            "--marathon-lb: marathon-lb URL must not carry credentials",
        ),
        (
            "marathon_port_zero",
            render_with(&["--marathon", "http://marathon.mesos:0"]),
            "--marathon: Marathon URL 'http://marathon.mesos:0' has an invalid port '0'",
        ),
        (
            "marathon_lb_port_too_big",
            render_with(&["--marathon-lb", "http://marathon-lb.marathon.mesos:65536"]),
            "has an invalid port '65536': a port is a number from 1 to 65535",
        ),
        (
            "marathon_lb_fragment",
            render_with(&[
                "--marathon-lb",
                "http://marathon-lb.marathon.mesos:9090#stats",
            ]),
            "must not have a fragment",
        ),
        (
            "image_registry_port_zero",
            vec![
                "render".into(),
                "--app".into(),
                "testapp".into(),
                "--image".into(),
                "registry.example.com:0/web:1".into(),
            ],
            "registry 'registry.example.com:0' has a port out of range",
        ),
        (
            "runner_image_registry_port_too_big",
            render_with(&[
                "--runner-image",
                "registry.example.com:70000/marathon-lb:v1.14.2",
            ]),
            "--runner-image: runner image",
        ),
        (
            "secret_path_is_a_credential",
            render_with(&[
                "--service-account-secret",
                r#"{"uid":"canary","private_key":"-----BEGIN PRIVATE KEY-----\nS3cretKey\n-----END PRIVATE KEY-----"}"#,
            ]),
            "--service-account-secret: the service-account secret path looks like a credential itself",
        ),
        (
            "secret_path_is_a_pem",
            render_with(&[
                "--service-account-secret",
                "-----BEGIN RSA PRIVATE KEY-----\nS3cretKey\n-----END RSA PRIVATE KEY-----",
            ]),
            "it is not shown",
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, args, needle) in cases {
        let message = fails(3, &as_strs(&args));
        assert!(
            message.contains(needle),
            "{name}: expected {needle:?} in {message:?}"
        );
        assert!(
            !message.contains("S3cret"),
            "{name}: a secret was echoed: {message}"
        );
        insta::assert_snapshot!(format!("invalid_{name}"), message);
    }
}

#[test]
fn a_template_that_hard_codes_another_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("fixed.template.json");
    let text =
        std::fs::read_to_string(repo_root().join("tests/data/templates/testapp.template.json"))
            .unwrap();
    std::fs::write(&fixed, text.replace("ThisIsAUniqueKey", "httpd:1.0")).unwrap();
    let message = fails(
        3,
        &as_strs(&render_with(&["--app-template", fixed.to_str().unwrap()])),
    );
    assert!(
        message.contains("the app definition runs 'httpd:1.0' but the canary image is 'httpd:2.4'"),
        "{message}"
    );
}

// ---------------------------------------------------------------- exit 4

#[test]
fn exit_4_io_errors() {
    let message = fails(
        4,
        &as_strs(&render_with(&[
            "--app-template",
            "tests/data/does-not-exist.template.json",
        ])),
    );
    insta::assert_snapshot!("io_missing_app_template", message);
    let message = fails(
        4,
        &as_strs(&render_with(&["--job-template", "tests/data/nope.json.j2"])),
    );
    assert!(
        message.contains("cannot read job template 'tests/data/nope.json.j2'"),
        "{message}"
    );

    let message = fails(4, &as_strs(&render_with(&["--out", "Cargo.toml"])));
    insta::assert_snapshot!("io_out_is_a_file", message);

    // Not even root can create a directory under /proc.
    let message = fails(4, &as_strs(&render_with(&["--out", "/proc/canary-out"])));
    assert!(
        message.starts_with("error: --out '/proc/canary-out': cannot create the directory"),
        "{message}"
    );
}

#[test]
fn out_dir_that_refuses_files_leaves_nothing_behind() {
    // A read-only directory refuses new files for ordinary users; root ignores
    // mode bits, so use a directory inside /sys, which refuses everyone.
    let message = fails(4, &as_strs(&render_with(&["--out", "/sys/kernel"])));
    assert!(
        message.contains("--out '/sys/kernel': cannot create a file there"),
        "{message}"
    );
    let leftovers = std::fs::read_dir("/sys/kernel")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
}

// ---------------------------------------------------------------- free text

#[test]
fn free_text_comes_out_faithful_and_valid() {
    let hostile =
        "he said \"hi\" \\ C:\\path\nsecond line {{ image }} {% raw %} </script> \u{1F600}";
    let vhost = format!("--var=vhost={hostile}");
    let note = format!("--var=note={hostile}");
    let out = canary(&as_strs(&render_with(&[
        &vhost,
        &note,
        "--job-template",
        "tests/data/templates/job-with-note.json.j2",
    ])));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["app"]["labels"]["HAPROXY_0_VHOST"], hostile);
    for job in doc["jobs"].as_array().unwrap() {
        assert_eq!(job["description"], hostile);
        assert_eq!(job["run"]["mem"], 512, "the custom job template was used");
    }
}

// ---------------------------------------------------------------- hardening

#[test]
fn a_template_with_a_byte_order_mark_is_read() {
    let out = canary(&as_strs(&render_with(&[
        "--app-template",
        "tests/data/templates/bom.template.json",
    ])));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["app"]["id"], "/testapp");
}

/// Every target is checked before anything is replaced: a target that is
/// a directory leaves the files already there as they were.
#[test]
fn a_target_that_is_a_directory_is_found_before_anything_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let app_file = dir.path().join("new-app-definition.json");
    std::fs::write(&app_file, "the reviewed version\n").unwrap();
    std::fs::create_dir(dir.path().join("deploy-testapp-canary.json")).unwrap();
    let message = fails(
        4,
        &as_strs(&render_with(&["--out", dir.path().to_str().unwrap()])),
    );
    assert_eq!(
        message.replace(dir.path().to_str().unwrap(), "DIR"),
        "error: --out 'DIR': deploy-testapp-canary.json is a directory, so it cannot be replaced by the file; nothing was written\n"
    );
    assert_eq!(
        std::fs::read_to_string(&app_file).unwrap(),
        "the reviewed version\n"
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["deploy-testapp-canary.json", "new-app-definition.json"]
    );
}

/// An app name whose job file names no file system takes: refused before
/// anything is created.
#[test]
fn a_file_name_too_long_is_refused_before_the_directory_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("rendered");
    let app = "a".repeat(240);
    let message = fails(
        4,
        &[
            "render",
            "--app",
            &app,
            "--image",
            "httpd:2.4",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(
        message.contains("the file name is 259 bytes long, and file systems take at most 255"),
        "{message}"
    );
    assert!(!out_dir.exists(), "nothing was created");
}

/// A failure after canary made the `--out` directory (here: its last
/// component is longer than a name may be, so its parent is made first)
/// removes what it made.
#[test]
fn a_directory_canary_made_is_removed_when_writing_fails() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("new");
    let out_dir = parent.join("x".repeat(300));
    let message = fails(
        4,
        &as_strs(&render_with(&["--out", out_dir.to_str().unwrap()])),
    );
    assert!(message.contains("cannot create the directory"), "{message}");
    assert!(!parent.exists(), "the directory canary made is gone");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// No document reached anyone: standard output closed (`>&-`) or its
/// reader gone is exit 4, not a silent 0.
#[test]
fn render_to_a_closed_stdout_is_an_io_error() {
    let out = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" render --app testapp --image httpd >&-")
        .arg(env!("CARGO_BIN_EXE_canary-under-test"))
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "error: cannot write to standard output: it is closed (nothing was written)"
        ),
        "{}",
        stderr(&out)
    );
    // A shell's `> /dev/null` (write-only) is a deliberate discard: success.
    let out = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" render --app testapp --image httpd > /dev/null")
        .arg(env!("CARGO_BIN_EXE_canary-under-test"))
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_canary-under-test"))
        .args(["render", "--app", "testapp", "--image", "httpd"])
        .current_dir(repo_root())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: cannot write to standard output: Broken pipe"),
        "{}",
        stderr(&out)
    );
}

/// `--runner native`: the jobs run `canary` from the runner image or from a
/// fetched, checked binary; each wrong combination names its flag, exit 3.
#[test]
fn native_runner_flags_are_checked() {
    let message = fails(3, &as_strs(&render_with(&["--runner", "native"])));
    assert!(
        message.starts_with("error: --runner native needs --runner-image IMAGE"),
        "{message}"
    );
    let message = fails(
        3,
        &as_strs(&render_with(&[
            "--runner-artifact",
            "https://example.com/canary",
            "--runner-sha256",
            &"a".repeat(64),
        ])),
    );
    assert!(
        message.starts_with("error: --runner-artifact is for --runner native"),
        "{message}"
    );
    let native_artifact = |url: &str, sha: &str| {
        render_with(&[
            "--runner",
            "native",
            "--runner-artifact",
            url,
            "--runner-sha256",
            sha,
        ])
    };
    let message = fails(
        3,
        &as_strs(&native_artifact("https://example.com/canary", "abc")),
    );
    assert!(
        message.starts_with("error: --runner-sha256: runner artifact SHA-256 must be 64"),
        "{message}"
    );
    let message = fails(
        3,
        &as_strs(&native_artifact(
            "https://example.com/dir/",
            &"a".repeat(64),
        )),
    );
    assert!(
        message.starts_with("error: --runner-artifact: "),
        "{message}"
    );
    let message = fails(
        3,
        &as_strs(&native_artifact(
            "https://u:S3cret@example.com/canary",
            &"a".repeat(64),
        )),
    );
    assert!(
        message.contains("--runner-artifact") && !message.contains("S3cret"),
        "{message}"
    );
    // --runner-sha256 alone is a usage error.
    let out = canary(&as_strs(&render_with(&[
        "--runner-sha256",
        &"a".repeat(64),
    ])));
    assert_eq!(out.status.code(), Some(2));

    // Valid: the artifact image defaults to a pinned Debian; several
    // marathon-lb URLs are taken (zdd.py takes one).
    let out = canary(&as_strs(&render_with(&[
        "--runner",
        "native",
        "--runner-artifact",
        "https://example.com/canary-0.1.0",
        "--runner-sha256",
        &"A".repeat(64),
        "--marathon-lb",
        "http://lb-a:9090",
        "--marathon-lb",
        "http://lb-b:9090",
    ])));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &bundle["jobs"][1]["run"];
    assert_eq!(run["docker"]["image"], "debian:12.8-slim");
    let cmd = run["cmd"].as_str().unwrap();
    assert!(
        cmd.contains(&format!(
            "printf '%s  %s\\n' {} \"$MESOS_SANDBOX/canary-0.1.0\"",
            "a".repeat(64)
        )) && cmd.contains(
            "exec \"$MESOS_SANDBOX/canary-0.1.0\" rollout --app 'testapp' --group 'testapp'"
        ) && cmd.contains("--marathon-lb 'http://lb-a:9090' --marathon-lb 'http://lb-b:9090'"),
        "{cmd}"
    );
    let message = fails(
        3,
        &as_strs(&render_with(&[
            "--marathon-lb",
            "http://lb-a:9090",
            "--marathon-lb",
            "http://lb-b:9090",
        ])),
    );
    assert!(
        message.starts_with(
            "error: --marathon-lb: the zdd.py jobs take one marathon-lb URL (2 given)"
        ),
        "{message}"
    );
}

/// An analysis policy that cannot work is invalid input (exit 3) naming the
/// flag, before any request.
#[test]
fn an_unreachable_analysis_limit_is_invalid_input_naming_the_flag() {
    let message = fails(
        3,
        &[
            "analyze",
            "--app",
            "testapp",
            "--analysis",
            "windows",
            "--count",
            "2",
            "--failure-limit",
            "3",
        ],
    );
    assert!(message.contains("--failure-limit"), "{message}");
    let message = fails(
        3,
        &[
            "deploy",
            "--app",
            "testapp",
            "--image",
            "httpd:2.4",
            "--analyze",
            "--analysis",
            "windows",
            "--count",
            "1",
            "--inconclusive-limit",
            "2",
        ],
    );
    assert!(message.contains("--inconclusive-limit"), "{message}");
}

/// `render --out DIR` says what it wrote: each file with its size, and
/// exactly the files now in the directory.
#[test]
fn render_out_says_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("rendered");
    let out = canary(&as_strs(&render_with(&[
        "--out",
        out_dir.to_str().unwrap(),
    ])));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.starts_with(&format!("wrote 4 files into {}:\n", out_dir.display())),
        "{said}"
    );
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let entry = entry.unwrap();
        let line = format!(
            "  {} ({} bytes)\n",
            entry.file_name().to_str().unwrap(),
            entry.metadata().unwrap().len()
        );
        assert!(said.contains(&line), "{line} in {said}");
    }
}

/// `deploy --help` shows what deploy uses, grouped by purpose (no job
/// flags), and no help shows an empty environment value (`[env: X=]`).
#[test]
fn help_is_grouped_and_deploy_shows_only_its_own_flags() {
    let help = |command: &str| stdout(&canary(&[command, "--help"]));
    let deploy = help("deploy");
    for heading in [
        "What to deploy:",
        "Cluster:",
        "How the phase runs:",
        "Canary and ladder:",
        "Analysis (deploy: with --analyze):",
    ] {
        assert!(deploy.contains(&format!("\n{heading}\n")), "{heading}");
    }
    for job_flag in [
        "--runner ",
        "--runner-image",
        "--job-template",
        "--max-wait <",
        "--service-account-secret",
    ] {
        assert!(!deploy.contains(job_flag), "{job_flag} in deploy --help");
    }
    // A command's own flags come before the shared groups, never inside
    // one (a flag listed under "Cluster:" reads as a cluster setting).
    for (command, own) in [
        ("status", "--watch"),
        ("run", "--wait"),
        ("apply", "--dry-run"),
        ("render", "--out"),
        ("promote", "--full"),
        ("analyze", "--json"),
    ] {
        let text = help(command);
        let first_group = ["\nWhat to deploy:\n", "\nCluster:\n", "\nAnalysis"]
            .iter()
            .filter_map(|h| text.find(h))
            .min()
            .unwrap();
        assert!(text.find(own).unwrap() < first_group, "{command}: {own}");
    }
    for command in [
        "render", "apply", "run", "status", "deploy", "rollout", "rollback", "promote", "analyze",
        "demo",
    ] {
        assert!(
            !help(command).contains("=]"),
            "an empty [env: X=] in {command} --help"
        );
    }
}
