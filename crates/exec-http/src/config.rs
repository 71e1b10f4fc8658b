//! How an [`crate::HttpExecutor`] reaches Metronome: where, as whom, how
//! long it waits and how it retries.

use crate::auth::Login;
use crate::tls::Tls;
use canary_core::clock::Clock;
use canary_core::redact::REDACTED;
use canary_core::retry::RetryPolicy;
use canary_core::url::{UrlError, parse_http_url};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A configuration the executor cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL is not an absolute `http://` or `https://` URL without query
    /// or fragment.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL carries credentials (`user:password@`); it is not repeated,
    /// so the password stays out of errors and logs.
    #[error(
        "the URL must not carry credentials (user:password@ before the host): they would show in logs and errors (the URL is not shown); give credentials through the environment instead"
    )]
    Credentials,
}

/// Checks an absolute base URL (canary-core's rule: no credentials, a
/// host, a port from 1 to 65535; here also no query or fragment, since API
/// paths are appended) and returns it without trailing slashes.
pub(crate) fn base_url(url: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        url: url.escape_debug().to_string(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim_end_matches('/');
    let parsed = parse_http_url(trimmed).map_err(|e| match e {
        UrlError::Credentials => ConfigError::Credentials,
        other => invalid(&other.to_string()),
    })?;
    if parsed.fragment.is_some() {
        return Err(invalid(
            "must not have a fragment ('#…'): API paths are appended to it",
        ));
    }
    if parsed.query.is_some() {
        return Err(invalid(
            "must not have a query ('?…'): API paths are appended to it",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Where Metronome's and Marathon's APIs are: behind Admin Router
/// (`<dcos_url>/service/metronome`, `<dcos_url>/service/marathon`) or
/// addressed directly, as a job inside the cluster would
/// (`http://metronome.mesos:9000`, `http://marathon.mesos:8080`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    metronome: String,
    marathon: Option<String>,
    dcos: Option<String>,
}

impl Endpoints {
    /// Through Admin Router at the cluster's DC/OS URL, e.g.
    /// `https://dcos.example.com`: Metronome is `<url>/service/metronome`
    /// and Marathon `<url>/service/marathon`.
    pub fn dcos(url: &str) -> Result<Self, ConfigError> {
        let dcos = base_url(url)?;
        Ok(Endpoints {
            metronome: format!("{dcos}/service/metronome"),
            marathon: Some(format!("{dcos}/service/marathon")),
            dcos: Some(dcos),
        })
    }

    /// Metronome alone at its own URL, e.g. `http://metronome.mesos:9000`;
    /// the `/v1/...` paths are appended to it. Marathon operations fail
    /// until [`Endpoints::with_marathon`] says where Marathon is.
    pub fn metronome(url: &str) -> Result<Self, ConfigError> {
        Ok(Endpoints {
            metronome: base_url(url)?,
            marathon: None,
            dcos: None,
        })
    }

    /// The same, with Marathon at its own URL, e.g.
    /// `http://marathon.mesos:8080`; the `/v2/...` paths are appended to it.
    pub fn with_marathon(mut self, url: &str) -> Result<Self, ConfigError> {
        self.marathon = Some(base_url(url)?);
        Ok(self)
    }

    /// The base the `/v1/...` paths are appended to.
    pub fn metronome_url(&self) -> &str {
        &self.metronome
    }

    /// The base the `/v2/...` paths are appended to, when known.
    pub fn marathon_url(&self) -> Option<&str> {
        self.marathon.as_deref()
    }

    /// The DC/OS URL, when Metronome is reached through Admin Router.
    pub fn dcos_url(&self) -> Option<&str> {
        self.dcos.as_deref()
    }

    /// Whether the endpoint is reached over TLS.
    pub fn uses_https(&self) -> bool {
        self.metronome.starts_with("https://")
            || self
                .marathon
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"))
    }
}

/// How requests authenticate.
///
/// `Debug` never shows a secret: it prints `Token(<redacted>)`, and a
/// [`Login`] shows only its uid.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// No `Authorization` header (an open cluster, or Metronome reached
    /// directly on a cluster that does not check tokens).
    #[default]
    None,
    /// A DC/OS authentication token (what `dcos auth login` stores as
    /// `core.dcos_acs_token`, or `DCOS_ACS_TOKEN`), sent as
    /// `Authorization: token=<T>`.
    Token(String),
    /// Log in (as a service account, or with a uid and password) for a
    /// token, and log in again before it expires or once after a 401.
    Login(Login),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Token(_) => write!(f, "Token({REDACTED})"),
            Credentials::Login(login) => f.debug_tuple("Login").field(login).finish(),
        }
    }
}

/// A token that cannot be sent in an HTTP header: the message says where
/// the first bad byte is and what kind it is, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "holds {what} at byte {at}, which an HTTP header cannot carry (a DC/OS token is printable ASCII without spaces)"
)]
pub struct BadToken {
    /// The byte offset of the first bad character.
    pub at: usize,
    /// What it is (`a newline`, `a non-ASCII character`, ...).
    pub what: &'static str,
}

/// Checks that `token` can go into `Authorization: token=…` as it is:
/// printable ASCII, no spaces (DC/OS tokens are JWTs), not empty. A token
/// that fails would make every request fail in transport, retried until
/// the budget is spent, instead of at once.
pub fn check_token(token: &str) -> Result<(), BadToken> {
    if token.is_empty() {
        return Err(BadToken {
            at: 0,
            what: "nothing",
        });
    }
    match token.bytes().position(|b| !b.is_ascii_graphic()) {
        None => Ok(()),
        Some(at) => Err(BadToken {
            at,
            what: match token.as_bytes()[at] {
                b'\n' | b'\r' => "a line break",
                b' ' | b'\t' => "whitespace",
                b if b.is_ascii_control() => "a control character",
                _ => "a non-ASCII character",
            },
        }),
    }
}

