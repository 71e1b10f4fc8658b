//! Which side each server is on, and a window's metrics per side.
//!
//! marathon-lb names every server after its task's address
//! ([`server_names`]), so a server row maps back to one task and its app:
//! the canary (the group's newest app) or the baseline (the app before
//! it). Servers that map to no task of either app (a task that ended, an
//! address the driver could not resolve) are reported with what they
//! served, never counted on a side.

use super::counters::Counters;
use super::snapshot::{LbCoverage, WindowDelta};
use crate::marathon::MarathonApp;
use crate::plan::predict::{by_started_at, server_names};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The new app's tasks.
    Canary,
    /// The previous app's tasks.
    Baseline,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Canary => "canary",
            Side::Baseline => "baseline",
        })
    }
}

/// The map from marathon-lb server names to sides, built from the two
/// apps' tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    canary_app: String,
    baseline_app: Option<String>,
    servers: BTreeMap<String, Side>,
}

impl Roles {
    /// The roles of `canary`'s and `baseline`'s tasks (every task, in any
    /// state: a task that stopped during the window may still have a row).
    /// `host_ips` gives the address a task's host name resolved to, for
    /// agents known by name (see [`server_names`]). A name both apps claim
    /// (a port reused by a task of the other app) is on neither side.
    pub fn new(
        canary: &MarathonApp,
        baseline: Option<&MarathonApp>,
        host_ips: &BTreeMap<String, String>,
    ) -> Roles {
        let mut servers = BTreeMap::new();
        let mut ambiguous = BTreeSet::new();
        let sides = [(Some(canary), Side::Canary), (baseline, Side::Baseline)];
        for (app, side) in sides {
            let Some(app) = app else { continue };
            for task in &app.tasks {
                let ip = host_ips.get(&task.host).map(String::as_str);
                for name in server_names(app, task, ip) {
                    if *servers.entry(name.clone()).or_insert(side) != side {
                        ambiguous.insert(name);
                    }
                }
            }
        }
        for name in ambiguous {
            servers.remove(&name);
        }
        Roles {
            canary_app: canary.id.clone(),
            baseline_app: baseline.map(|b| b.id.clone()),
            servers,
        }
    }

    /// The roles in a deployment group: its newest app (by
    /// `HAPROXY_DEPLOYMENT_STARTED_AT`, as marathon-lb orders them) is the
    /// canary, the one before it the baseline; a group of one app has no
    /// baseline. `None` for an empty group.
    pub fn from_group(apps: &[MarathonApp], host_ips: &BTreeMap<String, String>) -> Option<Roles> {
        let mut sorted: Vec<&MarathonApp> = apps.iter().collect();
        sorted.sort_by(|a, b| by_started_at(a, b));
        let canary = sorted.pop()?;
        Some(Roles::new(canary, sorted.pop(), host_ips))
    }

    /// The side of the server named `server`, if it is one of the apps'.
    pub fn side(&self, server: &str) -> Option<Side> {
        self.servers.get(server).copied()
    }

    /// The canary's app id.
    pub fn canary_app(&self) -> &str {
        &self.canary_app
    }

    /// The baseline's app id, when the group has one.
    pub fn baseline_app(&self) -> Option<&str> {
        self.baseline_app.as_deref()
    }
}

/// One side's numbers over a window, summed over every load balancer
/// counted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideMetrics {
    /// The app.
    pub app_id: String,
    /// Server rows counted (one per task and load balancer).
    pub servers: u64,
    /// Requests sent to the side: responses plus failed connections and
    /// response errors (see [`Counters::requests`]).
    pub requests: u64,
    /// Responses, every class (`hrsp_*`).
    pub responses: u64,
    /// Errors: 5xx responses, failed connections and response errors.
    pub errors: u64,
    /// 5xx responses (`hrsp_5xx`).
    pub responses_5xx: u64,
    /// 4xx responses (`hrsp_4xx`): reported, not errors (a client's bad
    /// request is not the server's failure), but a canary answering 404
    /// where its baseline answers 200 shows here.
    pub responses_4xx: u64,
    /// Failed connections (`econ`).
    pub connection_errors: u64,
    /// Response errors (`eresp`).
    pub response_errors: u64,
    /// Transfers the client aborted (`cli_abrt`).
    pub client_aborts: u64,
    /// Transfers the server aborted (`srv_abrt`, already among the
    /// response errors).
    pub server_aborts: u64,
    /// `errors / requests`, in 0..=1; `None` without requests.
    pub error_rate: Option<f64>,
    /// The servers' `rtime` (ms) weighted by the responses each sent in
    /// the window; `None` without responses. `rtime` covers a server's
    /// last 1024 requests, so on a busy server it is the window's own.
    pub mean_response_ms: Option<f64>,
}

