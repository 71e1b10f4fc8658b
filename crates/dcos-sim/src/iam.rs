//! DC/OS IAM: login with uid and password or a service login token, and the
//! token check Admin Router applies to every other request.
//!
//! # Endpoints
//!
//! * `POST /acs/api/v1/auth/login` with `Content-Type: application/json` and
//!   either `{"uid", "password"}` (a [`UserAccount`]) or `{"uid", "token"}`
//!   (a [`ServiceAccount`]'s *service login token*: an RS256 JWT with the
//!   claims `uid` and `exp`, signed with the account's private key). An extra
//!   top-level `exp`, as marathon-lb's `zdd.py` sends, is accepted and
//!   ignored: the client cannot choose the lifetime of the token it gets.
//!   Success is `200 {"token": T}` plus the cookies `dcos-acs-auth-cookie=T`
//!   (`HttpOnly`) and `dcos-acs-info-cookie` (base64 of
//!   `{"uid", "description", "is_remote": false}`). Bad credentials are
//!   `401` with `{"title", "description", "code": "ERR_INVALID_CREDENTIALS"}`
//!   and `WWW-Authenticate: acsjwt`; a missing or wrong `Content-Type`, a
//!   body that is not JSON or lacks the fields is `400`
//!   (`ERR_INVALID_DATA`).
//! * `GET /acs/api/v1/auth/providers`: the two default DC/OS login
//!   providers, `dcos-users` (uid and password) and `dcos-services` (uid and
//!   service key), in the shape the dcos CLI's login design documents.
//!
//! # Tokens, and how they differ from real DC/OS
//!
//! The sim's authentication tokens are JWTs (`header.claims.signature`,
//! base64url without padding) with the claims `uid` and `exp` (epoch
//! seconds of *cluster* time; [`TOKEN_LIFETIME`] after the login, 5 days as
//! in DC/OS). Real IAM signs them RS256 with its own key pair; the sim signs
//! them **HS256** with a per-cluster key derived from [`SimConfig::seed`], so
//! two sims with the same seed accept each other's tokens and sims with
//! different seeds do not. Clients must treat tokens as opaque strings.
//! Other simplifications: the cookies carry no `Expires` (a date in cluster
//! time, which may be years in the past, would make HTTP clients drop the
//! cookie at once), tokens are not revoked by anything, and every account is
//! a superuser (no 403s).
//!
//! Service login tokens are checked as IAM does: signature against the
//! account's public key (SPKI PEM, or PKCS#1 `RSA PUBLIC KEY` PEM), `uid`
//! claim equal to the body's `uid`, `exp` in the future and at most
//! [`LOGIN_TOKEN_MAX_LIFETIME`] ahead. A client stamps `exp` by its own
//! clock, which on a real cluster agrees with IAM's: so a sim on the real
//! clock sped up (`time_scale` other than 1, no `start_time_ms`) judges
//! `exp` by the wall clock, which the clients share, since its cluster
//! time runs ahead of every client's; a sim with a manual clock or its own
//! start time judges it by cluster time, which its tests sign with.

use crate::config::{ServiceAccount, SimConfig, UserAccount};
use crate::http::json;
use crate::rng::SimRng;
use crate::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde_json::{Value, json};
use sha2::Sha256;
use std::fmt;
use std::time::Duration;

/// The login endpoint (public: Admin Router lets it through without a token).
pub const LOGIN_PATH: &str = "/acs/api/v1/auth/login";
/// The login providers endpoint (public).
pub const PROVIDERS_PATH: &str = "/acs/api/v1/auth/providers";
/// The cookie that carries the authentication token.
pub const AUTH_COOKIE: &str = "dcos-acs-auth-cookie";
/// The cookie that carries base64 JSON about the logged-in account.
pub const INFO_COOKIE: &str = "dcos-acs-info-cookie";
/// How long a token the sim issues stays valid, in cluster time.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 24 * 3600);
/// How far in the future a service login token's `exp` may lie.
pub const LOGIN_TOKEN_MAX_LIFETIME: Duration = Duration::from_secs(10 * 60);

type HmacSha256 = Hmac<Sha256>;

