//! How the canary jobs run a phase: with marathon-lb's zdd.py, or with
//! canary's own engine (`canary deploy|rollout|rollback` inside the job):
//! image or fetched binary, endpoints, drain budget, credentials and
//! resources.

use crate::image::{ImageError, validate_image};
use crate::native::NativeArgv;
pub use crate::native::NativeOptions;
use crate::url::{UrlError, parse_http_url};
use std::fmt;

/// The marathon-lb image the jobs run by default: a pinned release that ships
/// `/marathon-lb/zdd.py` under Python 3 with the two-pid reload check
/// (zdd.md §6.1). Never `:latest`, so a job does the same thing every run.
pub const DEFAULT_RUNNER_IMAGE: &str = "mesosphere/marathon-lb:v1.14.2";

/// Where the runner image holds zdd.py (marathon-lb's image's path).
pub const DEFAULT_ZDD_PATH: &str = "/marathon-lb/zdd.py";

/// Marathon as seen from inside the cluster (apis.md §3.4).
pub const DEFAULT_MARATHON_URL: &str = "http://marathon.mesos:8080";

/// marathon-lb's stats endpoint as seen from inside the cluster. zdd.py needs
/// the port spelled out (zdd.md §2).
pub const DEFAULT_MARATHON_LB_URL: &str = "http://marathon-lb.marathon.mesos:9090";

/// Default `--max-wait`, in seconds: how long one zdd.py drain step waits for
/// the old tasks' connections to close before it kills them anyway.
///
/// The original tool used 1, which meant one poll and then killing tasks with
/// open connections. 300 is zdd.py's own default and outlasts the 30 s client
/// and server timeouts of marathon-lb's default HAProxy configuration, so every
/// ordinary request finishes before its task is killed. Long-lived tunnels
/// (websockets) need a larger value.
pub const DEFAULT_MAX_WAIT_SECS: u32 = 300;

/// Where a service-account credential is verified when zdd.py logs in: the CA
/// bundle DC/OS Enterprise puts into every task sandbox. Without
/// `--marathon-ca-cert` zdd.py would log in with TLS verification off.
pub const DEFAULT_LOGIN_CA_CERT: &str = "$MESOS_SANDBOX/.ssl/ca-bundle.crt";

/// The Metronome secret name the service-account secret is bound to.
pub const SERVICE_ACCOUNT_SECRET_NAME: &str = "canary-service-account";

/// The image a native job runs in when its `canary` binary is fetched as an
/// artifact: a pinned Debian with `sh`, `base64` and `sha256sum`.
pub const DEFAULT_ARTIFACT_IMAGE: &str = "debian:12.8-slim";

/// The DC/OS URL a native job reaches Admin Router at on a cluster with
/// authentication (a service-account secret given): HTTPS, verified with the
/// CA bundle DC/OS puts into every sandbox ([`DEFAULT_LOGIN_CA_CERT`]).
pub const DEFAULT_NATIVE_DCOS_URL_TLS: &str = "https://leader.mesos";

/// The DC/OS URL a native job reaches Admin Router at on an open cluster.
pub const DEFAULT_NATIVE_DCOS_URL: &str = "http://leader.mesos";

/// The longest `--max-wait` accepted: one day.
pub const MAX_WAIT_LIMIT_SECS: u32 = 86_400;

/// Settings of the job runner (zdd.py or canary's engine).
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerConfig {
    /// What runs each phase: zdd.py (the jobs), or canary's own engine.
    pub kind: RunnerKind,
    /// The image that holds zdd.py (or, for the native runner, `canary`).
    pub image: String,
    /// zdd.py in the image: an absolute path, or a name the image's `PATH`
    /// finds (an image whose zdd.py reads HAProxy 2.6's stats, say).
    pub zdd_path: String,
    /// Marathon's URL as reachable from the job.
    pub marathon_url: String,
    /// marathon-lb's stats URLs as reachable from the job (explicit port):
    /// exactly one for zdd.py, one or more for the native runner.
    pub marathon_lb_urls: Vec<String>,
    /// The DC/OS URL the native runner reaches Admin Router at; `None`: the
    /// default for the cluster's kind ([`DEFAULT_NATIVE_DCOS_URL_TLS`] with
    /// a service account, else [`DEFAULT_NATIVE_DCOS_URL`]). Unused by zdd.py.
    pub dcos_url: Option<String>,
    /// The native runner's `canary` binary fetched into the sandbox and
    /// checked before it runs, instead of one on the image's `PATH`.
    pub artifact: Option<RunnerArtifact>,
    /// The engine's limits inside native jobs (unset: canary's defaults).
    pub native: NativeOptions,
    /// The binary's command line for a native job (its flags are its
    /// own): needed with [`RunnerKind::Native`], unused by zdd.py.
    pub native_argv: Option<NativeArgv>,
    /// Seconds one drain step may wait (zdd.py `--max-wait`).
    pub max_wait_secs: u32,
    /// The DC/OS secret path holding a service-account credential, for
    /// clusters with authentication. `None` on open clusters.
    pub service_account_secret: Option<String>,
    /// CPU shares of the job.
    pub cpus: f64,
    /// Memory of the job, in MiB.
    pub mem: u32,
    /// Disk of the job, in MiB.
    pub disk: u32,
}

