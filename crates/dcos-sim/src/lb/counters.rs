//! Per-server traffic counters of the emulated frontend, named as HAProxy
//! names them in its CSV (marathon-lb-haproxy.md §6), so an analysis reads
//! the emulated stats and a real HAProxy's by the same columns.
//!
//! Simpler than HAProxy's: kept per (backend, server) name for the life of
//! the sim (a real reload starts a new worker from zero), `qcur` is always 0
//! (the emulation never queues) and `rtime` is the mean time to the response
//! headers over the last 1024 responses.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// HAProxy averages `rtime` over this many requests.
const RTIME_WINDOW: u64 = 1024;

/// The live counters of one server.
#[derive(Debug, Default)]
pub(crate) struct ServerCounters {
    /// Requests in flight to it now (`scur`).
    pub scur: AtomicU64,
    /// Requests sent to it so far (`stot`).
    pub stot: AtomicU64,
    /// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub hrsp: [AtomicU64; 6],
    /// Connections to it that failed (`econ`).
    pub econ: AtomicU64,
    /// Responses that failed or timed out after the request was sent
    /// (`eresp`).
    pub eresp: AtomicU64,
    /// Requests the client gave up on (`cli_abrt`).
    pub cli_abrt: AtomicU64,
    /// Requests the server broke off (`srv_abrt`).
    pub srv_abrt: AtomicU64,
    /// (mean ms, samples) of the time to response headers.
    rtime: Mutex<(f64, u64)>,
}

/// A copy of one server's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub scur: u64,
    pub stot: u64,
    pub hrsp: [u64; 6],
    pub econ: u64,
    pub eresp: u64,
    pub cli_abrt: u64,
    pub srv_abrt: u64,
    /// Mean ms to the response headers, rounded.
    pub rtime: u64,
}

impl ServerCounters {
    /// Counts a response with `status` that took `ms` to its headers.
    pub(crate) fn response(&self, status: u16, ms: f64) {
        let class = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.hrsp[class].fetch_add(1, Ordering::Relaxed);
        let mut rtime = self.rtime.lock().unwrap_or_else(|p| p.into_inner());
        let n = (rtime.1 + 1).min(RTIME_WINDOW);
        rtime.0 += (ms - rtime.0) / n as f64;
        rtime.1 = n;
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            scur: load(&self.scur),
            stot: load(&self.stot),
            hrsp: std::array::from_fn(|i| load(&self.hrsp[i])),
            econ: load(&self.econ),
            eresp: load(&self.eresp),
            cli_abrt: load(&self.cli_abrt),
            srv_abrt: load(&self.srv_abrt),
            rtime: self.rtime.lock().map_or(0, |r| r.0.round() as u64),
        }
    }
}

/// Every server's counters, by (backend, server) name.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    servers: Mutex<BTreeMap<(String, String), Arc<ServerCounters>>>,
}

impl Counters {
    /// The counters of `server` in `backend`, made at first use.
    pub(crate) fn of(&self, backend: &str, server: &str) -> Arc<ServerCounters> {
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers
            .entry((backend.to_owned(), server.to_owned()))
            .or_default()
            .clone()
    }

    /// A copy of `server`'s counters in `backend` (zeros before any use).
    pub(crate) fn snapshot(&self, backend: &str, server: &str) -> Snapshot {
        let servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers
            .get(&(backend.to_owned(), server.to_owned()))
            .map(|c| c.snapshot())
            .unwrap_or_default()
    }

    /// Requests in flight to `server` in any backend.
    pub(crate) fn in_flight(&self, server: &str) -> u64 {
        let servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers
            .iter()
            .filter(|((_, s), _)| s == server)
            .map(|(_, c)| c.scur.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_count_by_class_and_rtime_is_their_mean() {
        let c = ServerCounters::default();
        c.response(200, 10.0);
        c.response(503, 30.0);
        c.response(204, 20.0);
        c.response(42, 20.0);
        let s = c.snapshot();
        assert_eq!(s.hrsp, [0, 2, 0, 0, 1, 1]);
        assert_eq!(s.rtime, 20);
    }
}
