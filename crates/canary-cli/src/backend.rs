//! Building the executor a command asks for.

use crate::args::{Backend, ClusterArgs, TlsArgs};
use crate::credentials::TOKEN_ENV;
use crate::failure::Failure;
use canary_core::executor::Executor;
use canary_core::retry::RetryPolicy;
use dcos_cli_config::{DcosCliConfig, DcosConfigError};
use exec_dcos_cli::{CliConfig, DcosCliExecutor, SetupError};
use exec_http::{CaBundle, CaCertError, Endpoints, HttpConfig, HttpExecutor, Tls};

/// The dcos CLI's configuration, if any: exit 4 when a file of it cannot
/// be read, 3 when it is refused (too large, not TOML, no cluster chosen).
fn dcos_config() -> Result<Option<DcosCliConfig>, Failure> {
    DcosCliConfig::from_env().map_err(|e| dcos_config_failure(&e))
}

fn dcos_config_failure(e: &DcosConfigError) -> Failure {
    match e {
        DcosConfigError::Read { source, .. } if source.is_io() => Failure::io(e.to_string()),
        _ => Failure::invalid(e.to_string()),
    }
}

/// Where the DC/OS URL came from, as errors name it: the flag, the
/// variable, or the dcos CLI's setting and its file.
fn config_url_origin(config: &DcosCliConfig) -> String {
    format!("core.dcos_url in {}", config.path.display())
}

/// The DC/OS URL's endpoints, or an error naming `origin` (never quoting a
/// URL that carries credentials).
fn endpoints(url: &str, origin: &str) -> Result<Endpoints, Failure> {
    Endpoints::dcos(url).map_err(|e| Failure::invalid(format!("{origin}: {e}")))
}

/// The HTTP executor. The URL is `--dcos-url` (or `DCOS_URL`), else the
/// dcos CLI's attached cluster; the credentials come from the chain in
/// [`crate::credentials`]; certificates are verified as [`tls`] says;
/// transient failures are retried for `--retry-for`.
pub fn http(cluster: &ClusterArgs) -> Result<Box<dyn Executor>, Failure> {
    let config = dcos_config()?;
    let (url, origin) = match (cluster.dcos_url.as_deref(), config.as_ref()) {
        (Some(url), _) => (url.to_owned(), cluster.dcos_url_origin().to_owned()),
        (None, Some(c)) if c.dcos_url.is_some() => {
            (c.dcos_url.clone().unwrap_or_default(), config_url_origin(c))
        }
        (None, _) => {
            return Err(Failure::invalid(
                "no DC/OS URL: pass --dcos-url URL, set DCOS_URL, or run `dcos cluster setup URL` first",
            ));
        }
    };
    let endpoints = endpoints(&url, &origin)?;
    let credentials = crate::credentials::resolve(&url, config.as_ref())?;
    let own_config = config.as_ref().filter(|c| c.is_for(&url));
    let tls = tls(&cluster.tls, own_config, endpoints.uses_https())?;
    let executor = HttpExecutor::new(
        HttpConfig::new(endpoints)
            .with_credentials(credentials)
            .with_tls(tls)
            .with_retry(RetryPolicy::for_at_most(cluster.retry_for)),
    )
    .map_err(|e| Failure::invalid(format!("{origin}: {e}")))?;
    Ok(Box::new(executor))
}

/// The executor the cluster options ask for: [`http`], or [`dcos_cli`].
pub fn executor(cluster: &ClusterArgs) -> Result<Box<dyn Executor>, Failure> {
    match cluster.backend {
        Backend::Http => http(cluster),
        Backend::DcosCli => dcos_cli(cluster),
    }
}

