//! `canary demo`: the original tool's story, on one machine, with nothing
//! pretended.
//!
//! # The model
//!
//! [`run`] starts a [`dcos_sim`] cluster in-process (time sped up, auth on,
//! a service account made for the demo, two marathon-lb instances on
//! loopback addresses, each a real HAProxy when one is installed, else the
//! sim's own frontend) whose Metronome runs really execute their job's
//! `cmd`, with the running `canary` binary first on `PATH` (standing for the
//! runner image). Then it plays the story the way a user would on a real
//! cluster, each step a `canary` command run as a child process and printed
//! as typed: the first deploy of `testapp` (nginx, 4 instances); `render`
//! and `apply` of the three native jobs for httpd; the deploy job run (1 of
//! 4 instances, about 1 in 4 responses "It works!" through the frontend);
//! the rollout job (4 of 4); then a broken canary whose deploy job fails
//! with the reason and whose rollback job restores the app; then the
//! traffic ladder with automated analysis while the load client sends
//! requests through both frontends: a canary failing a fifth of its
//! requests is judged from marathon-lb's counters and rolled back, a good
//! one climbs the ladder and is rolled out.
//!
//! Each step checks the cluster's state afterwards (the group's apps, their
//! counts, images and health; the responses through the frontend, or the
//! traffic's answers during the step), not the
//! printed text, and the [`Report`] keeps what was seen. The first step that
//! does not do what it should ends the demo with a [`DemoError::Step`]
//! naming it.

mod cluster;
mod report;
mod story;

#[cfg(test)]
mod lost_tests;

pub use report::{AppState, Check, Report, StepReport, StepTraffic};

use std::io::Write;
use std::path::PathBuf;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The `canary` binary the steps run (and the jobs find on `PATH`).
    pub canary: PathBuf,
    /// A real `haproxy` for the marathon-lb instances; `None`: the sim's
    /// own frontend.
    pub haproxy: Option<PathBuf>,
    /// Cluster time per real second (10: a task is healthy 0.7 s after it
    /// is asked for).
    pub speed: f64,
    /// Set to stop the demo (a signal): the step's child `canary` is
    /// stopped, the cluster and the demo's files are removed, and [`run`]
    /// returns [`DemoError::Interrupted`].
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Why the demo did not finish.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The simulated cluster could not be set up.
    #[error("setting up the demo cluster: {0}")]
    Setup(String),
    /// Asked to stop (a signal): the step's child was stopped and the
    /// cluster is gone.
    #[error("stopped during step {number} ({title}); the demo's cluster and files are removed")]
    Interrupted {
        /// The step.
        number: usize,
        /// Its title.
        title: String,
    },
    /// A step did not do what it should.
    #[error("step {number} ({title}) did not do what it should: {reason}")]
    Step {
        /// Its number in the story, from 1.
        number: usize,
        /// Its title.
        title: String,
        /// What was wrong.
        reason: String,
        /// Every step so far, this one last.
        report: Box<Report>,
    },
}

/// The `haproxy` to use: `$HAPROXY`, else one on `PATH`, else Debian's
/// `/usr/sbin/haproxy`; `None` when there is none.
pub fn find_haproxy() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HAPROXY").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|p| p.is_file())
}

/// Plays the story, printing it to `out`; the report of every step on
/// success.
pub fn run(config: &DemoConfig, out: &mut dyn Write) -> Result<Report, DemoError> {
    let cluster = cluster::DemoCluster::start(config).map_err(DemoError::Setup)?;
    story::play(&cluster, out)
}
