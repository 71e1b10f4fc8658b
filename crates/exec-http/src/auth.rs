//! Logging in to DC/OS: service accounts (an RS256 service login token)
//! and uid/password, the token a login yields, and when to log in again.
//!
//! A [`Login`] says how to get a token; the executor logs in before its
//! first request when it has no token, again shortly before the token
//! expires (read from the token's `exp` claim, unverified: it is the
//! server's), and once after a 401. No secret (password, private key,
//! login token, authentication token) is ever part of `Debug` output, an
//! error or a log line.

use crate::client::{Client, LOGIN_HINT, Replay, Request, Service, server_message, status_line};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use canary_core::clock::{Clock, Timestamp};
use canary_core::executor::ExecError;
use canary_core::redact::REDACTED;
pub(crate) use canary_core::redact::redact;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha2::Sha256;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// IAM's login path under the DC/OS URL.
pub const LOGIN_PATH: &str = "/acs/api/v1/auth/login";

/// How long a service login token is valid (IAM accepts at most 10 min).
pub const LOGIN_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// How long before a token's expiry it is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// base64url that accepts segments with or without `=` padding.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A service-account credential that cannot be used. The messages name
/// the field that is wrong and never quote the private key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The text is not a JSON object.
    #[error("the service-account credential is not a JSON object: {reason}")]
    NotJson {
        /// Where the JSON parser stopped (it never quotes the input).
        reason: String,
    },
    /// A required field is missing, empty or not a string.
    #[error("the service-account credential has no `{field}` string")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// The `scheme` is not `RS256`.
    #[error("the service-account credential's scheme is {scheme:?}; only \"RS256\" is supported")]
    Scheme {
        /// The scheme it gave.
        scheme: String,
    },
    /// The `private_key` is not an RSA private key in PEM.
    #[error(
        "the service-account credential's private_key is not an RSA private key in PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`)"
    )]
    PrivateKey,
    /// The `login_endpoint` is not a usable http(s) URL.
    #[error(
        "the service-account credential's login_endpoint {url:?} is not a usable http(s) URL: {reason}"
    )]
    LoginEndpoint {
        /// The URL it gave (escaped).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `login_endpoint` carries credentials (`user:password@`); it is
    /// not repeated.
    #[error(
        "the service-account credential's login_endpoint must not carry credentials (user:password@ before the host; not shown)"
    )]
    LoginEndpointCredentials,
}

/// A DC/OS service account: its uid and private key, and optionally where
/// to log in (the credential's `login_endpoint`; default
/// `<dcos_url>/acs/api/v1/auth/login`).
///
/// `Debug` shows the uid and the endpoint, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    uid: String,
    /// Boxed: a key is large, and credentials are moved around.
    key: Box<RsaPrivateKey>,
    login_endpoint: Option<String>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("uid", &self.uid)
            .field("private_key", &REDACTED)
            .field("login_endpoint", &self.login_endpoint)
            .finish()
    }
}