/// A `canary` binary for the native runner, fetched by Mesos into the
/// sandbox: the job checks its SHA-256 before it runs anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerArtifact {
    /// An http(s) URL whose last path segment names the file.
    pub url: String,
    /// Its SHA-256, 64 hexadecimal digits.
    pub sha256: String,
}

impl RunnerArtifact {
    /// The file name the fetcher gives it in the sandbox: the last segment
    /// of the URL's path.
    pub fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or_default()
    }
}

/// What carries out a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunnerKind {
    /// marathon-lb's zdd.py, in the phase jobs (its limits apply: no `/` in
    /// the deployment group).
    #[default]
    Zdd,
    /// canary's own engine (`canary deploy`, `rollout`, `rollback`).
    Native,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            kind: RunnerKind::Zdd,
            image: DEFAULT_RUNNER_IMAGE.to_owned(),
            zdd_path: DEFAULT_ZDD_PATH.to_owned(),
            marathon_url: DEFAULT_MARATHON_URL.to_owned(),
            marathon_lb_urls: vec![DEFAULT_MARATHON_LB_URL.to_owned()],
            dcos_url: None,
            artifact: None,
            native: NativeOptions::default(),
            native_argv: None,
            max_wait_secs: DEFAULT_MAX_WAIT_SECS,
            service_account_secret: None,
            cpus: 0.1,
            mem: 256,
            disk: 0,
        }
    }
}

/// Which of the runner's URLs a [`RunnerError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerUrl {
    /// [`RunnerConfig::marathon_url`].
    Marathon,
    /// One of [`RunnerConfig::marathon_lb_urls`].
    MarathonLb,
    /// [`RunnerConfig::dcos_url`].
    Dcos,
    /// The [`RunnerArtifact::url`].
    Artifact,
}

impl fmt::Display for RunnerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunnerUrl::Marathon => "Marathon",
            RunnerUrl::MarathonLb => "marathon-lb",
            RunnerUrl::Dcos => "DC/OS",
            RunnerUrl::Artifact => "runner artifact",
        })
    }
}

/// A runner setting that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunnerError {
    /// The runner image is malformed.
    #[error("runner image '{image}' {reason}")]
    Image {
        /// The image as given.
        image: String,
        /// What is wrong.
        reason: ImageError,
    },
    /// A URL is malformed.
    #[error("{which} URL '{url}' {reason}")]
    Url {
        /// Which URL.
        which: RunnerUrl,
        /// The URL as given (escaped).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A URL carries credentials (`user:password@`); it is not repeated.
    #[error(
        "{which} URL must not carry credentials (user:password@ before the host): the URL would show in the jobs and their logs (it is not shown here)"
    )]
    UrlCredentials {
        /// Which URL.
        which: RunnerUrl,
    },
    /// `--max-wait` out of range.
    #[error("max wait {0} s is out of range: use 1 to 86400 seconds")]
    MaxWait(u32),
    /// The secret path looks like a secret itself (credential JSON, a PEM
    /// key, a token): it is not repeated.
    #[error(
        "the service-account secret path looks like a credential itself (JSON, a PEM key or a token), not the DC/OS secret path that holds one, such as 'canary/service-account'; it is not shown"
    )]
    SecretValue,
    /// The secret path is malformed.
    #[error(
        "service-account secret path '{0}' is invalid: use a DC/OS secret path such as 'canary/service-account' (letters, digits, '/', '.', '_', '-')"
    )]
    SecretPath(String),
    /// zdd.py takes one marathon-lb URL; this many were given.
    #[error(
        "the zdd.py jobs take one marathon-lb URL ({0} given); give a name that resolves to every marathon-lb instance"
    )]
    ZddMarathonLbCount(usize),
    /// A native job needs a way to run `canary`.
    #[error(
        "the native runner needs an image with canary on PATH (the runner image), or a canary binary fetched as an artifact with its SHA-256; marathon-lb's image has no canary"
    )]
    NativeNeedsCanary,
    /// A native runner without the binary's command line to run it with.
    #[error(
        "the native runner needs the canary binary's command line (RunnerConfig::native_argv): canary-core does not name the binary's flags"
    )]
    NativeArgv,
    /// The artifact's checksum is not 64 hexadecimal digits.
    #[error("runner artifact SHA-256 must be 64 hexadecimal digits (got {0} characters)")]
    ArtifactSha256(usize),
    /// The artifact URL's last path segment cannot name a file in the sandbox.
    #[error(
        "runner artifact URL must end in a file name of letters, digits, '.', '_' or '-' (the sandbox file is named by it)"
    )]
    ArtifactName,
    /// The zdd.py path is empty or holds what a path in an image cannot.
    #[error(
        "the zdd.py path {0:?} is not a path in the runner image (an absolute path, or a name on its PATH, of printable characters without spaces)"
    )]
    ZddPath(String),
    /// Resources below Metronome's minimums.
    #[error(
        "job resources cpus={cpus} mem={mem} are below Metronome's minimums (cpus >= 0.01, mem >= 32 MiB)"
    )]
    Resources {
        /// CPUs asked for.
        cpus: f64,
        /// Memory asked for.
        mem: u32,
    },
}

