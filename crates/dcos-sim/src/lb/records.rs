//! The cluster's own record of what happened to serving traffic, kept apart
//! from anything a client reports, for safety checks: every task killed with
//! what each marathon-lb instance had on it at that moment, and the serving
//! capacity of each deployment group over time.
//!
//! Both are bounded: the oldest entries are dropped past [`KILL_LOG_CAP`] and
//! [`CAPACITY_CAP`], and the number dropped is reported, so a check never
//! passes on a record that silently lost its start.

use crate::marathon::KillCause;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// At most this many kills are kept (the oldest go first).
pub const KILL_LOG_CAP: usize = 10_000;

/// At most this many capacity samples are kept (the oldest go first).
pub const CAPACITY_CAP: usize = 100_000;

/// What one marathon-lb instance had on one server of a task at the moment
/// the task was killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LbSighting {
    /// The marathon-lb instance (index into [`crate::SimHandle::lb_urls`]).
    pub lb: usize,
    /// The HAProxy server name (`ip_port` or `host_ip_port`).
    pub server: String,
    /// Whether the server was in that instance's backends then (its view
    /// may lag Marathon: see [`crate::SimConfig::lb_update_delay`]).
    pub in_backend: bool,
    /// Whether it was `disabled` there (HAProxy's `MAINT`).
    pub maint: bool,
    /// Its current sessions (`scur`) then; 0 when not in the backend.
    pub sessions: u64,
    /// Its queued requests (`qcur`) then; 0 when not in the backend.
    pub queued: u64,
    /// Whether the instance was mid-reload then (an old haproxy process
    /// still running, or the sim's reload window): the old process serves
    /// the sessions it had, which `sessions` (the new process's) does not
    /// count.
    pub reloading: bool,
}

/// What one lingering *old* worker of one marathon-lb instance had on one
/// server of a task at the moment the task was killed: after a reload the
/// old worker finishes the connections it has, invisible to the stats page
/// (which the new worker answers). Read from HAProxy's master CLI (`show
/// proc`, then `@!<pid> show stat`) with a real HAProxy; from the old-worker
/// model of [`crate::SimConfig::lb_reload_window`] when emulated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OldWorkerSighting {
    /// The marathon-lb instance.
    pub lb: usize,
    /// The old worker's pid (as its master sees it: with the real
    /// marathon-lb, a pid of the instance's own PID namespace).
    pub pid: u32,
    /// The HAProxy server name.
    pub server: String,
    /// Its status in that worker: `MAINT` when the worker had it disabled,
    /// else what HAProxy shows (`UP`, `DOWN`, `no check`, …).
    pub status: String,
    /// Sessions that worker still had on it (`scur`).
    pub sessions: u64,
    /// Requests that worker still had queued for it (`qcur`).
    pub queued: u64,
}

/// One task the cluster killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillRecord {
    /// Cluster time of the kill, epoch milliseconds.
    pub at_ms: u64,
    /// The task's app.
    pub app_id: String,
    /// Marathon's task id.
    pub task_id: String,
    /// Why it was killed.
    pub cause: KillCause,
    /// marathon-lb's server names for it, one per port.
    pub servers: Vec<String>,
    /// One entry per marathon-lb instance and server name.
    pub seen: Vec<LbSighting>,
    /// One entry per old worker still running on an instance that had the
    /// server in its config, and server name (empty when no instance was
    /// mid-reload).
    pub old_workers: Vec<OldWorkerSighting>,
    /// Requests other than health checks (those carry
    /// [`crate::image::CHECK_HEADER`]) the task itself was serving when it
    /// was killed, counted by the task; `None` when it is not one of the
    /// sim's serving tasks (e.g. an imported fixture's).
    pub task_in_flight: Option<u64>,
}

impl KillRecord {
    /// Whether any instance still had sessions or queued requests on it:
    /// what a zero-downtime kill must never do.
    pub fn had_traffic(&self) -> bool {
        self.seen.iter().any(|s| s.sessions > 0 || s.queued > 0)
    }

