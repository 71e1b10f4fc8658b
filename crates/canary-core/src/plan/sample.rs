//! Which app marathon-lb's own counters say served a sample of requests:
//! the observed traffic split, next to the instance split.
//!
//! HAProxy counts, per server, every response it relayed (`hrsp_1xx` to
//! `hrsp_other` in `mode http`) and every session (`stot`, the only count
//! in `mode tcp`). Reading the stats of every marathon-lb instance before
//! and after a sample of requests, the difference per server, mapped to its
//! task and app by marathon-lb's server names, is what each app served
//! meanwhile. Other clients' requests in the same window are counted too:
//! on a busy group the split is the group's real one, which is the point.
//! A reload (another worker answered, or a counter went down: the new
//! process's counters start at zero) counts what the new process shows,
//! by the analysis's reset rule ([`crate::analysis::delta`]).

use super::observe::LbView;
use super::predict::{backend_name, server_names};
use crate::analysis::{Counters, Snapshot, delta};
use crate::marathon::MarathonApp;
use serde::Serialize;
use std::time::Duration;

/// Sends requests through frontends: the port a sample's traffic goes
/// through (plain HTTP: `lb_stats::HttpTraffic`).
pub trait Traffic {
    /// Sends `requests` GETs to `urls` in turn, stopping at `limit`.
    fn send(&mut self, urls: &[String], requests: u32, limit: Duration) -> Sent;
}

/// What a sample sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// Requests sent.
    pub sent: u32,
    /// Answered 2xx.
    pub ok: u32,
    /// Answered with another status.
    pub other_status: u32,
    /// Not answered (refused, reset, timed out).
    pub failed: u32,
    /// Whether it stopped at its time limit before sending all.
    pub cut_short: bool,
}

/// What one app served during the sample, by the load balancers' counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    /// The app.
    pub app_id: String,
    /// Responses (or sessions, in `mode tcp`) its servers gained.
    pub responses: u64,
}

/// The observed split of one backend over a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedSplit {
    /// The HAProxy backend read, e.g. `testapp_10000`.
    pub backend: String,
    /// Per app of the group, in the order given.
    pub by_app: Vec<Served>,
    /// Responses of servers that match no task of the group now (a task
    /// that ended during the sample).
    pub unmatched: u64,
    /// Load balancers whose stats were read both before and after.
    pub lbs_read: usize,
}

impl ObservedSplit {
    /// Every response counted.
    pub fn total(&self) -> u64 {
        self.by_app.iter().map(|s| s.responses).sum::<u64>() + self.unmatched
    }
}

/// What a server served in a window: its responses (every `hrsp_*`
/// class), else (`mode tcp`, or no response yet) its sessions.
fn responses(gained: &Counters) -> u64 {
    match gained.responses() {
        0 => gained.stot,
        n => n,
    }
}

/// The split of the group's backend on `port` between the stats read
/// `before` and `after` a sample (matched by load balancer URL), the
/// servers mapped to `apps` by marathon-lb's names. The window's numbers
/// follow the analysis's reset rule ([`crate::analysis::delta`]): one rule
/// for every counter canary reads.
pub fn observed_split(
    group: &str,
    port: u16,
    apps: &[MarathonApp],
    before: &[LbView],
    after: &[LbView],
) -> ObservedSplit {
    let backend = backend_name(group, port);
    let owner = |server: &str| {
        apps.iter().position(|app| {
            app.tasks
                .iter()
                .any(|task| server_names(app, task, None).iter().any(|n| n == server))
        })
    };
    let mut by_app: Vec<Served> = apps
        .iter()
        .map(|a| Served {
            app_id: a.id.clone(),
            responses: 0,
        })
        .collect();
    let mut unmatched = 0;
    let window = delta(
        &Snapshot::new(backend.clone(), before),
        &Snapshot::new(backend.clone(), after),
    );
    // Only the load balancers read after the sample count (one read
    // before only may be an instance that went away).
    let after_urls: Vec<&str> = after.iter().map(|v| v.url.as_str()).collect();
    let mut lbs_read = 0;
    for lb in &window.lbs {
        if !lb.coverage.status.counted() || !after_urls.contains(&lb.coverage.url.as_str()) {
            continue;
        }
        lbs_read += 1;
        for (server, gained) in &lb.servers {
            let gained = responses(gained);
            match owner(server) {
                Some(i) => by_app[i].responses += gained,
                None => unmatched += gained,
            }
        }
    }
    ObservedSplit {
        backend,
        by_app,
        unmatched,
        lbs_read,
    }
}

