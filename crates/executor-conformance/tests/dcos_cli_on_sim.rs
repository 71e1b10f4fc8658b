//! The conformance suite against exec-dcos-cli driving the real `dcos` CLI
//! (dcoscli 0.6.1) on dcos-sim, set up as a user would:
//! `dcos cluster setup URL --username U --password-env VAR` into a private
//! `DCOS_DIR`. Without the CLI (see [`executor_conformance::real_cli::find`];
//! decided when the tests are built), every case is ignored with the reason,
//! except under `CI=true`, where they fail.

mod common;

use canary_core::clock::ManualClock;
use canary_core::executor::Executor;
use common::{Cluster, PASSWORD, SimHarness, USER};
use exec_dcos_cli::{CliConfig, DcosCliExecutor};
use executor_conformance::{Harness, real_cli, recorded_waits, tiny_retries};
use std::path::Path;
use std::sync::Arc;

/// The CLI with only `dcos_dir` (and the basics of the environment), and
/// `DCOS_URL` when given; the conformance retry policy, waiting through
/// `waits`.
fn executor_for(
    cli: &Path,
    dcos_dir: &Path,
    url: Option<&str>,
    waits: Arc<ManualClock>,
) -> Box<dyn Executor> {
    let mut config = CliConfig::new(cli)
        .isolated()
        .with_dcos_dir(dcos_dir)
        .with_retry(tiny_retries())
        .with_clock(waits);
    if let Some(url) = url {
        config = config.with_dcos_url(url);
    }
    Box::new(DcosCliExecutor::new(config).expect("an executor"))
}

fn dcos_cli() -> Result<Box<dyn Harness>, String> {
    let cli = real_cli::find()?;
    let cluster = Cluster::start();
    let home = tempfile::Builder::new()
        .prefix("conformance-dcos")
        .tempdir()
        .expect("a temporary directory");
    let dcos_dir =
        real_cli::setup_cluster(&cli, cluster.sim.dcos_url(), home.path(), USER, PASSWORD);
    // Configured by environment only: no token.
    let (cli_a, no_token) = (cli.clone(), home.path().join("no-token"));
    let (cli_b, elsewhere) = (cli.clone(), home.path().join("unreachable"));
    let waits = recorded_waits();
    Ok(Box::new(SimHarness {
        name: format!("exec-dcos-cli ({}) on dcos-sim", cli.display()),
        executor: executor_for(&cli, &dcos_dir, None, waits.clone()),
        cluster,
        unauthenticated: Box::new(move |c| {
            executor_for(&cli_a, &no_token, Some(c.sim.dcos_url()), recorded_waits())
        }),
        unreachable: Box::new(move |url| {
            executor_for(&cli_b, &elsewhere, Some(url), recorded_waits())
        }),
        keep: Some(home),
        waits,
    }))
}

executor_conformance::conformance_suite!(dcos_cli;
    attributes: [#[cfg_attr(
        not(canary_dcos_cli),
        ignore = "needs the real dcos CLI (scripts/install-dcoscli.sh target/dcoscli-venv, or DCOS_CLI)"
    )]];
    every_case_applicable;
);
