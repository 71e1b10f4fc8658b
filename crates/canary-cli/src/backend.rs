//! Building the executor a command asks for.

use crate::failure::Failure;
use canary_core::executor::Executor;
use exec_http::{Credentials, DcosCliConfig, Endpoints, HttpConfig, HttpExecutor};

/// The environment variable that carries a DC/OS token (never a flag, so it
/// stays out of argv and shell history).
pub const TOKEN_ENV: &str = "DCOS_ACS_TOKEN";

/// The HTTP executor. The URL is `--dcos-url` (or `DCOS_URL`), else the
/// dcos CLI's attached cluster; the token is `DCOS_ACS_TOKEN`, else the dcos
/// CLI's stored token, which is only ever sent to the URL it was stored for.
pub fn http(dcos_url: Option<&str>) -> Result<Box<dyn Executor>, Failure> {
    let config = DcosCliConfig::from_env().map_err(|e| Failure::invalid(e.to_string()))?;
    let url = match (
        dcos_url,
        config.as_ref().and_then(|c| c.dcos_url.as_deref()),
    ) {
        (Some(url), _) | (None, Some(url)) => url.to_owned(),
        (None, None) => {
            return Err(Failure::invalid(
                "no DC/OS URL: pass --dcos-url URL, set DCOS_URL, or run `dcos cluster setup URL` first",
            ));
        }
    };
    let same_cluster = |c: &DcosCliConfig| {
        c.dcos_url.as_deref().map(|u| u.trim_end_matches('/')) == Some(url.trim_end_matches('/'))
    };
    let token = match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => Some(token.trim().to_owned()),
        _ => config
            .as_ref()
            .filter(|c| same_cluster(c))
            .and_then(|c| c.token().map(str::to_owned)),
    };
    let endpoints =
        Endpoints::dcos(&url).map_err(|e| Failure::invalid(format!("DC/OS URL: {e}")))?;
    let credentials = token.map_or(Credentials::None, Credentials::Token);
    let executor = HttpExecutor::new(HttpConfig::new(endpoints).with_credentials(credentials))
        .map_err(|e| Failure::invalid(format!("DC/OS URL: {e}")))?;
    Ok(Box::new(executor))
}
