//! One request: one attempt at a time, classified for canary-core's retry
//! driver (which decides whether and when to try again), with its time
//! limits, and the mapping of a failed answer to [`ExecError`].

use crate::auth::Session;
use crate::config::{ConfigError, HttpConfig};
use canary_core::executor::ExecError;
use canary_core::retry::{Attempt, RETRYABLE_STATUSES, Retrier, Transient};
use serde_json::Value;
use std::io::ErrorKind;
use std::time::Instant;

/// How much of a non-JSON body an error quotes (in characters).
const QUOTE_LIMIT: usize = 300;

/// How much of a server's JSON message (with its details) an error quotes
/// (in characters): enough for every validation detail of a job or an
/// app, never a multi-megabyte line.
const MESSAGE_LIMIT: usize = 2000;

/// The largest answer read (bytes): far above the app list of a large
/// cluster (a few MB), far below what would strain memory. A larger one is
/// an error naming the limit, never retried.
pub(crate) const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// What a login hint says.
pub(crate) const LOGIN_HINT: &str = "log in with `dcos auth login`, or set DCOS_ACS_TOKEN to a valid DC/OS token, \
     DCOS_SERVICE_ACCOUNT_CREDENTIAL to a service account's credential, or DCOS_USERNAME and DCOS_PASSWORD";

pub(crate) use canary_core::retry::Replay;

/// Which API a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// Metronome's `/v1` API.
    Metronome,
    /// Marathon's `/v2` API.
    Marathon,
    /// IAM's login endpoint (the request carries no token).
    Iam,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Metronome => "Metronome",
            Service::Marathon => "Marathon",
            Service::Iam => "IAM",
        }
    }
}

/// One request to make.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub service: Service,
    pub method: &'static str,
    /// Path under the service's base, starting with `/`.
    pub path: String,
    pub body: Option<&'a Value>,
    /// What it is about, for errors: `job deploy-web-canary`.
    pub what: String,
    pub replay: Replay,
}

/// A server's answer that is not transient: whatever its status, for the
/// caller to read.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    /// The `Location` header (of a redirect).
    pub location: Option<String>,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON.
    pub fn json(&self, url_what: &str) -> Result<Value, ExecError> {
        serde_json::from_str(&self.body).map_err(|e| {
            ExecError::unexpected(
                url_what,
                &format!(
                    "(status {}) not JSON ({e}): {}",
                    self.status,
                    quote(&self.body, QUOTE_LIMIT)
                ),
            )
        })
    }
}

/// How one attempt that got no answer stands: ureq's error classified for
/// the retry driver. `target` is `METHOD URL`.
fn classify(error: ureq::Error, target: &str, url: &str) -> Attempt<Reply> {
    use ureq::Error as E;
    use ureq::Timeout as T;
    if let Some(failure) = crate::tls::handshake_failure(&error) {
        return Attempt::Fatal(match failure {
            crate::tls::Handshake::Untrusted(message) => ExecError::Untrusted {
                target: url.to_owned(),
                message,
            },
            crate::tls::Handshake::Failed(message) => ExecError::Unreachable {
                target: target.to_owned(),
                message,
            },
        });
    }
    let message = error.to_string();
    match error {
        E::ConnectionFailed | E::HostNotFound | E::Timeout(T::Connect | T::Resolve) => {
            Attempt::Transient(Transient::not_sent(target, message))
        }
        E::Io(ref io)
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::HostUnreachable
            ) =>
        {
            Attempt::Transient(Transient::not_sent(target, message))
        }
        E::Io(_) | E::Timeout(_) | E::Protocol(_) | E::BodyStalled => {
            Attempt::Transient(Transient::may_have_arrived(target, message))
        }
        _ => Attempt::Fatal(ExecError::Other {
            message: format!("{target}: {message}"),
        }),
    }
}

use canary_core::executor::quote;

