//! Snapshots of the group's backend on every marathon-lb, and the delta of
//! a window between two of them.
//!
//! # The reset rule
//!
//! HAProxy's counters live in its worker process and a reload starts a new
//! worker at zero (marathon-lb-haproxy.md §6); marathon-lb reloads on every
//! change of the group. Every server of one marathon-lb is counted by the
//! same process, so a reload resets them all at once. Hence, per load
//! balancer:
//!
//! * if the worker that answered differs between the ends (its pid, from
//!   the HTML stats page's header: [`crate::plan::Worker`]), or, where a
//!   worker is not known at both ends, any counter of any server present
//!   at both ends went down, the load balancer runs a new process
//!   ([`LbStatus::Restarted`]) and every server counts its end values:
//!   what the new process served, all of it within the window. Counting
//!   only the servers whose own counters went down would take
//!   `end - start` for the others, mixing two processes;
//! * otherwise each server counts `end - start`, and a server present only
//!   at the end (a task that started during the window) its end values;
//! * a server present only at the start (a task gone) counts nothing.
//!
//! Without the worker, a reload nobody can see (every counter of the new
//! process already higher than the old one's at the start) yields
//! `end - start`: less than the new process served, never more. No rule
//! here can give a negative count or one inflated beyond what was served
//! in the window. The same rule gives `canary status --sample` and
//! `--observe` their split ([`crate::plan::sample`]).
//!
//! A load balancer counts only when it was read at both ends: one missing
//! at the start may be an old instance the driver failed to list, whose
//! end values would hold its whole history.

use super::counters::Counters;
use crate::plan::observe::{LbState, LbView};
use crate::plan::predict::backend_name;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One marathon-lb's rows of the backend at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbSnapshot {
    /// Its stats were read.
    Read {
        /// The pid of the HAProxy worker that answered, when it was read.
        worker: Option<u32>,
        /// The backend's server rows by server name (no FRONTEND or
        /// BACKEND row).
        servers: BTreeMap<String, Counters>,
    },
    /// It could not be read.
    Unread {
        /// Why, as the reader said.
        message: String,
    },
}

/// Every marathon-lb's rows of one backend at one moment, keyed by load
/// balancer URL and server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The HAProxy backend, e.g. `testapp_10000`.
    pub backend: String,
    /// Each load balancer by its stats URL.
    pub lbs: BTreeMap<String, LbSnapshot>,
}

impl Snapshot {
    /// The rows of `backend` in `views`, one entry per load balancer URL
    /// (a URL listed twice keeps its last view).
    pub fn new(backend: impl Into<String>, views: &[LbView]) -> Snapshot {
        let backend = backend.into();
        let lbs = views
            .iter()
            .map(|view| {
                let lb = match &view.state {
                    LbState::Stats { worker, rows } => LbSnapshot::Read {
                        worker: worker.map(|w| w.pid),
                        servers: rows
                            .iter()
                            .filter(|r| r.pxname == backend && r.is_server())
                            .map(|r| (r.svname.clone(), Counters::from_row(r)))
                            .collect(),
                    },
                    LbState::Unreachable { message } => LbSnapshot::Unread {
                        message: message.clone(),
                    },
                };
                (view.url.clone(), lb)
            })
            .collect();
        Snapshot { backend, lbs }
    }

    /// The snapshot of the backend marathon-lb names for `group` on
    /// `port` (see [`backend_name`]).
    pub fn for_group(group: &str, port: u16, views: &[LbView]) -> Snapshot {
        Snapshot::new(backend_name(group, port), views)
    }
}

/// Which end of a window a load balancer was missing at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowEnd {
    /// At the start.
    Start,
    /// At the end.
    End,
    /// At both.
    Both,
}

/// How one load balancer entered a window's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LbStatus {
    /// Read at both ends by the same process: `end - start` per server.
    Counted,
    /// Read at both ends, and a counter went down: a new HAProxy process
    /// (a reload) during the window; every server counts what the new
    /// process served.
    Restarted,
    /// Not read at one end or both: it adds nothing, and the window's
    /// numbers miss its traffic.
    NotRead {
        /// Where it was missing.
        at: WindowEnd,
        /// Why (unreachable, with the reader's message, or not listed).
        why: String,
    },
}

impl LbStatus {
    /// Whether its servers are in the window's numbers.
    pub fn counted(&self) -> bool {
        !matches!(self, LbStatus::NotRead { .. })
    }
}