/// A side's sums while adding servers up.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    servers: u64,
    counters: Counters,
    /// Σ rtime × responses, exact (so any split of the same traffic over
    /// load balancers gives the same mean).
    weighted_ms: u128,
}

impl Sums {
    fn add(&mut self, c: &Counters) {
        let t = &mut self.counters;
        for (sum, n) in [
            (&mut t.hrsp_1xx, c.hrsp_1xx),
            (&mut t.hrsp_2xx, c.hrsp_2xx),
            (&mut t.hrsp_3xx, c.hrsp_3xx),
            (&mut t.hrsp_4xx, c.hrsp_4xx),
            (&mut t.hrsp_5xx, c.hrsp_5xx),
            (&mut t.hrsp_other, c.hrsp_other),
            (&mut t.econ, c.econ),
            (&mut t.eresp, c.eresp),
            (&mut t.cli_abrt, c.cli_abrt),
            (&mut t.srv_abrt, c.srv_abrt),
            (&mut t.stot, c.stot),
        ] {
            *sum = sum.saturating_add(n);
        }
        self.servers += 1;
        self.weighted_ms = self
            .weighted_ms
            .saturating_add(u128::from(c.rtime) * u128::from(c.responses()));
    }

    fn metrics(&self, app_id: &str) -> SideMetrics {
        let c = &self.counters;
        let (requests, responses, errors) = (c.requests(), c.responses(), c.errors());
        SideMetrics {
            app_id: app_id.to_owned(),
            servers: self.servers,
            requests,
            responses,
            errors,
            responses_5xx: c.hrsp_5xx,
            responses_4xx: c.hrsp_4xx,
            connection_errors: c.econ,
            response_errors: c.eresp,
            client_aborts: c.cli_abrt,
            server_aborts: c.srv_abrt,
            error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
            mean_response_ms: (responses > 0).then(|| self.weighted_ms as f64 / responses as f64),
        }
    }
}

/// A server row counted on neither side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmatchedServer {
    /// The load balancer that showed it.
    pub lb: String,
    /// Its server name.
    pub server: String,
    /// The requests it was sent in the window.
    pub requests: u64,
    /// The errors among them.
    pub errors: u64,
}

/// A window's numbers: per side, and how each load balancer counted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowMetrics {
    /// The HAProxy backend read.
    pub backend: String,
    /// The canary's numbers.
    pub canary: SideMetrics,
    /// The baseline's, when the group has a baseline.
    pub baseline: Option<SideMetrics>,
    /// Every load balancer of the window, counted or not.
    pub lbs: Vec<LbCoverage>,
    /// Servers of the backend that are on neither side, with what they
    /// served (servers that served nothing are left out).
    pub unmatched: Vec<UnmatchedServer>,
}

impl WindowMetrics {
    /// A side's numbers (`None` for a missing baseline).
    pub fn side(&self, side: Side) -> Option<&SideMetrics> {
        match side {
            Side::Canary => Some(&self.canary),
            Side::Baseline => self.baseline.as_ref(),
        }
    }
}

