//! What the load balancers allow: whether every marathon-lb can be read,
//! where a task stands on each, how long a drained server has been
//! `MAINT` (the reload linger), the capacity a kill must leave, draining
//! and killing, and when a phase is done.

use super::{Limits, Moment, PhaseRequest, Step, human, wait};
use crate::marathon::{MarathonApp, Task};
use crate::plan::evidence::{DrainEvidence, Longest};
use crate::plan::observe::{LbState, LbView, Observation};
use crate::plan::predict::{backend_name, drains, server_names};
use crate::plan::stats::StatsRow;
use std::time::Duration;

/// `Some(wait)` while a load balancer is unreachable: then nothing is
/// killed and nothing is declared done. A reload needs no wait of its own:
/// the servers it drained wait out its old worker by the reload linger
/// ([`drain_and_kill`]).
pub(super) fn lbs_ready(lbs: &[LbView], limits: &Limits, moment: &Moment<'_>) -> Option<Step> {
    for lb in lbs {
        if let LbState::Unreachable { message } = &lb.state {
            // Nothing is killed or declared done without every load
            // balancer's view; an outage longer than a drain may last
            // ends the phase (the group as it is, resumable) instead of
            // waiting forever.
            let key = format!("lb-unreachable:{}", lb.url);
            if moment.waited(&key) > limits.drain_timeout {
                return Some(Step::Failed(format!(
                    "marathon-lb {} cannot be read for over {}: {message}; nothing was killed while it could not be \
                     read: check --marathon-lb and the load balancer, then resume",
                    lb.url,
                    human(limits.drain_timeout)
                )));
            }
            return Some(wait(
                key,
                format!("marathon-lb {} cannot be read: {message}", lb.url),
                1_000,
            ));
        }
    }
    None
}

/// The load balancers as the planner reads them for one backend.
pub(super) struct View<'a> {
    pub(super) lbs: &'a [LbView],
    pub(super) backend: Option<&'a str>,
    /// Since when servers have been `MAINT`, and the longest requests.
    pub(super) evidence: &'a DrainEvidence,
}

/// Where one task stands on one load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OnLb {
    /// Not in the backend.
    Absent,
    /// In the backend with this status and these sessions and queue.
    Present {
        status: String,
        sessions: u64,
        queued: u64,
    },
}

fn is_up(status: &str) -> bool {
    status == "UP" || status.starts_with("UP ") || status == "no check"
}

impl View<'_> {
    fn rows<'l>(&self, lb: &'l LbView) -> Vec<&'l StatsRow> {
        let (LbState::Stats { rows, .. }, Some(backend)) = (&lb.state, self.backend) else {
            return Vec::new();
        };
        rows.iter()
            .filter(|r| r.pxname == backend && r.is_server())
            .collect()
    }

    fn on(&self, lb: &LbView, app: &MarathonApp, task: &Task) -> OnLb {
        let names = server_names(app, task, None);
        let rows: Vec<&StatsRow> = self
            .rows(lb)
            .into_iter()
            .filter(|r| names.contains(&r.svname))
            .collect();
        if rows.is_empty() {
            return OnLb::Absent;
        }
        // A task with several ports is drained when all its servers are.
        let status = if rows.iter().all(|r| r.status() == "MAINT") {
            "MAINT".to_owned()
        } else {
            rows.iter()
                .map(|r| r.status())
                .find(|s| *s != "MAINT")
                .unwrap_or("")
                .to_owned()
        };
        OnLb::Present {
            status,
            sessions: rows.iter().map(|r| r.number("scur")).sum(),
            queued: rows.iter().map(|r| r.number("qcur")).sum(),
        }
    }

    pub(super) fn absent_everywhere(&self, app: &MarathonApp, task: &Task) -> bool {
        self.lbs
            .iter()
            .all(|lb| self.on(lb, app, task) == OnLb::Absent)
    }

    /// The fewest servers `UP` in the backend over the load balancers that
    /// have it, and that load balancer.
    fn least_up(&self) -> Option<(u32, &str)> {
        self.lbs
            .iter()
            .filter_map(|lb| {
                let rows = self.rows(lb);
                (!rows.is_empty()).then(|| {
                    let up = rows.iter().filter(|r| is_up(r.status())).count() as u32;
                    (up, lb.url.as_str())
                })
            })
            .min()
    }
}

