//! The shell command of a phase job, for either runner.
//!
//! Both start the same way: the app definition travels base64-encoded in
//! the job's environment ([`APP_DEFINITION_ENV`]) and is decoded into the
//! sandbox ([`SANDBOX_APP_FILE`]), so no byte a user wrote reaches the
//! shell. Every other value is validated and shell-quoted. Then:
//!
//! * zdd.py: `exec /marathon-lb/zdd.py --json FILE ... --new-instances N`
//!   (or `--complete-cur`, `--complete-prev`);
//! * native: `exec canary deploy --app-definition FILE ...` (or `rollout`,
//!   `rollback` of the group), against the DC/OS URL and every marathon-lb
//!   URL, with the service account's credential in the environment as a
//!   secret. With a fetched binary, its SHA-256 is checked first and
//!   nothing runs when it does not match.

use crate::bundle::{APP_DEFINITION_ENV, CanaryRequest, SANDBOX_APP_FILE};
use crate::canary_app::CanaryApp;
use crate::job::Phase;
use crate::runner::{
    DEFAULT_LOGIN_CA_CERT, DEFAULT_NATIVE_DCOS_URL, DEFAULT_NATIVE_DCOS_URL_TLS, RunnerKind,
    shell_quote,
};

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
        "exec /marathon-lb/zdd.py --json \"{SANDBOX_APP_FILE}\" --marathon {marathon} \
         --marathon-lb {lb} --syslog-socket /dev/null --force --max-wait {wait}{login_ca} {args}",
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
    let phase_args = match phase {
        Phase::Deploy => format!(
            "deploy --app {app} --image {image} --app-definition \"{SANDBOX_APP_FILE}\" --canary-instances {n}",
            app = shell_quote(request.app_name.as_str()),
            image = shell_quote(&request.image),
            n = request.canary_instances,
        ),
        Phase::Rollout | Phase::Rollback => format!(
            "{phase} --app {app} --group {group} --image {image}",
            app = shell_quote(request.app_name.as_str()),
            group = shell_quote(app.deployment_group()),
            image = shell_quote(&request.image),
        ),
    };
    let native = &runner.native;
    let mut limits = String::new();
    for (flag, value) in [
        ("--timeout", native.timeout),
        ("--health-timeout", native.health_timeout),
        ("--drain-timeout", native.drain_timeout),
    ] {
        if let Some(value) = value {
            limits.push_str(&format!(" {flag} {}s", value.as_secs()));
        }
    }
    if native.keep_failed_canary && phase == Phase::Deploy {
        limits.push_str(" --keep-failed-canary");
    }
    let lbs: String = runner
        .marathon_lb_urls
        .iter()
        .map(|url| format!(" --marathon-lb {}", shell_quote(url)))
        .collect();
    // With a service account (DC/OS Enterprise), Admin Router's certificate
    // is checked against the CA bundle DC/OS puts into every sandbox.
    let ca = if with_account && dcos_url.starts_with("https://") {
        format!(" --ca-cert \"{DEFAULT_LOGIN_CA_CERT}\"")
    } else {
        String::new()
    };
    format!(
        "{check}exec {program} {phase_args}{limits} --dcos-url {url}{lbs}{ca}",
        url = shell_quote(dcos_url),
    )
}