    /// Whether any instance that had it in its backend was mid-reload: its
    /// old process may still have had sessions on it that no stats show.
    pub fn during_reload(&self) -> bool {
        self.seen.iter().any(|s| s.in_backend && s.reloading)
    }

    /// Whether any instance still routed new requests to it (in the backend
    /// and not `MAINT`).
    pub fn was_serving(&self) -> bool {
        self.seen.iter().any(|s| s.in_backend && !s.maint)
    }

    /// Whether a lingering old worker still had sessions or queued
    /// requests on it: a kill the stats page could not show, and one a
    /// zero-downtime tool must wait out.
    pub fn old_worker_had_traffic(&self) -> bool {
        self.old_workers
            .iter()
            .any(|o| o.sessions > 0 || o.queued > 0)
    }

    /// Whether a real HAProxy's master could not be asked about its old
    /// workers at the kill: the oracle was blind there, which a safety
    /// check must not take for "nothing on it".
    pub fn old_workers_unreadable(&self) -> bool {
        self.old_workers
            .iter()
            .any(|o| o.status.starts_with("unreadable"))
    }

    /// Whether a lingering old worker still had it in rotation (not
    /// `MAINT`): that worker could still have sent it a request on a
    /// connection it kept.
    pub fn old_worker_routed(&self) -> bool {
        self.old_workers.iter().any(|o| o.status != "MAINT")
    }

    /// Whether the task itself was still serving requests (other than
    /// health checks) when it was killed.
    pub fn task_was_busy(&self) -> bool {
        self.task_in_flight.is_some_and(|n| n > 0)
    }
}

/// The kills recorded so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillLog {
    /// Oldest first.
    pub records: Vec<KillRecord>,
    /// How many older records were dropped past [`KILL_LOG_CAP`].
    pub dropped: u64,
}

/// The serving capacity of one deployment group on one marathon-lb instance
/// from `at_ms` on: its servers that are in the instance's backend, not
/// `MAINT`, and whose task is running and healthy (or has no health checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapacitySample {
    /// Position in the timeline (increases by one per sample).
    pub seq: u64,
    /// Cluster time, epoch milliseconds.
    pub at_ms: u64,
    /// The marathon-lb instance.
    pub lb: usize,
    /// The group as marathon-lb keys it: `/` + `HAPROXY_DEPLOYMENT_GROUP`,
    /// or the app id of an app without one.
    pub group: String,
    /// The HAProxy backend, e.g. `web_10000` (empty once the group is gone).
    pub backend: String,
    /// Servers that can serve new requests.
    pub serving: usize,
}

/// The capacity timeline so far: a sample whenever a group's count changes
/// on an instance (an instance adopting new backends, or a task it routes to
/// being killed or turning healthy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapacityTimeline {
    /// Oldest first.
    pub samples: Vec<CapacitySample>,
    /// How many older samples were dropped past [`CAPACITY_CAP`].
    pub dropped: u64,
}

/// A point in the capacity timeline to measure from
/// ([`crate::SimHandle::capacity_mark`]): it holds every group's capacity on
/// every instance at that moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityMark {
    next_seq: u64,
    at_ms: u64,
    lb_count: usize,
    baseline: BTreeMap<(usize, String), usize>,
}

impl CapacityMark {
    /// Cluster time of the mark, epoch milliseconds.
    pub fn at_ms(&self) -> u64 {
        self.at_ms
    }
}

/// Why a question about the records cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Samples taken after the mark were dropped past the cap.
    #[error(
        "the capacity timeline no longer reaches back to the mark at {at_ms} ms \
         (sample {next_seq} was dropped; at most {CAPACITY_CAP} are kept)"
    )]
    Truncated {
        /// The mark's time.
        at_ms: u64,
        /// The first sample after the mark.
        next_seq: u64,
    },
}

