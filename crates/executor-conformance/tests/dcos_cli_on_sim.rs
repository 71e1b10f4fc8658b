//! The conformance suite against exec-dcos-cli driving the real `dcos` CLI
//! (dcoscli 0.6.1) on dcos-sim, set up as a user would:
//! `dcos cluster setup URL --username U --password-env VAR` into a private
//! `DCOS_DIR`.
//!
//! The CLI is `DCOS_CLI` (scripts/test sets it), else
//! `<workspace>/target/dcoscli-venv/bin/dcos`, else `dcos` on `PATH`;
//! without any, every case prints why it is skipped.

mod common;

use canary_core::executor::Executor;
use common::{Cluster, PASSWORD, USER, closed_url};
use exec_dcos_cli::{CliConfig, DcosCliExecutor};
use executor_conformance::{Harness, NotApplicable};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// Where the real CLI is, or why there is none.
fn find_cli() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("DCOS_CLI") {
        let path = PathBuf::from(path);
        // Asked for explicitly: a wrong path is a failure, not a skip.
        assert!(path.is_file(), "DCOS_CLI={} is not a file", path.display());
        return Ok(path);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let default = manifest.join("../../target/dcoscli-venv/bin/dcos");
    if default.is_file() {
        return Ok(default);
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("dcos"))
        .find(|p| p.is_file());
    on_path.ok_or_else(|| {
        "the real dcos CLI is not installed: DCOS_CLI is unset, target/dcoscli-venv has none \
         and no dcos is on PATH (run scripts/install-dcoscli.sh target/dcoscli-venv)"
            .to_owned()
    })
}

struct CliHarness {
    cluster: Cluster,
    cli: PathBuf,
    home: TempDir,
    executor: DcosCliExecutor,
}

/// An executor that sees only its own `DCOS_DIR` (and the basics).
fn config(cli: &Path, dcos_dir: &Path) -> CliConfig {
    CliConfig::new(cli).isolated().with_dcos_dir(dcos_dir)
}

impl Harness for CliHarness {
    fn name(&self) -> String {
        format!("exec-dcos-cli ({}) on dcos-sim", self.cli.display())
    }

    fn executor(&mut self) -> &mut dyn Executor {
        &mut self.executor
    }

    fn finish_runs(&mut self, _job_id: &str) {
        self.cluster.finish_runs();
    }

    fn add_app(&mut self, app: &Value) {
        self.cluster.add_app(app);
    }

    fn validates_specs(&self) -> Result<(), NotApplicable> {
        Ok(())
    }

    /// The CLI configured by environment only, without a token.
    fn unauthenticated(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        let dir = self.home.path().join("no-token");
        Ok(Box::new(DcosCliExecutor::new(
            config(&self.cli, &dir).with_env("DCOS_URL", self.cluster.sim.dcos_url()),
        )))
    }

    fn unreachable(&mut self) -> Result<Box<dyn Executor>, NotApplicable> {
        let dir = self.home.path().join("unreachable");
        Ok(Box::new(DcosCliExecutor::new(
            config(&self.cli, &dir).with_env("DCOS_URL", closed_url()),
        )))
    }
}

fn dcos_cli() -> Result<Box<dyn Harness>, String> {
    let cli = find_cli()?;
    let cluster = Cluster::start();
    let home = tempfile::Builder::new()
        .prefix("conformance-dcos")
        .tempdir()
        .expect("a temporary directory");
    let dcos_dir = home.path().join("dcos");
    let setup = Command::new(&cli)
        .args([
            "cluster",
            "setup",
            cluster.sim.dcos_url(),
            "--username",
            USER,
        ])
        .args(["--password-env", "CONFORMANCE_PASSWORD"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("DCOS_DIR", &dcos_dir)
        .env("CONFORMANCE_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("dcos cluster setup runs");
    assert!(
        setup.status.success(),
        "dcos cluster setup: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let executor = DcosCliExecutor::new(config(&cli, &dcos_dir));
    Ok(Box::new(CliHarness {
        cluster,
        cli,
        home,
        executor,
    }))
}

executor_conformance::conformance_suite!(dcos_cli);