/// The metrics of `delta` with servers on the sides `roles` gives.
pub fn metrics(delta: &WindowDelta, roles: &Roles) -> WindowMetrics {
    let mut canary = Sums::default();
    let mut baseline = Sums::default();
    let mut unmatched = Vec::new();
    for lb in &delta.lbs {
        for (name, gained) in &lb.servers {
            match roles.side(name) {
                Some(Side::Canary) => canary.add(gained),
                Some(Side::Baseline) => baseline.add(gained),
                None if gained.requests() > 0 => unmatched.push(UnmatchedServer {
                    lb: lb.coverage.url.clone(),
                    server: name.clone(),
                    requests: gained.requests(),
                    errors: gained.errors(),
                }),
                None => {}
            }
        }
    }
    WindowMetrics {
        backend: delta.backend.clone(),
        canary: canary.metrics(roles.canary_app()),
        baseline: roles.baseline_app().map(|id| baseline.metrics(id)),
        lbs: delta.lbs.iter().map(|l| l.coverage.clone()).collect(),
        unmatched,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::snapshot::tests::{read, served, snapshot};
    use crate::analysis::snapshot::{LbSnapshot, delta};
    use crate::marathon::Task;
    use serde_json::json;

    /// An app of group `web` started at `started`, with one task per port
    /// on host 10.0.0.1 (server names `10_0_0_1_<port>`).
    pub(crate) fn app(id: &str, started: &str, ports: &[u16]) -> MarathonApp {
        let mut app = MarathonApp::from_marathon(&json!({
            "id": id, "instances": ports.len(),
            "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_STARTED_AT": started}
        }))
        .unwrap();
        app.tasks = ports
            .iter()
            .map(|p| Task {
                id: format!("{}.{p}", id.trim_start_matches('/')),
                host: "10.0.0.1".into(),
                ip: None,
                ports: vec![*p],
                state: "TASK_RUNNING".into(),
                alive: Some(true),
            })
            .collect();
        app
    }

    /// The usual pair: baseline `/web-blue` on 31000..31002, canary
    /// `/web-green` on 31003.
    pub(crate) fn roles() -> Roles {
        let blue = app("/web-blue", "2026-01-01T00:00:00", &[31000, 31001, 31002]);
        let green = app("/web-green", "2026-02-01T00:00:00", &[31003]);
        Roles::from_group(&[green, blue], &BTreeMap::new()).unwrap()
    }

    #[test]
    fn the_newest_app_is_the_canary_and_the_one_before_it_the_baseline() {
        let blue = app("/web-blue", "2026-01-01T00:00:00", &[31000]);
        let green = app("/web-green", "2026-02-01T00:00:00", &[31003]);
        let older = app("/web-old", "2025-01-01T00:00:00", &[31009]);
        let r = Roles::from_group(&[green.clone(), older, blue.clone()], &BTreeMap::new()).unwrap();
        assert_eq!(
            (r.canary_app(), r.baseline_app()),
            ("/web-green", Some("/web-blue"))
        );
        assert_eq!(r.side("10_0_0_1_31003"), Some(Side::Canary));
        assert_eq!(r.side("10_0_0_1_31000"), Some(Side::Baseline));
        assert_eq!(r.side("10_0_0_1_31009"), None, "only the two newest apps");
        let alone = Roles::from_group(&[blue], &BTreeMap::new()).unwrap();
        assert_eq!(
            (alone.canary_app(), alone.baseline_app()),
            ("/web-blue", None)
        );
        assert_eq!(Roles::from_group(&[], &BTreeMap::new()), None);
    }

    #[test]
    fn hosts_known_by_name_map_through_their_address_and_shared_names_are_neither() {
        let mut green = app("/web-green", "2026-02-01T00:00:00", &[31003]);
        green.tasks[0].host = "agent-1".into();
        let blue = app("/web-blue", "2026-01-01T00:00:00", &[31003]);
        let ips: BTreeMap<String, String> = [("agent-1".into(), "10.0.0.9".into())].into();
        let r = Roles::new(&green, Some(&blue), &ips);
        assert_eq!(r.side("agent-1_10_0_0_9_31003"), Some(Side::Canary));
        assert_eq!(r.side("10_0_0_1_31003"), Some(Side::Baseline));
        // Unresolved, the name is the host's own.
        let r = Roles::new(&green, Some(&blue), &BTreeMap::new());
        assert_eq!(r.side("agent-1_31003"), Some(Side::Canary));
        // Both apps claiming one name: neither side counts it.
        let mut same = green.clone();
        same.tasks[0].host = "10.0.0.1".into();
        let r = Roles::new(&same, Some(&blue), &BTreeMap::new());
        assert_eq!(r.side("10_0_0_1_31003"), None);
    }

    #[test]
    fn metrics_sum_every_lb_per_side_and_report_unmatched_servers() {
        let start = snapshot(vec![
            ("a", read(&[("10_0_0_1_31000", served(100, 0, 10))])),
            ("b", read(&[])),
        ]);
        let end = snapshot(vec![
            (
                "a",
                read(&[
                    ("10_0_0_1_31000", served(190, 10, 10)),
                    ("10_0_0_1_31003", served(40, 10, 30)),
                    ("10_0_0_1_39999", served(3, 1, 1)),
                    ("10_0_0_1_39998", served(0, 0, 1)),
                ]),
            ),
            (
                "b",
                read(&[
                    ("10_0_0_1_31001", served(100, 0, 20)),
                    ("10_0_0_1_31003", served(150, 0, 60)),
                ]),
            ),
        ]);
        let m = metrics(&delta(&start, &end), &roles());
        let base = m.baseline.as_ref().unwrap();
        assert_eq!(
            (
                base.app_id.as_str(),
                base.servers,
                base.requests,
                base.errors
            ),
            ("/web-blue", 2, 200, 10)
        );
        assert_eq!(base.error_rate, Some(0.05));
        // (100 × 10 + 100 × 20) / 200
        assert_eq!(base.mean_response_ms, Some(15.0));
        let canary = &m.canary;
        assert_eq!(
            (canary.servers, canary.requests, canary.errors),
            (2, 200, 10)
        );
        assert_eq!(canary.error_rate, Some(0.05));
        // Weighted by responses, not averaged per server (that would be 45):
        // (50 × 30 + 150 × 60) / 200.
        assert_eq!(canary.mean_response_ms, Some(52.5));
        assert_eq!(
            m.unmatched,
            [UnmatchedServer {
                lb: "a".into(),
                server: "10_0_0_1_39999".into(),
                requests: 4,
                errors: 1
            }]
        );
        assert_eq!(m.lbs.len(), 2);
    }

    #[test]
    fn failures_without_responses_are_requests_and_errors_but_have_no_response_time() {
        let dead = Counters {
            econ: 30,
            eresp: 10,
            srv_abrt: 4,
            cli_abrt: 2,
            ..Counters::default()
        };
        let start = snapshot(vec![("a", read(&[]))]);
        let end = snapshot(vec![("a", read(&[("10_0_0_1_31003", dead)]))]);
        let m = metrics(&delta(&start, &end), &roles());
        let c = &m.canary;
        assert_eq!((c.requests, c.responses, c.errors), (40, 0, 40));
        assert_eq!(c.error_rate, Some(1.0));
        assert_eq!(c.mean_response_ms, None);
        assert_eq!((c.client_aborts, c.server_aborts), (2, 4));
        assert_eq!((c.connection_errors, c.response_errors), (30, 10));
        let b = m.baseline.as_ref().unwrap();
        assert_eq!(
            (b.requests, b.error_rate, b.mean_response_ms),
            (0, None, None)
        );
    }

    #[test]
    fn client_errors_are_responses_reported_but_not_errors() {
        let not_found = Counters {
            hrsp_2xx: 10,
            hrsp_4xx: 90,
            rtime: 2,
            ..Counters::default()
        };
        let start = snapshot(vec![("a", read(&[]))]);
        let end = snapshot(vec![("a", read(&[("10_0_0_1_31003", not_found)]))]);
        let c = metrics(&delta(&start, &end), &roles()).canary;
        assert_eq!((c.requests, c.responses_4xx, c.errors), (100, 90, 0));
        assert_eq!(c.error_rate, Some(0.0));
    }

    #[test]
    fn lbs_not_read_add_nothing_and_a_group_of_one_has_no_baseline() {
        let start = snapshot(vec![(
            "a",
            LbSnapshot::Unread {
                message: "refused".into(),
            },
        )]);
        let end = snapshot(vec![("a", read(&[("10_0_0_1_31003", served(9, 0, 1))]))]);
        let green = app("/web-green", "2026-02-01T00:00:00", &[31003]);
        let alone = Roles::from_group(&[green], &BTreeMap::new()).unwrap();
        let m = metrics(&delta(&start, &end), &alone);
        assert_eq!(m.canary.requests, 0);
        assert_eq!(m.baseline, None);
        assert!(!m.lbs[0].status.counted());
    }
}
