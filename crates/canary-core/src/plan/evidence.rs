//! What the engine learns about marathon-lb's reloads from its own
//! readings, so that it never needs `/_haproxy_getpids`.
//!
//! # Why
//!
//! marathon-lb drains a server by rewriting HAProxy's config with it
//! `disabled` and reloading: a new worker starts with the server `MAINT`,
//! and the old worker stops accepting but finishes the requests it had in
//! flight, some of them on that server, which no stats page shows
//! (marathon-lb-haproxy.md §1, §6). zdd.py, and canary before, waited
//! until `/_haproxy_getpids` listed no old worker; but that endpoint runs
//! `pidof` through Lua's `io.popen` inside the multi-threaded HAProxy that
//! carries the traffic, and every call costs requests (§8: 770 failed of
//! 34,403 in a deploy + rollout that read it at every observation).
//!
//! # The rule
//!
//! The old worker that still routed to a server stops accepting at the
//! reload that made the server `MAINT`, at the latest a moment after the
//! first reading that shows it `MAINT` (the hand-over: the new worker
//! answers before the master tells the old one to stop). Every request the
//! old worker still has on the server was in flight then, so it ends within
//! the longest time a request of the backend takes. Hence a drained server
//! may be killed once the readings have shown it `MAINT` (without a break)
//! for longer than that *linger*; the planner applies it
//! ([`super::Limits::reload_linger`]).
//!
//! The longest request is HAProxy's own `qtime_max + ctime_max +
//! rtime_max` (queue, connect and response time at their most), per worker:
//! a reload starts them over. A worker can only show requests that ended
//! during its life, so its maxima are [`Longest::Known`] only when it has
//! run at least [`TRUSTED_LIFE`] and ten times that longest request; a
//! younger worker (back-to-back reloads) leaves it [`Longest::Unknown`],
//! and the planner then waits a conservative default instead.
//!
//! Nothing here trusts a clock the load balancer keeps for the moments:
//! those are the driver's, taken after each reading. The worker's uptime
//! (whole seconds) only says how much of the traffic its maxima cover.

use super::observe::{LbState, LbView};
use super::stats::StatsRow;
use crate::clock::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// The least a worker must have run for its maxima to count.
pub const TRUSTED_LIFE: Duration = Duration::from_secs(2);

/// How many times the longest request a worker must have run for its
/// maxima to count.
const TRUSTED_RATIO: u32 = 10;

/// The most workers remembered per instance (the newest are kept).
pub const WORKERS_KEPT: usize = 32;

/// What the readings showed of one HAProxy worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct WorkerSeen {
    /// How long it had run at its last reading.
    uptime: Duration,
    /// By proxy: the longest request its stats showed.
    longest: BTreeMap<String, Duration>,
    /// The order it was first seen in (to keep the newest).
    seen: u64,
}

/// What the readings of one marathon-lb instance have shown so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LbRecord {
    /// By (proxy, server): the time of the first of the readings, without a
    /// break, that showed the server `MAINT`.
    maint_since: BTreeMap<(String, String), Timestamp>,
    /// By worker pid.
    workers: BTreeMap<u32, WorkerSeen>,
    /// Whether any reading had the `*_max` columns.
    maxima: bool,
}

/// The longest request of a backend on one load balancer, as far as the
/// readings tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Longest {
    /// The most any worker showed, and a worker that ran long enough to
    /// show it ([`TRUSTED_LIFE`], ten times it) was read.
    Known(Duration),
    /// No reading is trustworthy for it: every worker read was younger
    /// than that, or the stats have no `*_max` columns, or no worker was
    /// read; the most seen, if any, is given.
    Unknown(Option<Duration>),
}

/// What the driver's readings of every marathon-lb have shown, by
/// instance URL: since when each server has been `MAINT`, and, per worker,
/// the longest request of each proxy. Bounded by the rows read (the
/// group's) and [`WORKERS_KEPT`] workers per instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainEvidence {
    lbs: BTreeMap<String, LbRecord>,
    readings: u64,
}

