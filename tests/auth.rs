//! `canary apply --backend http` against dcos-sim with `auth: true`: every
//! credential source (a service account's credential as JSON or a file,
//! uid and password from the environment, a file or a prompt on a terminal),
//! a refused login and an expired token exit 6 with a clear message, and no
//! secret ever reaches stdout or stderr, even with `-vv`.

mod common;

use dcos_sim::{ServiceAccount, SimConfig, SimHandle};
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::json;
use std::process::Output;
use std::sync::OnceLock;

const SERVICE: &str = "canary-sa";
const PASSWORD: &str = "deleteme";
const CREATED: &str =
    "rollback-web-canary: created\nrollout-web-canary: created\ndeploy-web-canary: created\n";

/// The service account's key pair, made once per test binary.
fn key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("an RSA key"))
}

fn private_pem() -> String {
    key().to_pkcs8_pem(LineEnding::LF).expect("PEM").to_string()
}

fn credential() -> String {
    json!({"scheme": "RS256", "uid": SERVICE, "private_key": private_pem()}).to_string()
}

/// A cluster that checks tokens, knows the service account and
/// bootstrapuser/deleteme, and whose clock only moves when told.
fn start() -> SimHandle {
    SimHandle::start(SimConfig {
        auth: true,
        time_scale: 0.0,
        service_accounts: vec![ServiceAccount {
            uid: SERVICE.into(),
            public_key_pem: key()
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("PEM"),
        }],
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

/// `canary apply --backend http` for app `web`, with only `env` among the
/// credential variables and an empty dcos CLI configuration.
fn apply(sim: &SimHandle, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let dcos_dir = tempfile::tempdir().unwrap();
    let mut args = extra.to_vec();
    args.extend(["apply", "--backend", "http", "--app", "web"]);
    args.extend(["--image", "nginx:1.25", "--dcos-url", sim.dcos_url()]);
    common::canary_command(&args, dcos_dir.path(), env)
        .output()
        .expect("canary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// stdout and stderr together.
fn all_output(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn assert_created(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), CREATED);
}

/// Asserts that none of the secrets, and no token (the sim's are JWTs,
/// `eyJ…`), is in `out`.
fn assert_no_secret(out: &Output, secrets: &[&str]) {
    let all = all_output(out);
    for secret in secrets {
        assert!(!all.contains(secret), "{secret:?} was printed:\n{all}");
    }
    assert!(!all.contains("eyJ"), "a token was printed:\n{all}");
    assert!(!all.contains("token="), "a token was printed:\n{all}");
}

/// The key's base64 lines: none may be printed.
fn key_lines() -> Vec<String> {
    private_pem()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect()
}

/// The error message with the sim's address replaced.
fn snapshot_message(name: &str, out: &Output) {
    insta::with_settings!({filters => vec![(r"http://127\.0\.0\.1:\d+", "[DCOS_URL]")]}, {
        insta::assert_snapshot!(name, text(&out.stderr));
    });
}

/// A token the cluster issued a second longer ago than tokens live (the
/// cluster's clock is not moved: the client's logins use the real time).
fn expired_token(sim: &SimHandle) -> String {
    sim.issue_token_with_expiry("bootstrapuser", sim.now_ms() - 1000)
}

#[test]
fn a_service_account_credential_as_json_or_a_file_logs_in() {
    let sim = start();
    assert_created(&apply(
        &sim,
        &[],
        &[("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &credential())],
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credential.json");
    std::fs::write(&file, credential()).unwrap();
    let out = apply(
        &sim,
        &[],
        &[("DCOS_SERVICE_ACCOUNT_CREDENTIAL", file.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "rollback-web-canary: unchanged\nrollout-web-canary: unchanged\ndeploy-web-canary: unchanged\n"
    );
}

#[test]
fn uid_and_password_from_the_environment_or_a_file_log_in() {
    let sim = start();
    assert_created(&apply(
        &sim,
        &[],
        &[
            ("DCOS_USERNAME", "bootstrapuser"),
            ("DCOS_PASSWORD", PASSWORD),
        ],
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let out = apply(
        &sim,
        &["--username", "bootstrapuser"],
        &[("DCOS_PASSWORD_FILE", file.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("unchanged"), "{stdout}");
}

#[test]
fn a_wrong_password_exits_6_naming_the_uid_and_never_the_password() {
    let sim = start();
    let wrong = "not-the-Passw0rd";
    let out = apply(
        &sim,
        &["-v"],
        &[("DCOS_USERNAME", "bootstrapuser"), ("DCOS_PASSWORD", wrong)],
    );
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert_no_secret(&out, &[wrong]);
    let error = text(&out.stderr);
    let error = error
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect::<Vec<_>>();
    assert_eq!(error.len(), 1, "{}", text(&out.stderr));
    // Without -v the message alone.
    let out = apply(
        &sim,
        &[],
        &[("DCOS_USERNAME", "bootstrapuser"), ("DCOS_PASSWORD", wrong)],
    );
    assert_eq!(out.status.code(), Some(6));
    snapshot_message("wrong_password", &out);
}

#[test]
fn an_expired_token_alone_exits_6_saying_how_to_log_in() {
    let sim = start();
    let token = expired_token(&sim);
    let out = apply(&sim, &[], &[("DCOS_ACS_TOKEN", &token)]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("dcos auth login"));
    assert_no_secret(&out, &[&token]);
    snapshot_message("expired_token", &out);
}

#[test]
fn an_expired_token_is_replaced_by_the_service_account() {
    let sim = start();
    let token = expired_token(&sim);
    let out = apply(
        &sim,
        &["-v"],
        &[
            ("DCOS_ACS_TOKEN", &token),
            ("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &credential()),
        ],
    );
    assert_created(&out);
    let log = text(&out.stderr);
    // The token's own `exp` says it expired: replaced before any request.
    assert!(log.contains("the token has expired"), "{log}");
    assert!(log.contains("logged in"), "{log}");
    assert_no_secret(&out, &[&token]);
}

#[test]
fn verbose_logs_requests_but_no_secret() {
    let sim = start();
    let lines = key_lines();
    let mut secrets: Vec<&str> = lines.iter().map(String::as_str).collect();
    secrets.push(PASSWORD);
    let out = apply(
        &sim,
        &["-vv"],
        &[("DCOS_SERVICE_ACCOUNT_CREDENTIAL", &credential())],
    );
    assert_created(&out);
    let log = text(&out.stderr);
    assert!(log.contains("logging in"), "{log}");
    assert!(log.contains(&format!("uid=\"{SERVICE}\"")), "{log}");
    assert!(log.contains("method=\"GET\""), "{log}");
    assert!(log.contains("status=200"), "{log}");
    assert!(log.contains("authorization: <redacted>"), "{log}");
    assert_no_secret(&out, &secrets);

    let out = apply(
        &sim,
        &["--verbose", "--verbose"],
        &[
            ("DCOS_USERNAME", "bootstrapuser"),
            ("DCOS_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    assert!(log.contains("method=\"GET\""), "{log}");
    assert!(log.contains("authorization: <redacted>"), "{log}");
    assert_no_secret(&out, &secrets);
    // Data stays on stdout, logs on stderr.
    assert!(
        !text(&out.stdout).contains("method="),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_bad_credential_is_invalid_input_and_a_missing_file_an_io_error() {
    let sim = start();
    let out = apply(
        &sim,
        &[],
        &[(
            "DCOS_SERVICE_ACCOUNT_CREDENTIAL",
            r#"{"uid":"canary-sa","private_key":"-----BEGIN PRIVATE KEY-----\nS3CR3TKEY\n-----END PRIVATE KEY-----"}"#,
        )],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_no_secret(&out, &["S3CR3TKEY"]);
    assert!(text(&out.stderr).contains("DCOS_SERVICE_ACCOUNT_CREDENTIAL"));
    let out = apply(
        &sim,
        &[],
        &[(
            "DCOS_SERVICE_ACCOUNT_CREDENTIAL",
            "/no/such/credential.json",
        )],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("'/no/such/credential.json'"));
    // A uid without a password, off a terminal: told what to set.
    let out = apply(&sim, &[], &[("DCOS_USERNAME", "bootstrapuser")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("DCOS_PASSWORD"));
}

#[test]
fn the_dcos_clis_expired_token_is_replaced_by_a_password_login() {
    let sim = start();
    let token = expired_token(&sim);
    // What `dcos cluster setup` writes, with a token that has since expired.
    let dcos_dir = tempfile::tempdir().unwrap();
    common::attached_cluster(dcos_dir.path(), sim.dcos_url(), &token);
    let dir = dcos_dir.path().to_str().unwrap();
    // The token alone: refused, with advice.
    let out = apply(&sim, &[], &[("DCOS_DIR", dir)]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("dcos auth login"));
    assert_no_secret(&out, &[&token]);
    // With a password as well: the login replaces it.
    let out = apply(
        &sim,
        &["-v"],
        &[
            ("DCOS_DIR", dir),
            ("DCOS_USERNAME", "bootstrapuser"),
            ("DCOS_PASSWORD", PASSWORD),
        ],
    );
    assert_created(&out);
    assert!(text(&out.stderr).contains("the token has expired"));
    assert_no_secret(&out, &[&token, PASSWORD]);
}

#[test]
fn on_a_terminal_the_password_is_prompted_for_without_echo() {
    use std::io::{Read, Write};
    // `script` (util-linux) gives canary a terminal.
    let Some(script) = exec_dcos_cli::find_program(std::path::Path::new("script")) else {
        eprintln!("prompt test skipped: no `script` (util-linux) on PATH to provide a terminal");
        return;
    };
    let sim = start();
    let dcos_dir = tempfile::tempdir().unwrap();
    let command_line = format!(
        "{} apply --app web --image nginx:1.25 --dcos-url {} --username bootstrapuser",
        env!("CARGO_BIN_EXE_canary-under-test"),
        sim.dcos_url()
    );
    let mut command = std::process::Command::new(script);
    command
        .args(["-qec", &command_line, "/dev/null"])
        .current_dir(dcos_dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    for name in common::CLUSTER_ENV {
        command.env_remove(name);
    }
    command.env("DCOS_DIR", dcos_dir.path());
    let mut child = command.spawn().expect("script starts");
    let mut stdout = child.stdout.take().unwrap();
    // Answer only once the prompt is there: what is typed then is not echoed.
    let mut seen = Vec::new();
    let mut chunk = [0u8; 256];
    while !text(&seen).contains("Password for bootstrapuser:") {
        let n = stdout.read(&mut chunk).expect("the terminal's output");
        assert!(n > 0, "no prompt before the end: {}", text(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let after_prompt = text(&rest).replace('\r', "");
    assert!(status.success(), "{}{after_prompt}", text(&seen));
    assert!(after_prompt.contains(CREATED), "{after_prompt}");
    assert!(!after_prompt.contains(PASSWORD), "{after_prompt}");
    assert!(!text(&seen).contains(PASSWORD), "{}", text(&seen));
}

/// Whether `stty -a` output says echo is on (`echo`, not `-echo`).
fn echo_on(stty: &str) -> bool {
    stty.split_whitespace().any(|word| word == "echo")
}

/// The pid of the `canary` process whose command line holds `marker`.
fn pid_with_argument(marker: &str) -> Option<String> {
    let binary = env!("CARGO_BIN_EXE_canary-under-test");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (args.first().map(String::as_str) == Some(binary) && args.iter().any(|a| a == marker))
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
}

/// Ctrl-C (or SIGTERM) at the password prompt: canary ends by that signal,
/// and the terminal's echo is back on afterwards (`stty -a` in the same
/// terminal says `echo`). Without the restore, the user's shell would show
/// nothing they type.
#[test]
fn a_signal_at_the_password_prompt_leaves_the_terminal_echoing() {
    use std::io::{Read, Write};
    let Some(script) = exec_dcos_cli::find_program(std::path::Path::new("script")) else {
        eprintln!("prompt test skipped: no `script` (util-linux) on PATH to provide a terminal");
        return;
    };
    let sim = start();
    for (how, code) in [("ctrl-c", 130), ("sigterm", 143)] {
        let dcos_dir = tempfile::tempdir().unwrap();
        // The shell traps INT so that it goes on after canary to report
        // canary's exit status and the terminal's settings.
        let command_line = format!(
            "trap 'echo shell-saw-int' INT; {} apply --app web --image nginx:1.25 --dcos-url {} --username bootstrapuser; echo canary-exit=$?; stty -a",
            env!("CARGO_BIN_EXE_canary-under-test"),
            sim.dcos_url()
        );
        let mut command = std::process::Command::new(&script);
        command
            .args(["-qec", &command_line, "/dev/null"])
            .current_dir(dcos_dir.path())
            .env("SHELL", "/bin/sh")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        for name in common::CLUSTER_ENV {
            command.env_remove(name);
        }
        command.env("DCOS_DIR", dcos_dir.path());
        let mut child = command.spawn().expect("script starts");
        let mut stdout = child.stdout.take().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut seen = Vec::new();
        let mut chunk = [0u8; 256];
        while !text(&seen).contains("Password for bootstrapuser:") {
            let n = stdout.read(&mut chunk).expect("the terminal's output");
            assert!(n > 0, "{how}: no prompt before the end: {}", text(&seen));
            seen.extend_from_slice(&chunk[..n]);
        }
        match how {
            // What the terminal turns into SIGINT for its foreground jobs.
            "ctrl-c" => stdin.write_all(&[0x03]).unwrap(),
            _ => {
                let pid = pid_with_argument(sim.dcos_url()).expect("canary's pid");
                let status = std::process::Command::new("kill")
                    .args(["-TERM", &pid])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
        // The rest, with a deadline: a canary that ignored the signal would
        // sit at the prompt forever.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = stdout.read_to_end(&mut rest);
            let _ = tx.send(rest);
        });
        let rest = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(rest) => rest,
            Err(_) => {
                let _ = child.kill();
                panic!("{how}: canary did not end at the signal");
            }
        };
        drop(stdin);
        let _ = child.wait();
        let after = text(&rest).replace('\r', "");
        assert!(
            after.contains(&format!("canary-exit={code}")),
            "{how}: {after}"
        );
        let stty = after.split("canary-exit=").nth(1).unwrap_or_default();
        assert!(echo_on(stty), "{how}: echo is still off:\n{stty}");
    }
}
