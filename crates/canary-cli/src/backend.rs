//! Building the executor a command asks for.

use crate::cli::{Backend, ClusterArgs, TlsArgs};
use crate::failure::Failure;
use canary_core::executor::Executor;
use canary_core::retry::RetryPolicy;
use dcos_cli_config::DcosCliConfig;
use exec_dcos_cli::{CliConfig, DcosCliExecutor, SetupError};
use exec_http::{CaBundle, CaCertError, Endpoints, HttpConfig, HttpExecutor, Tls};
use std::path::Path;

/// The HTTP executor. The URL is `--dcos-url` (or `DCOS_URL`), else the
/// dcos CLI's attached cluster; the credentials come from the chain in
/// [`crate::credentials`]; certificates are verified as [`tls`] says.
pub fn http(
    dcos_url: Option<&str>,
    tls_args: &TlsArgs,
    retry: RetryPolicy,
) -> Result<Box<dyn Executor>, Failure> {
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
    let own_config = config.as_ref().filter(|c| c.is_for(&url));
    let tls = tls(tls_args, own_config, endpoints.uses_https())?;
    let executor = HttpExecutor::new(
        HttpConfig::new(endpoints)
            .with_credentials(credentials)
            .with_tls(tls)
            .with_retry(retry),
    )
    .map_err(|e| Failure::invalid(format!("DC/OS URL: {e}")))?;
    Ok(Box::new(executor))
}

/// The executor the cluster options ask for: [`http`], or [`dcos_cli`].
pub fn executor(cluster: &ClusterArgs) -> Result<Box<dyn Executor>, Failure> {
    let dcos_url = cluster.dcos_url.as_deref();
    let retry = RetryPolicy::for_at_most(cluster.retry_for);
    match cluster.backend {
        Backend::Http => http(dcos_url, &cluster.tls, retry),
        Backend::DcosCli => dcos_cli(dcos_url, &cluster.dcos_bin, &cluster.tls, retry),
    }
}

/// The dcos CLI executor: `dcos_bin` (a path, or a name on `PATH`) run with
/// this process's environment, so its attached cluster (`DCOS_DIR`,
/// `DCOS_CLUSTER`) and login apply; a URL given (`--dcos-url` or
/// `DCOS_URL`) reaches it as `DCOS_URL`, as it would from the shell.
/// The dcos CLI verifies TLS by its own configuration (`core.ssl_verify`),
/// so `--ca-cert` and `--insecure` are refused rather than silently ignored.
/// A URL other than the attached cluster's, while that cluster has a stored
/// token, is refused too: the CLI would send that token to the other URL.
pub fn dcos_cli(
    dcos_url: Option<&str>,
    dcos_bin: &Path,
    tls: &TlsArgs,
    retry: RetryPolicy,
) -> Result<Box<dyn Executor>, Failure> {
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
    let mut config = CliConfig::new(program).with_retry(retry);
    if let Some(url) = dcos_url {
        config = config.with_dcos_url(url);
    }
    let executor = DcosCliExecutor::new(config).map_err(|e| match &e {
        SetupError::TokenForAnotherCluster { url, .. } => Failure::invalid(format!(
            "--dcos-url (or DCOS_URL) {e}; attach the right cluster (`dcos cluster attach`, `dcos cluster setup {url}`) instead"
        )),
        SetupError::Config(e) => Failure::invalid(e.to_string()),
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
        let bundle = CaBundle::from_file(path).map_err(|e| ca_failure("--ca-cert", &e))?;
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
