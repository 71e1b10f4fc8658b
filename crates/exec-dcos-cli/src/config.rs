//! How the executor runs `dcos`.

use canary_core::retry::{RetryPolicy, Sleeper};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

/// Sleeps the current thread: how the executor waits between attempts
/// unless told otherwise ([`CliConfig::with_sleeper`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
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
    /// How the executor waits between attempts ([`ThreadSleeper`] unless
    /// set; tests record the waits instead).
    pub sleeper: Arc<dyn Sleeper>,
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
            sleeper: Arc::new(ThreadSleeper),
        }
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

    /// Waiting between attempts through `sleeper`.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
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
