//! The one session of a command: the executor the cluster options ask for
//! (built once: credentials read, and a password asked for, once), every
//! marathon-lb given, the system clock, the stop flag and the display.

use crate::args::ClusterArgs;
use crate::display::Display;
use crate::failure::Failure;
use canary_core::plan::LbSource;
use canary_engine::{EngineEvent, NoLoadBalancers, Session};
use canary_system::SystemClock;
use lb_stats::LbStatsClient;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// How long one marathon-lb stats request may take.
pub const LB_TIMEOUT: Duration = Duration::from_secs(5);

/// The marathon-lb instances a command reads, and how long one request to
/// one may take.
#[derive(Debug, Clone, Copy)]
pub struct Lbs<'a> {
    /// `--marathon-lb`, every one.
    pub urls: &'a [String],
    /// One stats request's time limit.
    pub timeout: Duration,
}

impl<'a> Lbs<'a> {
    /// `urls`, each request bounded by [`LB_TIMEOUT`].
    pub fn new(urls: &'a [String]) -> Self {
        Lbs {
            urls,
            timeout: LB_TIMEOUT,
        }
    }

    /// `urls` for a phase whose drains may last `drain_timeout`: a
    /// marathon-lb that does not answer must not hold an observation
    /// longer than a drain may take (at least a second, at most
    /// [`LB_TIMEOUT`]).
    pub fn for_drains(urls: &'a [String], drain_timeout: Duration) -> Self {
        Lbs {
            urls,
            timeout: drain_timeout.clamp(Duration::from_secs(1), LB_TIMEOUT),
        }
    }
}

/// What the command does on SIGINT and SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnSignal {
    /// The default: the process ends (a command that does not wait on the
    /// cluster has nothing to finish).
    End,
    /// The request in flight finishes and the command stops saying how to
    /// resume (every command that waits: a phase, a pause, an analysis, a
    /// followed run, `--observe`); a second signal ends it at once.
    Stop,
}

/// The marathon-lb instances a command reads: `None` for one that reads
/// none.
pub fn load_balancers(lbs: Option<Lbs<'_>>) -> Result<Box<dyn LbSource>, Failure> {
    match lbs {
        None => Ok(Box::new(NoLoadBalancers)),
        Some(Lbs { urls, timeout }) => LbStatsClient::new(urls, timeout)
            .map(|client| Box::new(client) as Box<dyn LbSource>)
            .map_err(|e| Failure::invalid(format!("--marathon-lb: {e}"))),
    }
}

/// Opens the session, runs `work` on it, then closes `display`: the
/// session's events go to `display` meanwhile. The marathon-lb URLs are
/// checked before the executor is built, so a bad one is said before
/// anything is asked of the cluster.
pub fn with_session<T>(
    cluster: &ClusterArgs,
    marathon_lb: Option<Lbs<'_>>,
    on_signal: OnSignal,
    display: &mut Display,
    work: impl FnOnce(&mut Session<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let lbs = load_balancers(marathon_lb)?;
    let executor = crate::backend::executor(cluster)?;
    let stop = match on_signal {
        OnSignal::Stop => crate::signals::install(),
        OnSignal::End => Arc::new(AtomicBool::new(false)),
    };
    let result = {
        let mut session = Session::new(
            executor,
            lbs,
            Arc::new(SystemClock::new()),
            stop,
            Box::new(|event: &EngineEvent<'_>| display.event(event)),
        );
        work(&mut session)
    };
    let closed = display.close();
    let value = result?;
    closed?;
    Ok(value)
}
