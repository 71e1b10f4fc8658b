//! Where the HTTP executor's credentials come from, in this order, never
//! from argv:
//!
//! 1. `DCOS_ACS_TOKEN`;
//! 2. the dcos CLI's stored token (`core.dcos_acs_token`), only for the
//!    cluster it was stored for;
//! 3. a service account: `DCOS_SERVICE_ACCOUNT_CREDENTIAL`, the credential
//!    JSON itself (when it starts with `{`) or the path of a file holding it;
//! 4. a uid (`--username` or `DCOS_USERNAME`) and a password:
//!    `DCOS_PASSWORD`, the first line of the file `DCOS_PASSWORD_FILE`, or,
//!    with no token and stdin and stderr on a terminal, asked for without
//!    echo.
//!
//! A token (1, 2) is used first; when a login source (3, 4) exists as well,
//! it replaces the token once it expires or is refused.

use crate::failure::Failure;
use bounded_read::Limit;
use dcos_cli_config::DcosCliConfig;
use exec_http::{Credentials, Login, ServiceAccount};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::OnceLock;

/// A DC/OS token.
pub const TOKEN_ENV: &str = "DCOS_ACS_TOKEN";
/// A service account's credential JSON, or the path of a file holding it.
pub const SERVICE_ACCOUNT_ENV: &str = "DCOS_SERVICE_ACCOUNT_CREDENTIAL";
/// The uid to log in as with a password.
pub const USERNAME_ENV: &str = "DCOS_USERNAME";
/// The password.
pub const PASSWORD_ENV: &str = "DCOS_PASSWORD";
/// A file whose first line is the password.
pub const PASSWORD_FILE_ENV: &str = "DCOS_PASSWORD_FILE";

/// The largest service-account credential file read (a 4096-bit key's
/// credential is about 3.5 KiB).
pub const CREDENTIAL_FILE_LIMIT: Limit = Limit::kib(64);
/// The longest password (the first line of `DCOS_PASSWORD_FILE`, or an
/// answer at the prompt) read.
pub const PASSWORD_LIMIT: Limit = Limit::kib(4);

/// The global `--username`, set once by `main`.
static USERNAME: OnceLock<String> = OnceLock::new();

/// Records the global `--username` (not a secret, so it may be in argv).
pub fn set_username(username: Option<String>) {
    if let Some(username) = username.filter(|u| !u.trim().is_empty()) {
        let _ = USERNAME.set(username.trim().to_owned());
    }
}

/// Asks for a uid's password.
pub type Prompt<'a> = &'a dyn Fn(&str) -> std::io::Result<String>;

/// How the chain reads the environment and asks for a password: the
/// process's, or a test's.
pub struct Sources<'a> {
    /// A variable's value, if set and not blank.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// `--username`, if given.
    pub username: Option<&'a str>,
    /// Asks for `uid`'s password, when a terminal allows it.
    pub prompt: Option<Prompt<'a>>,
}

/// The process's environment, `--username`, and a prompt when stdin and
/// stderr are a terminal.
pub fn resolve(url: &str, config: Option<&DcosCliConfig>) -> Result<Credentials, Failure> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let prompt =
        |uid: &str| crate::prompt::password(&format!("Password for {uid}: "), PASSWORD_LIMIT);
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    resolve_with(
        url,
        config,
        &Sources {
            env: &env,
            username: USERNAME.get().map(String::as_str),
            prompt: terminal.then_some(&prompt as Prompt<'_>),
        },
    )
}

/// The credentials for `url` from `sources`, in the documented order.
pub fn resolve_with(
    url: &str,
    config: Option<&DcosCliConfig>,
    sources: &Sources<'_>,
) -> Result<Credentials, Failure> {
    // A token that cannot be an HTTP header is a bad credential, refused
    // before any request (it would fail every one in transport).
    let checked = |token: &str, origin: &dyn Fn() -> String| {
        exec_http::check_token(token)
            .map(|()| token.to_owned())
            .map_err(|e| Failure::invalid(format!("{} {e}; set it to the token alone", origin())))
    };
    let token = match (sources.env)(TOKEN_ENV) {
        Some(token) => Some(checked(token.trim(), &|| TOKEN_ENV.to_owned())?),
        None => match config.filter(|c| c.is_for(url)) {
            Some(c) => match c.token() {
                Some(token) => Some(checked(token, &|| {
                    format!("core.dcos_acs_token in {}", c.path.display())
                })?),
                None => None,
            },
            None => None,
        },
    };
    let login = login(sources, token.is_none())?;
    Ok(match (token, login) {
        (Some(token), Some(login)) => Credentials::Login(login.with_token(token)),
        (Some(token), None) => Credentials::Token(token),
        (None, Some(login)) => Credentials::Login(login),
        (None, None) => Credentials::None,
    })
}

