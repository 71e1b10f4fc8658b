//! Building the executor a command asks for.

use crate::cli::Backend;
use crate::failure::Failure;
use canary_core::executor::Executor;
use exec_dcos_cli::{CliConfig, DcosCliExecutor};
use exec_http::{Credentials, DcosCliConfig, Endpoints, HttpConfig, HttpExecutor};
use std::path::Path;

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

/// The executor for `backend`: [`http`], or [`dcos_cli`] with `dcos_bin`.
pub fn executor(
    backend: Backend,
    dcos_url: Option<&str>,
    dcos_bin: &Path,
) -> Result<Box<dyn Executor>, Failure> {
    match backend {
        Backend::Http => http(dcos_url),
        Backend::DcosCli => dcos_cli(dcos_url, dcos_bin),
    }
}

/// The dcos CLI executor: `dcos_bin` (a path, or a name on `PATH`) run with
/// this process's environment, so its attached cluster (`DCOS_DIR`,
/// `DCOS_CLUSTER`) and login apply; a URL given (`--dcos-url` or
/// `DCOS_URL`) reaches it as `DCOS_URL`, as it would from the shell.
pub fn dcos_cli(dcos_url: Option<&str>, dcos_bin: &Path) -> Result<Box<dyn Executor>, Failure> {
    let found = if dcos_bin.components().count() > 1 {
        dcos_bin.is_file().then(|| dcos_bin.to_owned())
    } else {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(dcos_bin))
            .find(|path| path.is_file())
    };
    let Some(program) = found else {
        return Err(Failure::invalid(format!(
            "--dcos-bin: '{}' not found; install the DC/OS CLI or pass --dcos-bin PATH",
            dcos_bin.display()
        )));
    };
    let mut config = CliConfig::new(program);
    if let Some(url) = dcos_url {
        config = config.with_env("DCOS_URL", url);
    }
    Ok(Box::new(DcosCliExecutor::new(config)))
}
