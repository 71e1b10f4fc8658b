//! Failures of the binary and their documented exit codes.

use canary_core::{PlanError, RunnerError, RunnerUrl};
use canary_render::RenderError;
use std::fmt;
use std::process::ExitCode;

/// Exit code for invalid input (app name, template, definition, settings).
pub const EXIT_INVALID_INPUT: u8 = 3;
/// Exit code for a file that could not be read or written.
pub const EXIT_IO: u8 = 4;

/// Exit code for a cluster that could not be reached or refused a change.
pub const EXIT_CLUSTER: u8 = 5;
/// Exit code for a request the cluster did not authorize.
pub const EXIT_AUTH: u8 = 6;

/// Exit code for a followed run that failed or did not finish in time.
pub const EXIT_RUN: u8 = 7;

/// Exit code for a phase the deployment group's state does not allow now.
pub const EXIT_REFUSED: u8 = 8;

/// Exit code for a command stopped before its end (a native phase at its
/// `--timeout`; any command stopped by SIGINT or SIGTERM while it waited
/// on the cluster), resumable.
pub const EXIT_STOPPED: u8 = 9;

/// Exit code for a canary that failed its analysis: `deploy --analyze`
/// rolled it back; `canary analyze` judged that it should be.
pub const EXIT_ANALYSIS_FAILED: u8 = 10;

/// Exit code for an analysis that stopped without evidence either way (too
/// many inconclusive windows): the canary is left as it is.
pub const EXIT_INCONCLUSIVE: u8 = 11;

/// Exit code for a group someone else changed while the command ran: it
/// stopped before its next change.
pub const EXIT_MOVED: u8 = 12;

/// What a certificate that could not be verified suggests.
const CA_HINT: &str = "; if the cluster uses its own CA, pass its certificate with --ca-cert FILE \
                       (or set core.ssl_verify in the dcos CLI configuration); --insecure skips \
                       the check";