impl ServiceAccount {
    /// A service account from its uid and private key (PKCS#8 or PKCS#1
    /// PEM).
    pub fn new(
        uid: &str,
        private_key_pem: &str,
        login_endpoint: Option<&str>,
    ) -> Result<Self, CredentialError> {
        if uid.trim().is_empty() {
            return Err(CredentialError::Missing { field: "uid" });
        }
        let login_endpoint = match login_endpoint.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => match canary_core::url::parse_http_url(url) {
                Ok(parsed) if parsed.fragment.is_some() => {
                    return Err(CredentialError::LoginEndpoint {
                        url: url.escape_debug().to_string(),
                        reason: "must not have a fragment ('#…')".to_owned(),
                    });
                }
                Ok(_) => Some(url.to_owned()),
                Err(canary_core::url::UrlError::Credentials) => {
                    return Err(CredentialError::LoginEndpointCredentials);
                }
                Err(reason) => {
                    return Err(CredentialError::LoginEndpoint {
                        url: url.escape_debug().to_string(),
                        reason: reason.to_string(),
                    });
                }
            },
            None => None,
        };
        let pem = private_key_pem.trim();
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| CredentialError::PrivateKey)?;
        Ok(ServiceAccount {
            uid: uid.trim().to_owned(),
            key: Box::new(key),
            login_endpoint,
        })
    }

    /// A service account from DC/OS's credential JSON, as
    /// `dcos security secrets create-sa-secret` stores it and
    /// `DCOS_SERVICE_ACCOUNT_CREDENTIAL` carries it:
    /// `{"scheme": "RS256", "uid", "private_key", "login_endpoint"}`
    /// (`scheme` and `login_endpoint` optional).
    pub fn from_json(text: &str) -> Result<Self, CredentialError> {
        let json: Value = serde_json::from_str(text).map_err(|e| CredentialError::NotJson {
            // serde_json's messages give a position, never the input.
            reason: e.to_string(),
        })?;
        if !json.is_object() {
            return Err(CredentialError::NotJson {
                reason: "it is not an object".to_owned(),
            });
        }
        let string = |field: &'static str| {
            json.get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .ok_or(CredentialError::Missing { field })
        };
        match json.get("scheme") {
            None | Some(Value::Null) => {}
            Some(Value::String(scheme)) if scheme == "RS256" => {}
            Some(other) => {
                return Err(CredentialError::Scheme {
                    scheme: other
                        .as_str()
                        .map_or_else(|| other.to_string(), str::to_owned),
                });
            }
        }
        let login_endpoint = json.get("login_endpoint").and_then(Value::as_str);
        ServiceAccount::new(string("uid")?, string("private_key")?, login_endpoint)
    }

    /// The account's uid.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The login endpoint the credential names, if any.
    pub fn login_endpoint(&self) -> Option<&str> {
        self.login_endpoint.as_deref()
    }

    /// A service login token: an RS256 JWT `{"uid", "exp"}` that expires
    /// [`LOGIN_TOKEN_LIFETIME`] after `now`.
    pub(crate) fn login_token(&self, now: Timestamp) -> String {
        let exp = now.unix().as_secs() + LOGIN_TOKEN_LIFETIME.as_secs();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(json!({"uid": self.uid, "exp": exp}).to_string());
        let signed = format!("{header}.{claims}");
        let signature =
            SigningKey::<Sha256>::new(RsaPrivateKey::clone(&self.key)).sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// How a [`Login`] proves who it is.
#[derive(Clone, PartialEq, Eq)]
enum Method {
    ServiceAccount(ServiceAccount),
    Password { uid: String, password: String },
}

/// How to get a DC/OS token: as a service account or with a uid and
/// password, optionally starting with a token already at hand (used until
/// it expires or is refused).
///
/// `Debug` shows the uid and the method, never a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    method: Method,
    token: Option<String>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Login");
        match &self.method {
            Method::ServiceAccount(account) => s.field("service_account", account),
            Method::Password { uid, .. } => s.field("uid", uid).field("password", &REDACTED),
        };
        s.field("token", &self.token.as_ref().map(|_| REDACTED))
            .finish_non_exhaustive()
    }
}

impl Login {
    /// Log in as this service account.
    pub fn service_account(account: ServiceAccount) -> Self {
        Login {
            method: Method::ServiceAccount(account),
            token: None,
        }
    }

    /// Log in with a uid and password.
    pub fn password(uid: impl Into<String>, password: impl Into<String>) -> Self {
        Login {
            method: Method::Password {
                uid: uid.into(),
                password: password.into(),
            },
            token: None,
        }
    }

    /// Start with this token, and log in only when it expires or is
    /// refused.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// The uid it logs in as.
    pub fn uid(&self) -> &str {
        match &self.method {
            Method::ServiceAccount(account) => &account.uid,
            Method::Password { uid, .. } => uid,
        }
    }

    /// `text` with its secrets (password, starting token) replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Method::Password { password, .. } = &self.method {
            text = redact(&text, password);
        }
        if let Some(token) = &self.token {
            text = redact(&text, token);
        }
        text
    }

    /// What to say to log in better: which secret was refused.
    fn what_was_refused(&self) -> &'static str {
        match &self.method {
            Method::ServiceAccount(_) => "check the service account's uid and private key",
            Method::Password { .. } => "check the uid and password",
        }
    }
}

/// The `exp` claim of a JWT, read without checking the signature; `None`
/// when the token is not a JWT or has no numeric `exp`.
pub(crate) fn token_expiry(token: &str) -> Option<Timestamp> {
    let mut parts = token.split('.');
    let (Some(_), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let claims: Value = serde_json::from_slice(&URL_SAFE_LENIENT.decode(claims).ok()?).ok()?;
    let exp = claims.get("exp")?;
    let secs = exp
        .as_u64()
        .or_else(|| exp.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))?;
    Some(Timestamp::from_unix_secs(secs))
}

