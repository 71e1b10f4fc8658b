//! IAM over loopback HTTP: login with a password or a service login token,
//! the tokens Admin Router accepts, and what it refuses.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Reply, get, send};
use dcos_sim::iam::{LOGIN_TOKEN_MAX_LIFETIME, TOKEN_LIFETIME};
use dcos_sim::{ServiceAccount, SimConfig, SimHandle};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::OnceLock;
use std::time::Duration;

/// A whole second, so `exp` boundaries are exact.
const START_MS: u64 = 1_700_000_000_000;
const START_S: u64 = START_MS / 1000;
const SERVICE: &str = "canary-sa";

fn config() -> SimConfig {
    SimConfig {
        auth: true,
        time_scale: 0.0,
        start_time_ms: Some(START_MS),
        ..SimConfig::default()
    }
}

fn start(config: SimConfig) -> SimHandle {
    SimHandle::start(config).expect("the sim starts")
}

/// Two RSA key pairs, made once per test binary (1024 bits: fast enough in a
/// debug build; the sim does not care about the size).
fn keys() -> &'static [RsaPrivateKey; 2] {
    static KEYS: OnceLock<[RsaPrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        let mut make = || RsaPrivateKey::new(&mut rng, 1024).expect("an RSA key");
        [make(), make()]
    })
}

fn public_pem(key: &RsaPrivateKey) -> String {
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM")
}

/// A service login token: RS256 JWT with `claims`, signed with `key`.
fn login_token(key: &RsaPrivateKey, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{claims}");
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn service_sim() -> SimHandle {
    start(SimConfig {
        service_accounts: vec![ServiceAccount {
            uid: SERVICE.into(),
            public_key_pem: public_pem(&keys()[0]),
        }],
        ..config()
    })
}

fn login(sim: &SimHandle, body: &Value) -> Reply {
    send(
        "POST",
        &format!("{}/acs/api/v1/auth/login", sim.dcos_url()),
        &[],
        Some(body),
    )
}

/// POST with the given body and headers only (no automatic content type).
fn post_raw(url: &str, content_type: Option<&str>, body: &str) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method("POST").uri(url);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = agent
        .run(request.body(body.as_bytes().to_vec()).unwrap())
        .expect("a response");
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        headers,
        body: response.into_body().read_to_string().unwrap_or_default(),
    }
}

fn set_cookies(reply: &Reply) -> Vec<&str> {
    reply
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The value of cookie `name` among the reply's `Set-Cookie` headers.
fn cookie_value<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    set_cookies(reply).into_iter().find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then_some(v.trim())
    })
}

fn get_with(sim: &SimHandle, path: &str, headers: &[(&str, &str)]) -> Reply {
    send("GET", &format!("{}{path}", sim.dcos_url()), headers, None)
}

fn assert_admin_router_401(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    assert_eq!(reply.header("www-authenticate"), Some("acsjwt"), "{what}");
    assert!(reply.content_type.starts_with("text/html"), "{what}");
    assert!(reply.body.contains("401 Authorization Required"), "{what}");
}

fn assert_invalid_credentials(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    assert_eq!(reply.header("www-authenticate"), Some("acsjwt"), "{what}");
    let body = reply.json();
    assert_eq!(body["code"], "ERR_INVALID_CREDENTIALS", "{what}");
    assert!(body["title"].is_string(), "{what}");
    assert!(
        !body["description"].as_str().unwrap_or("").is_empty(),
        "{what}"
    );
    assert!(
        set_cookies(reply).is_empty(),
        "{what}: no cookies on failure"
    );
}

