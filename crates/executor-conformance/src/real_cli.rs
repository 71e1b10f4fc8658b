//! The real `dcos` CLI for tests: finding it, and attaching it to a
//! cluster as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the real CLI is: `DCOS_CLI` (scripts/test sets it), else
/// `<workspace>/target/dcoscli-venv/bin/dcos` (where
/// `scripts/install-dcoscli.sh target/dcoscli-venv` puts it), else `dcos`
/// on `PATH`; `Err` says why there is none, for a skip notice.
///
/// # Panics
///
/// When `DCOS_CLI` is set but names no file: asked for explicitly, a wrong
/// path is a failure, not a skip.
pub fn find() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("DCOS_CLI") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "DCOS_CLI={} is not a file", path.display());
        return Ok(path);
    }
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dcoscli-venv/bin/dcos");
    if default.is_file() {
        return Ok(default);
    }
    exec_dcos_cli::find_program(Path::new("dcos")).ok_or_else(|| {
        "the real dcos CLI is not installed: DCOS_CLI is unset, target/dcoscli-venv has none \
             and no dcos is on PATH (run scripts/install-dcoscli.sh target/dcoscli-venv)"
            .to_owned()
    })
}

/// `dcos cluster setup URL --username USER --password-env VAR` with `HOME`
/// at `home` and `DCOS_DIR` at `home/dcos`, an environment of only `PATH`
/// besides, and no standard input; returns that `DCOS_DIR`.
///
/// # Panics
///
/// When the setup fails (with the CLI's stderr).
pub fn setup_cluster(cli: &Path, url: &str, home: &Path, user: &str, password: &str) -> PathBuf {
    let dcos_dir = home.join("dcos");
    let setup = Command::new(cli)
        .args(["cluster", "setup", url, "--username", user])
        .args(["--password-env", "CONFORMANCE_PASSWORD"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DCOS_DIR", &dcos_dir)
        .env("CONFORMANCE_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("dcos cluster setup runs");
    assert!(
        setup.status.success(),
        "dcos cluster setup {url}: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    dcos_dir
}