/// The reason phrase of the statuses Metronome and Admin Router use.
fn reason(status: u16) -> &'static str {
    match status {
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// What a server said in an error body: Metronome's
/// `{"message", "details": [{"path", "errors"}]}`, or the start of a
/// non-JSON, non-HTML body. `None` when it said nothing useful.
pub(crate) fn server_message(body: &str) -> Option<String> {
    match serde_json::from_str::<Value>(body) {
        Ok(json) => {
            let mut parts = Vec::new();
            if let Some(message) = json.get("message").and_then(Value::as_str) {
                parts.push(message.to_owned());
            }
            if let Some(details) = json.get("details").and_then(Value::as_array) {
                let details: Vec<String> = details
                    .iter()
                    .map(|d| {
                        let path = d.get("path").and_then(Value::as_str).unwrap_or("/");
                        let errors: Vec<String> = match d.get("errors") {
                            Some(Value::Array(errors)) => errors
                                .iter()
                                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                                .collect(),
                            Some(other) => vec![other.to_string()],
                            None => Vec::new(),
                        };
                        format!("{path}: {}", errors.join("; "))
                    })
                    .collect();
                if !details.is_empty() {
                    parts.push(details.join(", "));
                }
            }
            if parts.is_empty() {
                // Metronome's 500 is `{"requestPath": ...}`: quote it all.
                let text = json.to_string();
                return (text != "{}" && text != "null").then(|| quote(&text, QUOTE_LIMIT));
            }
            Some(quote(&parts.join(": "), MESSAGE_LIMIT))
        }
        Err(_) => {
            let text = body.trim();
            let html = text.starts_with('<');
            (!text.is_empty() && !html).then(|| quote(text, QUOTE_LIMIT))
        }
    }
}

/// Whether an answer is Marathon's 409 "App is locked by one or more
/// deployments": the change was refused, not made, and can be tried again
/// once the deployment finishes. Metronome's own 409s (a job that exists,
/// runs that are active) are not locks and are never retried.
pub(crate) fn is_deployment_lock(status: u16, body: &str) -> bool {
    if status != 409 {
        return false;
    }
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    json.get("message")
        .and_then(Value::as_str)
        .is_some_and(|m| m.contains("locked by one or more deployments"))
        || json
            .get("deployments")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty())
}

/// `"503 Service Unavailable"`.
pub(crate) fn status_line(status: u16) -> String {
    format!("{status} {}", reason(status)).trim_end().to_owned()
}

/// One attempt: the request sent once, its answer read, and how it ended
/// classified for the retry driver (messages scrubbed of the session's
/// secrets).
fn once(
    agent: &ureq::Agent,
    session: &Session,
    request: &Request<'_>,
    url: &str,
    target: &str,
    attempt: u32,
    timeout: std::time::Duration,
) -> Attempt<Reply> {
    let mut builder = ureq::http::Request::builder()
        .method(request.method)
        .uri(url)
        .header("accept", "application/json");
    if let Some(value) = session.authorization()
        && request.service != Service::Iam
    {
        builder = builder.header("authorization", value);
    }
    let bytes = match request.body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            body.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    let http_request = match builder.body(bytes) {
        Ok(http_request) => http_request,
        Err(e) => {
            return Attempt::Fatal(ExecError::Other {
                message: format!("{target}: cannot build the request: {e}"),
            });
        }
    };
    tracing::debug!(
        method = request.method,
        url,
        attempt,
        headers = %crate::log::RedactedHeaders(http_request.headers()),
        "sending"
    );
    let http_request = agent
        .configure_request(http_request)
        .timeout_global(Some(timeout))
        .build();
    let response = match agent.run(http_request) {
        Ok(response) => response,
        Err(error) => return scrubbed(classify(error, target, url), session),
    };
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match response
        .into_body()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_string()
    {
        Ok(body) => body,
        // Sending again would get the same answer.
        Err(ureq::Error::BodyExceedsLimit(_)) => {
            return Attempt::Fatal(ExecError::Other {
                message: format!(
                    "{target}: the answer is larger than {} MiB, more than canary reads",
                    BODY_LIMIT / (1024 * 1024)
                ),
            });
        }
        Err(e) => {
            return Attempt::Transient(Transient::may_have_arrived(
                target,
                format!("reading the answer failed: {e}"),
            ));
        }
    };
    if is_deployment_lock(status, &body) {
        // Refused, not applied: safe to send again for any request.
        let said = server_message(&body).unwrap_or_default();
        return Attempt::Transient(Transient::locked(target, session.scrub(&said)));
    }
    if RETRYABLE_STATUSES.contains(&status) {
        let said = server_message(&body)
            .map(|m| format!(": {}", session.scrub(&m)))
            .unwrap_or_default();
        let message = format!("answered {}{said}", status_line(status));
        // 503: not served. 502/504: a gateway that may have passed the
        // request on before it failed.
        return Attempt::Transient(if status == 503 {
            Transient::not_sent(target, message)
        } else {
            Transient::may_have_arrived(target, message)
        });
    }
    Attempt::Done(Reply {
        status,
        body,
        location,
    })
}