/// `Some(wait)` while the old haproxy worker of the reload that drained
/// `task`'s servers on `lb` may still be finishing requests on them: until
/// the readings have shown them `MAINT` for the reload linger. A linger
/// longer than the drain timeout fails the phase at once (no wait would
/// help), unless killing after the drain timeout was asked for.
fn linger(
    request: &PhaseRequest,
    view: &View<'_>,
    lb: &LbView,
    app: &MarathonApp,
    task: &Task,
    moment: &Moment<'_>,
) -> Option<Step> {
    let limits = &request.limits;
    let backend = view.backend?;
    let names = server_names(app, task, None);
    let since = names
        .iter()
        .filter_map(|n| view.evidence.maint_since(&lb.url, backend, n))
        .max()
        .unwrap_or(moment.now);
    let longest = view.evidence.longest_request(&lb.url, backend);
    let mut needed = limits.reload_linger.for_backend(longest);
    if needed > limits.drain_timeout {
        if !limits.kill_after_drain_timeout {
            return Some(Step::Failed(format!(
                "the requests of backend {backend} may take up to {} (the reload linger, from {}), longer than the \
                 drain timeout {}: canary cannot tell when marathon-lb {}'s old haproxy worker has finished those on \
                 server {}; raise --drain-timeout, or set --reload-linger",
                human(needed),
                match (limits.reload_linger, longest) {
                    (super::ReloadLinger::Fixed(_), _) => "--reload-linger".to_owned(),
                    (_, Longest::Known(longest)) =>
                        format!("the longest request seen, {}", human(longest)),
                    (_, Longest::Unknown(_)) =>
                        "the default where the counters cannot tell".to_owned(),
                },
                human(limits.drain_timeout),
                lb.url,
                names.join(",")
            )));
        }
        needed = limits.drain_timeout;
    }
    let drained_for = moment.now.since(since);
    if drained_for >= needed {
        return None;
    }
    let left = needed - drained_for;
    Some(Step::Wait(super::Wait {
        key: format!("linger:{}", lb.url),
        reason: format!(
            "marathon-lb {}'s old haproxy worker to finish its requests on server {} of {} ({} after the reload that \
             drained it, {} left)",
            lb.url,
            names.join(","),
            app.id,
            human(needed),
            human(left)
        ),
        poll: left.max(Duration::from_millis(10)),
    }))
}

/// `then` unless it would leave fewer than `floor` servers `UP` on a load
/// balancer (its servers to remove are `MAINT` or absent, so they do not
/// count): then wait for the load balancers to show more.
pub(super) fn capacity_then(view: &View<'_>, floor: u32, then: Step) -> Step {
    if let Some((up, lb)) = view.least_up()
        && up < floor
    {
        return wait(
            format!("capacity:{lb}"),
            format!(
                "marathon-lb {lb} has {up} server(s) UP, fewer than the {floor} that must stay serving"
            ),
            250,
        );
    }
    then
}

/// Waits until every task of `batch` (the first `count` of `drained`, the
/// tasks marathon-lb drains of `app`) is drained on every load balancer,
/// then kills them (or deletes `app` when `whole` and they are all of it).
#[allow(clippy::too_many_arguments)]
pub(super) fn drain_and_kill(
    request: &PhaseRequest,
    view: &View<'_>,
    app: &MarathonApp,
    drained: &[String],
    count: u32,
    floor: u32,
    whole: bool,
    moment: &Moment<'_>,
) -> Step {
    let limits = &request.limits;
    let batch: Vec<&Task> = drained
        .iter()
        .take(count as usize)
        .filter_map(|id| app.tasks.iter().find(|t| t.id == *id))
        .collect();
    let mut open_sessions = 0;
    for task in &batch {
        let serving = task.in_rotation(app.has_health_checks);
        let mut seen = false;
        for lb in view.lbs {
            match view.on(lb, app, task) {
                OnLb::Absent => {}
                OnLb::Present {
                    status,
                    sessions,
                    queued,
                } => {
                    seen = true;
                    let key = format!("drain:{}", task.id);
                    let names = server_names(app, task, None).join(",");
                    if status != "MAINT" {
                        let why = format!(
                            "marathon-lb {} to take server {names} of {} out of rotation (it is {status})",
                            lb.url, app.id
                        );
                        if moment.waited(&key) > limits.drain_timeout {
                            return Step::Failed(format!(
                                "marathon-lb {} did not drain server {names} (task {}) within {}: it is still {status}",
                                lb.url,
                                task.id,
                                human(limits.drain_timeout)
                            ));
                        }
                        // Soon: the reload that drains it starts the linger.
                        return wait(key, why, 100);
                    }
                    if sessions > 0 || queued > 0 {
                        if moment.waited(&key) >= limits.drain_timeout {
                            if limits.kill_after_drain_timeout {
                                open_sessions += sessions + queued;
                                continue;
                            }
                            return Step::Failed(format!(
                                "the drain of task {} (server {names}) did not finish within {}: {sessions} session(s) and {queued} queued \
                                 request(s) on marathon-lb {}; rerun to keep waiting, or pass --kill-after-drain-timeout to kill it anyway",
                                task.id,
                                human(limits.drain_timeout),
                                lb.url
                            ));
                        }
                        return wait(
                            key,
                            format!(
                                "server {names} of {} to drain: {sessions} session(s), {queued} queued on marathon-lb {}",
                                app.id, lb.url
                            ),
                            500,
                        );
                    }
                    if let Some(step) = linger(request, view, lb, app, task, moment) {
                        return step;
                    }
                }
            }
        }
        if serving && !seen && !view.lbs.is_empty() && view.backend.is_some() {
            // In rotation by Marathon's account but on no load balancer: a
            // marathon-lb that has not caught up, or a name that does not
            // match; never taken for "serves nothing".
            let key = format!("drain:{}", task.id);
            if moment.waited(&key) > limits.drain_timeout {
                return Step::Failed(format!(
                    "task {} of {} is healthy but no marathon-lb lists its server ({}) in backend {}: cannot tell whether it serves",
                    task.id,
                    app.id,
                    server_names(app, task, None).join(","),
                    view.backend.unwrap_or("?")
                ));
            }
            return wait(
                key,
                format!("marathon-lb to list task {} of {}", task.id, app.id),
                250,
            );
        }
    }
    let all_of_it = batch.len() == app.tasks.len() && app.instances as usize <= batch.len();
    let step = if whole && all_of_it {
        Step::Delete {
            app_id: app.id.clone(),
            open_sessions,
        }
    } else {
        Step::Kill {
            app_id: app.id.clone(),
            task_ids: batch.iter().map(|t| t.id.clone()).collect(),
            open_sessions,
        }
    };
    capacity_then(view, floor, step)
}