/// `/` + the group with its leading slashes trimmed: how marathon-lb keys a
/// group (and how the records do), so `web` and `/web` are the same.
pub(crate) fn group_key(group: &str) -> String {
    format!("/{}", group.trim_start_matches('/'))
}

/// The kill log and capacity timeline.
#[derive(Debug, Default)]
pub(crate) struct Records {
    kills: VecDeque<KillRecord>,
    kills_dropped: u64,
    samples: VecDeque<CapacitySample>,
    samples_dropped: u64,
    next_seq: u64,
    /// The last count recorded per (instance, group).
    current: BTreeMap<(usize, String), (usize, String)>,
}

impl Records {
    pub(crate) fn record_kill(&mut self, record: KillRecord) {
        if self.kills.len() == KILL_LOG_CAP {
            self.kills.pop_front();
            self.kills_dropped += 1;
        }
        self.kills.push_back(record);
    }

    /// Notes the counts of instance `lb` at `at_ms` (group → (backend,
    /// serving)): a sample for each group whose count changed, and a 0 for a
    /// group that disappeared.
    pub(crate) fn note_capacity(
        &mut self,
        at_ms: u64,
        lb: usize,
        counts: &BTreeMap<String, (String, usize)>,
    ) {
        let gone: Vec<(String, String)> = self
            .current
            .iter()
            .filter(|((i, group), (serving, _))| {
                *i == lb && *serving > 0 && !counts.contains_key(group)
            })
            .map(|((_, group), _)| (group.clone(), String::new()))
            .collect();
        let changes: Vec<(String, String, usize)> = counts
            .iter()
            .filter(|(group, (_, serving))| {
                self.current
                    .get(&(lb, (*group).clone()))
                    .is_none_or(|(was, _)| was != serving)
            })
            .map(|(group, (backend, serving))| (group.clone(), backend.clone(), *serving))
            .chain(gone.into_iter().map(|(g, b)| (g, b, 0)))
            .collect();
        for (group, backend, serving) in changes {
            self.current
                .insert((lb, group.clone()), (serving, backend.clone()));
            if self.samples.len() == CAPACITY_CAP {
                self.samples.pop_front();
                self.samples_dropped += 1;
            }
            self.samples.push_back(CapacitySample {
                seq: self.next_seq,
                at_ms,
                lb,
                group,
                backend,
                serving,
            });
            self.next_seq += 1;
        }
    }

    pub(crate) fn kill_log(&self) -> KillLog {
        KillLog {
            records: self.kills.iter().cloned().collect(),
            dropped: self.kills_dropped,
        }
    }

    pub(crate) fn timeline(&self) -> CapacityTimeline {
        CapacityTimeline {
            samples: self.samples.iter().cloned().collect(),
            dropped: self.samples_dropped,
        }
    }

    pub(crate) fn mark(&self, at_ms: u64, lb_count: usize) -> CapacityMark {
        CapacityMark {
            next_seq: self.next_seq,
            at_ms,
            lb_count,
            baseline: self
                .current
                .iter()
                .map(|(key, (serving, _))| (key.clone(), *serving))
                .collect(),
        }
    }

    /// The least capacity `group` had on any instance from `mark` until now.
    pub(crate) fn min_since(&self, mark: &CapacityMark, group: &str) -> Result<usize, RecordError> {
        let group = group_key(group);
        if self.samples.front().is_some_and(|s| s.seq > mark.next_seq)
            || (self.samples.is_empty() && self.next_seq > mark.next_seq)
        {
            return Err(RecordError::Truncated {
                at_ms: mark.at_ms,
                next_seq: mark.next_seq,
            });
        }
        let at_mark = (0..mark.lb_count).map(|lb| {
            mark.baseline
                .get(&(lb, group.clone()))
                .copied()
                .unwrap_or(0)
        });
        let since = self
            .samples
            .iter()
            .filter(|s| s.seq >= mark.next_seq && s.group == group)
            .map(|s| s.serving);
        Ok(at_mark.chain(since).min().unwrap_or(0))
    }
}