/// The service port marathon-lb names the group's backend by: the oldest
/// app's `HAPROXY_0_PORT`, else its service port (as zdd.py does, the merged
/// app is the old one); `apps` oldest first.
pub fn group_port(apps: &[MarathonApp]) -> Option<u16> {
    apps.iter().find_map(app_port)
}

/// One app's `HAPROXY_0_PORT`, else its service port.
pub(crate) fn app_port(app: &MarathonApp) -> Option<u16> {
    app.label(super::labels::PORT_0)
        .and_then(|p| p.trim().parse().ok())
        .or(app.service_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marathon::Task;
    use crate::plan::observe::LbState;
    use crate::plan::stats::parse_stats_csv;

    fn app(id: &str, ports: &[u16]) -> MarathonApp {
        let mut app =
            MarathonApp::from_marathon(&serde_json::json!({"id": id, "instances": ports.len()}))
                .unwrap();
        app.tasks = ports
            .iter()
            .map(|p| Task {
                id: format!("{id}.{p}"),
                host: "10.0.0.1".into(),
                ip: None,
                ports: vec![*p],
                state: "TASK_RUNNING".into(),
                alive: Some(true),
            })
            .collect();
        app
    }

    fn view(url: &str, csv: &str) -> LbView {
        LbView {
            url: url.into(),
            state: LbState::Stats {
                worker: None,
                rows: parse_stats_csv(csv).unwrap(),
            },
        }
    }

    const HEAD: &str = "# pxname,svname,scur,qcur,stot,hrsp_2xx,hrsp_5xx,status\n";

    #[test]
    fn the_split_is_the_counters_gained_per_app_on_every_lb() {
        let apps = [
            app("/web-blue", &[31000, 31001, 31002]),
            app("/web-green", &[31003]),
        ];
        let before = [
            view(
                "http://a:9090",
                &format!(
                    "{HEAD}web_10000,10_0_0_1_31000,0,0,5,5,0,UP\nweb_10000,10_0_0_1_31003,0,0,1,1,0,UP\n"
                ),
            ),
            view(
                "http://b:9090",
                &format!("{HEAD}web_10000,10_0_0_1_31001,0,0,0,0,0,UP\n"),
            ),
        ];
        let after = [
            view(
                "http://a:9090",
                &format!(
                    "{HEAD}web_10000,FRONTEND,0,0,0,0,0,OPEN\nweb_10000,10_0_0_1_31000,0,0,30,28,2,UP\n\
                     web_10000,10_0_0_1_31003,0,0,11,11,0,UP\nother_10001,10_0_0_1_31002,0,0,99,99,0,UP\n"
                ),
            ),
            view(
                "http://b:9090",
                &format!(
                    "{HEAD}web_10000,10_0_0_1_31001,0,0,20,20,0,UP\nweb_10000,10_0_0_9_1,0,0,4,4,0,UP\n"
                ),
            ),
        ];
        let split = observed_split("web", 10000, &apps, &before, &after);
        assert_eq!(split.backend, "web_10000");
        assert_eq!(
            split.by_app,
            [
                Served {
                    app_id: "/web-blue".into(),
                    responses: 25 + 20
                },
                Served {
                    app_id: "/web-green".into(),
                    responses: 10
                },
            ]
        );
        assert_eq!((split.unmatched, split.lbs_read, split.total()), (4, 2, 59));
    }

    #[test]
    fn a_reset_counter_counts_from_zero_and_an_unread_lb_is_left_out() {
        let apps = [app("/web-blue", &[31000])];
        let before = [view(
            "http://a:9090",
            &format!("{HEAD}web_10000,10_0_0_1_31000,0,0,50,50,0,UP\n"),
        )];
        let after = [
            view(
                "http://a:9090",
                &format!("{HEAD}web_10000,10_0_0_1_31000,0,0,7,7,0,UP\n"),
            ),
            LbView {
                url: "http://b:9090".into(),
                state: LbState::Unreachable {
                    message: "refused".into(),
                },
            },
        ];
        let split = observed_split("web", 10000, &apps, &before, &after);
        assert_eq!(split.by_app[0].responses, 7);
        assert_eq!(split.lbs_read, 1);
        // mode tcp: sessions are all there is.
        let tcp = [view(
            "http://a:9090",
            "# pxname,svname,scur,qcur,stot,status\nweb_10000,10_0_0_1_31000,0,0,9,UP\n",
        )];
        let none = [view(
            "http://a:9090",
            "# pxname,svname,scur,qcur,stot,status\nweb_10000,10_0_0_1_31000,0,0,2,UP\n",
        )];
        assert_eq!(
            observed_split("web", 10000, &apps, &none, &tcp).by_app[0].responses,
            7
        );
    }
}
