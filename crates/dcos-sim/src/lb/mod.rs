//! marathon-lb as zdd.py (and a native engine) sees it: per instance,
//! `/haproxy?stats;csv` and `/_haproxy_getpids`, built from the cluster's
//! apps by marathon-lb's rules (zdd.md §9, see `rules`).
//!
//! # The model
//!
//! Each instance has its own *adopted* backends: what its HAProxy runs.
//! A real marathon-lb learns of Marathon's changes from the event stream and
//! then rewrites and reloads HAProxy, so its backends show the old state for
//! a while. Here, deterministically in cluster time: when the backends the
//! current cluster state calls for differ from an instance's adopted ones,
//! the instance adopts the then-current backends its *update delay* later
//! ([`crate::SimConfig::lb_update_delay`], settable per instance). Each
//! adopted change starts a *reload window*
//! ([`crate::SimConfig::lb_reload_window`]) during which
//! `/_haproxy_getpids` lists three pids (master, new and old worker), as
//! during a real reload (marathon-lb-haproxy.md §1). A reload can also be
//! forced, and an instance's listener made to fail (a [`FaultRule`] with
//! `lb`). With the defaults (no delay, no window) every instance follows
//! Marathon at once.
//!
//! Sessions and queued requests per server are simulated: set per server
//! ([`Traffic`], fixed or ending at a time), and, with a [`SessionDrain`],
//! every server an instance puts into `MAINT` keeps some sessions for a
//! while after that instance disabled it.
//!
//! The instances also keep the cluster's independent records (`records`): a
//! [`KillLog`] of every task killed with what each instance had on it, and a
//! [`CapacityTimeline`] of each group's serving capacity per instance.
//!
//! [`FaultRule`]: crate::faults::FaultRule

mod counters;
mod frontend;
pub(crate) mod haproxy;
mod html;
mod mlb;
mod proxy;
mod records;
mod routes;
mod rules;
mod stats;
mod supervisor;

pub(crate) use frontend::Emulated;
pub use frontend::MAX_FRONTEND_CONNECTIONS;
pub(crate) use haproxy::Haproxy;
pub use haproxy::{ConfigRejection, HaproxyError, HaproxyStatus};
pub(crate) use mlb::RealMarathonLb;
pub use mlb::{MarathonLbProgram, MarathonLbStatus};
pub use proxy::ProxyStatus;
pub(crate) use proxy::{Proxies, Proxy};

pub use records::{
    CAPACITY_CAP, CapacityMark, CapacitySample, CapacityTimeline, KILL_LOG_CAP, KillLog,
    KillRecord, LbSighting, OldWorkerSighting, RecordError,
};
pub(crate) use routes::routes;

use crate::config::SimConfig;
use crate::marathon::{Embed, Killed, Marathon};
use records::Records;
use rules::{Backend, LbApp, LbTask, backends, server_names};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Sessions and queued requests on one HAProxy server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Current sessions (`scur`).
    pub sessions: u64,
    /// Queued requests (`qcur`).
    pub queued: u64,
    /// Cluster time (epoch milliseconds) at which both drop to 0; `None`:
    /// they stay until changed.
    pub until_ms: Option<u64>,
}

/// Sessions that linger on every server marathon-lb puts into `MAINT`: each
/// instance shows `sessions` on it for `duration` of cluster time after that
/// instance disabled it (on top of any [`Traffic`] set for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionDrain {
    /// Sessions a newly disabled server keeps.
    pub sessions: u64,
    /// For how long, from the moment the instance disabled it.
    pub duration: Duration,
}

