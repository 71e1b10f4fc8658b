//! marathon-lb as zdd.py sees it: `/haproxy?stats;csv` and
//! `/_haproxy_getpids`, built from the cluster's apps by marathon-lb's rules
//! (zdd.md §9): apps of one `HAPROXY_DEPLOYMENT_GROUP` merge into one backend
//! `<group>_<port>`, the old app's first drainable tasks are `disabled`
//! (HAProxy shows `MAINT`), and tasks failing their health checks are left out.

use crate::config::SimConfig;
use crate::state::Shared;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::collections::BTreeMap;

/// One task as marathon-lb reads it from Marathon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LbTask {
    /// Marathon's task id (marathon-lb sorts old tasks by it).
    pub id: String,
    /// The agent host.
    pub host: String,
    /// The task's first IP address, for IP-per-task networking.
    pub ip: Option<String>,
    /// Host ports.
    pub ports: Vec<u64>,
    /// Whether at least one health check result is alive.
    pub alive: bool,
}

/// One app as marathon-lb reads it from Marathon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LbApp {
    /// The app id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Desired instances.
    pub instances: u64,
    /// Whether it has health checks.
    pub has_health_checks: bool,
    /// Its first service port, if any.
    pub service_port: Option<u64>,
    /// Whether tasks get their own IP (marathon-lb then uses that IP).
    pub ip_per_task: bool,
    /// `versionInfo.lastScalingAt` (ISO timestamps compare as strings).
    pub last_scaling_at: String,
    /// Its tasks.
    pub tasks: Vec<LbTask>,
}