/// Checks an http(s) URL well enough for zdd.py: scheme, host, optional
/// port from 1 to 65535 and path, no credentials, query or fragment (zdd.py
/// appends API paths to it), nothing a shell could misread.
fn check_url(which: RunnerUrl, url: &str, need_port: bool) -> Result<(), RunnerError> {
    let fail = |reason: &str| {
        Err(RunnerError::Url {
            which,
            url: url.escape_debug().to_string(),
            reason: reason.to_owned(),
        })
    };
    const SHELL: &str = "contains whitespace, quotes or shell metacharacters";
    let parsed = match parse_http_url(url) {
        Ok(parsed) => parsed,
        Err(UrlError::Credentials) => return Err(RunnerError::UrlCredentials { which }),
        Err(UrlError::Whitespace) => return fail(SHELL),
        Err(other) => return fail(&other.to_string()),
    };
    let unsafe_char = |c: char| {
        !c.is_ascii_graphic()
            || matches!(
                c,
                '\'' | '"' | '\\' | '`' | '$' | ';' | '|' | '&' | '<' | '>'
            )
    };
    if url.chars().any(unsafe_char) {
        return fail(SHELL);
    }
    if parsed.fragment.is_some() {
        return fail("must not have a fragment ('#…'): zdd.py appends API paths to the URL");
    }
    if parsed.query.is_some() {
        return fail("must not have a query ('?…'): zdd.py appends API paths to the URL");
    }
    if need_port && parsed.port.is_none() {
        return fail(
            "needs an explicit port (zdd.py joins each resolved address with the port, so a URL without one breaks)",
        );
    }
    Ok(())
}

/// Whether a secret *path* is really a secret's value: credential JSON, a
/// PEM block, or something far longer than any path.
fn looks_like_a_secret(path: &str) -> bool {
    path.contains(['{', '}', '\n'])
        || path.contains("-----")
        || path.contains("PRIVATE KEY")
        || path.contains("private_key")
        || path.len() > 256
}

fn check_secret_path(path: &str) -> Result<(), RunnerError> {
    if looks_like_a_secret(path) {
        return Err(RunnerError::SecretValue);
    }
    let ok = !path.is_empty()
        && !path.ends_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
        && path
            .trim_start_matches('/')
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if ok {
        Ok(())
    } else {
        Err(RunnerError::SecretPath(path.escape_debug().to_string()))
    }
}