/// One load balancer in a window: how it counted, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LbCoverage {
    /// Its stats URL.
    pub url: String,
    /// How it entered the numbers.
    #[serde(flatten)]
    pub status: LbStatus,
    /// Whether marathon-lb reloaded HAProxy between the ends (another
    /// worker answered, or a counter went down). The old worker's last
    /// responses are in no stats page. Reported, not judged.
    pub reloading: bool,
}

/// One load balancer's part of a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbDelta {
    /// How it counted.
    pub coverage: LbCoverage,
    /// What each server gained, by name (empty unless counted).
    pub servers: BTreeMap<String, Counters>,
}

/// The delta of a window: per load balancer and server, what was served
/// between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDelta {
    /// The backend (the end snapshot's).
    pub backend: String,
    /// Every load balancer of either snapshot, by URL.
    pub lbs: Vec<LbDelta>,
}

impl WindowDelta {
    /// How many load balancers are in the numbers.
    pub fn lbs_counted(&self) -> usize {
        self.lbs
            .iter()
            .filter(|l| l.coverage.status.counted())
            .count()
    }
}

/// The delta of the window from `start` to `end`, by the reset rule (see
/// the module docs). Snapshots of different backends (the group's port
/// changed) share no numbers: every load balancer is then not read.
pub fn delta(start: &Snapshot, end: &Snapshot) -> WindowDelta {
    let urls: BTreeSet<&String> = start.lbs.keys().chain(end.lbs.keys()).collect();
    let lbs = urls
        .into_iter()
        .map(|url| {
            if start.backend != end.backend {
                return not_read(
                    url,
                    WindowEnd::Both,
                    format!(
                        "the backend changed from {} to {}",
                        start.backend, end.backend
                    ),
                    false,
                );
            }
            lb_delta(url, start.lbs.get(url), end.lbs.get(url))
        })
        .collect();
    WindowDelta {
        backend: end.backend.clone(),
        lbs,
    }
}

fn not_read(url: &str, at: WindowEnd, why: String, reloading: bool) -> LbDelta {
    LbDelta {
        coverage: LbCoverage {
            url: url.to_owned(),
            status: LbStatus::NotRead { at, why },
            reloading,
        },
        servers: BTreeMap::new(),
    }
}

fn why_unread(lb: Option<&LbSnapshot>) -> Option<String> {
    match lb {
        None => Some("not listed".to_owned()),
        Some(LbSnapshot::Unread { message }) => Some(format!("unreachable: {message}")),
        Some(LbSnapshot::Read { .. }) => None,
    }
}

/// The worker pid of a snapshot that was read and knows it.
fn worker(lb: Option<&LbSnapshot>) -> Option<u32> {
    match lb {
        Some(LbSnapshot::Read { worker, .. }) => *worker,
        _ => None,
    }
}