/// `outcome` with its messages scrubbed of the session's secrets.
fn scrubbed(outcome: Attempt<Reply>, session: &Session) -> Attempt<Reply> {
    match outcome {
        Attempt::Transient(mut failure) => {
            failure.message = session.scrub(&failure.message);
            Attempt::Transient(failure)
        }
        other => other,
    }
}

/// The blocking HTTP client behind the executor.
pub(crate) struct Client {
    agent: ureq::Agent,
    config: HttpConfig,
    retrier: Retrier,
    /// The token in use and how to get another.
    pub(crate) session: Session,
}

impl Client {
    pub(crate) fn new(config: HttpConfig) -> Result<Self, ConfigError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.timeouts.connect))
            .timeout_global(Some(config.timeouts.request))
            // A redirect is answered as is, never followed: the token must
            // not be sent where the configuration does not say.
            .max_redirects(0)
            .user_agent(concat!("canary-exec-http/", env!("CARGO_PKG_VERSION")))
            .tls_config(config.tls.ureq_config())
            .build()
            .into();
        let seed = config
            .jitter_seed
            .unwrap_or_else(canary_system::entropy_seed);
        Ok(Client {
            agent,
            retrier: Retrier::new(config.retry, config.clock.clone(), seed),
            session: Session::new(
                &config.credentials,
                config.endpoints.dcos_url(),
                config.clock.clone(),
            ),
            config,
        })
    }

    pub(crate) fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// See [`canary_core::executor::Executor::set_deadline_in`].
    pub(crate) fn set_deadline_in(&mut self, within: Option<std::time::Duration>) {
        self.retrier.set_deadline_in(within);
    }

    /// The base URL of `service`.
    fn base(&self, service: Service) -> Result<&str, ExecError> {
        match service {
            Service::Metronome => Ok(self.config.endpoints.metronome_url()),
            Service::Marathon => self.config.endpoints.marathon_url().ok_or_else(|| {
                ExecError::Other {
                    message: "Marathon's URL is not configured: give a DC/OS URL, or Marathon's own URL beside Metronome's".to_owned(),
                }
            }),
            Service::Iam => self.session.login_url().ok_or_else(|| ExecError::Auth {
                message: "cannot log in: no DC/OS URL is configured and the credential names no login_endpoint".to_owned(),
            }),
        }
    }

    fn url(&self, request: &Request<'_>) -> String {
        let base = self.base(request.service).unwrap_or_default();
        format!("{base}{}", request.path)
    }

    /// Sends `request` with a valid token: logs in first when the session
    /// has no token or one about to expire and can log in, and once more
    /// after a 401, repeating the request once (a 401 was not acted on, so
    /// repeating it is safe for any request). Transient failures are
    /// retried by the shared driver; any other answer is returned, whatever
    /// its status.
    pub(crate) fn send(&mut self, request: &Request<'_>) -> Result<Reply, ExecError> {
        self.base(request.service)?;
        let mut logged_in = false;
        if let Some(why) = self.session.login_due() {
            self.log_in(&why)?;
            logged_in = true;
        }
        let reply = self.send_retrying(request)?;
        if reply.status == 401 && !logged_in && self.session.login().is_some() {
            self.log_in("the token was refused (401)")?;
            return self.send_retrying(request);
        }
        Ok(reply)
    }

    /// Sends `request` through the retry driver, one classified attempt at
    /// a time; any answer that is not transient is returned, whatever its
    /// status.
    pub(crate) fn send_retrying(&mut self, request: &Request<'_>) -> Result<Reply, ExecError> {
        self.base(request.service)?;
        let url = self.url(request);
        let target = format!("{} {url}", request.method);
        let request_timeout = self.config.timeouts.request;
        let Client {
            agent,
            retrier,
            session,
            ..
        } = self;
        retrier.run(
            &request.what,
            request.replay,
            |attempt, limit| {
                let started = Instant::now();
                // The request's own limit, or less when the operation's
                // budget or a deadline is nearer.
                let timeout = limit.min(request_timeout);
                let outcome = once(agent, session, request, &url, &target, attempt, timeout);
                crate::log::attempt(request.method, &url, attempt, started.elapsed(), &outcome);
                outcome
            },
            &mut |event| {
                tracing::info!(
                    method = request.method,
                    url,
                    attempt = event.attempt,
                    wait_ms = event.wait.as_millis() as u64,
                    reason = %event.failure.message,
                    "retrying"
                );
            },
        )
    }

    /// The error for a non-2xx answer about `what`.
    pub(crate) fn error_for(&self, request: &Request<'_>, reply: &Reply) -> ExecError {
        let url = self.url(request);
        let said = server_message(&reply.body).map(|m| self.session.scrub(&m));
        let what = request.what.clone();
        let line = status_line(reply.status);
        match reply.status {
            401 => ExecError::Auth {
                message: match (self.session.login(), self.session.has_token()) {
                    (_, false) => {
                        format!("{url} answered {line}: no token was given; {LOGIN_HINT}")
                    }
                    (Some(login), true) => format!(
                        "{url} answered {line}: it refused even a fresh token of {}{}; {LOGIN_HINT}",
                        login.uid(),
                        said.map(|m| format!(" ({m})")).unwrap_or_default()
                    ),
                    (None, true) => format!(
                        "{url} answered {line}: the token was refused (invalid or expired){}; {LOGIN_HINT}",
                        said.map(|m| format!(" ({m})")).unwrap_or_default()
                    ),
                },
            },
            403 => ExecError::Auth {
                message: format!(
                    "{url} answered {line}: the account is not permitted to {} {}{}; log in as an account that is, with `dcos auth login`",
                    request.method,
                    what,
                    said.map(|m| format!(" ({m})")).unwrap_or_default()
                ),
            },
            404 if is_metronome_not_found(&reply.body) => ExecError::NotFound { what },
            404 => ExecError::Other {
                message: format!(
                    "{} {url} answered {line} without {name}'s error{}: is {} {name}'s URL?",
                    request.method,
                    said.map(|m| format!(" ({m})")).unwrap_or_default(),
                    self.base(request.service).unwrap_or_default(),
                    name = request.service.name(),
                ),
            },
            409 => ExecError::Conflict {
                what,
                message: said.unwrap_or_else(|| line.clone()),
            },
            300..400 => ExecError::Other {
                message: format!(
                    "{} {url} answered {line} redirecting to {}; redirects are not followed: configure the URL it points to",
                    request.method,
                    reply.location.as_deref().unwrap_or("nowhere")
                ),
            },
            400 | 422 => ExecError::Invalid {
                what,
                message: said.unwrap_or_else(|| line.clone()),
            },
            _ => ExecError::Other {
                message: format!(
                    "{} {url} answered {line}: {}",
                    request.method,
                    said.unwrap_or_else(|| "no message".to_owned())
                ),
            },
        }
    }
}

