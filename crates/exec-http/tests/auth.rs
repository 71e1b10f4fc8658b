//! Logging in against dcos-sim with `auth: true`: a service account (key
//! pair made here), uid and password, a token refreshed before it expires
//! and after a 401, and a refused login. The client's clock is the
//! cluster's manual clock; the logs are captured to see when logins happen
//! and that no secret is ever written.

use test_support::ClusterClock;

use canary_core::executor::{ExecError, Executor};
use dcos_sim::{ServiceAccount as SimAccount, SimConfig, SimHandle};
use exec_http::{
    Credentials, Endpoints, HttpConfig, HttpExecutor, Login, RetryPolicy, ServiceAccount,
};
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::json;
use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

const SERVICE: &str = "canary-sa";
/// Past the 5 days a sim token lives.
const PAST_EXPIRY: Duration = Duration::from_secs(5 * 24 * 3600 + 1);

/// Two key pairs per test binary: the account's and a stranger's.
fn keys() -> &'static [RsaPrivateKey; 2] {
    static KEYS: OnceLock<[RsaPrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        let mut make = || RsaPrivateKey::new(&mut rng, 1024).expect("an RSA key");
        [make(), make()]
    })
}

fn private_pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).expect("PEM").to_string()
}

fn start(seed: u64) -> SimHandle {
    SimHandle::start(SimConfig {
        seed,
        auth: true,
        time_scale: 0.0,
        service_accounts: vec![SimAccount {
            uid: SERVICE.into(),
            public_key_pem: keys()[0]
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("PEM"),
        }],
        ..SimConfig::default()
    })
    .expect("the sim starts")
}

fn credential(key: &RsaPrivateKey) -> String {
    json!({"scheme": "RS256", "uid": SERVICE, "private_key": private_pem(key)}).to_string()
}

fn service_login(key: &RsaPrivateKey) -> Login {
    let account = ServiceAccount::from_json(&credential(key)).expect("a valid credential");
    Login::service_account(account)
}

fn executor(sim: &SimHandle, credentials: Credentials) -> HttpExecutor {
    let config = HttpConfig::new(Endpoints::dcos(sim.dcos_url()).unwrap())
        .with_retry(RetryPolicy::no_retries())
        .with_clock(Arc::new(ClusterClock(sim.sim().clone())))
        .with_credentials(credentials);
    HttpExecutor::new(config).unwrap()
}

thread_local! {
    /// What this thread logged since [`logged`] last cleared it.
    static CAPTURED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes into this thread's [`CAPTURED`] buffer.
struct ThreadBuffer;

impl Write for ThreadBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|c| c.borrow_mut().extend_from_slice(bytes));
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log lines (debug and up) this thread wrote while `f` ran. One global
/// subscriber writes each thread's lines to that thread's buffer: a
/// subscriber per test (`with_default`) would race with tracing's global
/// cache of which events are enabled when tests run in parallel.
fn logged<R>(f: impl FnOnce() -> R) -> (R, String) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| ThreadBuffer)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
    CAPTURED.with(|c| c.borrow_mut().clear());
    let result = f();
    let text = CAPTURED.with(|c| String::from_utf8(c.take()).unwrap());
    (result, text)
}

fn logins(log: &str) -> usize {
    log.lines().filter(|l| l.contains("logging in")).count()
}

fn auth_message(result: Result<impl std::fmt::Debug, ExecError>) -> String {
    match result {
        Err(ExecError::Auth { message }) => message,
        other => panic!("expected an auth error, got {other:?}"),
    }
}

#[test]
fn a_service_account_logs_in_once_and_its_secrets_stay_out_of_the_logs() {
    let sim = start(0);
    let mut exec = executor(&sim, Credentials::Login(service_login(&keys()[0])));
    let (result, log) = logged(|| {
        exec.get_job("deploy-web-canary")?;
        exec.get_job("rollout-web-canary")
    });
    assert_eq!(result.unwrap(), None);
    assert_eq!(logins(&log), 1, "{log}");
    assert!(log.contains(&format!("uid=\"{SERVICE}\"")), "{log}");
    assert!(log.contains("status=200"), "{log}");
    assert!(log.contains("authorization: <redacted>"), "{log}");
    let pem = private_pem(&keys()[0]);
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!log.contains(line), "a key line was logged: {log}");
    }
    assert!(!log.contains("token="), "{log}");
    assert!(!log.contains("eyJ"), "a JWT was logged: {log}");
    assert!(!format!("{exec:?}").contains(&pem[40..80]));
}

