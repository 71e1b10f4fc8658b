//! How one marathon-lb instance carries traffic: not at all (a cluster
//! built without a runtime), through the emulated frontend
//! ([`super::frontend`]), through a real HAProxy the sim configures
//! ([`super::haproxy`]), or as the real marathon-lb ([`super::mlb`]).

use super::frontend::Emulated;
use super::haproxy::{Haproxy, HaproxyStatus};
use super::mlb::{MarathonLbStatus, RealMarathonLb};
use super::rules::Backend;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How one marathon-lb instance carries traffic, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyStatus {
    /// `emulated` (the sim's frontend), `haproxy` (a real one the sim
    /// configures), `marathon-lb` (the real marathon-lb and its HAProxy)
    /// or `off`.
    pub mode: &'static str,
    /// Emulated frontends whose service port could not be bound on the
    /// instance's address (e.g. taken by another process), with why.
    pub bind_errors: BTreeMap<u16, String>,
    /// A real HAProxy's reloads and refused configs.
    pub haproxy: Option<HaproxyStatus>,
    /// A real HAProxy's master and worker pids (with the real marathon-lb,
    /// as its PID namespace numbers them).
    pub pids: Vec<u32>,
    /// The real marathon-lb's directory and the tails of its logs.
    pub marathon_lb: Option<MarathonLbStatus>,
}

/// The traffic side of one instance.
#[derive(Debug, Clone, Default)]
pub(crate) enum Proxy {
    /// No traffic: only the stats model.
    #[default]
    Off,
    /// The sim's own frontend.
    Emulated(Arc<Emulated>),
    /// A real HAProxy, configured and reloaded as marathon-lb does.
    Haproxy(Arc<Haproxy>),
    /// The real marathon-lb, which configures and reloads its HAProxy.
    MarathonLb(Arc<RealMarathonLb>),
}

impl Proxy {
    /// Takes the instance's newly adopted backends.
    pub(crate) fn adopt(&self, backends: &[Backend]) {
        match self {
            Proxy::Off => {}
            Proxy::Emulated(frontend) => frontend.adopt(backends),
            Proxy::Haproxy(haproxy) => haproxy.adopt(backends),
            // The real marathon-lb follows Marathon by itself.
            Proxy::MarathonLb(_) => {}
        }
    }

    /// `(scur, qcur)` of server `name` as this proxy counts it now, on top
    /// of the simulated traffic; `None` when it does not know.
    pub(crate) fn sessions(&self, name: &str) -> Option<(u64, u64)> {
        match self {
            Proxy::Off => None,
            Proxy::Emulated(frontend) => Some((frontend.counters().in_flight(name), 0)),
            Proxy::Haproxy(haproxy) => haproxy.sessions(name),
            Proxy::MarathonLb(mlb) => mlb
                .current_rows(&[name.to_owned()])
                .map(|rows| rows.first().map_or((0, 0), |r| (r.sessions, r.queued))),
        }
    }

    /// What a real HAProxy's old workers have on the servers `names` (from
    /// its master CLI); `None` when there is no real HAProxy to ask (the
    /// emulated old-worker model answers instead).
    pub(crate) fn old_worker_rows(
        &self,
        names: &[String],
    ) -> Option<Vec<super::haproxy::master::WorkerRow>> {
        match self {
            // A real HAProxy is asked; its answer (or that it could not
            // be asked) stands, never the emulated model.
            Proxy::Haproxy(haproxy) => Some(haproxy.old_worker_rows(names)),
            Proxy::MarathonLb(mlb) => Some(mlb.old_worker_rows(names)),
            _ => None,
        }
    }

    /// What it does and what went wrong.
    pub(crate) fn status(&self) -> ProxyStatus {
        match self {
            Proxy::Off => ProxyStatus {
                mode: "off",
                bind_errors: BTreeMap::new(),
                haproxy: None,
                pids: Vec::new(),
                marathon_lb: None,
            },
            Proxy::Emulated(frontend) => ProxyStatus {
                mode: "emulated",
                bind_errors: frontend.bind_errors(),
                haproxy: None,
                pids: Vec::new(),
                marathon_lb: None,
            },
            Proxy::Haproxy(haproxy) => ProxyStatus {
                mode: "haproxy",
                bind_errors: BTreeMap::new(),
                haproxy: Some(haproxy.status()),
                pids: haproxy.pids(),
                marathon_lb: None,
            },
            Proxy::MarathonLb(mlb) => ProxyStatus {
                mode: "marathon-lb",
                bind_errors: BTreeMap::new(),
                haproxy: None,
                pids: mlb.pids(),
                marathon_lb: Some(mlb.status()),
            },
        }
    }

    /// Waits (at most `limit`) until a real HAProxy has validated and
    /// loaded, or refused, every change handed to it; the others are always
    /// settled (the real marathon-lb's is judged against the cluster by
    /// [`crate::SimHandle::settle_lbs`]).
    pub(crate) fn settle(&self, limit: Duration) -> bool {
        match self {
            Proxy::Haproxy(haproxy) => haproxy.settle(limit),
            _ => true,
        }
    }

    /// Stops its listeners or processes.
    pub(crate) fn stop(&self) {
        match self {
            Proxy::Off => {}
            Proxy::Emulated(frontend) => frontend.stop(),
            Proxy::Haproxy(haproxy) => haproxy.stop(),
            Proxy::MarathonLb(mlb) => mlb.stop(),
        }
    }
}

/// Every instance's proxy, and the private directory of the real HAProxies'
/// files: the proxies are stopped before the directory is removed.
#[derive(Debug, Default)]
pub(crate) struct Proxies {
    pub(crate) list: Vec<Proxy>,
    pub(crate) dir: Option<tempfile::TempDir>,
}

impl Proxies {
    /// Stops every proxy (idempotent).
    pub(crate) fn stop(&self) {
        for proxy in &self.list {
            proxy.stop();
        }
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        self.stop();
    }
}
