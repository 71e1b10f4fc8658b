//! How the executor runs `dcos`.

use canary_core::clock::Clock;
use canary_core::retry::RetryPolicy;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The program run when none is configured: `dcos`, found on `PATH`.
pub const DEFAULT_PROGRAM: &str = "dcos";

/// How long one `dcos` run may take before it is killed. The CLI's own HTTP
/// timeout is 5 s per request and a run makes a few requests (two
/// capability checks first for every `dcos job` command).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `program` is: itself when it is a path (it has a directory part),
/// else the first file of that name in a `PATH` directory; `None` when
/// there is no such file.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// The executor's configuration: which `dcos`, how long a run may take,
/// how transient failures are retried, and the environment it sees.
///
/// The child inherits this process's environment, so the user's
/// `DCOS_DIR`, `DCOS_CLUSTER`, `DCOS_URL`, `DCOS_ACS_TOKEN`, `HOME` and
/// `PATH` apply as they do to a `dcos` typed in the same shell;
/// [`CliConfig::dcos_dir`], [`CliConfig::cluster`] and [`CliConfig::env`]
/// set or override variables for the child only.
#[derive(Clone)]
pub struct CliConfig {
    /// The `dcos` executable: a path, or a name looked up on `PATH`.
    pub program: PathBuf,
    /// The time limit of each run.
    pub timeout: Duration,
    /// `DCOS_DIR` for the child (the CLI's configuration directory), when
    /// set; else the inherited one (or the CLI's `~/.dcos`).
    pub dcos_dir: Option<PathBuf>,
    /// `DCOS_CLUSTER` for the child (a cluster name or id among those set
    /// up), when set; else the inherited one (or the attached cluster).
    pub cluster: Option<String>,
    /// More variables for the child, set last.
    pub env: Vec<(OsString, OsString)>,
    /// Whether the child inherits this process's environment (the
    /// default). Without it, the child sees only `PATH`, `HOME`, `LANG`
    /// and `LC_ALL` (this process's, when set) and the variables configured above:
    /// for tests and for running against exactly one configured cluster.
    pub inherit_env: bool,
    /// Where the private directory for job files is made; default: the
    /// system's temporary directory.
    pub temp_dir: Option<PathBuf>,
    /// How transient failures (the cluster unreachable, 502/503/504,
    /// Marathon's deployment lock, a `dcos` killed at its time limit) are
    /// retried: the HTTP executor's policy, [`RetryPolicy::default`] unless
    /// set.
    pub retry: RetryPolicy,
    /// What time it is and how to wait between attempts (the system's
    /// clock unless set; tests hand in one that records the waits, or a
    /// simulated cluster's).
    pub clock: Arc<dyn Clock>,
    /// Seed of the backoff jitter; `None` seeds it from the system's entropy.
    pub jitter_seed: Option<u64>,
    /// The DC/OS URL for the child (`DCOS_URL`), when set; else the
    /// attached cluster's. While the attached cluster has a stored token
    /// (and no `DCOS_ACS_TOKEN` replaces it), a URL other than its own is
    /// refused by [`crate::DcosCliExecutor::new`]: the CLI would send that
    /// token there.
    pub dcos_url: Option<String>,
    /// A stop request (set by a signal handler): once it is set, the `dcos`
    /// running is killed with its process group, its job file is removed,
    /// and every operation fails with [`canary_core::executor::ExecError::Interrupted`]
    /// instead of starting another.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl fmt::Debug for CliConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CliConfig")
            .field("program", &self.program)
            .field("timeout", &self.timeout)
            .field("dcos_dir", &self.dcos_dir)
            .field("cluster", &self.cluster)
            .field("env", &self.env)
            .field("inherit_env", &self.inherit_env)
            .field("temp_dir", &self.temp_dir)
            .field("retry", &self.retry)
            .field("jitter_seed", &self.jitter_seed)
            .field("dcos_url", &self.dcos_url)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl Default for CliConfig {
    fn default() -> Self {
        CliConfig::new(DEFAULT_PROGRAM)
    }
}

impl CliConfig {
    /// Runs `program` with the default time limit and retry policy and the
    /// inherited environment.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        CliConfig {
            program: program.into(),
            timeout: DEFAULT_TIMEOUT,
            dcos_dir: None,
            cluster: None,
            env: Vec::new(),
            inherit_env: true,
            temp_dir: None,
            retry: RetryPolicy::default(),
            clock: Arc::new(canary_system::SystemClock::new()),
            jitter_seed: None,
            dcos_url: None,
            cancel: None,
        }
    }

    /// Stopping when `flag` is set (see [`CliConfig::cancel`]).
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// With this time limit per run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With this retry policy (e.g. [`RetryPolicy::no_retries`]).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Measuring and waiting between attempts on `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// With a fixed jitter seed (reproducible waits).
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Against the cluster at `url` (`DCOS_URL` for the child).
    pub fn with_dcos_url(mut self, url: impl Into<String>) -> Self {
        self.dcos_url = Some(url.into());
        self
    }

    /// The value the child sees for `key`: set here (`env` last, as the
    /// child gets them), else inherited when the environment is.
    pub(crate) fn child_var(&self, key: &str) -> Option<OsString> {
        let set = match key {
            "DCOS_DIR" => self.dcos_dir.as_ref().map(|d| d.as_os_str().to_owned()),
            "DCOS_CLUSTER" => self.cluster.as_ref().map(OsString::from),
            "DCOS_URL" => self.dcos_url.as_ref().map(OsString::from),
            "HOME" | "PATH" | "LANG" | "LC_ALL" if !self.inherit_env => std::env::var_os(key),
            _ => None,
        };
        let from_env = self
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone());
        from_env
            .or(set)
            .or_else(|| self.inherit_env.then(|| std::env::var_os(key)).flatten())
    }

    /// With this `DCOS_DIR`.
    pub fn with_dcos_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dcos_dir = Some(dir.into());
        self
    }

    /// With this `DCOS_CLUSTER`.
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = Some(cluster.into());
        self
    }

    /// With one more environment variable for the child.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Without this process's environment (see [`CliConfig::inherit_env`]).
    pub fn isolated(mut self) -> Self {
        self.inherit_env = false;
        self
    }

    /// With job files made under `dir`.
    pub fn with_temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }
}
