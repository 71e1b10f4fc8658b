//! `load-client`: a bounded HTTP load client for loopback tests of zero
//! downtime, that counts every request it loses.
//!
//! # The model
//!
//! [`LoadClient::start`] opens [`LoadConfig::connections`] keep-alive
//! connections to one target (a marathon-lb frontend, or a task) and sends
//! GET requests on each, back to back: [`LoadConfig::path`], and for an
//! evenly spread [`LoadConfig::slow_share`] of them `/slow?ms=N` (dcos-sim's
//! tasks answer those N ms late, so requests are in flight while tasks
//! drain). Every request is recorded ([`Record`]): when it started, how long
//! it took, how it ended ([`Outcome`]: 2xx, another status, connection
//! reset, timeout, refused) and the version that served it (the
//! `X-Canary-Version` header). A kept connection the server closed while
//! idle is reopened before the next request, as every HTTP client does, and
//! a GET whose reused connection the server closed before any byte of the
//! response came back (it closed it as the request was on its way: HAProxy's
//! old process does so to idle connections on every reload) is sent once
//! more on a new connection, as RFC 9112 §9.3.1 allows for idempotent
//! requests and common clients do; [`Record::retried`] and
//! [`Summary::retried`] count those. Everything else that breaks a request
//! is a failure: a response begun and then broken, a 5xx, a refusal, a
//! timeout.
//!
//! The caller marks phases by time ([`LoadClient::mark`], e.g.
//! `mark("rollout")`); [`LoadClient::stop`] returns the [`Report`]: every
//! record and mark, and a [`Summary`] (totals, failures by kind and by
//! phase, and each version's share of the successful responses per time
//! window) that prints as a table.
//!
//! Bounded: at most [`MAX_CONNECTIONS`] connections, [`MAX_REQUESTS`]
//! requests and [`MAX_DURATION`]; each request has its own time limit; the
//! client stops by itself at the first bound it meets. Targets are
//! `http://127.x.y.z:PORT` only: anything else is refused.

mod http;
mod report;

pub use report::{PhaseSummary, Report, Summary, Window};

use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most connections one client opens.
pub const MAX_CONNECTIONS: usize = 256;

/// The most requests one client sends.
pub const MAX_REQUESTS: u64 = 1_000_000;

/// The longest one client runs.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx response.
    Success,
    /// A 5xx response.
    ServerError,
    /// Any other status (1xx, 3xx, 4xx).
    OtherStatus,
    /// The connection was reset or closed before the response was complete.
    Reset,
    /// No complete response within the request's time limit.
    Timeout,
    /// The connection was refused.
    Refused,
    /// Any other I/O error.
    Error,
}

impl Outcome {
    /// Whether it counts as a lost request (anything but a 2xx).
    pub fn is_failure(self) -> bool {
        self != Outcome::Success
    }

    /// A short name for tables: `2xx`, `5xx`, `other-status`, `reset`, …
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "2xx",
            Outcome::ServerError => "5xx",
            Outcome::OtherStatus => "other-status",
            Outcome::Reset => "reset",
            Outcome::Timeout => "timeout",
            Outcome::Refused => "refused",
            Outcome::Error => "error",
        }
    }
}

/// One request as it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// When it started, from the client's start.
    pub start: Duration,
    /// How long it took to its outcome.
    pub duration: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// `X-Canary-Version` of the response, when it had one.
    pub version: Option<String>,
    /// Whether it was a `/slow` request.
    pub slow: bool,
    /// Which connection (0-based) sent it.
    pub connection: usize,
    /// Whether it was sent a second time, on a new connection, because the
    /// reused one was closed before any byte of the response came back
    /// (see the crate docs); its outcome is the second attempt's.
    pub retried: bool,
}

/// What to send, where, and within which bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// `http://127.x.y.z:PORT` (a marathon-lb frontend or a task).
    pub target: String,
    /// Concurrent keep-alive connections (1 to [`MAX_CONNECTIONS`]).
    pub connections: usize,
    /// The path of ordinary requests.
    pub path: String,
    /// Share (0.0 to 1.0) of requests that are `/slow?ms=`[`LoadConfig::slow_ms`].
    pub slow_share: f64,
    /// How late a slow request asks to be answered, ms (at most 30,000).
    pub slow_ms: u64,
    /// Stop after this many requests (at most [`MAX_REQUESTS`]).
    pub max_requests: u64,
    /// Stop after this long (at most [`MAX_DURATION`]).
    pub max_duration: Duration,
    /// The time limit of each request (a slow request gets its delay on
    /// top).
    pub request_timeout: Duration,
    /// Each connection waits this long between its requests.
    pub pause: Duration,
    /// The width of the windows of [`Summary::shares`].
    pub window: Duration,
}

impl LoadConfig {
    /// `connections` connections to `target`, no slow requests, at most
    /// 100,000 requests or 60 s, 5 s per request, 1 s windows.
    pub fn new(target: impl Into<String>, connections: usize) -> LoadConfig {
        LoadConfig {
            target: target.into(),
            connections,
            path: "/".into(),
            slow_share: 0.0,
            slow_ms: 0,
            max_requests: 100_000,
            max_duration: Duration::from_secs(60),
            request_timeout: Duration::from_secs(5),
            pause: Duration::ZERO,
            window: Duration::from_secs(1),
        }
    }
}