/// `Done(message)` once the load balancers agree with the apps: every load
/// balancer lists the group's backend with every task in rotation `UP`,
/// and no server of it `MAINT`; else wait for them to catch up, for at most
/// the drain timeout (a marathon-lb that never serves the group is a
/// failure: canary cannot drain through it).
pub(super) fn done_when_settled(
    request: &PhaseRequest,
    observation: &Observation,
    apps: &[&MarathonApp],
    message: &str,
    moment: &Moment<'_>,
) -> Step {
    if let Some(step) = lbs_ready(&observation.lbs, &request.limits, moment) {
        return step;
    }
    let owned: Vec<MarathonApp> = apps.iter().map(|a| (*a).clone()).collect();
    let old = match owned.as_slice() {
        [a, b] => drains(&[a.clone(), b.clone()]).map(|d| d.old_app),
        _ => None,
    }
    .unwrap_or_else(|| apps[0].id.clone());
    let backend = group_port(&owned, &old).map(|p| backend_name(&request.group, p));
    let view = View {
        lbs: &observation.lbs,
        backend: backend.as_deref(),
        evidence: &observation.evidence,
    };
    let serving = apps.iter().any(|app| {
        app.tasks
            .iter()
            .any(|t| t.in_rotation(app.has_health_checks))
    });
    let mut problem = None;
    'lbs: for lb in &observation.lbs {
        let rows = view.rows(lb);
        if rows.is_empty() {
            if serving && backend.is_some() {
                problem = Some((
                    lb.url.clone(),
                    format!(
                        "marathon-lb {} to list backend {}",
                        lb.url,
                        backend.as_deref().unwrap_or("?")
                    ),
                ));
                break;
            }
            continue;
        }
        if let Some(row) = rows.iter().find(|r| r.status() == "MAINT") {
            problem = Some((
                lb.url.clone(),
                format!(
                    "marathon-lb {} to take server {} out of MAINT",
                    lb.url, row.svname
                ),
            ));
            break;
        }
        for app in apps {
            for task in &app.tasks {
                if !task.in_rotation(app.has_health_checks) {
                    continue;
                }
                match view.on(lb, app, task) {
                    OnLb::Present { status, .. } if is_up(&status) => {}
                    other => {
                        let shown = match other {
                            OnLb::Absent => "absent".to_owned(),
                            OnLb::Present { status, .. } => status,
                        };
                        problem = Some((
                            lb.url.clone(),
                            format!(
                                "marathon-lb {} to serve task {} of {} (it is {shown})",
                                lb.url, task.id, app.id
                            ),
                        ));
                        break 'lbs;
                    }
                }
            }
        }
    }
    let Some((lb, reason)) = problem else {
        return Step::Done(message.to_owned());
    };
    let key = format!("settle:{lb}");
    let limit = request.limits.drain_timeout;
    if moment.waited(&key) > limit {
        return Step::Failed(format!(
            "the apps are in place ({message}) but marathon-lb {lb} did not catch up within {}: waited for {reason}",
            human(limit)
        ));
    }
    wait(key, reason, 250)
}

/// The service port marathon-lb names the group's backend by: the merged
/// (old) app's `HAPROXY_0_PORT`, else its service port.
pub(super) fn group_port(apps: &[MarathonApp], old_id: &str) -> Option<u16> {
    use crate::plan::sample::app_port;
    apps.iter()
        .find(|a| a.id == old_id)
        .and_then(app_port)
        .or_else(|| apps.iter().find_map(app_port))
}