/// A failure, its message and its exit code.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Invalid input (exit 3).
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_INVALID_INPUT,
            message: message.into(),
        }
    }

    /// An I/O failure (exit 4).
    pub fn io(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_IO,
            message: message.into(),
        }
    }

    /// The cluster (or its load balancers) could not be reached (exit 5).
    pub fn cluster(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_CLUSTER,
            message: message.into(),
        }
    }

    /// A failed cluster operation: authorization failures exit 6, the rest 5.
    pub fn from_exec(error: &canary_core::executor::ExecError, context: &str) -> Self {
        Self::from_exec_message(error, format!("{context}: {error}"))
    }

    /// A failed cluster operation with its own message; the exit code
    /// follows `error` as in [`Failure::from_exec`], and a certificate that
    /// could not be verified adds how to trust the cluster's CA.
    pub fn from_exec_message(error: &canary_core::executor::ExecError, message: String) -> Self {
        use canary_core::executor::ExecError;
        let (code, hint) = match error {
            ExecError::Auth { .. } => (EXIT_AUTH, ""),
            ExecError::Untrusted { .. } => (EXIT_CLUSTER, CA_HINT),
            ExecError::Interrupted { .. } => (EXIT_STOPPED, ""),
            _ => (EXIT_CLUSTER, ""),
        };
        Failure {
            code,
            message: format!("{message}{hint}"),
        }
    }

    /// Every render error is a problem with the input; errors in the
    /// request name the flag that carried the value, and template errors
    /// the `--var` values (of `vars`) the failing line uses.
    pub fn from_render(error: RenderError, vars: &[(String, String)]) -> Self {
        match &error {
            RenderError::Request(
                source @ PlanError::Runner(RunnerError::UrlCredentials { .. }),
            ) => Failure::invalid(format!(
                "{}: {source}; give the jobs a login with --service-account-secret PATH",
                flag_of(source)
            )),
            RenderError::Request(source) => {
                Failure::invalid(format!("{}: {source}", flag_of(source)))
            }
            // A count the app cannot hold is the flag's, not the template's.
            RenderError::Plan {
                file,
                source: source @ PlanError::CanaryInstances { .. },
            } => Failure::invalid(format!(
                "--canary-instances: {source} (the app from {file})"
            )),
            RenderError::Template {
                file,
                line,
                message,
                undefined,
                variables,
            } => {
                let line = line.map(|l| format!(":{l}")).unwrap_or_default();
                let mut text = format!("{file}{line}: template error: {message}");
                if *undefined {
                    text.push_str(
                        " (available: app, image, canary_instances, vars.KEY from --var KEY=VALUE; \
                         job templates also get job and phase)",
                    );
                }
                if !variables.is_empty() {
                    text.push_str(&format!(" ({})", var_hint(variables, vars)));
                }
                Failure::invalid(text)
            }
            _ => Failure::invalid(error.to_string()),
        }
    }

    /// A followed run that failed or timed out (exit 7).
    pub fn run(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_RUN,
            message: message.into(),
        }
    }

    /// A native phase that stopped before its end and can be resumed
    /// (exit 9).
    pub fn stopped(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_STOPPED,
            message: message.into(),
        }
    }

    /// A phase refused by the preflight check (exit 8).
    pub fn refused(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_REFUSED,
            message: message.into(),
        }
    }

    /// A canary that failed its analysis (exit 10).
    pub fn analysis_failed(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_ANALYSIS_FAILED,
            message: message.into(),
        }
    }

    /// An analysis without evidence either way (exit 11).
    pub fn inconclusive(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_INCONCLUSIVE,
            message: message.into(),
        }
    }

    /// A group someone else changed while the command ran (exit 12).
    pub fn moved(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_MOVED,
            message: message.into(),
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }

    /// The same failure (and exit code), its message after `prefix`.
    pub fn after(self, prefix: &str) -> Self {
        Failure {
            code: self.code,
            message: format!("{prefix}{}", self.message),
        }
    }

    /// The exit code as a number (for `--events json`).
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Names the `--var` values a failing template line uses: `--var KEY=VALUE`
/// for those given (the value shortened and escaped), the template's own
/// default for the others.
fn var_hint(variables: &[String], vars: &[(String, String)]) -> String {
    let parts: Vec<String> = variables
        .iter()
        .map(
            |name| match vars.iter().rev().find(|(key, _)| key == name) {
                Some((_, value)) => {
                    let mut shown: String = value.chars().take(60).collect();
                    if shown.len() < value.len() {
                        shown.push('…');
                    }
                    format!("vars.{name} = {shown:?} from --var {name}")
                }
                None => format!("vars.{name}, not set with --var"),
            },
        )
        .collect();
    format!("the line uses {}", parts.join(", "))
}

/// The command-line flag a request error comes from.
fn flag_of(error: &PlanError) -> &'static str {
    match error {
        PlanError::Image { .. } | PlanError::ImageMismatch { .. } | PlanError::App(_) => "--image",
        PlanError::CanaryInstances { .. } => "--canary-instances",
        PlanError::Runner(runner) => match runner {
            RunnerError::Image { .. } => "--runner-image",
            RunnerError::Url { which, .. } | RunnerError::UrlCredentials { which } => match which {
                RunnerUrl::Marathon => "--marathon",
                RunnerUrl::MarathonLb => "--marathon-lb",
                RunnerUrl::Dcos => "--runner-dcos-url",
                RunnerUrl::Artifact => "--runner-artifact",
            },
            RunnerError::ZddMarathonLbCount(_) => "--marathon-lb",
            RunnerError::NativeNeedsCanary => "--runner-image",
            RunnerError::NativeArgv => "--runner",
            RunnerError::ArtifactName => "--runner-artifact",
            RunnerError::ArtifactSha256(_) => "--runner-sha256",
            RunnerError::MaxWait(_) => "--max-wait",
            RunnerError::ZddPath(_) => "--runner-zdd",
            RunnerError::SecretPath(_) | RunnerError::SecretValue => "--service-account-secret",
            RunnerError::Resources { .. } => "job resources",
        },
    }
}