/// One marathon-lb instance.
#[derive(Debug, Clone, Default)]
struct Instance {
    /// Cluster time from a change to its adoption.
    delay_ms: u64,
    /// The backends its HAProxy runs.
    adopted: Vec<Backend>,
    /// Since when the cluster's backends differ from `adopted`.
    stale_since: Option<u64>,
    /// The end of the current reload window.
    reload_until_ms: u64,
    /// Reporting a reload whatever the window says.
    forced_reloading: bool,
    /// When each `MAINT` server was disabled, by name.
    disabled_since: BTreeMap<String, u64>,
    /// Reloads so far (the worker's pid moves on with each).
    reloads: u64,
    /// When the current worker started (cluster time).
    worker_started_ms: u64,
    /// Workers replaced by a reload that linger for the reload window.
    old_workers: Vec<OldWorker>,
}

/// An emulated worker a reload replaced, lingering for the reload window
/// with the servers it had: invisible to the stats page (the new worker
/// answers it); `/_haproxy_getpids` lists it and the kill log sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OldWorker {
    /// How many reloads there had been when it started (its pid follows).
    reloads: u64,
    /// It is gone from this time on.
    until_ms: u64,
    /// Its servers by name: whether each was `disabled` (`MAINT`) there.
    servers: BTreeMap<String, bool>,
}

impl Instance {
    /// The pid of instance `lb`'s master (emulated).
    fn master_pid(lb: usize) -> u64 {
        1000 * (lb as u64 + 1)
    }

    /// The pid of its current worker (emulated): it moves on with every
    /// reload.
    fn worker_pid(&self, lb: usize) -> u64 {
        Self::master_pid(lb) + 2 + self.reloads
    }

    /// The pid of an old worker of instance `lb`.
    fn old_pid(lb: usize, old: &OldWorker) -> u64 {
        Self::master_pid(lb) + 2 + old.reloads
    }

    /// Its old workers still lingering at `at_ms`.
    fn old_workers_at(&self, at_ms: u64) -> impl Iterator<Item = &OldWorker> {
        self.old_workers.iter().filter(move |w| at_ms < w.until_ms)
    }

    fn due_ms(&self) -> Option<u64> {
        self.stale_since.map(|since| since + self.delay_ms)
    }

    /// Takes `live` as its backends at `at_ms`.
    fn adopt(&mut self, live: &[Backend], at_ms: u64, reload_window_ms: u64) {
        self.stale_since = None;
        if self.adopted == live {
            return;
        }
        let previous: BTreeMap<String, bool> = self
            .adopted
            .iter()
            .flat_map(|b| &b.servers)
            .map(|s| (s.name.clone(), s.disabled))
            .collect();
        let replaced = self.reloads;
        self.reloads += 1;
        self.worker_started_ms = at_ms;
        if reload_window_ms > 0 {
            self.reload_until_ms = at_ms + reload_window_ms;
            self.old_workers.retain(|w| at_ms < w.until_ms);
            self.old_workers.push(OldWorker {
                reloads: replaced,
                until_ms: at_ms + reload_window_ms,
                servers: previous,
            });
        }
        self.adopted = live.to_vec();
        let disabled: BTreeSet<&str> = self
            .adopted
            .iter()
            .flat_map(|b| &b.servers)
            .filter(|s| s.disabled)
            .map(|s| s.name.as_str())
            .collect();
        self.disabled_since
            .retain(|name, _| disabled.contains(name.as_str()));
        for name in disabled {
            self.disabled_since.entry(name.to_owned()).or_insert(at_ms);
        }
    }
}