/// base64url that accepts JWT segments with or without `=` padding.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Mixed into the seed to derive the token key, so that the key is not a
/// prefix of the cluster's shared random stream (ids stay as they were).
const TOKEN_KEY_DOMAIN: u64 = 0x6961_6d2d_746f_6b6e; // "iam-tokn"

/// Why a token or a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url segments with JSON header and claims.
    #[error("the token is malformed")]
    Malformed,
    /// The header's `alg` is not the one expected.
    #[error("the token's algorithm is not {0}")]
    Algorithm(&'static str),
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    Signature,
    /// `uid` or `exp` is missing or of the wrong type.
    #[error("the token lacks the claims uid and exp")]
    Claims,
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// A service login token whose `exp` is too far ahead.
    #[error("the token's lifetime exceeds the limit of {} seconds", LOGIN_TOKEN_MAX_LIFETIME.as_secs())]
    LifetimeLimit,
    /// The token's `uid` claim is not the login's `uid`.
    #[error("the token's uid claim does not match the uid")]
    UidMismatch,
}

/// The claims of a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The account the token was issued to.
    pub uid: String,
    /// Expiry, epoch seconds (cluster time).
    pub exp: u64,
}

/// A service account with its public key parsed once.
struct ServiceKey {
    uid: String,
    key: Option<VerifyingKey<Sha256>>,
}

/// IAM's state: the accounts and the key tokens are signed with.
pub(crate) struct Iam {
    users: Vec<UserAccount>,
    services: Vec<ServiceKey>,
    key: [u8; 32],
    /// Whether service login tokens' `exp` is judged by the wall clock
    /// (see the module docs) rather than cluster time.
    login_by_wall_clock: bool,
}

impl fmt::Debug for Iam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iam")
            .field(
                "users",
                &self.users.iter().map(|u| &u.uid).collect::<Vec<_>>(),
            )
            .field(
                "service_accounts",
                &self.services.iter().map(|s| &s.uid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Parses an RSA public key from SPKI (`BEGIN PUBLIC KEY`) or PKCS#1
/// (`BEGIN RSA PUBLIC KEY`) PEM.
fn parse_public_key(pem: &str) -> Option<RsaPublicKey> {
    RsaPublicKey::from_public_key_pem(pem.trim())
        .ok()
        .or_else(|| RsaPublicKey::from_pkcs1_pem(pem.trim()).ok())
}

fn service_key(account: &ServiceAccount) -> ServiceKey {
    ServiceKey {
        uid: account.uid.clone(),
        key: parse_public_key(&account.public_key_pem).map(VerifyingKey::new),
    }
}

/// The three segments of a JWT, the signed part, and the decoded header,
/// claims and signature.
struct Jwt {
    signed: String,
    header: Value,
    claims: Value,
    signature: Vec<u8>,
}

fn split_jwt(token: &str) -> Result<Jwt, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_LENIENT
            .decode(part)
            .map_err(|_| TokenError::Malformed)
    };
    let header = serde_json::from_slice(&decode(h)?).map_err(|_| TokenError::Malformed)?;
    let claims = serde_json::from_slice(&decode(c)?).map_err(|_| TokenError::Malformed)?;
    Ok(Jwt {
        signed: format!("{h}.{c}"),
        header,
        claims,
        signature: decode(s)?,
    })
}

impl Jwt {
    fn check_alg(&self, alg: &'static str) -> Result<(), TokenError> {
        if self.header.get("alg").and_then(Value::as_str) == Some(alg) {
            Ok(())
        } else {
            Err(TokenError::Algorithm(alg))
        }
    }

    /// `uid` and `exp` (a non-negative number; fractions are cut off).
    fn claims(&self) -> Result<Claims, TokenError> {
        let uid = self.claims.get("uid").and_then(Value::as_str);
        let exp = self.claims.get("exp").and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        });
        match (uid, exp) {
            (Some(uid), Some(exp)) => Ok(Claims {
                uid: uid.to_owned(),
                exp,
            }),
            _ => Err(TokenError::Claims),
        }
    }
}

/// Whether `exp` (epoch seconds) is still ahead of `now_ms`.
fn unexpired(exp: u64, now_ms: u64) -> bool {
    exp.saturating_mul(1000) > now_ms
}