/// Whether a 404 answer is Metronome saying a job or run does not exist,
/// rather than a route or service that does not exist (a wrong URL).
pub(crate) fn is_metronome_not_found(body: &str) -> bool {
    match serde_json::from_str::<Value>(body) {
        Ok(json) => json
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| m != "Unknown route."),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_in_metronomes_shapes() {
        assert_eq!(
            server_message(r#"{"message":"Job with this id already exists"}"#).as_deref(),
            Some("Job with this id already exists")
        );
        assert_eq!(
            server_message(
                r#"{"message":"Object is not valid","details":[{"path":"/run/mem","errors":["too small","bad"]},{"path":"/id","errors":["pattern"]}]}"#
            )
            .as_deref(),
            Some("Object is not valid: /run/mem: too small; bad, /id: pattern")
        );
        assert_eq!(
            server_message(r#"{"requestPath":"/v1/jobs"}"#).as_deref(),
            Some(r#"{"requestPath":"/v1/jobs"}"#)
        );
        assert_eq!(server_message("<html><body>401</body></html>"), None);
        assert_eq!(server_message(""), None);
        assert_eq!(
            server_message("plain words").as_deref(),
            Some("plain words")
        );
        assert_eq!(
            server_message(&"x".repeat(1000)).as_deref(),
            Some(format!("{}… (cut: 700 more characters)", "x".repeat(300)).as_str())
        );
        // A 1.5 MB message is quoted to its first 2000 characters.
        let huge = serde_json::json!({"message": "m".repeat(1_500_000)}).to_string();
        let said = server_message(&huge).unwrap();
        assert_eq!(
            said,
            format!("{}… (cut: 1498000 more characters)", "m".repeat(2000))
        );
    }

    #[test]
    fn not_found_is_told_apart_from_a_wrong_url() {
        assert!(is_metronome_not_found(
            r#"{"id":"a","message":"Job not found"}"#
        ));
        assert!(!is_metronome_not_found(
            r#"{"message":"Unknown route.","requestPath":"/x"}"#
        ));
        assert!(!is_metronome_not_found("<html>404</html>"));
    }
}
