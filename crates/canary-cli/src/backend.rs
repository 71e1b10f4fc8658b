//! Building the executor a command asks for.

use crate::failure::Failure;
use canary_core::executor::Executor;
use exec_http::{DcosCliConfig, Endpoints, HttpConfig, HttpExecutor};

/// The HTTP executor. The URL is `--dcos-url` (or `DCOS_URL`), else the
/// dcos CLI's attached cluster; the credentials come from the chain in
/// [`crate::credentials`].
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
    let endpoints =
        Endpoints::dcos(&url).map_err(|e| Failure::invalid(format!("DC/OS URL: {e}")))?;
    let credentials = crate::credentials::resolve(&url, config.as_ref())?;
    let executor = HttpExecutor::new(HttpConfig::new(endpoints).with_credentials(credentials))
        .map_err(|e| Failure::invalid(format!("DC/OS URL: {e}")))?;
    Ok(Box::new(executor))
}