impl LbApp {
    /// Reads an app object as `GET /v2/apps?embed=apps.tasks` returns it.
    pub fn from_marathon_json(app: &Value) -> LbApp {
        let str_of = |v: &Value| v.as_str().map(str::to_owned);
        let labels = app["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let first_port = |items: &Value, key: &str| items.as_array()?.first()?.get(key)?.as_u64();
        let service_port = first_port(&app["container"]["docker"]["portMappings"], "servicePort")
            .or_else(|| first_port(&app["container"]["portMappings"], "servicePort"))
            .or_else(|| first_port(&app["portDefinitions"], "port"))
            .or_else(|| app["ports"].as_array()?.first()?.as_u64());
        let ip_per_task = !app["ipAddress"].is_null()
            || app["container"]["docker"]["network"] == "USER"
            || app["networks"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["mode"] == "container"));
        let tasks = app["tasks"]
            .as_array()
            .map(|tasks| {
                tasks
                    .iter()
                    .map(|t| LbTask {
                        id: str_of(&t["id"]).unwrap_or_default(),
                        host: str_of(&t["host"]).unwrap_or_default(),
                        ip: t["ipAddresses"][0]["ipAddress"].as_str().map(str::to_owned),
                        ports: t["ports"]
                            .as_array()
                            .map(|p| p.iter().filter_map(Value::as_u64).collect())
                            .unwrap_or_default(),
                        alive: t["healthCheckResults"]
                            .as_array()
                            .is_some_and(|r| r.iter().any(|r| r["alive"] == true)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        LbApp {
            id: str_of(&app["id"]).unwrap_or_default(),
            labels,
            instances: app["instances"].as_u64().unwrap_or(0),
            has_health_checks: app["healthChecks"]
                .as_array()
                .is_some_and(|h| !h.is_empty()),
            service_port,
            ip_per_task,
            last_scaling_at: str_of(&app["versionInfo"]["lastScalingAt"]).unwrap_or_default(),
            tasks,
        }
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    fn healthy_tasks(&self) -> u64 {
        if self.has_health_checks {
            self.tasks.iter().filter(|t| t.alive).count() as u64
        } else {
            self.instances
        }
    }
}

/// One HAProxy server line of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    /// `ip_port` or `host_ip_port`, non-`[A-Za-z0-9-]` characters as `_`.
    pub name: String,
    /// Written with ` disabled` (HAProxy reports `MAINT`).
    pub disabled: bool,
}

/// One HAProxy backend (and the frontend of the same name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backend {
    /// `<group or app id, leading '/' stripped, '/' as '_'>_<port>`.
    pub name: String,
    /// Its servers: old tasks first, then new.
    pub servers: Vec<Server>,
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// marathon-lb's server name for each port of a task.
fn server_names(app: &LbApp, task: &LbTask) -> Vec<String> {
    // Without DNS, a host that is not an IP literal stands for itself.
    let ip = match (&task.ip, app.ip_per_task) {
        (Some(ip), true) => ip.clone(),
        _ => task.host.clone(),
    };
    task.ports
        .iter()
        .map(|port| {
            if ip == task.host {
                sanitize(&format!("{ip}_{port}"))
            } else {
                sanitize(&format!("{}_{ip}_{port}", task.host))
            }
        })
        .collect()
}

/// Merges two apps of one deployment group by marathon-lb's rules and
/// returns the merged app plus the ids of the old tasks to drain.
fn merge(a: LbApp, b: LbApp) -> (LbApp, Vec<String>) {
    let started = |app: &LbApp| {
        app.label("HAPROXY_DEPLOYMENT_STARTED_AT")
            .unwrap_or("")
            .to_owned()
    };
    let (mut old, mut new) = if started(&a) <= started(&b) {
        (a, b)
    } else {
        (b, a)
    };
    // The "new" app's NEW_INSTANCES label being present (any value) makes the
    // most recently scaled app count as new.
    if new.labels.contains_key("HAPROXY_DEPLOYMENT_NEW_INSTANCES")
        && old.last_scaling_at > new.last_scaling_at
    {
        std::mem::swap(&mut old, &mut new);
    }
    let target = if new.labels.contains_key("HAPROXY_DEPLOYMENT_NEW_INSTANCES") {
        new.label("HAPROXY_DEPLOYMENT_TARGET_INSTANCES")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(1)
    } else {
        1
    };
    let healthy_new = new.healthy_tasks();
    let drainable = (healthy_new + old.instances).saturating_sub(target);
    let mut old_ids: Vec<String> = old.tasks.iter().map(|t| t.id.clone()).collect();
    old_ids.sort();
    let count = old_ids
        .len()
        .min(healthy_new as usize)
        .min(drainable as usize);
    old_ids.truncate(count);
    let mut merged = old;
    merged.tasks.extend(new.tasks);
    (merged, old_ids)
}

/// The HAProxy backends marathon-lb would write for `apps`.
pub(crate) fn backends(apps: Vec<LbApp>) -> Vec<Backend> {
    let mut groups: BTreeMap<String, (LbApp, Vec<String>)> = BTreeMap::new();
    for app in apps {
        let key = match app.label("HAPROXY_DEPLOYMENT_GROUP") {
            Some(group) => format!("/{}", group.trim_start_matches('/')),
            None => app.id.clone(),
        };
        let entry = match groups.remove(&key) {
            None => (app, Vec::new()),
            Some((existing, mut draining)) => {
                let (merged, more) = merge(existing, app);
                draining.extend(more);
                (merged, draining)
            }
        };
        groups.insert(key, entry);
    }
    let mut out = Vec::new();
    for (key, (app, draining)) in groups {
        let port = app
            .label("HAPROXY_0_PORT")
            .and_then(|p| p.parse::<u64>().ok())
            .or(app.service_port);
        let Some(port) = port else { continue };
        let servers = app
            .tasks
            .iter()
            // marathon-lb runs with --health-check: tasks not alive are left out.
            .filter(|t| !app.has_health_checks || t.alive)
            .flat_map(|t| {
                let disabled = draining.contains(&t.id);
                server_names(&app, t)
                    .into_iter()
                    .map(move |name| Server { name, disabled })
            })
            .collect();
        out.push(Backend {
            name: format!("{}_{port}", key.trim_start_matches('/').replace('/', "_")),
            servers,
        });
    }
    out
}

/// HAProxy's `;csv` columns (62 of them, the 1.6-era set zdd.py parses).
const COLUMNS: [&str; 62] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
];

fn row(fields: &[(&str, String)]) -> String {
    let mut line = String::new();
    for column in COLUMNS {
        if let Some((_, value)) = fields.iter().find(|(c, _)| *c == column) {
            line.push_str(value);
        }
        line.push(',');
    }
    line.push('\n');
    line
}

/// Simulated traffic on marathon-lb: sessions and queued requests per
/// server, and whether an instance is mid-reload.
#[derive(Debug, Default)]
pub(crate) struct MarathonLb {
    /// (scur, qcur) by (LB index, server name); `None` index means every LB.
    traffic: BTreeMap<(Option<usize>, String), (u64, u64)>,
    reloading: BTreeMap<usize, bool>,
}

impl MarathonLb {
    /// marathon-lb with no sessions.
    pub fn new(_config: &SimConfig) -> Self {
        MarathonLb::default()
    }

    /// Sets the current sessions and queued requests of a server, on one LB
    /// instance or (with `None`) on every one.
    pub fn set_traffic(&mut self, lb: Option<usize>, server: &str, sessions: u64, queued: u64) {
        self.traffic
            .insert((lb, server.to_owned()), (sessions, queued));
    }

    /// Removes all simulated traffic.
    pub fn clear_traffic(&mut self) {
        self.traffic.clear();
    }

    /// Makes LB `index` look mid-reload (three haproxy pids) or not.
    pub fn set_reloading(&mut self, index: usize, reloading: bool) {
        self.reloading.insert(index, reloading);
    }

    fn traffic_of(&self, lb: usize, server: &str) -> (u64, u64) {
        self.traffic
            .get(&(Some(lb), server.to_owned()))
            .or_else(|| self.traffic.get(&(None, server.to_owned())))
            .copied()
            .unwrap_or((0, 0))
    }

    /// The `;csv` stats page of LB `index` for these backends.
    pub fn stats_csv(&self, index: usize, backends: &[Backend]) -> String {
        let mut out = format!("# {}\n", COLUMNS.join(","));
        let pid = (index + 1).to_string();
        out.push_str(&row(&[
            ("pxname", "stats".into()),
            ("svname", "FRONTEND".into()),
            ("status", "OPEN".into()),
            ("pid", pid.clone()),
            ("type", "0".into()),
        ]));
        for backend in backends {
            let name = backend.name.clone();
            out.push_str(&row(&[
                ("pxname", name.clone()),
                ("svname", "FRONTEND".into()),
                ("status", "OPEN".into()),
                ("pid", pid.clone()),
                ("type", "0".into()),
            ]));
            for server in &backend.servers {
                let (scur, qcur) = self.traffic_of(index, &server.name);
                let status = if server.disabled { "MAINT" } else { "UP" };
                out.push_str(&row(&[
                    ("pxname", name.clone()),
                    ("svname", server.name.clone()),
                    ("qcur", qcur.to_string()),
                    ("scur", scur.to_string()),
                    ("status", status.into()),
                    ("weight", "1".into()),
                    ("act", "1".into()),
                    ("bck", "0".into()),
                    ("pid", pid.clone()),
                    ("type", "2".into()),
                    ("check_status", "L7OK".into()),
                ]));
            }
            out.push_str(&row(&[
                ("pxname", name),
                ("svname", "BACKEND".into()),
                ("status", "UP".into()),
                ("pid", pid.clone()),
                ("type", "1".into()),
            ]));
        }
        out
    }

    /// `/_haproxy_getpids` of LB `index`: two pids (master and worker), three
    /// while reloading.
    pub fn pids(&self, index: usize) -> String {
        let base = 100 + 10 * index;
        if self.reloading.get(&index).copied().unwrap_or(false) {
            format!("{} {} {}", base, base + 1, base + 2)
        } else {
            format!("{} {}", base, base + 1)
        }
    }
}

/// The apps of the cluster as marathon-lb would read them.
fn cluster_apps(sim: &Shared) -> Vec<LbApp> {
    let cluster = sim.cluster();
    cluster
        .marathon
        .apps()
        .map(|app| LbApp::from_marathon_json(&app.to_json(&crate::marathon::Embed::full())))
        .collect()
}

async fn stats(State((sim, index)): State<(Shared, usize)>, RawQuery(query): RawQuery) -> Response {
    let backends = backends(cluster_apps(&sim));
    let csv = sim.cluster().lb.stats_csv(index, &backends);
    if query.as_deref().is_some_and(|q| q.ends_with(";csv")) {
        ([(header::CONTENT_TYPE, "text/plain")], csv).into_response()
    } else {
        let html = format!("<html><body><h1>Statistics Report</h1><pre>{csv}</pre></body></html>");
        ([(header::CONTENT_TYPE, "text/html")], html).into_response()
    }
}

async fn pids(State((sim, index)): State<(Shared, usize)>) -> Response {
    let pids = sim.cluster().lb.pids(index);
    ([(header::CONTENT_TYPE, "text/plain")], pids).into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

/// The routes of marathon-lb instance `index` (its stats listener, `:9090`
/// in a real cluster).
pub(crate) fn routes(index: usize, sim: Shared) -> Router {
    Router::new()
        .route("/haproxy", get(stats))
        .route("/_haproxy_getpids", get(pids))
        .route("/_haproxy_health_check", get(health))
        .with_state((sim, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_apps() -> Option<Vec<LbApp>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/reference/marathon-lb/zdd_apps.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("skipped: {path} not found");
            return None;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        Some(
            value["apps"]
                .as_array()
                .unwrap()
                .iter()
                .map(LbApp::from_marathon_json)
                .collect(),
        )
    }

    #[test]
    fn zdd_apps_fixture_gives_one_backend_with_one_server_in_maint() {
        let Some(apps) = fixture_apps() else { return };
        let backends = backends(apps);
        assert_eq!(backends.len(), 1);
        assert_eq!(backends[0].name, "nginx_10000");
        let names: Vec<&str> = backends[0]
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        let maint: Vec<&str> = backends[0]
            .servers
            .iter()
            .filter(|s| s.disabled)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(maint, ["10_0_6_25_31184"]);
        let csv = MarathonLb::default().stats_csv(0, &backends);
        let maint_rows: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with("nginx_10000,") && l.contains(",MAINT,"))
            .collect();
        assert_eq!(maint_rows.len(), 1);
        assert!(maint_rows[0].starts_with("nginx_10000,10_0_6_25_31184,"));
        // Every row has the 62 columns plus the trailing empty field.
        assert!(csv.lines().skip(1).all(|l| l.split(',').count() == 63));
    }

    #[test]
    fn unhealthy_tasks_are_left_out_and_traffic_shows() {
        let app = LbApp {
            id: "/web".into(),
            labels: BTreeMap::new(),
            instances: 2,
            has_health_checks: true,
            service_port: Some(10000),
            ip_per_task: false,
            last_scaling_at: String::new(),
            tasks: vec![
                LbTask {
                    id: "a".into(),
                    host: "127.0.0.1".into(),
                    ip: None,
                    ports: vec![31000],
                    alive: true,
                },
                LbTask {
                    id: "b".into(),
                    host: "127.0.0.1".into(),
                    ip: None,
                    ports: vec![31001],
                    alive: false,
                },
            ],
        };
        let backends = backends(vec![app]);
        assert_eq!(backends[0].name, "web_10000");
        assert_eq!(
            backends[0].servers,
            [Server {
                name: "127_0_0_1_31000".into(),
                disabled: false
            }]
        );
        let mut lb = MarathonLb::default();
        lb.set_traffic(Some(1), "127_0_0_1_31000", 3, 1);
        assert!(
            lb.stats_csv(1, &backends)
                .contains("web_10000,127_0_0_1_31000,1,,3,")
        );
        assert!(
            lb.stats_csv(0, &backends)
                .contains("web_10000,127_0_0_1_31000,0,,0,")
        );
        assert_eq!(lb.pids(0).split(' ').count(), 2);
        lb.set_reloading(0, true);
        assert_eq!(lb.pids(0).split(' ').count(), 3);
    }
}