/// The dcos CLI executor: `--dcos-bin` (a path, or a name on `PATH`) run
/// with this process's environment, so its attached cluster (`DCOS_DIR`,
/// `DCOS_CLUSTER`) and login apply; a URL given (`--dcos-url` or
/// `DCOS_URL`) reaches it as `DCOS_URL`, as it would from the shell.
/// The dcos CLI verifies TLS by its own configuration (`core.ssl_verify`),
/// so `--ca-cert` and `--insecure` are refused rather than silently ignored.
/// A URL other than the attached cluster's, while that cluster has a stored
/// token, is refused by the backend itself: the CLI would send that token
/// to the other URL.
pub fn dcos_cli(cluster: &ClusterArgs) -> Result<Box<dyn Executor>, Failure> {
    let (dcos_url, dcos_bin, tls) = (
        cluster.dcos_url.as_deref(),
        cluster.dcos_bin.as_path(),
        &cluster.tls,
    );
    // The same URL rule as the http backend's, before anything names it;
    // without --dcos-url the CLI uses its own core.dcos_url: checked too.
    let config = dcos_config()?;
    if let Some(url) = dcos_url {
        endpoints(url, cluster.dcos_url_origin())?;
    } else if let Some(c) = &config
        && let Some(url) = &c.dcos_url
    {
        endpoints(url, &config_url_origin(c))?;
    }
    // The CLI reads DCOS_ACS_TOKEN too: the same rule as for http.
    if let Ok(token) = std::env::var(TOKEN_ENV)
        && !token.trim().is_empty()
        && let Err(e) = exec_http::check_token(token.trim())
    {
        return Err(Failure::invalid(format!(
            "{TOKEN_ENV} {e}; set it to the token alone"
        )));
    }
    if tls.insecure || tls.ca_cert.is_some() {
        return Err(Failure::invalid(
            "--ca-cert and --insecure (and CANARY_CA_CERT) apply to --backend http only; the dcos CLI verifies TLS by its own core.ssl_verify (`dcos config set core.ssl_verify PATH`)",
        ));
    }
    let Some(program) = exec_dcos_cli::find_program(dcos_bin) else {
        return Err(Failure::invalid(format!(
            "--dcos-bin: '{}' not found; install the DC/OS CLI or pass --dcos-bin PATH",
            dcos_bin.display()
        )));
    };
    // SIGINT and SIGTERM end the `dcos` running (its process group, so a
    // `job add` the user stopped cannot finish later) and remove its job
    // file, instead of leaving both behind.
    let mut config = CliConfig::new(program)
        .with_retry(RetryPolicy::for_at_most(cluster.retry_for))
        .with_cancel(crate::signals::install());
    if let Some(url) = dcos_url {
        config = config.with_dcos_url(url);
    }
    let executor = DcosCliExecutor::new(config).map_err(|e| match &e {
        SetupError::TokenForAnotherCluster { url, .. } => Failure::invalid(format!(
            "--dcos-url (or DCOS_URL) {e}; attach the right cluster (`dcos cluster attach`, `dcos cluster setup {url}`) instead"
        )),
        SetupError::Config(e) => dcos_config_failure(e),
    })?;
    Ok(Box::new(executor))
}

/// A CA bundle that could not be loaded: exit 4 when the file could not be
/// read, 3 when it holds no usable certificate; `from` names the flag or
/// setting that pointed at it.
fn ca_failure(from: &str, error: &CaCertError) -> Failure {
    let message = format!("{from}: {error}");
    if error.is_io() {
        Failure::io(message)
    } else {
        Failure::invalid(message)
    }
}

/// Prints the one warning that verification is off, and why.
fn warn_insecure(why: &str) {
    eprintln!(
        "warning: TLS certificate verification is disabled ({why}); anyone on the network path \
         can read and change the traffic, the DC/OS token included"
    );
}

/// How the cluster's certificate is verified: `--insecure`, else
/// `--ca-cert FILE` (or `CANARY_CA_CERT`), else the dcos CLI's
/// `core.ssl_verify` when the URL is that configuration's own (`own_config`),
/// else the built-in roots. Turning verification off prints a warning; from
/// the dcos configuration only for an https URL, since `dcos cluster setup`
/// writes `ssl_verify = "false"` for every http cluster.
fn tls(args: &TlsArgs, own_config: Option<&DcosCliConfig>, https: bool) -> Result<Tls, Failure> {
    if args.insecure {
        warn_insecure("--insecure");
        return Ok(Tls::Insecure);
    }
    if let Some(path) = &args.ca_cert {
        let bundle =
            CaBundle::from_file(path).map_err(|e| ca_failure(args.ca_cert_origin(), &e))?;
        return Ok(Tls::CaCert(bundle));
    }
    let Some(config) = own_config else {
        return Ok(Tls::Verify);
    };
    let setting = format!("core.ssl_verify in {}", config.path.display());
    let Some(ssl_verify) = config.ssl_verify() else {
        return Ok(Tls::Verify);
    };
    match Tls::from_ssl_verify(&ssl_verify).map_err(|e| ca_failure(&setting, &e))? {
        Tls::Insecure if https => {
            warn_insecure(&format!("{setting} is \"false\""));
            Ok(Tls::Insecure)
        }
        tls => Ok(tls),
    }
}
