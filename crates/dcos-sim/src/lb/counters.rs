//! Per-server traffic counters of the emulated frontend, named as HAProxy
//! names them in its CSV (marathon-lb-haproxy.md §6), so an analysis reads
//! the emulated stats and a real HAProxy's by the same columns.
//!
//! Simpler than HAProxy's: kept per (backend, server) name for the life of
//! the sim (a real reload starts a new worker from zero), `qcur` is always 0
//! (the emulation never queues) and `rtime` is the mean time to the response
//! headers over the last 1024 responses. The `*_max` columns (`qtime_max`,
//! `ctime_max`, `rtime_max`, `ttime_max`) are the emulated worker's: they
//! start over at every reload ([`Counters::new_worker`]), as a new worker's
//! do. Each request also remembers the worker it started under, so the
//! requests an old worker still carries after a reload can be told apart
//! ([`Counters::in_flight_before`]).

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
    /// This worker's `[qtime_max, ctime_max, rtime_max, ttime_max]`, ms.
    maxes: Mutex<[u64; 4]>,
    /// Requests in flight by the worker (generation) they started under.
    by_worker: Mutex<BTreeMap<u64, u64>>,
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
    /// This worker's `[qtime_max, ctime_max, rtime_max, ttime_max]`, ms.
    pub maxes: [u64; 4],
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

    /// Notes one request's `[qtime, ctime, rtime, ttime]` in ms into this
    /// worker's maxima.
    pub(crate) fn timings(&self, ms: [u64; 4]) {
        let mut maxes = self.maxes.lock().unwrap_or_else(|p| p.into_inner());
        for (max, value) in maxes.iter_mut().zip(ms) {
            *max = (*max).max(value);
        }
    }

    /// A request starts under worker `generation`.
    pub(crate) fn start(&self, generation: u64) {
        self.scur.fetch_add(1, Ordering::Relaxed);
        self.stot.fetch_add(1, Ordering::Relaxed);
        let mut by = self.by_worker.lock().unwrap_or_else(|p| p.into_inner());
        *by.entry(generation).or_default() += 1;
    }

    /// A request that started under worker `generation` is over.
    pub(crate) fn end(&self, generation: u64) {
        self.scur.fetch_sub(1, Ordering::Relaxed);
        let mut by = self.by_worker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by.get_mut(&generation) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by.remove(&generation);
            }
        }
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
            maxes: self.maxes.lock().map_or([0; 4], |m| *m),
        }
    }
}

/// Every server's counters, by (backend, server) name.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    servers: Mutex<BTreeMap<(String, String), Arc<ServerCounters>>>,
    /// The emulated worker now serving: bumped by every reload.
    generation: AtomicU64,
}

impl Counters {
    /// The emulated worker now serving new requests.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// A reload: a new worker serves new requests from now on, and its
    /// `*_max` columns start from zero.
    pub(crate) fn new_worker(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        let servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        for counters in servers.values() {
            *counters.maxes.lock().unwrap_or_else(|p| p.into_inner()) = [0; 4];
        }
    }

    /// Requests in flight to `server` (any backend) that started under a
    /// worker older than the current one: what a lingering old worker
    /// still carries.
    pub(crate) fn in_flight_before(&self, server: &str) -> u64 {
        let current = self.generation();
        let servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers
            .iter()
            .filter(|((_, s), _)| s == server)
            .map(|(_, c)| {
                let by = c.by_worker.lock().unwrap_or_else(|p| p.into_inner());
                by.range(..current).map(|(_, n)| n).sum::<u64>()
            })
            .sum()
    }

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

    #[test]
    fn maxima_start_over_with_a_new_worker_and_old_requests_are_told_apart() {
        let all = Counters::default();
        let c = all.of("web_10000", "a");
        c.timings([0, 1, 30, 40]);
        c.timings([0, 3, 10, 50]);
        assert_eq!(c.snapshot().maxes, [0, 3, 30, 50]);
        c.start(all.generation());
        all.new_worker();
        assert_eq!(c.snapshot().maxes, [0; 4]);
        c.start(all.generation());
        assert_eq!(all.in_flight("a"), 2);
        assert_eq!(all.in_flight_before("a"), 1);
        c.end(0);
        assert_eq!(all.in_flight_before("a"), 0);
        assert_eq!(all.in_flight("a"), 1);
    }
}