/// The longest request a row shows: queue, connect and response time at
/// their most; `None` when the stats have none of those columns (HAProxy
/// before they were added).
fn longest_request(row: &StatsRow) -> Option<Duration> {
    let columns = ["qtime_max", "ctime_max", "rtime_max"];
    if !columns.iter().any(|c| row.columns.contains_key(*c)) {
        return None;
    }
    let ms: u64 = columns.iter().map(|c| row.number(c)).sum();
    Some(Duration::from_millis(ms))
}

impl DrainEvidence {
    /// Takes the readings `views`, finished at `read_at`. A server that is
    /// not `MAINT`, or not in a reading, starts over; an instance that
    /// could not be read keeps what it had.
    pub fn note(&mut self, read_at: Timestamp, views: &[LbView]) {
        self.readings += 1;
        for view in views {
            let LbState::Stats { rows, worker } = &view.state else {
                continue;
            };
            let record = self.lbs.entry(view.url.clone()).or_default();
            let mut maint = BTreeMap::new();
            let mut longest: BTreeMap<String, Duration> = BTreeMap::new();
            for row in rows {
                if let Some(d) = longest_request(row) {
                    record.maxima = true;
                    let seen = longest.entry(row.pxname.clone()).or_default();
                    *seen = (*seen).max(d);
                }
                if row.is_server() && row.status() == "MAINT" {
                    let key = (row.pxname.clone(), row.svname.clone());
                    let since = record.maint_since.get(&key).copied().unwrap_or(read_at);
                    maint.insert(key, since);
                }
            }
            record.maint_since = maint;
            if let Some(worker) = worker {
                let order = self.readings;
                let seen = record
                    .workers
                    .entry(worker.pid)
                    .or_insert_with(|| WorkerSeen {
                        seen: order,
                        ..WorkerSeen::default()
                    });
                seen.uptime = seen.uptime.max(worker.uptime);
                for (proxy, d) in longest {
                    let entry = seen.longest.entry(proxy).or_default();
                    *entry = (*entry).max(d);
                }
                if record.workers.len() > WORKERS_KEPT {
                    let oldest = record
                        .workers
                        .iter()
                        .min_by_key(|(_, w)| w.seen)
                        .map(|(pid, _)| *pid);
                    if let Some(pid) = oldest {
                        record.workers.remove(&pid);
                    }
                }
            }
        }
    }

    /// Since when the readings of instance `lb` have shown server `server`
    /// of `proxy` `MAINT`, without a break.
    pub fn maint_since(&self, lb: &str, proxy: &str, server: &str) -> Option<Timestamp> {
        self.lbs
            .get(lb)?
            .maint_since
            .get(&(proxy.to_owned(), server.to_owned()))
            .copied()
    }

