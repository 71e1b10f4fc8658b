//! Building the executor a command asks for.

use crate::failure::Failure;
use canary_core::executor::Executor;
use exec_http::{Credentials, Endpoints, HttpConfig, HttpExecutor};

/// The environment variable that carries a DC/OS token (never a flag, so it
/// stays out of argv and shell history).
pub const TOKEN_ENV: &str = "DCOS_ACS_TOKEN";

/// The HTTP executor for a DC/OS URL, with the token from `DCOS_ACS_TOKEN`
/// when it is set.
pub fn http(dcos_url: &str) -> Result<Box<dyn Executor>, Failure> {
    let endpoints =
        Endpoints::dcos(dcos_url).map_err(|e| Failure::invalid(format!("--dcos-url: {e}")))?;
    let credentials = match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => Credentials::Token(token.trim().to_owned()),
        _ => Credentials::None,
    };
    let config = HttpConfig::new(endpoints).with_credentials(credentials);
    let executor =
        HttpExecutor::new(config).map_err(|e| Failure::invalid(format!("--dcos-url: {e}")))?;
    Ok(Box::new(executor))
}