fn lb_delta(url: &str, start: Option<&LbSnapshot>, end: Option<&LbSnapshot>) -> LbDelta {
    let other_worker = matches!((worker(start), worker(end)), (Some(a), Some(b)) if a != b);
    let (
        Some(LbSnapshot::Read {
            servers: then_servers,
            ..
        }),
        Some(LbSnapshot::Read {
            servers: now_servers,
            ..
        }),
    ) = (start, end)
    else {
        let (at, why) = match (why_unread(start), why_unread(end)) {
            (Some(s), Some(e)) => (WindowEnd::Both, format!("at the start {s}; at the end {e}")),
            (Some(s), None) => (WindowEnd::Start, s),
            (None, Some(e)) => (WindowEnd::End, e),
            (None, None) => unreachable!("both ends were read"),
        };
        return not_read(url, at, why, other_worker);
    };
    let went_down = now_servers.iter().any(|(name, now)| {
        then_servers
            .get(name)
            .is_some_and(|then| now.went_down_since(then))
    });
    // Another worker restarted every counter even when none went down; a
    // counter that went down under one worker was cleared: either way the
    // end values are what was counted since.
    let restarted = other_worker || went_down;
    let servers = now_servers
        .iter()
        .map(|(name, now)| {
            let gained = match then_servers.get(name) {
                Some(then) if !restarted => now.since(then),
                _ => now.since(&Counters::default()),
            };
            (name.clone(), gained)
        })
        .collect();
    LbDelta {
        coverage: LbCoverage {
            url: url.to_owned(),
            status: if restarted {
                LbStatus::Restarted
            } else {
                LbStatus::Counted
            },
            reloading: restarted,
        },
        servers,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Counters with `ok` 2xx and `failed` 5xx responses at `rtime` ms.
    pub(crate) fn served(ok: u64, failed: u64, rtime: u64) -> Counters {
        Counters {
            hrsp_2xx: ok,
            hrsp_5xx: failed,
            stot: ok + failed,
            rtime,
            ..Counters::default()
        }
    }

    /// A read load balancer with these servers.
    pub(crate) fn read(servers: &[(&str, Counters)]) -> LbSnapshot {
        LbSnapshot::Read {
            worker: None,
            servers: servers.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
        }
    }

    /// A snapshot of backend `web_10000` with these load balancers.
    pub(crate) fn snapshot(lbs: Vec<(&str, LbSnapshot)>) -> Snapshot {
        Snapshot {
            backend: "web_10000".into(),
            lbs: lbs.into_iter().map(|(u, l)| (u.to_owned(), l)).collect(),
        }
    }

    fn gained(delta: &WindowDelta, lb: usize, server: &str) -> Counters {
        delta.lbs[lb].servers[server]
    }

    #[test]
    fn a_snapshot_keeps_the_backends_server_rows_of_every_lb() {
        use crate::plan::stats::parse_stats_csv;
        let csv = "# pxname,svname,status,scur,qcur,hrsp_2xx,rtime\n\
                   web_10000,FRONTEND,OPEN,0,0,99,\n\
                   web_10000,10_0_0_1_31000,UP,0,0,7,3\n\
                   web_10000,BACKEND,UP,0,0,99,\n\
                   other_10001,10_0_0_1_31005,UP,0,0,50,1\n";
        let views = [
            LbView {
                url: "http://lb-a:9090".into(),
                state: LbState::Stats {
                    worker: Some(crate::plan::Worker {
                        pid: 77,
                        uptime: std::time::Duration::from_secs(3),
                        threads: Some(2),
                    }),
                    rows: parse_stats_csv(csv).unwrap(),
                },
            },
            LbView {
                url: "http://lb-b:9090".into(),
                state: LbState::Unreachable {
                    message: "connection refused".into(),
                },
            },
        ];
        let snap = Snapshot::for_group("/web", 10000, &views);
        assert_eq!(snap.backend, "web_10000");
        let LbSnapshot::Read { worker, servers } = &snap.lbs["http://lb-a:9090"] else {
            panic!("lb-a was read");
        };
        assert_eq!(*worker, Some(77));
        assert_eq!(servers.keys().collect::<Vec<_>>(), ["10_0_0_1_31000"]);
        assert_eq!(
            (
                servers["10_0_0_1_31000"].hrsp_2xx,
                servers["10_0_0_1_31000"].rtime
            ),
            (7, 3)
        );
        assert_eq!(
            snap.lbs["http://lb-b:9090"],
            LbSnapshot::Unread {
                message: "connection refused".into()
            }
        );
    }

    #[test]
    fn a_window_is_end_minus_start_per_server() {
        let start = snapshot(vec![(
            "a",
            read(&[("s1", served(100, 2, 40)), ("s2", served(10, 0, 5))]),
        )]);
        let end = snapshot(vec![(
            "a",
            read(&[("s1", served(160, 5, 30)), ("s2", served(10, 0, 5))]),
        )]);
        let d = delta(&start, &end);
        assert_eq!(d.lbs[0].coverage.status, LbStatus::Counted);
        assert_eq!(gained(&d, 0, "s1"), served(60, 3, 30));
        assert_eq!(gained(&d, 0, "s2"), served(0, 0, 5));
        assert_eq!(d.lbs_counted(), 1);
    }

    #[test]
    fn a_counter_that_went_down_restarts_every_server_of_that_lb() {
        // s1 shows the reset (30 < 100); s2 grew past its start in the new
        // process, and still counts its end values, not 40 - 25.
        let start = snapshot(vec![
            (
                "a",
                read(&[("s1", served(100, 1, 9)), ("s2", served(25, 0, 9))]),
            ),
            ("b", read(&[("s1", served(7, 0, 9))])),
        ]);
        let end = snapshot(vec![
            (
                "a",
                read(&[("s1", served(30, 0, 8)), ("s2", served(40, 2, 8))]),
            ),
            ("b", read(&[("s1", served(9, 0, 9))])),
        ]);
        let d = delta(&start, &end);
        assert_eq!(d.lbs[0].coverage.status, LbStatus::Restarted);
        assert_eq!(gained(&d, 0, "s1"), served(30, 0, 8));
        assert_eq!(gained(&d, 0, "s2"), served(40, 2, 8));
        // The other load balancer kept its process.
        assert_eq!(d.lbs[1].coverage.status, LbStatus::Counted);
        assert_eq!(gained(&d, 1, "s1"), served(2, 0, 9));
    }

    #[test]
    fn new_servers_count_their_end_values_and_gone_ones_nothing() {
        let start = snapshot(vec![("a", read(&[("old", served(50, 0, 1))]))]);
        let end = snapshot(vec![(
            "a",
            read(&[("old", served(50, 0, 1)), ("new", served(12, 1, 2))]),
        )]);
        let d = delta(&start, &end);
        assert_eq!(gained(&d, 0, "new"), served(12, 1, 2));
        assert_eq!(gained(&d, 0, "old"), served(0, 0, 1));
        let gone = delta(&end, &start);
        assert_eq!(gone.lbs[0].coverage.status, LbStatus::Counted);
        assert!(!gone.lbs[0].servers.contains_key("new"));
    }

    #[test]
    fn an_lb_not_read_at_both_ends_counts_nothing_and_says_why() {
        let unread = |m: &str| LbSnapshot::Unread { message: m.into() };
        let start = snapshot(vec![
            ("a", read(&[("s1", served(1, 0, 1))])),
            ("b", unread("timed out")),
            ("c", read(&[("s1", served(1, 0, 1))])),
            ("d", unread("refused")),
        ]);
        let end = snapshot(vec![
            ("a", unread("refused")),
            ("b", read(&[("s1", served(5, 0, 1))])),
            ("d", unread("refused again")),
            ("e", read(&[("s1", served(900, 0, 1))])),
        ]);
        let d = delta(&start, &end);
        let status: Vec<_> = d.lbs.iter().map(|l| l.coverage.status.clone()).collect();
        let not_read = |at, why: &str| LbStatus::NotRead {
            at,
            why: why.into(),
        };
        assert_eq!(
            status,
            [
                not_read(WindowEnd::End, "unreachable: refused"),
                not_read(WindowEnd::Start, "unreachable: timed out"),
                not_read(WindowEnd::End, "not listed"),
                not_read(
                    WindowEnd::Both,
                    "at the start unreachable: refused; at the end unreachable: refused again"
                ),
                not_read(WindowEnd::Start, "not listed"),
            ]
        );
        assert!(d.lbs.iter().all(|l| l.servers.is_empty()));
        assert_eq!(d.lbs_counted(), 0);
    }

    #[test]
    fn another_worker_restarts_the_counters_even_when_none_went_down() {
        let with = |pid, servers: &[(&str, Counters)]| LbSnapshot::Read {
            worker: Some(pid),
            servers: servers.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect(),
        };
        // The new worker has already served more than the old one had at
        // the start: the counters alone would read 8 - 5 = 3.
        let start = snapshot(vec![("a", with(10, &[("s1", served(5, 0, 1))]))]);
        let end = snapshot(vec![("a", with(11, &[("s1", served(8, 0, 1))]))]);
        let d = delta(&start, &end);
        assert_eq!(d.lbs[0].coverage.status, LbStatus::Restarted);
        assert!(d.lbs[0].coverage.reloading);
        assert_eq!(gained(&d, 0, "s1"), served(8, 0, 1));
        // The same worker at both ends: end - start.
        let same = snapshot(vec![("a", with(10, &[("s1", served(8, 0, 1))]))]);
        let d = delta(&start, &same);
        assert_eq!(d.lbs[0].coverage.status, LbStatus::Counted);
        assert!(!d.lbs[0].coverage.reloading);
        assert_eq!(gained(&d, 0, "s1"), served(3, 0, 1));
        // A worker known at one end only: the counters decide.
        let unknown = snapshot(vec![("a", read(&[("s1", served(8, 0, 1))]))]);
        assert_eq!(
            delta(&start, &unknown).lbs[0].coverage.status,
            LbStatus::Counted
        );
    }

    #[test]
    fn a_changed_backend_counts_nothing() {
        let start = snapshot(vec![("a", read(&[("s1", served(5, 0, 1))]))]);
        let mut moved = snapshot(vec![("a", read(&[("s1", served(8, 0, 1))]))]);
        moved.backend = "web_10001".into();
        let d = delta(&start, &moved);
        assert_eq!(d.backend, "web_10001");
        assert_eq!(
            d.lbs[0].coverage.status,
            LbStatus::NotRead {
                at: WindowEnd::Both,
                why: "the backend changed from web_10000 to web_10001".into()
            }
        );
    }
}