    /// The longest request of `proxy` on instance `lb`, as far as the
    /// readings tell (see the module docs).
    pub fn longest_request(&self, lb: &str, proxy: &str) -> Longest {
        let Some(record) = self.lbs.get(lb) else {
            return Longest::Unknown(None);
        };
        let most = record
            .workers
            .values()
            .filter_map(|w| w.longest.get(proxy))
            .max()
            .copied();
        let Some(most) = most.filter(|_| record.maxima) else {
            return Longest::Unknown(None);
        };
        let needed = TRUSTED_LIFE.max(most * TRUSTED_RATIO);
        if record.workers.values().any(|w| w.uptime >= needed) {
            Longest::Known(most)
        } else {
            Longest::Unknown(Some(most))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::stats::parse_stats_csv;

    const HEAD: &str = "# pxname,svname,status,scur,qcur,qtime_max,ctime_max,rtime_max\n";

    fn view(url: &str, rows: &str) -> LbView {
        LbView {
            url: url.into(),
            state: LbState::Stats {
                worker: None,
                rows: parse_stats_csv(&format!("{HEAD}{rows}")).unwrap(),
            },
        }
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_unix_secs(secs)
    }

    #[test]
    fn maint_counts_from_the_first_reading_without_a_break() {
        let mut e = DrainEvidence::default();
        let up = view("a", "web_1,s1,UP,0,0,1,2,30\n");
        let maint = view("a", "web_1,s1,MAINT,0,0,0,0,0\n");
        e.note(at(1), std::slice::from_ref(&up));
        assert_eq!(e.maint_since("a", "web_1", "s1"), None);
        e.note(at(2), std::slice::from_ref(&maint));
        e.note(at(3), std::slice::from_ref(&maint));
        assert_eq!(e.maint_since("a", "web_1", "s1"), Some(at(2)));
        // Back in rotation, then drained again: the clock starts over.
        e.note(at(4), std::slice::from_ref(&up));
        e.note(at(5), std::slice::from_ref(&maint));
        assert_eq!(e.maint_since("a", "web_1", "s1"), Some(at(5)));
        // Gone from a reading: forgotten.
        e.note(at(6), &[view("a", "web_1,s2,UP,0,0,0,0,0\n")]);
        assert_eq!(e.maint_since("a", "web_1", "s1"), None);
        // An unreadable instance keeps what it had.
        e.note(at(7), std::slice::from_ref(&maint));
        e.note(
            at(8),
            &[LbView {
                url: "a".into(),
                state: LbState::Unreachable {
                    message: "down".into(),
                },
            }],
        );
        assert_eq!(e.maint_since("a", "web_1", "s1"), Some(at(7)));
        assert_eq!(e.maint_since("b", "web_1", "s1"), None);
    }

    fn worker_view(url: &str, pid: u32, uptime_s: u64, rows: &str) -> LbView {
        LbView {
            url: url.into(),
            state: LbState::Stats {
                worker: Some(crate::plan::Worker {
                    pid,
                    uptime: Duration::from_secs(uptime_s),
                    threads: None,
                }),
                rows: parse_stats_csv(&format!("{HEAD}{rows}")).unwrap(),
            },
        }
    }

    #[test]
    fn the_longest_request_counts_once_a_worker_ran_long_enough_to_show_it() {
        let mut e = DrainEvidence::default();
        assert_eq!(e.longest_request("a", "web_1"), Longest::Unknown(None));
        // A young worker: 215 ms seen in 1 s of life proves little.
        e.note(
            at(1),
            &[worker_view("a", 7, 1, "web_1,s1,UP,0,0,5,10,200\n")],
        );
        assert_eq!(
            e.longest_request("a", "web_1"),
            Longest::Unknown(Some(Duration::from_millis(215)))
        );
        // The same worker later: 3 s of life, ten times 215 ms and more.
        e.note(
            at(3),
            &[worker_view("a", 7, 3, "web_1,s1,UP,0,0,5,10,200\n")],
        );
        assert_eq!(
            e.longest_request("a", "web_1"),
            Longest::Known(Duration::from_millis(215))
        );
        // A reload starts the maxima over; what was seen is kept, and a
        // longer request seen by a young worker needs an older one again.
        e.note(
            at(4),
            &[worker_view("a", 8, 0, "web_1,s1,UP,0,0,0,0,900\n")],
        );
        assert_eq!(
            e.longest_request("a", "web_1"),
            Longest::Unknown(Some(Duration::from_millis(900)))
        );
        e.note(
            at(14),
            &[worker_view("a", 8, 10, "web_1,s1,UP,0,0,0,0,900\n")],
        );
        assert_eq!(
            e.longest_request("a", "web_1"),
            Longest::Known(Duration::from_millis(900))
        );
        // Without the worker (its page not read), or without *_max columns,
        // nothing is known.
        e.note(at(15), &[view("b", "web_1,s1,UP,0,0,5,10,20\n")]);
        assert_eq!(e.longest_request("b", "web_1"), Longest::Unknown(None));
        e.note(
            at(16),
            &[LbView {
                url: "c".into(),
                state: LbState::Stats {
                    worker: Some(crate::plan::Worker {
                        pid: 1,
                        uptime: Duration::from_secs(3600),
                        threads: None,
                    }),
                    rows: parse_stats_csv(
                        "# pxname,svname,status,scur,qcur,rtime\nweb_1,s1,UP,0,0,9\n",
                    )
                    .unwrap(),
                },
            }],
        );
        assert_eq!(e.longest_request("c", "web_1"), Longest::Unknown(None));
    }
}