#[test]
fn password_login_returns_the_token_and_both_cookies() {
    let sim = start(config());
    let reply = login(
        &sim,
        &json!({"uid": "bootstrapuser", "password": "deleteme"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.content_type.starts_with("application/json"));
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    let auth_cookie = set_cookies(&reply)
        .into_iter()
        .find(|c| c.starts_with("dcos-acs-auth-cookie="))
        .expect("the auth cookie");
    assert!(auth_cookie.contains("HttpOnly"), "{auth_cookie}");
    assert!(auth_cookie.contains("Path=/"), "{auth_cookie}");
    assert_eq!(cookie_value(&reply, "dcos-acs-auth-cookie"), Some(&*token));

    let info = cookie_value(&reply, "dcos-acs-info-cookie").expect("the info cookie");
    let info: Value = serde_json::from_slice(&STANDARD.decode(info).unwrap()).unwrap();
    assert_eq!(info["uid"], "bootstrapuser");
    assert_eq!(info["is_remote"], false);
    assert!(info["description"].is_string());

    // The token's claims: uid and a 5-day exp in cluster time.
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["uid"], "bootstrapuser");
    assert_eq!(claims["exp"], START_S + TOKEN_LIFETIME.as_secs());
}

#[test]
fn bad_credentials_are_401_invalid_credentials() {
    let sim = start(config());
    let wrong = login(&sim, &json!({"uid": "bootstrapuser", "password": "nope"}));
    assert_invalid_credentials(&wrong, "wrong password");
    let unknown = login(&sim, &json!({"uid": "nobody", "password": "deleteme"}));
    assert_invalid_credentials(&unknown, "unknown uid");
}

#[test]
fn login_needs_a_json_content_type_and_body() {
    let sim = start(config());
    let url = format!("{}/acs/api/v1/auth/login", sim.dcos_url());
    let body = r#"{"uid": "bootstrapuser", "password": "deleteme"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let reply = post_raw(&url, content_type, body);
        assert_eq!(reply.status, 400, "{content_type:?}: {}", reply.body);
        assert!(reply.json()["code"].is_string());
    }
    // Parameters after the media type are fine.
    assert_eq!(
        post_raw(&url, Some("application/json; charset=utf-8"), body).status,
        200
    );
    assert_eq!(
        post_raw(&url, Some("application/json"), "{not json").status,
        400
    );
    assert_eq!(login(&sim, &json!({"uid": "bootstrapuser"})).status, 400);
    assert_eq!(login(&sim, &json!({"password": "deleteme"})).status, 400);
}

#[test]
fn the_token_is_accepted_in_all_three_forms() {
    let sim = start(config());
    let token = login(
        &sim,
        &json!({"uid": "bootstrapuser", "password": "deleteme"}),
    )
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let forms = [
        ("authorization", format!("token={token}")),
        ("authorization", format!("Bearer {token}")),
        ("cookie", format!("dcos-acs-auth-cookie={token}")),
        (
            "cookie",
            format!("other=1; dcos-acs-auth-cookie={token}; x=y"),
        ),
    ];
    for (name, value) in &forms {
        for path in ["/metadata", "/mesos/state-summary"] {
            let reply = get_with(&sim, path, &[(name, value)]);
            assert_eq!(reply.status, 200, "{name}: {value} on {path}");
        }
    }
    // A bad Authorization header wins over a good cookie, as in Admin Router.
    let cookie = format!("dcos-acs-auth-cookie={token}");
    let reply = get_with(
        &sim,
        "/metadata",
        &[("authorization", "token=garbage"), ("cookie", &cookie)],
    );
    assert_admin_router_401(&reply, "bad header, good cookie");
}

#[test]
fn garbage_expired_and_foreign_tokens_get_admin_routers_401() {
    let sim = start(config());
    let expired = sim.issue_token_with_expiry("bootstrapuser", sim.now_ms() - 1_000);
    let other = start(SimConfig {
        seed: 99,
        ..config()
    });
    let foreign = login(
        &other,
        &json!({"uid": "bootstrapuser", "password": "deleteme"}),
    )
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let fresh = sim.issue_token("bootstrapuser");
    // The same claims with the signature of another sim.
    let (signed, _) = fresh.rsplit_once('.').unwrap();
    let (_, foreign_sig) = foreign.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{foreign_sig}");
    let cases = [
        ("garbage", "token=garbage".to_owned()),
        ("empty", "token=".to_owned()),
        ("basic", "Basic Ym9vdHN0cmFwdXNlcjpkZWxldGVtZQ==".to_owned()),
        ("expired", format!("token={expired}")),
        ("other sim", format!("token={foreign}")),
        ("forged", format!("Bearer {forged}")),
    ];
    for (what, value) in &cases {
        let reply = get_with(&sim, "/metadata", &[("authorization", value)]);
        assert_admin_router_401(&reply, what);
    }
    assert_eq!(
        get_with(
            &sim,
            "/metadata",
            &[("authorization", &format!("token={fresh}"))]
        )
        .status,
        200
    );
}

