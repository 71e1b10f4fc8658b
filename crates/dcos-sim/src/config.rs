//! How a simulated cluster is set up.

use crate::lb::{MarathonLbProgram, SessionDrain};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What a Metronome run does when no run hook decides it
/// ([`crate::metronome`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JobExecution {
    /// A run only walks through its statuses on the cluster clock and
    /// succeeds after [`SimConfig::job_run_duration`]; nothing is executed.
    #[default]
    Simulated,
    /// A run executes its job's `run.cmd` with `/bin/sh -c` in a fresh
    /// sandbox directory, as a Mesos command task would (see
    /// [`crate::exec`]): its status follows the process.
    Execute {
        /// A directory put first on the runs' `PATH`: it stands for what
        /// the job's container image would put there (the image itself is
        /// never run). An existing directory whose path holds no `:`.
        runner_path: Option<PathBuf>,
        /// How long a run may go on when its job sets no
        /// `run.restart.activeDeadlineSeconds`; past it the run's process
        /// group is killed and the run fails.
        default_time_limit: Duration,
    },
}

impl JobExecution {
    /// Execution with no runner directory and a one-hour default limit.
    pub fn execute() -> Self {
        JobExecution::Execute {
            runner_path: None,
            default_time_limit: DEFAULT_JOB_TIME_LIMIT,
        }
    }
}

/// The time limit of an executing run whose job sets none: one hour.
pub const DEFAULT_JOB_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// A user account of the simulated IAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccount {
    /// The uid.
    pub uid: String,
    /// The password.
    pub password: String,
}

/// A service account of the simulated IAM: logs in with an RS256 JWT signed
/// by the private key that matches `public_key_pem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// The service account id.
    pub uid: String,
    /// Its public key, PEM (SPKI `BEGIN PUBLIC KEY`).
    pub public_key_pem: String,
}

/// Everything that shapes a simulated cluster. `Default` is an open cluster
/// with one marathon-lb, a real-time clock and no faults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice (ids, fault rates): same seed, same ids.
    pub seed: u64,
    /// Simulated seconds per real second; 0 makes the clock manual.
    pub time_scale: f64,
    /// Start of the cluster clock in epoch milliseconds; `None` is now.
    pub start_time_ms: Option<u64>,
    /// Whether every request needs a token (Admin Router's 401 otherwise).
    pub auth: bool,
    /// Accounts that can log in with uid and password.
    pub users: Vec<UserAccount>,
    /// Accounts that can log in with a service login token.
    pub service_accounts: Vec<ServiceAccount>,
    /// How many marathon-lb instances to simulate, each with a stats
    /// listener on 127.0.0.1 and a port the OS picks. Ignored when
    /// [`SimConfig::lb_binds`] is not empty (leave it at 1 or set it to the
    /// same number; another number is refused at start).
    pub marathon_lb_count: usize,
    /// The stats listener of each marathon-lb instance, one per entry, on
    /// loopback addresses only (`127.x.y.z`): several instances on distinct
    /// addresses with the same port stand for one DNS name with several A
    /// records, as on a cluster. Port 0 lets the OS pick; instances on
    /// distinct addresses that all ask for 0 share the port picked for the
    /// first. Empty: [`SimConfig::marathon_lb_count`] instances on 127.0.0.1.
    pub lb_binds: Vec<SocketAddr>,
    /// Cluster time from a change in Marathon to each marathon-lb instance
    /// adopting the then-current backends (its event stream and config
    /// rewrite); until then its stats show the old state. Settable per
    /// instance later ([`crate::SimHandle::set_lb_update_delay`]).
    pub lb_update_delay: Duration,
    /// After each adopted change, how long an instance reports a reload in
    /// progress (three pids from `/_haproxy_getpids`); zero: never.
    pub lb_reload_window: Duration,
    /// Sessions that every server put into `MAINT` keeps for a while after
    /// being disabled; `None`: drained servers have no sessions.
    pub session_drain: Option<SessionDrain>,
    /// Whether the control endpoints under `/__sim/` are served.
    pub control: bool,
    /// Simulated time from a task's launch to `TASK_RUNNING`.
    pub task_start_delay: Duration,
    /// Simulated time from `TASK_RUNNING` to its first passing health check.
    pub health_delay: Duration,
    /// Simulated time a job run takes by default.
    pub job_run_duration: Duration,
    /// The name `/mesos/state-summary` gives the cluster.
    pub cluster_name: String,
    /// Whether the DC/OS port speaks HTTPS, with a certificate signed by a
    /// CA made at start ([`crate::SimHandle::ca_cert_pem`]). The marathon-lb
    /// stats ports stay plain HTTP.
    pub tls: bool,
    /// A real `haproxy` binary (Debian's package, 2.x): each marathon-lb
    /// instance then runs one, configured and reloaded as marathon-lb does
    /// ([`crate::lb`]). `None`: the sim's emulated frontend carries the
    /// traffic and the stats are the sim's own.
    pub haproxy: Option<PathBuf>,
    /// Whether job runs are simulated (the default) or execute their
    /// `run.cmd` for real.
    pub jobs: JobExecution,
    /// The real marathon-lb: each instance is the upstream `marathon_lb.py`
    /// run as its container runs it, in a PID namespace of its own, with a
    /// real HAProxy ([`SimConfig::haproxy`], else `haproxy` from `PATH`)
    /// that it configures and reloads ([`crate::lb`]). Needs root (the
    /// namespace) and the Marathon of a sim without auth. `None`: the
    /// sim's own marathon-lb model.
    pub marathon_lb: Option<MarathonLbProgram>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            time_scale: 1.0,
            start_time_ms: None,
            auth: false,
            users: vec![UserAccount {
                uid: "bootstrapuser".into(),
                password: "deleteme".into(),
            }],
            service_accounts: Vec::new(),
            marathon_lb_count: 1,
            lb_binds: Vec::new(),
            lb_update_delay: Duration::ZERO,
            lb_reload_window: Duration::ZERO,
            session_drain: None,
            control: false,
            task_start_delay: Duration::from_secs(2),
            health_delay: Duration::from_secs(5),
            job_run_duration: Duration::from_secs(10),
            cluster_name: "dcos-sim".into(),
            tls: false,
            haproxy: None,
            jobs: JobExecution::Simulated,
            marathon_lb: None,
        }
    }
}

impl SimConfig {
    /// How many marathon-lb instances there are.
    pub(crate) fn lb_count(&self) -> usize {
        if self.lb_binds.is_empty() {
            self.marathon_lb_count
        } else {
            self.lb_binds.len()
        }
    }
}