#[test]
fn uid_and_password_log_in_and_a_wrong_password_is_refused_by_name() {
    let sim = start(0);
    let mut exec = executor(
        &sim,
        Credentials::Login(Login::password("bootstrapuser", "deleteme")),
    );
    assert_eq!(exec.get_job("deploy-web-canary").unwrap(), None);

    let wrong = "wrong-S3CR3T-password";
    let mut exec = executor(
        &sim,
        Credentials::Login(Login::password("bootstrapuser", wrong)),
    );
    let (result, log) = logged(|| exec.get_job("deploy-web-canary"));
    let message = auth_message(result);
    assert!(message.contains("login as bootstrapuser"), "{message}");
    assert!(message.contains("was refused"), "{message}");
    assert!(message.contains("check the uid and password"), "{message}");
    assert!(message.contains("dcos auth login"), "{message}");
    assert!(!message.contains(wrong), "{message}");
    assert!(!log.contains(wrong), "{log}");
}

#[test]
fn a_token_about_to_expire_is_refreshed_before_the_request() {
    let sim = start(0);
    let mut exec = executor(&sim, Credentials::Login(service_login(&keys()[0])));
    let (result, log) = logged(|| exec.get_job("deploy-web-canary"));
    result.unwrap();
    assert_eq!(logins(&log), 1, "{log}");

    sim.advance(PAST_EXPIRY);
    let (result, log) = logged(|| exec.get_job("deploy-web-canary"));
    assert_eq!(result.unwrap(), None);
    // Refreshed before sending: no request was refused first.
    assert_eq!(logins(&log), 1, "{log}");
    assert!(log.contains("the token has expired"), "{log}");
    assert!(!log.contains("status=401"), "{log}");
}

#[test]
fn a_refused_token_is_replaced_by_logging_in_once() {
    // A token of another cluster: a JWT that looks valid but is not.
    let other = start(7);
    let foreign = other.issue_token("bootstrapuser");
    let sim = start(0);
    for token in [foreign.as_str(), "opaque-not-a-jwt"] {
        let login = service_login(&keys()[0]).with_token(token);
        let mut exec = executor(&sim, Credentials::Login(login));
        let (result, log) = logged(|| exec.get_job("deploy-web-canary"));
        assert_eq!(result.unwrap(), None, "{log}");
        assert!(log.contains("status=401"), "{log}");
        assert!(log.contains("the token was refused (401)"), "{log}");
        assert_eq!(logins(&log), 1, "{log}");
        assert!(!log.contains(token), "{log}");
    }
}

#[test]
fn a_refused_token_and_a_refused_login_give_one_clear_error() {
    let sim = start(0);
    // The stranger's key: the login itself is refused, after one try.
    let login = service_login(&keys()[1]).with_token("expired-S3CR3T");
    let mut exec = executor(&sim, Credentials::Login(login));
    let (result, log) = logged(|| exec.get_job("deploy-web-canary"));
    let message = auth_message(result);
    assert_eq!(logins(&log), 1, "{log}");
    assert!(
        message.contains(&format!("the login as {SERVICE} at {}", sim.dcos_url())),
        "{message}"
    );
    assert!(message.contains("private key"), "{message}");
    assert!(
        message.contains("DCOS_SERVICE_ACCOUNT_CREDENTIAL"),
        "{message}"
    );
    assert!(
        !message.contains("S3CR3T") && !log.contains("S3CR3T"),
        "{log}"
    );
}

#[test]
fn an_expired_token_without_a_login_says_how_to_log_in() {
    let sim = start(0);
    let token = sim.issue_token("bootstrapuser");
    sim.advance(PAST_EXPIRY);
    let mut exec = executor(&sim, Credentials::Token(token.clone()));
    let (result, log) = logged(|| exec.get_job("deploy-web-canary"));
    let message = auth_message(result);
    assert!(message.contains("the token was refused"), "{message}");
    assert!(message.contains("dcos auth login"), "{message}");
    assert_eq!(logins(&log), 0, "{log}");
    assert!(!message.contains(&token) && !log.contains(&token), "{log}");
}

#[test]
fn a_login_endpoint_in_the_credential_is_used() {
    let sim = start(0);
    let credential = json!({
        "scheme": "RS256",
        "uid": SERVICE,
        "private_key": private_pem(&keys()[0]),
        "login_endpoint": format!("{}/acs/api/v1/auth/login", sim.dcos_url()),
    });
    let account = ServiceAccount::from_json(&credential.to_string()).unwrap();
    assert_eq!(
        account.login_endpoint(),
        Some(format!("{}/acs/api/v1/auth/login", sim.dcos_url()).as_str())
    );
    // Metronome addressed directly: only the credential says where to log in.
    let endpoints = Endpoints::metronome(&format!("{}/service/metronome", sim.dcos_url())).unwrap();
    let config = HttpConfig::new(endpoints)
        .with_retry(RetryPolicy::no_retries())
        .with_credentials(Credentials::Login(Login::service_account(account)));
    let mut exec = HttpExecutor::new(config).unwrap();
    assert_eq!(exec.get_job("deploy-web-canary").unwrap(), None);
}