impl RunnerConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), RunnerError> {
        validate_image(&self.image).map_err(|reason| RunnerError::Image {
            image: self.image.escape_debug().to_string(),
            reason,
        })?;
        check_url(RunnerUrl::Marathon, &self.marathon_url, false)?;
        if self.marathon_lb_urls.is_empty()
            || (self.kind == RunnerKind::Zdd && self.marathon_lb_urls.len() != 1)
        {
            return Err(RunnerError::ZddMarathonLbCount(self.marathon_lb_urls.len()));
        }
        for url in &self.marathon_lb_urls {
            check_url(RunnerUrl::MarathonLb, url, true)?;
        }
        if let Some(url) = &self.dcos_url {
            check_url(RunnerUrl::Dcos, url, false)?;
        }
        if let Some(artifact) = &self.artifact {
            check_url(RunnerUrl::Artifact, &artifact.url, false)?;
            let name = artifact.file_name();
            if name.is_empty()
                || name.starts_with('.')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(RunnerError::ArtifactName);
            }
            if artifact.sha256.len() != 64
                || !artifact.sha256.chars().all(|c| c.is_ascii_hexdigit())
            {
                return Err(RunnerError::ArtifactSha256(artifact.sha256.chars().count()));
            }
        }
        if self.kind == RunnerKind::Native
            && self.artifact.is_none()
            && self.image == DEFAULT_RUNNER_IMAGE
        {
            return Err(RunnerError::NativeNeedsCanary);
        }
        if self.kind == RunnerKind::Native && self.native_argv.is_none() {
            return Err(RunnerError::NativeArgv);
        }
        if self.zdd_path.is_empty()
            || self.zdd_path.len() > 1024
            || !self.zdd_path.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(RunnerError::ZddPath(
                self.zdd_path.escape_debug().to_string(),
            ));
        }
        if !(1..=MAX_WAIT_LIMIT_SECS).contains(&self.max_wait_secs) {
            return Err(RunnerError::MaxWait(self.max_wait_secs));
        }
        if let Some(path) = &self.service_account_secret {
            check_secret_path(path)?;
        }
        // NaN fails this test as well as a too-small value.
        let cpus_ok = self.cpus.is_finite() && self.cpus >= 0.01;
        if !cpus_ok || self.mem < 32 {
            return Err(RunnerError::Resources {
                cpus: self.cpus,
                mem: self.mem,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_pinned() {
        let config = RunnerConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert!(!config.image.ends_with(":latest") && config.image.contains(':'));
    }

    #[test]
    fn urls() {
        let with = |m: &str, lb: &str| RunnerConfig {
            marathon_url: m.into(),
            marathon_lb_urls: vec![lb.into()],
            ..RunnerConfig::default()
        };
        assert_eq!(
            with(
                "https://leader.mesos/service/marathon",
                "http://10.0.0.1:9090"
            )
            .validate(),
            Ok(())
        );
        let err = |m: &str, lb: &str| with(m, lb).validate().unwrap_err().to_string();
        assert!(
            err("marathon.mesos:8080", DEFAULT_MARATHON_LB_URL).contains("must start with http")
        );
        assert!(err(DEFAULT_MARATHON_URL, "http://marathon-lb").contains("needs an explicit port"));
        assert!(err(DEFAULT_MARATHON_URL, "http://lb:9x").contains("invalid port"));
        assert!(err(DEFAULT_MARATHON_URL, "http://lb:0").contains("invalid port '0'"));
        assert!(err(DEFAULT_MARATHON_URL, "http://lb:65536").contains("invalid port '65536'"));
        assert!(err("http://m:8080#top", DEFAULT_MARATHON_LB_URL).contains("fragment"));
        assert!(err("http://m:8080?a=1", DEFAULT_MARATHON_LB_URL).contains("query"));
        assert!(err("http://a b", DEFAULT_MARATHON_LB_URL).contains("whitespace"));
        assert!(err("http://x/';rm", DEFAULT_MARATHON_LB_URL).contains("shell"));
        assert!(err("http://", DEFAULT_MARATHON_LB_URL).contains("no host"));
        let credentials = with("http://u:S3cret@x", DEFAULT_MARATHON_LB_URL).validate();
        assert_eq!(
            credentials,
            Err(RunnerError::UrlCredentials {
                which: RunnerUrl::Marathon
            })
        );
        let message = credentials.unwrap_err().to_string();
        assert!(
            message.contains("credentials") && !message.contains("S3cret"),
            "{message}"
        );
        assert!(
            !message.contains("--"),
            "no flag named in the library: {message}"
        );
    }

    #[test]
    fn other_settings() {
        let bad = |c: RunnerConfig| c.validate().unwrap_err().to_string();
        assert!(
            bad(RunnerConfig {
                max_wait_secs: 0,
                ..Default::default()
            })
            .contains("max wait 0")
        );
        assert!(
            bad(RunnerConfig {
                image: "x:".into(),
                ..Default::default()
            })
            .contains("runner image")
        );
        assert!(
            bad(RunnerConfig {
                mem: 16,
                ..Default::default()
            })
            .contains("minimums")
        );
        for path in ["", "a b", "a/", "a//b", "../x", "a;b"] {
            let c = RunnerConfig {
                service_account_secret: Some(path.into()),
                ..Default::default()
            };
            assert!(bad(c).contains("secret path"), "{path:?}");
        }
        let c = RunnerConfig {
            service_account_secret: Some("/canary/sa".into()),
            ..Default::default()
        };
        assert_eq!(c.validate(), Ok(()));
        let secret = r#"{"uid":"sa","private_key":"-----BEGIN PRIVATE KEY-----\nS3CR3T\n-----END PRIVATE KEY-----"}"#;
        for value in [secret, "-----BEGIN RSA PRIVATE KEY-----", &"a".repeat(300)] {
            let c = RunnerConfig {
                service_account_secret: Some(value.into()),
                ..Default::default()
            };
            assert_eq!(c.validate(), Err(RunnerError::SecretValue));
        }
        assert!(!RunnerError::SecretValue.to_string().contains("--"));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(crate::native::shell_quote("a b"), "'a b'");
        assert_eq!(crate::native::shell_quote("it's"), r"'it'\''s'");
    }
}