/// The token in an `Authorization` header value: `token=<T>` or
/// `Bearer <T>`.
fn token_from_authorization(value: &str) -> Option<&str> {
    let value = value.trim();
    let token = if let Some(rest) = value.strip_prefix("token=") {
        rest
    } else {
        let (scheme, rest) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        rest
    };
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// The value of the cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// What a login succeeded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    /// The account that logged in.
    pub uid: String,
    /// Its description (the info cookie shows it).
    pub description: String,
    /// The new authentication token.
    pub token: String,
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LoginError {
    /// Unknown uid, wrong password, or a service login token that does not
    /// verify: IAM's 401 `ERR_INVALID_CREDENTIALS`.
    #[error("{0}")]
    InvalidCredentials(String),
    /// The request itself is wrong: IAM's 400 `ERR_INVALID_DATA`.
    #[error("{0}")]
    InvalidData(String),
}

impl Iam {
    /// IAM with the configured accounts. The token key is derived from
    /// `config.seed` (not drawn from `_rng`, so adding IAM does not shift
    /// the ids the cluster's shared random stream produces).
    pub fn new(config: &SimConfig, _rng: &mut SimRng) -> Self {
        let mut own = SimRng::new(config.seed ^ TOKEN_KEY_DOMAIN);
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&own.next_u64().to_le_bytes());
        }
        Iam {
            users: config.users.clone(),
            services: config.service_accounts.iter().map(service_key).collect(),
            key,
            login_by_wall_clock: config.start_time_ms.is_none() && config.time_scale > 0.0,
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length")
    }

    /// A token for `uid`, valid for [`TOKEN_LIFETIME`] from `now_ms`
    /// (cluster time, epoch milliseconds).
    pub fn issue_token(&self, uid: &str, now_ms: u64) -> String {
        let exp_ms = now_ms.saturating_add(TOKEN_LIFETIME.as_millis() as u64);
        self.issue_token_with_expiry(uid, exp_ms)
    }

    /// A token for `uid` that expires at `exp_ms` (epoch milliseconds,
    /// rounded down to the second), e.g. one already expired, for tests.
    pub fn issue_token_with_expiry(&self, uid: &str, exp_ms: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(json!({"uid": uid, "exp": exp_ms / 1000}).to_string());
        let signed = format!("{header}.{claims}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{signature}")
    }

    /// Checks a token this IAM issued: signature, claims and expiry.
    pub fn verify_token(&self, token: &str, now_ms: u64) -> Result<Claims, TokenError> {
        let jwt = split_jwt(token)?;
        jwt.check_alg("HS256")?;
        let mut mac = self.mac();
        mac.update(jwt.signed.as_bytes());
        mac.verify_slice(&jwt.signature)
            .map_err(|_| TokenError::Signature)?;
        let claims = jwt.claims()?;
        if !unexpired(claims.exp, now_ms) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The token a request presents, as Admin Router finds it: the
    /// `Authorization` header (`token=<T>` or `Bearer <T>`), or, only when
    /// there is no `Authorization` header, the `dcos-acs-auth-cookie`
    /// cookie.
    pub fn request_token(headers: &HeaderMap) -> Option<&str> {
        match headers.get(header::AUTHORIZATION) {
            Some(value) => token_from_authorization(value.to_str().ok()?),
            None => cookie(headers, AUTH_COOKIE).filter(|t| !t.is_empty()),
        }
    }

    /// Whether a request carries a valid token (header `token=`, `Bearer`, or
    /// the `dcos-acs-auth-cookie` cookie).
    pub fn is_authorized(&self, headers: &HeaderMap, now_ms: u64) -> bool {
        Self::request_token(headers).is_some_and(|t| self.verify_token(t, now_ms).is_ok())
    }

    /// Logs in with a uid and password.
    pub fn login_password(
        &self,
        uid: &str,
        password: &str,
        now_ms: u64,
    ) -> Result<Login, LoginError> {
        let ok = self
            .users
            .iter()
            .any(|u| u.uid == uid && u.password == password);
        if !ok {
            return Err(LoginError::InvalidCredentials(
                "The UID/password combination is invalid.".into(),
            ));
        }
        Ok(Login {
            uid: uid.to_owned(),
            description: uid.to_owned(),
            token: self.issue_token(uid, now_ms),
        })
    }

    /// Checks a service login token for the service account `uid`: RS256
    /// signature by the account's key, `uid` claim, `exp` in
    /// `(now, now + 10 min]`.
    pub fn verify_login_token(
        &self,
        uid: &str,
        token: &str,
        now_ms: u64,
    ) -> Result<Claims, LoginError> {
        let invalid = |e: TokenError| {
            LoginError::InvalidCredentials(format!("Service login token verification failed: {e}."))
        };
        let Some(account) = self.services.iter().find(|s| s.uid == uid) else {
            return Err(LoginError::InvalidCredentials(format!(
                "There is no service account with the uid `{uid}`."
            )));
        };
        let Some(key) = &account.key else {
            return Err(LoginError::InvalidCredentials(format!(
                "The service account `{uid}` has no usable public key."
            )));
        };
        let jwt = split_jwt(token).map_err(invalid)?;
        jwt.check_alg("RS256").map_err(invalid)?;
        let signature = Signature::try_from(jwt.signature.as_slice())
            .map_err(|_| invalid(TokenError::Signature))?;
        key.verify(jwt.signed.as_bytes(), &signature)
            .map_err(|_| invalid(TokenError::Signature))?;
        let claims = jwt.claims().map_err(invalid)?;
        if claims.uid != uid {
            return Err(invalid(TokenError::UidMismatch));
        }
        if !unexpired(claims.exp, now_ms) {
            return Err(invalid(TokenError::Expired));
        }
        let limit_ms = now_ms.saturating_add(LOGIN_TOKEN_MAX_LIFETIME.as_millis() as u64);
        if claims.exp.saturating_mul(1000) > limit_ms {
            return Err(invalid(TokenError::LifetimeLimit));
        }
        Ok(claims)
    }

    /// Logs in a service account with a service login token.
    pub fn login_service(&self, uid: &str, token: &str, now_ms: u64) -> Result<Login, LoginError> {
        let client_now_ms = if self.login_by_wall_clock {
            crate::clock::SimClock::real_now_ms()
        } else {
            now_ms
        };
        self.verify_login_token(uid, token, client_now_ms)?;
        Ok(Login {
            uid: uid.to_owned(),
            description: uid.to_owned(),
            token: self.issue_token(uid, now_ms),
        })
    }

    /// Logs in with a login request body (already parsed JSON): `uid` plus
    /// exactly one of `password` and `token`; other fields (`exp`) are
    /// ignored.
    pub fn login(&self, body: &Value, now_ms: u64) -> Result<Login, LoginError> {
        let Some(fields) = body.as_object() else {
            return Err(LoginError::InvalidData(
                "Request body must be a JSON object.".into(),
            ));
        };
        let Some(uid) = fields.get("uid").and_then(Value::as_str) else {
            return Err(LoginError::InvalidData(
                "Request has no `uid` string.".into(),
            ));
        };
        match (fields.get("password"), fields.get("token")) {
            (Some(Value::String(password)), None) => self.login_password(uid, password, now_ms),
            (None, Some(Value::String(token))) => self.login_service(uid, token, now_ms),
            _ => Err(LoginError::InvalidData(
                "Request must have exactly one of the strings `password` and `token`.".into(),
            )),
        }
    }
}

/// An IAM error body: `{"title", "description", "code"}`.
fn iam_error(status: StatusCode, title: &str, description: &str, code: &str) -> Response {
    let mut response = json(
        status,
        json!({"title": title, "description": description, "code": code}),
    );
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("acsjwt"));
    }
    response
}