/// Why a load could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The target is not an `http://127.x.y.z:PORT` URL.
    #[error(
        "target {target:?} is not http://127.x.y.z:PORT (the load client sends to loopback only)"
    )]
    NotLoopback {
        /// The target given.
        target: String,
    },
    /// A setting is outside its bounds.
    #[error("{field} is {value}; it must be {bound}")]
    OutOfBounds {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        bound: &'static str,
    },
    /// A thread could not be started.
    #[error("cannot start a load thread: {0}")]
    Thread(String),
}

/// Parses `http://127.x.y.z:PORT[/]` into its address and `Host` header.
fn loopback_target(target: &str) -> Result<(SocketAddr, String), LoadError> {
    let refused = || LoadError::NotLoopback {
        target: target.to_owned(),
    };
    let rest = target.strip_prefix("http://").ok_or_else(refused)?;
    let authority = rest.trim_end_matches('/');
    let (host, port) = authority.rsplit_once(':').ok_or_else(refused)?;
    let ip: Ipv4Addr = host.parse().map_err(|_| refused())?;
    let port: u16 = port.parse().map_err(|_| refused())?;
    if ip.octets()[0] != 127 || port == 0 {
        return Err(refused());
    }
    Ok((SocketAddr::from((ip, port)), authority.to_owned()))
}

fn check(config: &LoadConfig) -> Result<(SocketAddr, String), LoadError> {
    let target = loopback_target(&config.target)?;
    let bound = |field, value: String, bound| {
        Err(LoadError::OutOfBounds {
            field,
            value,
            bound,
        })
    };
    if config.connections == 0 || config.connections > MAX_CONNECTIONS {
        return bound("connections", config.connections.to_string(), "1 to 256");
    }
    if !(0.0..=1.0).contains(&config.slow_share) {
        return bound(
            "slow_share",
            config.slow_share.to_string(),
            "between 0 and 1",
        );
    }
    if config.slow_ms > 30_000 {
        return bound("slow_ms", config.slow_ms.to_string(), "at most 30000");
    }
    if config.max_requests == 0 || config.max_requests > MAX_REQUESTS {
        return bound(
            "max_requests",
            config.max_requests.to_string(),
            "1 to 1000000",
        );
    }
    if config.max_duration.is_zero() || config.max_duration > MAX_DURATION {
        return bound(
            "max_duration",
            format!("{:?}", config.max_duration),
            "above 0 and at most 1 h",
        );
    }
    if config.request_timeout.is_zero() || config.request_timeout > Duration::from_secs(300) {
        return bound(
            "request_timeout",
            format!("{:?}", config.request_timeout),
            "above 0 and at most 300 s",
        );
    }
    if config.window.is_zero() {
        return bound("window", format!("{:?}", config.window), "above 0");
    }
    if !config.path.starts_with('/') || config.path.chars().any(|c| !c.is_ascii_graphic()) {
        return bound(
            "path",
            format!("{:?}", config.path),
            "an absolute path of printable ASCII",
        );
    }
    Ok(target)
}

/// What the load threads share.
struct Shared {
    config: LoadConfig,
    started: Instant,
    stop: AtomicBool,
    /// Requests claimed so far (each thread claims one before sending).
    claimed: AtomicU64,
    in_flight: AtomicU64,
    records: Mutex<Vec<Record>>,
}

impl Shared {
    /// Claims the next request, starting at `start` (since the load
    /// began): its sequence number, or `None` when a bound is met. The time
    /// bound is judged on the very moment the request records as its start,
    /// so no request starts past it, however the thread is scheduled.
    fn claim(&self, start: Duration) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) || start >= self.config.max_duration {
            return None;
        }
        let n = self.claimed.fetch_add(1, Ordering::Relaxed);
        (n < self.config.max_requests).then_some(n)
    }

    /// Whether request `n` of the evenly spread sequence is a slow one.
    fn is_slow(&self, n: u64) -> bool {
        let share = self.config.slow_share;
        ((n + 1) as f64 * share).floor() > (n as f64 * share).floor()
    }
}

/// A running load: mark phases, then stop it for the report.
pub struct LoadClient {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    marks: Mutex<Vec<(String, Duration)>>,
}

impl std::fmt::Debug for LoadClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadClient")
            .field("target", &self.shared.config.target)
            .field("sent", &self.sent())
            .finish()
    }
}