/// All simulated marathon-lb instances, their traffic and the records.
#[derive(Debug)]
pub(crate) struct MarathonLb {
    instances: Vec<Instance>,
    reload_window_ms: u64,
    drain: Option<SessionDrain>,
    /// By (instance, or `None` for every instance; server name).
    traffic: BTreeMap<(Option<usize>, String), Traffic>,
    /// The backends the current cluster state calls for.
    live: Vec<Backend>,
    /// The Marathon generation `live` was built from.
    live_generation: Option<u64>,
    /// What the real marathon-lb (`--group external`) should serve now:
    /// `live` of the apps in group `external` (kept only when an instance
    /// is the real marathon-lb).
    live_external: Vec<Backend>,
    /// Tasks able to serve now: running, and healthy when checked.
    serving: BTreeSet<String>,
    records: Records,
    /// How each instance carries traffic (its frontends or real HAProxy).
    proxies: Proxies,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl MarathonLb {
    /// The instances `config` asks for, following Marathon with its delay,
    /// carrying traffic through `proxies` (one per instance, or none).
    pub(crate) fn new(config: &SimConfig, proxies: Proxies, started_ms: u64) -> Self {
        let instance = Instance {
            delay_ms: millis(config.lb_update_delay),
            worker_started_ms: started_ms,
            ..Instance::default()
        };
        MarathonLb {
            instances: vec![instance; config.lb_count()],
            reload_window_ms: millis(config.lb_reload_window),
            drain: config.session_drain,
            traffic: BTreeMap::new(),
            live: Vec::new(),
            live_generation: None,
            live_external: Vec::new(),
            serving: BTreeSet::new(),
            records: Records::default(),
            proxies,
        }
    }

    /// Instance `lb`'s proxy (a cheap handle).
    pub(crate) fn proxy(&self, lb: usize) -> Proxy {
        self.proxies.list.get(lb).cloned().unwrap_or_default()
    }

    /// Stops every instance's frontends or HAProxy, then removes the real
    /// HAProxies' private directory.
    pub(crate) fn stop(&mut self) {
        self.proxies.stop();
        drop(self.proxies.dir.take());
    }

    /// The private directory of the real HAProxies' or marathon-lbs'
    /// files, if any.
    pub(crate) fn dir(&self) -> Option<std::path::PathBuf> {
        self.proxies.dir.as_ref().map(|d| d.path().to_owned())
    }

    /// How many instances there are.
    pub(crate) fn count(&self) -> usize {
        self.instances.len()
    }

    /// When the next instance adopts a change, if one is pending.
    pub(crate) fn next_event_ms(&self) -> Option<u64> {
        self.instances.iter().filter_map(Instance::due_ms).min()
    }

    /// Brings the instances to `at_ms` after Marathon got there: records
    /// `killed` against what each instance had then, notices changed
    /// backends, adopts those that are due, and samples capacity.
    pub(crate) fn observe(&mut self, at_ms: u64, marathon: &Marathon, killed: &[Killed]) {
        for kill in killed {
            let task_in_flight = kill.task["id"]
                .as_str()
                .and_then(|id| marathon.agent.in_flight(id));
            self.record_kill(kill, task_in_flight);
        }
        let live_changed = self.refresh_live(marathon);
        let mut adopted = false;
        for (lb, instance) in self.instances.iter_mut().enumerate() {
            // Unless the live backends changed, an instance that is not stale
            // still has them: skip comparing every server on every request.
            if !live_changed && instance.stale_since.is_none() {
                continue;
            }
            if instance.adopted == self.live {
                instance.stale_since = None;
                continue;
            }
            instance.stale_since.get_or_insert(at_ms);
            if instance.due_ms().is_some_and(|due| due <= at_ms) {
                instance.adopt(&self.live, at_ms, self.reload_window_ms);
                if let Some(proxy) = self.proxies.list.get(lb) {
                    proxy.adopt(&instance.adopted);
                }
                adopted = true;
            }
        }
        if live_changed || adopted || !killed.is_empty() {
            self.sample(at_ms);
        }
    }

    /// Rebuilds the backends the cluster calls for, if Marathon changed.
    fn refresh_live(&mut self, marathon: &Marathon) -> bool {
        if self.live_generation == Some(marathon.generation()) {
            return false;
        }
        self.live_generation = Some(marathon.generation());
        let embed = Embed {
            tasks: true,
            ..Embed::default()
        };
        let apps: Vec<LbApp> = marathon
            .apps()
            .map(|app| LbApp::from_marathon_json(&app.to_json(&embed)))
            .collect();
        self.serving = apps
            .iter()
            .flat_map(|app| {
                app.tasks
                    .iter()
                    .filter(|t| t.running && (!app.has_health_checks || t.alive))
                    .map(|t| t.id.clone())
            })
            .collect();
        if self
            .proxies
            .list
            .iter()
            .any(|p| matches!(p, Proxy::MarathonLb(_)))
        {
            // marathon-lb's --group external: HAPROXY_GROUP lists it.
            let external = apps
                .iter()
                .filter(|app| {
                    app.labels
                        .get("HAPROXY_GROUP")
                        .is_some_and(|g| g.split(',').any(|g| g.trim() == "external"))
                })
                .cloned()
                .collect();
            self.live_external = backends(external);
        }
        self.live = backends(apps);
        true
    }

    /// The backends the real marathon-lb (`--group external`) should serve
    /// for the cluster as it is now.
    pub(crate) fn external_backends(&self) -> Vec<Backend> {
        self.live_external.clone()
    }

    fn sample(&mut self, at_ms: u64) {
        for (lb, instance) in self.instances.iter().enumerate() {
            let mut counts: BTreeMap<String, (String, usize)> = BTreeMap::new();
            for backend in &instance.adopted {
                let serving = backend
                    .servers
                    .iter()
                    .filter(|s| !s.disabled && self.serving.contains(&s.task_id))
                    .count();
                let entry = counts
                    .entry(backend.group.clone())
                    .or_insert_with(|| (backend.name.clone(), 0));
                entry.1 += serving;
            }
            self.records.note_capacity(at_ms, lb, &counts);
        }
    }

    fn record_kill(&mut self, kill: &Killed, task_in_flight: Option<u64>) {
        let app = LbApp::from_marathon_json(&kill.app);
        let task = LbTask::from_json(&kill.task);
        let names = server_names(&app, &task);
        let mut seen = Vec::new();
        let mut old_workers = Vec::new();
        for (lb, instance) in self.instances.iter().enumerate() {
            old_workers.extend(self.old_worker_sightings(lb, &names, kill.at_ms));
            if let Proxy::MarathonLb(mlb) = self.proxy(lb) {
                // The real marathon-lb's view is its HAProxy's, not the
                // model's.
                let rows = mlb.current_rows(&names).unwrap_or_default();
                let reloading = mlb.pids().len() > 2;
                for name in &names {
                    let row = rows.iter().find(|r| &r.server == name);
                    seen.push(LbSighting {
                        lb,
                        server: name.clone(),
                        in_backend: row.is_some(),
                        maint: row.is_some_and(|r| r.status == "MAINT"),
                        sessions: row.map_or(0, |r| r.sessions),
                        queued: row.map_or(0, |r| r.queued),
                        reloading,
                    });
                }
                continue;
            }
            for name in &names {
                let server = instance
                    .adopted
                    .iter()
                    .flat_map(|b| &b.servers)
                    .find(|s| s.task_id == task.id && &s.name == name);
                let (sessions, queued) = match server {
                    Some(_) => self.sessions_at(lb, name, kill.at_ms),
                    None => (0, 0),
                };
                let reloading = match self.proxy(lb) {
                    Proxy::Haproxy(haproxy) => {
                        instance.forced_reloading || haproxy.pids().len() > 2
                    }
                    _ => self.reloading(lb, kill.at_ms),
                };
                seen.push(LbSighting {
                    lb,
                    server: name.clone(),
                    in_backend: server.is_some(),
                    maint: server.is_some_and(|s| s.disabled),
                    sessions,
                    queued,
                    reloading,
                });
            }
        }
        self.records.record_kill(KillRecord {
            at_ms: kill.at_ms,
            app_id: kill.app_id.clone(),
            task_id: task.id,
            cause: kill.cause,
            servers: names,
            seen,
            old_workers,
            task_in_flight,
        });
    }

    /// What instance `lb`'s lingering old workers had on the servers
    /// `names` at `at_ms`: a real HAProxy's, from its master CLI; else the
    /// old-worker model's, with the emulated frontend's requests that
    /// started under an older worker as their sessions.
    fn old_worker_sightings(
        &self,
        lb: usize,
        names: &[String],
        at_ms: u64,
    ) -> Vec<OldWorkerSighting> {
        let proxy = self.proxy(lb);
        if let Some(rows) = proxy.old_worker_rows(names) {
            return rows
                .into_iter()
                .map(|row| OldWorkerSighting {
                    lb,
                    pid: row.pid,
                    server: row.server,
                    status: row.status,
                    sessions: row.sessions,
                    queued: row.queued,
                })
                .collect();
        }
        let mut out = Vec::new();
        for old in self.instances[lb].old_workers_at(at_ms) {
            for name in names {
                let Some(&disabled) = old.servers.get(name) else {
                    continue;
                };
                let sessions = match &proxy {
                    Proxy::Emulated(frontend) => frontend.counters().in_flight_before(name),
                    _ => 0,
                };
                out.push(OldWorkerSighting {
                    lb,
                    pid: u32::try_from(Instance::old_pid(lb, old)).unwrap_or(u32::MAX),
                    server: name.clone(),
                    status: if disabled { "MAINT" } else { "UP" }.into(),
                    sessions,
                    queued: 0,
                });
            }
        }
        out
    }

    /// `(scur, qcur)` of server `name` on instance `lb` at `at_ms`.
    fn traffic_at(&self, lb: usize, name: &str, at_ms: u64) -> (u64, u64) {
        let active = |key: Option<usize>| {
            self.traffic
                .get(&(key, name.to_owned()))
                .filter(|t| t.until_ms.is_none_or(|until| at_ms < until))
        };
        let (sessions, queued) = active(Some(lb))
            .or_else(|| active(None))
            .map_or((0, 0), |t| (t.sessions, t.queued));
        let lingering = match (self.drain, self.instances[lb].disabled_since.get(name)) {
            (Some(drain), Some(&since)) if at_ms < since.saturating_add(millis(drain.duration)) => {
                drain.sessions
            }
            _ => 0,
        };
        (sessions + lingering, queued)
    }

    /// `(scur, qcur)` of server `name` on instance `lb` as its stats show
    /// them at `at_ms`: a real HAProxy's own (the simulated traffic when
    /// they cannot be read), else the simulated traffic plus the emulated
    /// frontend's requests in flight.
    fn sessions_at(&self, lb: usize, name: &str, at_ms: u64) -> (u64, u64) {
        let (sessions, queued) = self.traffic_at(lb, name, at_ms);
        match (self.proxy(lb), self.proxy(lb).sessions(name)) {
            (Proxy::Haproxy(_), Some(real)) => real,
            (_, Some((in_flight, _))) => (sessions + in_flight, queued),
            (_, None) => (sessions, queued),
        }
    }

    /// The `;csv` stats page of instance `lb` at `at_ms` as the sim models
    /// it (with the emulated frontend's counters; a real HAProxy's page
    /// comes from HAProxy itself).
    #[cfg(test)]
    pub(crate) fn stats_csv(&self, lb: usize, at_ms: u64) -> String {
        stats::csv(&self.stats_rows(lb, at_ms, &stats::Scope::default()))
    }

    /// The emulated stats page of instance `lb` at `at_ms` for the stats
    /// query `query` (`stats;csv;scope=web`): `;csv` or HTML, the proxies
    /// in its `;scope=`. Its content type and body.
    pub(crate) fn stats_page(&self, lb: usize, at_ms: u64, query: &str) -> (&'static str, String) {
        let rows = self.stats_rows(lb, at_ms, &stats::Scope::of_query(query));
        if query.split(';').any(|option| option == "csv") {
            return ("text/plain", stats::csv(&rows));
        }
        let instance = &self.instances[lb];
        let process = html::Process {
            pid: instance.worker_pid(lb),
            // HAProxy's default: one thread per CPU.
            nbthread: std::thread::available_parallelism().map_or(1, |n| n.get()),
            uptime_ms: at_ms.saturating_sub(instance.worker_started_ms),
        };
        ("text/html", html::page(process, &rows))
    }

    fn stats_rows(&self, lb: usize, at_ms: u64, scope: &stats::Scope) -> Vec<stats::Row> {
        let proxy = self.proxy(lb);
        stats::stats_rows(lb, &self.instances[lb].adopted, scope, |backend, name| {
            let (scur, qcur) = self.traffic_at(lb, name, at_ms);
            let counters = match &proxy {
                Proxy::Emulated(frontend) => frontend.counters().snapshot(backend, name),
                _ => counters::Snapshot::default(),
            };
            stats::ServerRow {
                scur: scur + counters.scur,
                qcur,
                counters,
            }
        })
    }

    /// Whether instance `lb` is mid-reload at `at_ms`.
    pub(crate) fn reloading(&self, lb: usize, at_ms: u64) -> bool {
        let instance = &self.instances[lb];
        instance.forced_reloading || at_ms < instance.reload_until_ms
    }

    /// The emulated `/_haproxy_getpids` of instance `lb` at `at_ms`: the
    /// master and its worker, plus the old workers lingering in the reload
    /// window (or a made-up one while a reload is forced). A real HAProxy
    /// answers for itself.
    pub(crate) fn pids(&self, lb: usize, at_ms: u64) -> String {
        let instance = &self.instances[lb];
        let mut pids = vec![Instance::master_pid(lb)];
        pids.extend(
            instance
                .old_workers_at(at_ms)
                .map(|old| Instance::old_pid(lb, old)),
        );
        let worker = instance.worker_pid(lb);
        if pids.len() == 1 && self.reloading(lb, at_ms) {
            pids.push(worker - 1);
        }
        pids.push(worker);
        pids.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Sets the traffic of server `name` on instance `lb` (`None`: every
    /// instance that has no traffic of its own set for it).
    pub(crate) fn set_traffic(&mut self, lb: Option<usize>, name: &str, traffic: Traffic) {
        self.traffic.insert((lb, name.to_owned()), traffic);
    }

    /// Removes all traffic set with [`MarathonLb::set_traffic`].
    pub(crate) fn clear_traffic(&mut self) {
        self.traffic.clear();
    }

    /// Forces instance `lb` to report a reload (or stops forcing it). With
    /// a real HAProxy it also reloads it for real: its old worker lingers
    /// while it has connections (getpids is HAProxy's own there), and the
    /// kill log counts the instance as reloading while forced.
    pub(crate) fn set_reloading(&mut self, lb: usize, reloading: bool) {
        self.instances[lb].forced_reloading = reloading;
        if let (true, Proxy::Haproxy(haproxy)) = (reloading, self.proxy(lb)) {
            haproxy.force_reload();
        }
    }

    /// Sets instance `lb`'s update delay; a pending adoption moves with it.
    pub(crate) fn set_update_delay(&mut self, lb: usize, delay: Duration) {
        self.instances[lb].delay_ms = millis(delay);
    }

    /// Sets (or with `None` stops) the sessions newly disabled servers keep.
    pub(crate) fn set_session_drain(&mut self, drain: Option<SessionDrain>) {
        self.drain = drain;
    }

    pub(crate) fn kill_log(&self) -> KillLog {
        self.records.kill_log()
    }

    pub(crate) fn capacity_timeline(&self) -> CapacityTimeline {
        self.records.timeline()
    }

    pub(crate) fn capacity_mark(&self, at_ms: u64) -> CapacityMark {
        self.records.mark(at_ms, self.instances.len())
    }

    pub(crate) fn min_capacity_since(
        &self,
        mark: &CapacityMark,
        group: &str,
    ) -> Result<usize, RecordError> {
        self.records.min_since(mark, group)
    }
}

#[cfg(test)]
mod tests;
