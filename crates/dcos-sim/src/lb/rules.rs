//! marathon-lb's rules for turning Marathon's apps into HAProxy backends
//! (zdd.md §9, marathon-lb-haproxy.md §4–§5): apps of one
//! `HAPROXY_DEPLOYMENT_GROUP` merge into one backend `<group>_<port>`, the
//! old app's first drainable tasks are `disabled` (HAProxy shows `MAINT`),
//! and tasks not running or failing their health checks are left out.

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
    /// Whether marathon-lb keeps it at all: `TASK_RUNNING` (or the
    /// transient `TASK_UNREACHABLE`/`TASK_UNKNOWN`, or no state given, as in
    /// fixtures); staging and terminal tasks are left out.
    pub running: bool,
}

impl LbTask {
    /// Reads a task object as Marathon renders it.
    pub fn from_json(t: &Value) -> LbTask {
        let str_of = |v: &Value| v.as_str().map(str::to_owned);
        LbTask {
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
            running: matches!(
                t["state"].as_str(),
                None | Some("TASK_RUNNING" | "TASK_UNREACHABLE" | "TASK_UNKNOWN")
            ),
        }
    }
}

/// An app's first health check as marathon-lb turns it into HAProxy's
/// (marathon-lb-haproxy.md §4): HTTP checks become `option httpchk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpCheck {
    /// `path` (default `/`).
    pub path: String,
    /// `intervalSeconds` (Marathon's default 60).
    pub interval_s: u64,
    /// `timeoutSeconds` (default 20).
    pub timeout_s: u64,
    /// `maxConsecutiveFailures + 1` (default 3 + 1): HAProxy's `fall`.
    pub fall: u64,
}

impl HttpCheck {
    /// The HTTP check of a Marathon health check object, if it is one
    /// (`HTTP`, `HTTPS`, `MESOS_HTTP`, `MESOS_HTTPS`).
    fn of(check: &Value) -> Option<HttpCheck> {
        let protocol = check["protocol"].as_str().unwrap_or("HTTP");
        if !matches!(protocol, "HTTP" | "HTTPS" | "MESOS_HTTP" | "MESOS_HTTPS") {
            return None;
        }
        let number = |key: &str, default: u64| check[key].as_u64().unwrap_or(default);
        Some(HttpCheck {
            path: check["path"].as_str().unwrap_or("/").to_owned(),
            interval_s: number("intervalSeconds", 60).max(1),
            timeout_s: number("timeoutSeconds", 20).max(1),
            fall: number("maxConsecutiveFailures", 3) + 1,
        })
    }
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
    /// Its first health check, when that is an HTTP one (then the backend
    /// is `mode http` and HAProxy checks it).
    pub http_check: Option<HttpCheck>,
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
            .map(|tasks| tasks.iter().map(LbTask::from_json).collect())
            .unwrap_or_default();
        LbApp {
            id: str_of(&app["id"]).unwrap_or_default(),
            labels,
            instances: app["instances"].as_u64().unwrap_or(0),
            has_health_checks: app["healthChecks"]
                .as_array()
                .is_some_and(|h| !h.is_empty()),
            http_check: app["healthChecks"]
                .as_array()
                .and_then(|h| h.first())
                .and_then(HttpCheck::of),
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
    /// The address HAProxy sends to: the task's IP (or host) and port.
    pub ip: String,
    /// The task's host port.
    pub port: u64,
    /// Written with ` disabled` (HAProxy reports `MAINT`).
    pub disabled: bool,
    /// The Marathon task behind it (not written to HAProxy; the records
    /// need it).
    pub task_id: String,
}

/// One HAProxy backend (and the frontend of the same name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backend {
    /// `<group or app id, leading '/' stripped, '/' as '_'>_<port>`.
    pub name: String,
    /// The service port its frontend binds (`HAPROXY_0_PORT` when set).
    pub port: u64,
    /// `balance` (`HAPROXY_0_BALANCE`, default `roundrobin`), printable
    /// characters only (it is written into HAProxy's config as given, so a
    /// bad value fails HAProxy's validation as on marathon-lb).
    pub balance: String,
    /// The HTTP health check, when the app's first check is one: the
    /// backend is then `mode http`, else `mode tcp`.
    pub check: Option<HttpCheck>,
    /// The deployment group it serves: `/` + `HAPROXY_DEPLOYMENT_GROUP`
    /// (leading slashes trimmed), or the app id for an app without one.
    pub group: String,
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

/// The address marathon-lb sends to for a task: its own IP with IP-per-task
/// networking, else its host (without DNS, a host that is not an IP literal
/// stands for itself).
fn task_ip(app: &LbApp, task: &LbTask) -> String {
    match (&task.ip, app.ip_per_task) {
        (Some(ip), true) => ip.clone(),
        _ => task.host.clone(),
    }
}

/// marathon-lb's server name for each port of a task.
pub(crate) fn server_names(app: &LbApp, task: &LbTask) -> Vec<String> {
    let ip = task_ip(app, task);
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

/// Printable ASCII only (anything else as `_`): a label's value goes into
/// HAProxy's config on one line, and can never add a line of its own.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '_' })
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
        let servers =
            app.tasks
                .iter()
                // Only running tasks, and with --health-check (marathon-lb's
                // default) only those alive: the others are left out.
                .filter(|t| t.running && (!app.has_health_checks || t.alive))
                .flat_map(|t| {
                    let disabled = draining.contains(&t.id);
                    let ip = task_ip(&app, t);
                    server_names(&app, t).into_iter().zip(t.ports.clone()).map(
                        move |(name, port)| Server {
                            name,
                            ip: ip.clone(),
                            port,
                            disabled,
                            task_id: t.id.clone(),
                        },
                    )
                })
                .collect();
        out.push(Backend {
            name: format!("{}_{port}", key.trim_start_matches('/').replace('/', "_")),
            port,
            balance: printable(app.label("HAPROXY_0_BALANCE").unwrap_or("roundrobin")),
            check: app.http_check.clone(),
            group: key,
            servers,
        });
    }
    out
}