#[test]
fn tokens_expire_after_five_days_of_cluster_time() {
    let sim = start(config());
    let token = login(
        &sim,
        &json!({"uid": "bootstrapuser", "password": "deleteme"}),
    )
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let header = format!("token={token}");
    sim.advance(TOKEN_LIFETIME - Duration::from_secs(1));
    assert_eq!(
        get_with(&sim, "/metadata", &[("authorization", &header)]).status,
        200
    );
    sim.advance(Duration::from_secs(1));
    assert_admin_router_401(
        &get_with(&sim, "/metadata", &[("authorization", &header)]),
        "expired by the clock",
    );
}

#[test]
fn service_account_login_with_a_login_token() {
    let sim = service_sim();
    let token = login_token(&keys()[0], &json!({"uid": SERVICE, "exp": START_S + 300}));
    // zdd.py's body: an extra top-level exp, ignored.
    let reply = login(
        &sim,
        &json!({"uid": SERVICE, "token": token, "exp": START_S + 3600}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    // zdd.py reads the cookie, not the body; both hold the same token.
    let cookie = cookie_value(&reply, "dcos-acs-auth-cookie").expect("the auth cookie");
    assert_eq!(reply.json()["token"], cookie);
    let header = format!("token={cookie}");
    assert_eq!(
        get_with(&sim, "/metadata", &[("authorization", &header)]).status,
        200
    );

    // Exactly at the lifetime limit is fine.
    let limit = START_S + LOGIN_TOKEN_MAX_LIFETIME.as_secs();
    let at_limit = login_token(&keys()[0], &json!({"uid": SERVICE, "exp": limit}));
    assert_eq!(
        login(&sim, &json!({"uid": SERVICE, "token": at_limit})).status,
        200
    );
}

#[test]
fn service_account_keys_in_pkcs1_pem_work_and_bad_pems_refuse() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let pkcs1 = keys()[1]
        .to_public_key()
        .to_pkcs1_pem(LineEnding::LF)
        .expect("PEM");
    assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let sim = start(SimConfig {
        service_accounts: vec![
            ServiceAccount {
                uid: "pkcs1-sa".into(),
                public_key_pem: pkcs1,
            },
            ServiceAccount {
                uid: "broken-sa".into(),
                public_key_pem: "not a key".into(),
            },
        ],
        ..config()
    });
    let claims = |uid: &str| json!({"uid": uid, "exp": START_S + 60});
    let token = login_token(&keys()[1], &claims("pkcs1-sa"));
    assert_eq!(
        login(&sim, &json!({"uid": "pkcs1-sa", "token": token})).status,
        200
    );
    let token = login_token(&keys()[1], &claims("broken-sa"));
    assert_invalid_credentials(
        &login(&sim, &json!({"uid": "broken-sa", "token": token})),
        "an account without a usable key",
    );
}

#[test]
fn service_account_login_refusals() {
    let sim = service_sim();
    let ok_claims = json!({"uid": SERVICE, "exp": START_S + 300});
    let limit = START_S + LOGIN_TOKEN_MAX_LIFETIME.as_secs();
    let cases = [
        ("wrong key", SERVICE, login_token(&keys()[1], &ok_claims)),
        (
            "expired",
            SERVICE,
            login_token(&keys()[0], &json!({"uid": SERVICE, "exp": START_S - 1})),
        ),
        (
            "expires now",
            SERVICE,
            login_token(&keys()[0], &json!({"uid": SERVICE, "exp": START_S})),
        ),
        (
            "lifetime over 10 minutes",
            SERVICE,
            login_token(&keys()[0], &json!({"uid": SERVICE, "exp": limit + 1})),
        ),
        (
            "uid claim differs",
            SERVICE,
            login_token(
                &keys()[0],
                &json!({"uid": "someone-else", "exp": START_S + 300}),
            ),
        ),
        (
            "no exp",
            SERVICE,
            login_token(&keys()[0], &json!({"uid": SERVICE})),
        ),
        (
            "unknown account",
            "nobody",
            login_token(&keys()[0], &json!({"uid": "nobody", "exp": START_S + 300})),
        ),
        ("not a JWT", SERVICE, "garbage".to_owned()),
    ];
    for (what, uid, token) in &cases {
        let reply = login(&sim, &json!({"uid": uid, "token": token}));
        assert_invalid_credentials(&reply, what);
    }
    // An HS256 token (e.g. one the sim issued) is not a service login token.
    let issued = sim.issue_token(SERVICE);
    assert_invalid_credentials(
        &login(&sim, &json!({"uid": SERVICE, "token": issued})),
        "HS256 token",
    );
    // A service account has no password.
    assert_invalid_credentials(
        &login(&sim, &json!({"uid": SERVICE, "password": "x"})),
        "service account with a password",
    );
}

#[test]
fn providers_are_public() {
    let sim = start(config());
    let reply = get(&format!("{}/acs/api/v1/auth/providers", sim.dcos_url()));
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(
        body["dcos-users"]["authentication-type"],
        "dcos-uid-password"
    );
    assert_eq!(
        body["dcos-users"]["client-method"],
        "dcos-usercredential-post-receive-authtoken"
    );
    assert_eq!(
        body["dcos-users"]["config"]["start_flow_url"],
        "/acs/api/v1/auth/login"
    );
    assert_eq!(
        body["dcos-services"]["authentication-type"],
        "dcos-uid-servicekey"
    );
}

#[test]
fn auth_off_leaves_everything_open() {
    let sim = start(SimConfig {
        auth: false,
        ..config()
    });
    for headers in [vec![], vec![("authorization", "token=garbage")]] {
        assert_eq!(get_with(&sim, "/metadata", &headers).status, 200);
    }
    // Login still works, as on a cluster without security.
    assert_eq!(
        login(
            &sim,
            &json!({"uid": "bootstrapuser", "password": "deleteme"})
        )
        .status,
        200
    );
}

/// A sim on the real clock sped up runs ahead of every client: a client's
/// login token, stamped by the wall clock it shares with the others, is
/// judged by that clock, so logins keep working however far cluster time
/// has run ahead (the demo at 10x logs in for minutes); a token expired by
/// the wall clock is still refused.
#[test]
fn a_sped_up_sim_judges_login_tokens_by_the_wall_clock() {
    let sim = start(SimConfig {
        start_time_ms: None,
        time_scale: 100_000.0,
        service_accounts: vec![ServiceAccount {
            uid: SERVICE.into(),
            public_key_pem: public_pem(&keys()[0]),
        }],
        ..config()
    });
    let wall_s = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    // At 100,000x, cluster time is an hour ahead after 36 ms of real time.
    let started = std::time::Instant::now();
    while sim.now_ms() / 1000 < wall_s() + 3600 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the clock runs"
        );
        std::thread::yield_now();
    }
    let fresh = login_token(&keys()[0], &json!({"uid": SERVICE, "exp": wall_s() + 300}));
    let reply = login(&sim, &json!({"uid": SERVICE, "token": fresh}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stale = login_token(&keys()[0], &json!({"uid": SERVICE, "exp": wall_s() - 1}));
    assert_invalid_credentials(
        &login(&sim, &json!({"uid": SERVICE, "token": stale})),
        "expired by the wall clock",
    );
}