/// The client's state of authentication: the token in use, when it
/// expires, and how to get another.
pub(crate) struct Session {
    credentials: crate::Credentials,
    login: Option<Login>,
    token: Option<String>,
    expires: Option<Timestamp>,
    /// What expiry is measured against.
    clock: Arc<dyn Clock>,
    /// Where to log in, when a login is possible.
    login_url: Option<String>,
    /// Every token this session has held: scrubbed from messages.
    spent: Vec<String>,
}

impl Session {
    /// The session for these credentials; `dcos_url` gives the default
    /// login URL; token expiry is measured on `clock`.
    pub(crate) fn new(
        credentials: &crate::Credentials,
        dcos_url: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (login, token) = match credentials {
            crate::Credentials::None => (None, None),
            crate::Credentials::Token(token) => (None, Some(token.clone())),
            crate::Credentials::Login(login) => (Some(login.clone()), login.token.clone()),
        };
        let login_url = login.as_ref().and_then(|login| match &login.method {
            Method::ServiceAccount(ServiceAccount {
                login_endpoint: Some(url),
                ..
            }) => Some(url.clone()),
            _ => dcos_url.map(|url| format!("{url}{LOGIN_PATH}")),
        });
        Session {
            credentials: credentials.clone(),
            expires: token.as_deref().and_then(token_expiry),
            spent: token.iter().cloned().collect(),
            login,
            token,
            login_url,
            clock,
        }
    }

    /// The `Authorization` header value, if any.
    pub(crate) fn authorization(&self) -> Option<String> {
        self.token.as_ref().map(|token| format!("token={token}"))
    }

    /// The login, if the session can log in.
    pub(crate) fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// Where it logs in.
    pub(crate) fn login_url(&self) -> Option<&str> {
        self.login_url.as_deref()
    }

    /// Whether it holds a token.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Why the session should log in before the next request, if it
    /// should: it can, and it has no token or one that expires within
    /// [`REFRESH_MARGIN`].
    pub(crate) fn login_due(&self) -> Option<String> {
        self.login.as_ref()?;
        if self.token.is_none() {
            return Some("no token yet".to_owned());
        }
        let expires = self.expires?;
        let now = self.clock.now();
        if expires <= now {
            return Some("the token has expired".to_owned());
        }
        match expires.since(now) {
            left if left > REFRESH_MARGIN => None,
            left => Some(format!("the token expires in {} s", left.as_secs())),
        }
    }

    /// The body of a login request (secret: never logged).
    pub(crate) fn login_body(&self) -> Option<Value> {
        let login = self.login.as_ref()?;
        Some(match &login.method {
            Method::ServiceAccount(account) => json!({
                "uid": account.uid,
                "token": account.login_token(self.clock.now()),
            }),
            Method::Password { uid, password } => json!({"uid": uid, "password": password}),
        })
    }

    /// Takes the token a login returned; returns its expiry, if known.
    pub(crate) fn set_token(&mut self, token: String) -> Option<Timestamp> {
        self.expires = token_expiry(&token);
        self.spent.push(token.clone());
        self.token = Some(token);
        self.expires
    }

    /// How long until the token expires, by the login's clock.
    pub(crate) fn expires_in(&self) -> Option<Duration> {
        self.login.as_ref()?;
        Some(self.expires?.since(self.clock.now()))
    }

    /// `text` with every secret the session knows replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = self.credentials.scrub(text);
        for token in &self.spent {
            text = redact(&text, token);
        }
        text
    }

    /// Advice for a refused login.
    pub(crate) fn refused_advice(&self) -> &'static str {
        self.login
            .as_ref()
            .map_or("check the credentials", Login::what_was_refused)
    }
}

