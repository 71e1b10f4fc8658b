//! The shell command of a phase job, for either runner.
//!
//! Both start the same way: the app definition travels base64-encoded in
//! the job's environment ([`APP_DEFINITION_ENV`]) and is decoded into the
//! sandbox ([`SANDBOX_APP_FILE`]), so no byte a user wrote reaches the
//! shell. Every other value is validated and shell-quoted. Then:
//!
//! * zdd.py: `exec /marathon-lb/zdd.py --json FILE ... --new-instances N`
//!   (the path is the runner's `zdd_path`)
//!   (or `--complete-cur`, `--complete-prev`);
//! * native: `exec canary WORDS`, the words the binary's own
//!   [`NativeArgv`](crate::native::NativeArgv) makes of the typed
//!   [`NativeInvocation`] (deploy the sandbox's definition, or roll the
//!   group out or back, against the DC/OS URL and every marathon-lb URL),
//!   with the service account's credential in the environment as a
//!   secret. With a fetched binary, its SHA-256 is checked first and
//!   nothing runs when it does not match.

use crate::bundle::{APP_DEFINITION_ENV, CanaryRequest, SANDBOX_APP_FILE};
use crate::canary_app::CanaryApp;
use crate::job::Phase;
use crate::native::{NativeInvocation, shell_quote, shell_words};
use crate::runner::{
    DEFAULT_LOGIN_CA_CERT, DEFAULT_NATIVE_DCOS_URL, DEFAULT_NATIVE_DCOS_URL_TLS, RunnerKind,
};

/// `word` as it is when the shell takes it literally (letters, digits,
/// `/`, `.`, `_`, `-`), else quoted: a plain path stays readable.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
    {
        word.to_owned()
    } else {
        shell_quote(word)
    }
}

/// The command of `phase`'s job.
pub(crate) fn job_command(phase: Phase, app: &CanaryApp, request: &CanaryRequest) -> String {
    let decode = format!(
        "set -eu; printf '%s' \"${APP_DEFINITION_ENV}\" | base64 -d > \"{SANDBOX_APP_FILE}\"; "
    );
    match request.runner.kind {
        RunnerKind::Zdd => format!("{decode}{}", zdd(phase, request)),
        RunnerKind::Native => format!("{decode}{}", native(phase, app, request)),
    }
}

/// The zdd.py arguments that differ per phase.
fn zdd_phase_args(phase: Phase, canary_instances: u32) -> String {
    match phase {
        Phase::Deploy => format!("--new-instances {canary_instances}"),
        Phase::Rollout => "--complete-cur".to_owned(),
        Phase::Rollback => "--complete-prev".to_owned(),
    }
}

fn zdd(phase: Phase, request: &CanaryRequest) -> String {
    let runner = &request.runner;
    let login_ca = if runner.service_account_secret.is_some() {
        format!(" --marathon-ca-cert \"{DEFAULT_LOGIN_CA_CERT}\"")
    } else {
        String::new()
    };
    format!(
        "exec {zdd} --json \"{SANDBOX_APP_FILE}\" --marathon {marathon} \
         --marathon-lb {lb} --syslog-socket /dev/null --force --max-wait {wait}{login_ca} {args}",
        zdd = shell_word(&runner.zdd_path),
        marathon = shell_quote(&runner.marathon_url),
        lb = shell_quote(runner.marathon_lb_urls.first().map_or("", String::as_str)),
        wait = runner.max_wait_secs,
        args = zdd_phase_args(phase, request.canary_instances),
    )
}

fn native(phase: Phase, app: &CanaryApp, request: &CanaryRequest) -> String {
    let runner = &request.runner;
    let with_account = runner.service_account_secret.is_some();
    let dcos_url = runner.dcos_url.as_deref().unwrap_or(if with_account {
        DEFAULT_NATIVE_DCOS_URL_TLS
    } else {
        DEFAULT_NATIVE_DCOS_URL
    });
    // The fetched binary, checked before anything runs; else the image's.
    let (check, program) = match &runner.artifact {
        Some(artifact) => {
            let file = format!("$MESOS_SANDBOX/{}", artifact.file_name());
            let sha = artifact.sha256.to_ascii_lowercase();
            (
                format!(
                    "if ! printf '%s  %s\\n' {sha} \"{file}\" | sha256sum -c - >/dev/null 2>&1; then \
                     echo \"canary: {file} does not have SHA-256 {sha}: not running it\" >&2; exit 1; fi; \
                     chmod +x \"{file}\"; "
                ),
                format!("\"{file}\""),
            )
        }
        None => (String::new(), "canary".to_owned()),
    };
    // With a service account (DC/OS Enterprise), Admin Router's certificate
    // is checked against the CA bundle DC/OS puts into every sandbox.
    let ca_cert =
        (with_account && dcos_url.starts_with("https://")).then_some(DEFAULT_LOGIN_CA_CERT);
    let invocation = NativeInvocation {
        phase,
        app: request.app_name.as_str(),
        image: &request.image,
        group: app.deployment_group(),
        app_definition: SANDBOX_APP_FILE,
        canary_instances: request.canary_instances,
        options: runner.native,
        dcos_url,
        marathon_lb: &runner.marathon_lb_urls,
        ca_cert,
    };
    // Validation refuses a native runner without it.
    let words = runner
        .native_argv
        .map(|argv| (argv.0)(&invocation))
        .unwrap_or_default();
    format!("{check}exec {program} {}", shell_words(&words))
}