impl Credentials {
    /// `text` with the token or password, if any, replaced by
    /// [`REDACTED`]: for anything the server says that ends up in an error.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match self {
            Credentials::None => text.to_owned(),
            Credentials::Token(token) => crate::auth::redact(text, token),
            Credentials::Login(login) => login.scrub(text),
        }
    }
}

/// How long one request may take. Every request has both limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the connection (DNS and TCP connect).
    pub connect: Duration,
    /// One request as a whole: connect, send, wait and read the answer.
    pub request: Duration,
}

impl Default for Timeouts {
    /// 5 s to connect, 30 s per request.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
        }
    }
}

/// Everything an [`crate::HttpExecutor`] is built from.
///
/// Made with [`HttpConfig::new`] and the `with_*` methods; more options
/// may be added as fields, so the struct is `#[non_exhaustive]`.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Where Metronome is.
    pub endpoints: Endpoints,
    /// How requests authenticate.
    pub credentials: Credentials,
    /// Per-request time limits.
    pub timeouts: Timeouts,
    /// How the cluster's certificate is verified on `https://` URLs.
    pub tls: Tls,
    /// Which failures are retried, how often and how long.
    pub retry: RetryPolicy,
    /// What time it is and how to wait: retries wait on it and token
    /// expiry is measured against it (the system's clock unless set; tests
    /// hand in a simulated cluster's).
    pub clock: Arc<dyn Clock>,
    /// Seed of the backoff jitter; `None` seeds it from the system's entropy.
    pub jitter_seed: Option<u64>,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("endpoints", &self.endpoints)
            .field("credentials", &self.credentials)
            .field("timeouts", &self.timeouts)
            .field("tls", &self.tls)
            .field("retry", &self.retry)
            .field("jitter_seed", &self.jitter_seed)
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    /// No credentials, default timeouts and retry policy, certificates
    /// verified against the default roots, the system's clock.
    pub fn new(endpoints: Endpoints) -> Self {
        HttpConfig {
            endpoints,
            credentials: Credentials::None,
            timeouts: Timeouts::default(),
            tls: Tls::Verify,
            retry: RetryPolicy::default(),
            clock: Arc::new(canary_system::SystemClock::new()),
            jitter_seed: None,
        }
    }

    /// With these credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// With these time limits.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// With this way of verifying the cluster's certificate.
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }

    /// With this retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// With this clock (retry waits, token expiry).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// With a fixed jitter seed (reproducible delays).
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_a_dcos_url_or_metronome_directly() {
        let e = Endpoints::dcos("http://dcos.example.com/").unwrap();
        assert_eq!(
            e.metronome_url(),
            "http://dcos.example.com/service/metronome"
        );
        assert_eq!(e.dcos_url(), Some("http://dcos.example.com"));
        let e = Endpoints::metronome("http://metronome.mesos:9000").unwrap();
        assert_eq!(e.metronome_url(), "http://metronome.mesos:9000");
        assert_eq!(e.dcos_url(), None);
        assert!(Endpoints::dcos("https://x").unwrap().uses_https());
        for bad in [
            "dcos.example.com",
            "ftp://x",
            "http://",
            "http:///x",
            "http://x?a=b",
            "http://a b",
            "http://x:0",
            "http://x:65536",
            "http://x#top",
        ] {
            assert!(
                matches!(Endpoints::dcos(bad), Err(ConfigError::InvalidUrl { .. })),
                "{bad}"
            );
        }
        let fragment = Endpoints::dcos("http://x:80#top").unwrap_err().to_string();
        assert!(
            fragment.contains("fragment") && !fragment.contains("port"),
            "{fragment}"
        );
        assert_eq!(
            Endpoints::dcos("https://admin:S3cretPw@x"),
            Err(ConfigError::Credentials)
        );
        assert!(!ConfigError::Credentials.to_string().contains("S3cretPw"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2ln";
        let credentials = Credentials::Token(secret.into());
        assert_eq!(format!("{credentials:?}"), format!("Token({REDACTED})"));
        let config = HttpConfig::new(Endpoints::dcos("http://x").unwrap())
            .with_credentials(credentials.clone());
        let debug = format!("{config:?} {config:#?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains(REDACTED), "{debug}");
        assert_eq!(
            credentials.scrub(&format!("bad token {secret}!")),
            "bad token <redacted>!"
        );
        assert_eq!(format!("{:?}", Credentials::None), "None");
    }

    #[test]
    fn tokens_must_fit_an_http_header() {
        assert_eq!(check_token("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"), Ok(()));
        assert_eq!(
            check_token("t\u{f6}k").unwrap_err().what,
            "a non-ASCII character"
        );
        assert_eq!(
            check_token("tok\nen").unwrap_err(),
            BadToken {
                at: 3,
                what: "a line break"
            }
        );
        assert_eq!(check_token("a b").unwrap_err().what, "whitespace");
        assert_eq!(
            check_token("a\u{7}").unwrap_err().what,
            "a control character"
        );
        assert!(check_token("").is_err());
        let message = check_token("S3cr3t\n").unwrap_err().to_string();
        assert!(!message.contains("S3cr3t"), "{message}");
    }
}