impl Client {
    /// Logs in for a new token, `why` being the reason logged. A refused
    /// login is [`ExecError::Auth`] naming the uid and saying how to log
    /// in; no secret is logged or quoted.
    pub(crate) fn log_in(&mut self, why: &str) -> Result<(), ExecError> {
        let (Some(login), Some(body)) = (self.session.login(), self.session.login_body()) else {
            return Err(ExecError::Auth {
                message: format!("cannot log in: no credential to log in with; {LOGIN_HINT}"),
            });
        };
        let uid = login.uid().to_owned();
        let request = Request {
            service: Service::Iam,
            method: "POST",
            path: String::new(),
            body: Some(&body),
            what: format!("the login of {uid}"),
            replay: Replay::Safe,
        };
        let url = self.session.login_url().unwrap_or_default().to_owned();
        tracing::info!(uid, endpoint = url, reason = why, "logging in");
        let reply = self.send_retrying(&request)?;
        // The login token, if one was sent, is a secret too.
        let sent = body.get("token").and_then(Value::as_str).unwrap_or("");
        let said = || {
            server_said(&reply.body)
                .map(|m| format!(" ({})", redact(&self.session.scrub(&m), sent)))
                .unwrap_or_default()
        };
        let line = status_line(reply.status);
        match reply.status {
            200..300 => {
                let token = serde_json::from_str::<Value>(&reply.body)
                    .ok()
                    .and_then(|json| json.get("token")?.as_str().map(str::to_owned))
                    .filter(|token| !token.is_empty())
                    .ok_or_else(|| ExecError::Other {
                        // The body may hold a token: never quoted.
                        message: format!(
                            "POST {url} answered {line} without a token: is it a DC/OS login endpoint?"
                        ),
                    })?;
                let expires = self.session.set_token(token);
                let expires_in_s = self.session.expires_in().map(|d| d.as_secs());
                tracing::info!(
                    uid,
                    endpoint = url,
                    expires_in_s,
                    known_expiry = expires.is_some(),
                    "logged in"
                );
                Ok(())
            }
            401 | 403 => Err(ExecError::Auth {
                message: format!(
                    "the login as {uid} at {url} was refused: {line}{}; {}, or {LOGIN_HINT}",
                    said(),
                    self.session.refused_advice()
                ),
            }),
            _ => Err(ExecError::Other {
                message: format!(
                    "the login as {uid} at {url} failed: {line}{}; is it the cluster's DC/OS URL?",
                    said()
                ),
            }),
        }
    }
}

/// What IAM said in an error: `{"title", "description", "code"}`, or the
/// usual shapes.
fn server_said(body: &str) -> Option<String> {
    let json: Option<Value> = serde_json::from_str(body).ok();
    match json.as_ref().and_then(|j| j.get("description")?.as_str()) {
        Some(description) => Some(description.to_owned()),
        None => server_message(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_from_a_jwt_and_nothing_else() {
        let claims = URL_SAFE_NO_PAD.encode(r#"{"uid":"u","exp":1700000000}"#);
        assert_eq!(
            token_expiry(&format!("h.{claims}.s")),
            Some(Timestamp::from_unix_secs(1_700_000_000))
        );
        assert_eq!(token_expiry("opaque-token"), None);
        assert_eq!(token_expiry("a.b.c"), None);
        let no_exp = URL_SAFE_NO_PAD.encode(r#"{"uid":"u"}"#);
        assert_eq!(token_expiry(&format!("h.{no_exp}.s")), None);
    }

    #[test]
    fn credential_json_errors_name_the_field_and_never_the_key() {
        let err = |text: &str| ServiceAccount::from_json(text).unwrap_err();
        assert!(matches!(err("not json"), CredentialError::NotJson { .. }));
        assert!(matches!(err("[1]"), CredentialError::NotJson { .. }));
        assert_eq!(
            err(r#"{"private_key":"x"}"#),
            CredentialError::Missing { field: "uid" }
        );
        assert_eq!(
            err(r#"{"uid":"sa"}"#),
            CredentialError::Missing {
                field: "private_key"
            }
        );
        assert_eq!(
            err(r#"{"scheme":"HS256","uid":"sa","private_key":"k"}"#),
            CredentialError::Scheme {
                scheme: "HS256".into()
            }
        );
        let secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----";
        let e = err(&json!({"uid": "sa", "private_key": secret}).to_string());
        assert_eq!(e, CredentialError::PrivateKey);
        assert!(!e.to_string().contains("TOPSECRET"), "{e}");
    }

    #[test]
    fn debug_of_a_password_login_hides_the_password_and_token() {
        let login = Login::password("alice", "hunter2-secret").with_token("tok-secret");
        let debug = format!("{login:?} {login:#?}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("tok-secret"), "{debug}");
        assert_eq!(
            login.scrub("pw hunter2-secret tok tok-secret"),
            "pw <redacted> tok <redacted>"
        );
    }
}