fn run_connection(shared: Arc<Shared>, index: usize, addr: SocketAddr, host: String) {
    let mut connection = http::Connection::new(addr, host);
    let slow_path = format!("/slow?ms={}", shared.config.slow_ms);
    loop {
        let start = shared.started.elapsed();
        let Some(n) = shared.claim(start) else { break };
        let slow = shared.is_slow(n);
        let path = if slow {
            &slow_path
        } else {
            &shared.config.path
        };
        let limit = shared.config.request_timeout
            + if slow {
                Duration::from_millis(shared.config.slow_ms)
            } else {
                Duration::ZERO
            };
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let (result, retried) = connection.get(path, limit);
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        let duration = shared.started.elapsed().saturating_sub(start);
        let record = match result {
            Ok(response) => Record {
                start,
                duration,
                outcome: match response.status {
                    200..=299 => Outcome::Success,
                    500..=599 => Outcome::ServerError,
                    _ => Outcome::OtherStatus,
                },
                status: Some(response.status),
                version: response.version,
                slow,
                connection: index,
                retried,
            },
            Err(outcome) => Record {
                start,
                duration,
                outcome,
                status: None,
                version: None,
                slow,
                connection: index,
                retried,
            },
        };
        let failed = record.outcome.is_failure();
        shared
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
        if !shared.config.pause.is_zero() {
            std::thread::sleep(shared.config.pause);
        } else if failed {
            // A refusing or resetting target would otherwise be hammered.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl LoadClient {
    /// Checks `config` and starts its connections.
    pub fn start(config: LoadConfig) -> Result<LoadClient, LoadError> {
        let (addr, host) = check(&config)?;
        let shared = Arc::new(Shared {
            started: Instant::now(),
            stop: AtomicBool::new(false),
            claimed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            records: Mutex::new(Vec::new()),
            config,
        });
        let mut threads = Vec::new();
        for index in 0..shared.config.connections {
            let (for_thread, host) = (shared.clone(), host.clone());
            let thread = std::thread::Builder::new()
                .name(format!("load-{index}"))
                .spawn(move || run_connection(for_thread, index, addr, host))
                .map_err(|e| LoadError::Thread(e.to_string()));
            match thread {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    for thread in threads {
                        let _ = thread.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(LoadClient {
            shared,
            threads,
            marks: Mutex::new(Vec::new()),
        })
    }

    /// Marks the start of phase `name` now: the requests started from now
    /// on (until the next mark) belong to it. Before the first mark they
    /// belong to `start`.
    pub fn mark(&self, name: &str) {
        let at = self.shared.started.elapsed();
        self.marks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.to_owned(), at));
    }

    /// Requests sent or being sent so far.
    pub fn sent(&self) -> u64 {
        self.records().len() as u64 + self.in_flight()
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// A copy of the records so far.
    pub fn records(&self) -> Vec<Record> {
        self.shared
            .records
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Whether it stopped by itself (a bound met).
    pub fn finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Stops sending (requests in flight finish or time out), and reports.
    pub fn stop(self) -> Report {
        self.shared.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        let mut records = std::mem::take(
            &mut *self
                .shared
                .records
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        records.sort_by_key(|r| (r.start, r.connection));
        let marks = self.marks.into_inner().unwrap_or_else(|p| p.into_inner());
        Report::new(
            records,
            marks,
            self.shared.started.elapsed(),
            self.shared.config.window,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(loopback_target("http://127.0.0.2:10000").is_ok());
        assert!(loopback_target("http://127.0.0.1:8080/").is_ok());
        for bad in [
            "http://10.0.0.1:80",
            "https://127.0.0.1:443",
            "http://localhost:80",
            "http://127.0.0.1",
            "http://127.0.0.1:0",
            "http://[::1]:80",
        ] {
            assert!(
                matches!(loopback_target(bad), Err(LoadError::NotLoopback { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn bounds_are_checked() {
        let ok = LoadConfig::new("http://127.0.0.1:9", 2);
        assert!(check(&ok).is_ok());
        let field = |config: LoadConfig| match check(&config) {
            Err(LoadError::OutOfBounds { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(LoadConfig {
                connections: 0,
                ..ok.clone()
            }),
            "connections"
        );
        assert_eq!(
            field(LoadConfig {
                connections: 257,
                ..ok.clone()
            }),
            "connections"
        );
        assert_eq!(
            field(LoadConfig {
                slow_share: 1.5,
                ..ok.clone()
            }),
            "slow_share"
        );
        assert_eq!(
            field(LoadConfig {
                max_requests: 0,
                ..ok.clone()
            }),
            "max_requests"
        );
        assert_eq!(
            field(LoadConfig {
                max_duration: Duration::from_secs(7200),
                ..ok.clone()
            }),
            "max_duration"
        );
        assert_eq!(
            field(LoadConfig {
                path: "x".into(),
                ..ok
            }),
            "path"
        );
    }

    #[test]
    fn slow_requests_are_spread_evenly() {
        let shared = Shared {
            config: LoadConfig {
                slow_share: 0.25,
                ..LoadConfig::new("http://127.0.0.1:9", 1)
            },
            started: Instant::now(),
            stop: AtomicBool::new(false),
            claimed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            records: Mutex::new(Vec::new()),
        };
        let slow: Vec<bool> = (0..8).map(|n| shared.is_slow(n)).collect();
        assert_eq!(slow.iter().filter(|s| **s).count(), 2);
        assert_eq!(slow, [false, false, false, true, false, false, false, true]);
    }
}