/// A login source, if any; `needed` when there is no token, so that a
/// half-given one is an error and a password may be asked for.
fn login(sources: &Sources<'_>, needed: bool) -> Result<Option<Login>, Failure> {
    if let Some(value) = (sources.env)(SERVICE_ACCOUNT_ENV) {
        return service_account(&value).map(|a| Some(Login::service_account(a)));
    }
    let uid = sources
        .username
        .map(str::to_owned)
        .or_else(|| (sources.env)(USERNAME_ENV));
    let Some(uid) = uid.map(|u| u.trim().to_owned()) else {
        if needed && (sources.env)(PASSWORD_ENV).is_some() {
            return Err(Failure::invalid(format!(
                "{PASSWORD_ENV} is set but no uid: set {USERNAME_ENV} or pass --username"
            )));
        }
        return Ok(None);
    };
    if let Some(password) = (sources.env)(PASSWORD_ENV) {
        return Ok(Some(Login::password(uid, password)));
    }
    if let Some(path) = (sources.env)(PASSWORD_FILE_ENV) {
        return password_file(&path).map(|p| Some(Login::password(uid, p)));
    }
    match (needed, sources.prompt) {
        (false, _) => Ok(None),
        (true, Some(prompt)) => {
            let password = prompt(&uid)
                .map_err(|e| Failure::io(format!("cannot read the password for {uid}: {e}")))?;
            Ok(Some(Login::password(uid, password)))
        }
        (true, None) => Err(Failure::invalid(format!(
            "no password for {uid}: set {PASSWORD_ENV} or {PASSWORD_FILE_ENV}, or run on a terminal to be asked"
        ))),
    }
}

/// `DCOS_SERVICE_ACCOUNT_CREDENTIAL`: JSON when it starts with `{`, else a
/// file path. Errors name the variable or the file, never the key.
fn service_account(value: &str) -> Result<ServiceAccount, Failure> {
    if value.trim_start().starts_with('{') {
        return ServiceAccount::from_json(value)
            .map_err(|e| Failure::invalid(format!("{SERVICE_ACCOUNT_ENV}: {e}")));
    }
    let path = value.trim();
    let text = bounded_read::read_text(Path::new(path), CREDENTIAL_FILE_LIMIT).map_err(|e| {
        if e.is_io() {
            Failure::io(format!(
                "cannot read the service-account credential file '{path}' ({SERVICE_ACCOUNT_ENV}): {e}"
            ))
        } else {
            Failure::invalid(format!(
                "the service-account credential file '{path}' ({SERVICE_ACCOUNT_ENV}) is refused: {e}"
            ))
        }
    })?;
    ServiceAccount::from_json(&text)
        .map_err(|e| Failure::invalid(format!("'{path}' ({SERVICE_ACCOUNT_ENV}): {e}")))
}

/// The first line of the password file, without its line ending; nothing
/// after it is read.
fn password_file(path: &str) -> Result<String, Failure> {
    let line = bounded_read::read_first_line(Path::new(path), PASSWORD_LIMIT).map_err(|e| {
        if e.is_io() {
            Failure::io(format!(
                "cannot read the password file '{path}' ({PASSWORD_FILE_ENV}): {e}"
            ))
        } else {
            Failure::invalid(format!(
                "the password file '{path}' ({PASSWORD_FILE_ENV}) is refused: {e}"
            ))
        }
    })?;
    if line.is_empty() {
        return Err(Failure::invalid(format!(
            "the password file '{path}' ({PASSWORD_FILE_ENV}) is empty"
        )));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn resolve(vars: &[(&str, &str)], username: Option<&str>) -> Result<Credentials, Failure> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |name: &str| vars.get(name).cloned();
        resolve_with(
            "http://dcos.example.com",
            None,
            &Sources {
                env: &env,
                username,
                prompt: None,
            },
        )
    }

    #[test]
    fn a_token_alone_a_password_alone_and_both() {
        assert_eq!(
            resolve(&[(TOKEN_ENV, " t ")], None).unwrap(),
            Credentials::Token("t".into())
        );
        let password = Login::password("alice", "pw");
        assert_eq!(
            resolve(&[(USERNAME_ENV, "alice"), (PASSWORD_ENV, "pw")], None).unwrap(),
            Credentials::Login(password.clone())
        );
        assert_eq!(
            resolve(&[(PASSWORD_ENV, "pw"), (TOKEN_ENV, "t")], Some("alice")).unwrap(),
            Credentials::Login(password.with_token("t"))
        );
        assert_eq!(resolve(&[], None).unwrap(), Credentials::None);
    }

    #[test]
    fn half_a_password_login_is_an_error_only_without_a_token() {
        let err = resolve(&[(USERNAME_ENV, "alice")], None).unwrap_err();
        assert!(err.to_string().contains("no password for alice"), "{err}");
        assert_eq!(
            resolve(&[(USERNAME_ENV, "alice"), (TOKEN_ENV, "t")], None).unwrap(),
            Credentials::Token("t".into())
        );
        let err = resolve(&[(PASSWORD_ENV, "pw")], None).unwrap_err();
        assert!(err.to_string().contains("no uid"), "{err}");
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused_naming_the_variable() {
        for bad in ["S3cr\u{f6}t", "S3cr\net", "S3cr et", "S3cr\u{1b}[2J"] {
            let err = resolve(&[(TOKEN_ENV, bad)], None).unwrap_err();
            assert_eq!(err.exit_code(), std::process::ExitCode::from(3));
            let message = err.to_string();
            assert!(message.starts_with(TOKEN_ENV), "{message}");
            assert!(
                !message.contains("S3cr"),
                "the token is not echoed: {message}"
            );
        }
    }

    #[test]
    fn a_bad_credential_names_the_variable_or_file() {
        let err = resolve(&[(SERVICE_ACCOUNT_ENV, "{\"uid\":1}")], None).unwrap_err();
        assert!(err.to_string().starts_with(SERVICE_ACCOUNT_ENV), "{err}");
        let err = resolve(&[(SERVICE_ACCOUNT_ENV, "/no/such/file.json")], None).unwrap_err();
        assert!(err.to_string().contains("'/no/such/file.json'"), "{err}");
        assert_eq!(err.exit_code(), std::process::ExitCode::from(4));
    }
}