fn invalid_data(description: &str) -> Response {
    iam_error(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        description,
        "ERR_INVALID_DATA",
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The `dcos-acs-info-cookie` value: base64 of `{uid, description, is_remote}`.
fn info_cookie(login: &Login) -> String {
    STANDARD.encode(
        json!({"uid": login.uid, "description": login.description, "is_remote": false}).to_string(),
    )
}

async fn login(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_json(&headers) {
        return invalid_data("Request has bad Content-Type or lacks it.");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid_data("Request body is not valid JSON.");
    };
    let result = {
        let cluster = sim.cluster();
        cluster.iam.login(&body, cluster.now_ms)
    };
    match result {
        Ok(login) => {
            let mut response = json(StatusCode::OK, json!({"token": login.token}));
            let cookies = [
                format!("{AUTH_COOKIE}={}; Path=/; HttpOnly", login.token),
                format!("{INFO_COOKIE}={}; Path=/", info_cookie(&login)),
            ];
            for cookie in cookies {
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(LoginError::InvalidData(description)) => invalid_data(&description),
        Err(LoginError::InvalidCredentials(description)) => iam_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            &description,
            "ERR_INVALID_CREDENTIALS",
        ),
    }
}

/// The login providers, as DC/OS lists its two built-in ones.
pub(crate) fn providers_body() -> Value {
    let provider = |kind: &str, method: &str| {
        json!({
            "authentication-type": kind,
            "client-method": method,
            "config": {"start_flow_url": LOGIN_PATH},
            "description": "Default DC/OS login provider",
        })
    };
    json!({
        "dcos-users": provider("dcos-uid-password", "dcos-usercredential-post-receive-authtoken"),
        "dcos-services": provider("dcos-uid-servicekey", "dcos-servicecredential-post-receive-authtoken"),
    })
}

async fn providers() -> Response {
    json(StatusCode::OK, providers_body())
}

/// IAM's routes (`/acs/api/v1/auth/...`).
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(LOGIN_PATH, post(login))
        .route(PROVIDERS_PATH, get(providers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iam(seed: u64) -> Iam {
        let config = SimConfig {
            seed,
            ..SimConfig::default()
        };
        Iam::new(&config, &mut SimRng::new(seed))
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let iam = iam(1);
        let now = 1_700_000_000_000;
        let token = iam.issue_token("bootstrapuser", now);
        let claims = iam.verify_token(&token, now).unwrap();
        assert_eq!(claims.uid, "bootstrapuser");
        assert_eq!(claims.exp, now / 1000 + TOKEN_LIFETIME.as_secs());
        let end = claims.exp * 1000;
        assert!(iam.verify_token(&token, end - 1).is_ok());
        assert_eq!(iam.verify_token(&token, end), Err(TokenError::Expired));
        assert_eq!(
            self::iam(2).verify_token(&token, now),
            Err(TokenError::Signature)
        );
        assert_eq!(iam.verify_token("a.b", now), Err(TokenError::Malformed));
        // Same seed, same key.
        assert!(self::iam(1).verify_token(&token, now).is_ok());
    }

    #[test]
    fn authorization_header_forms() {
        assert_eq!(token_from_authorization("token=abc"), Some("abc"));
        assert_eq!(token_from_authorization("Bearer abc"), Some("abc"));
        assert_eq!(token_from_authorization("bearer  abc "), Some("abc"));
        assert_eq!(token_from_authorization("Basic abc"), None);
        assert_eq!(token_from_authorization("token="), None);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; dcos-acs-auth-cookie=xyz; c=d"),
        );
        assert_eq!(Iam::request_token(&headers), Some("xyz"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(
            Iam::request_token(&headers),
            None,
            "no fallback to the cookie"
        );
    }

    #[test]
    fn login_body_shapes() {
        let iam = iam(0);
        let ok = iam
            .login(&json!({"uid": "bootstrapuser", "password": "deleteme"}), 0)
            .unwrap();
        assert!(iam.verify_token(&ok.token, 0).is_ok());
        assert!(matches!(
            iam.login(&json!({"uid": "bootstrapuser", "password": "nope"}), 0),
            Err(LoginError::InvalidCredentials(_))
        ));
        assert!(matches!(
            iam.login(&json!({"uid": "bootstrapuser"}), 0),
            Err(LoginError::InvalidData(_))
        ));
        assert!(matches!(
            iam.login(&json!(["x"]), 0),
            Err(LoginError::InvalidData(_))
        ));
        assert!(matches!(
            iam.login(&json!({"uid": "svc", "token": "x.y.z", "exp": 1}), 0),
            Err(LoginError::InvalidCredentials(_))
        ));
    }
}
