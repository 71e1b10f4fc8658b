//! What the engine sees of a cluster at one moment: the deployment group's
//! Marathon apps with their tasks, and every marathon-lb's HAProxy stats.
//! Read from the JSON and CSV the cluster serves, once, for every executor
//! and stats client.

use super::labels;
use crate::executor::ExecError;
use serde_json::Value;
use std::collections::BTreeMap;

/// One task of a Marathon app, as marathon-lb and the engine read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Marathon's task id (marathon-lb drains old tasks in id order).
    pub id: String,
    /// The agent it runs on.
    pub host: String,
    /// Its first IP address (`ipAddresses[0]`), for IP-per-task networking.
    pub ip: Option<String>,
    /// Its host ports.
    pub ports: Vec<u16>,
    /// Marathon's state word, e.g. `TASK_RUNNING`.
    pub state: String,
    /// Whether one of its health check results is alive; `None` when it
    /// has no result (yet).
    pub alive: Option<bool>,
}

impl Task {
    /// Whether marathon-lb would put it in a backend: running (or in the
    /// transient states it keeps optimistically), and alive when the app has
    /// health checks (marathon-lb runs with `--health-check`).
    pub fn in_rotation(&self, has_health_checks: bool) -> bool {
        let running = matches!(
            self.state.as_str(),
            "TASK_RUNNING" | "TASK_UNREACHABLE" | "TASK_UNKNOWN"
        );
        running && (!has_health_checks || self.alive == Some(true))
    }

    /// Whether it runs and passes its health checks (or has none to pass).
    pub fn healthy(&self, has_health_checks: bool) -> bool {
        self.state == "TASK_RUNNING" && (!has_health_checks || self.alive == Some(true))
    }
}

/// One Marathon app of the deployment group, with its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupApp {
    /// The app id, e.g. `/web-green`.
    pub id: String,
    /// The instances it is asked to run.
    pub instances: u32,
    /// Its labels (non-string values as their JSON text).
    pub labels: BTreeMap<String, String>,
    /// `container.docker.image`.
    pub image: Option<String>,
    /// Ids of the Marathon deployments changing it now.
    pub deployments: Vec<String>,
    /// Whether it has health checks.
    pub has_health_checks: bool,
    /// Whether its tasks get their own IP (marathon-lb then names servers by it).
    pub ip_per_task: bool,
    /// Its first service port as Marathon reports it.
    pub service_port: Option<u16>,
    /// `versionInfo.lastScalingAt`: marathon-lb's "most recently scaled" rule.
    pub last_scaling_at: Option<String>,
    /// `versionInfo.lastConfigChangeAt`: when it was created or last changed.
    pub last_config_change_at: Option<String>,
    /// Its tasks.
    pub tasks: Vec<Task>,
    /// The app as Marathon returned it (for the pre-kill hook).
    pub definition: Value,
}

fn unexpected(what: &str, detail: &str) -> ExecError {
    ExecError::unexpected(what, detail)
}

fn first_port(items: &Value, key: Option<&str>) -> Option<u16> {
    let first = items.as_array()?.first()?;
    let port = match key {
        Some(key) => first.get(key)?,
        None => first,
    };
    port.as_u64().and_then(|p| u16::try_from(p).ok())
}

impl GroupApp {
    /// Reads one app object as `GET /v2/apps?embed=apps.tasks` or
    /// `GET /v2/apps/{id}` returns it.
    pub fn from_marathon(app: &Value) -> Result<GroupApp, ExecError> {
        let id = app
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| unexpected("Marathon apps", &format!("an app without an id: {app}")))?;
        let what = format!("app {id}");
        let labels = match app.get("labels") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect(),
            Some(other) => return Err(unexpected(&what, &format!("labels are {other}"))),
        };
        let instances = match app.get("instances") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| unexpected(&what, &format!("instances is {v}")))?,
        };
        let deployments = app
            .get("deployments")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|d| d.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let text = |pointer: &str| {
            app.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let service_port = first_port(
            &app["container"]["docker"]["portMappings"],
            Some("servicePort"),
        )
        .or_else(|| first_port(&app["container"]["portMappings"], Some("servicePort")))
        .or_else(|| first_port(&app["portDefinitions"], Some("port")))
        .or_else(|| first_port(&app["ports"], None));
        let ip_per_task = !app["ipAddress"].is_null()
            || app["container"]["docker"]["network"] == "USER"
            || app["networks"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["mode"] == "container"));
        let tasks = match app.get("tasks") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(tasks)) => tasks
                .iter()
                .map(|t| task(t, &what))
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(unexpected(&what, &format!("tasks are {other}"))),
        };
        Ok(GroupApp {
            id: id.to_owned(),
            instances,
            image: text("/container/docker/image"),
            deployments,
            has_health_checks: app["healthChecks"]
                .as_array()
                .is_some_and(|h| !h.is_empty()),
            ip_per_task,
            service_port,
            last_scaling_at: text("/versionInfo/lastScalingAt"),
            last_config_change_at: text("/versionInfo/lastConfigChangeAt"),
            tasks,
            labels,
            definition: app.clone(),
        })
    }

    /// The apps of Marathon's answer (`{"apps": [...]}`, `{"app": {...}}` or
    /// a bare array, as `dcos marathon app list --json` prints it) whose
    /// `HAPROXY_DEPLOYMENT_GROUP` is `group`, compared exactly, as zdd.py
    /// does.
    pub fn group_from_marathon(answer: &Value, group: &str) -> Result<Vec<GroupApp>, ExecError> {
        let apps: Vec<&Value> = match answer {
            Value::Array(apps) => apps.iter().collect(),
            Value::Object(map) => match (map.get("apps"), map.get("app")) {
                (Some(Value::Array(apps)), _) => apps.iter().collect(),
                (_, Some(app)) => vec![app],
                _ => return Err(unexpected("Marathon apps", "no `apps` array")),
            },
            other => return Err(unexpected("Marathon apps", &other.to_string())),
        };
        apps.into_iter()
            .filter(|app| {
                app.pointer("/labels/HAPROXY_DEPLOYMENT_GROUP")
                    .and_then(Value::as_str)
                    == Some(group)
            })
            .map(GroupApp::from_marathon)
            .collect()
    }

    /// The value of a label.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// A label read as a count.
    pub fn count_label(&self, name: &str) -> Option<u32> {
        self.label(name)?.trim().parse().ok()
    }

    /// `HAPROXY_DEPLOYMENT_TARGET_INSTANCES`, else its `instances` (zdd.py's
    /// `TARGET()`).
    pub fn target(&self) -> u32 {
        self.count_label(labels::TARGET_INSTANCES)
            .unwrap_or(self.instances)
    }

    /// Its tasks that run and pass their health checks.
    pub fn healthy_tasks(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.healthy(self.has_health_checks))
            .count()
    }
}

fn task(raw: &Value, what: &str) -> Result<Task, ExecError> {
    let id = raw
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| unexpected(what, &format!("a task without an id: {raw}")))?;
    let ports = raw
        .get("ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.as_u64().and_then(|p| u16::try_from(p).ok()))
                .collect()
        })
        .unwrap_or_default();
    let results = raw.get("healthCheckResults").and_then(Value::as_array);
    let alive = results
        .filter(|r| !r.is_empty())
        .map(|r| r.iter().any(|r| r.get("alive") == Some(&Value::Bool(true))));
    Ok(Task {
        id: id.to_owned(),
        host: raw
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        ip: raw
            .pointer("/ipAddresses/0/ipAddress")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ports,
        // Marathon 1.5+ reports `state`; older answers only running tasks.
        state: raw
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("TASK_RUNNING")
            .to_owned(),
        alive,
    })
}

/// One row of HAProxy's `;csv` stats: a frontend, backend or server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// `pxname`: the proxy (backend) name.
    pub pxname: String,
    /// `svname`: the server name, or `FRONTEND`/`BACKEND`.
    pub svname: String,
    /// Every column by name, as text.
    pub columns: BTreeMap<String, String>,
}

impl StatsRow {
    /// `status`, e.g. `UP`, `MAINT`, `DOWN`, `no check`.
    pub fn status(&self) -> &str {
        self.columns.get("status").map_or("", String::as_str)
    }

    /// A numeric column; empty or absent counts as 0, as zdd.py reads them.
    pub fn number(&self, column: &str) -> u64 {
        self.columns
            .get(column)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Whether it is a server row (not the FRONTEND or BACKEND summary).
    pub fn is_server(&self) -> bool {
        self.svname != "FRONTEND" && self.svname != "BACKEND"
    }
}

/// Why a stats page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// There is no `# pxname,svname,...` header.
    #[error("the stats page has no `# pxname,svname,...` header")]
    NoHeader,
    /// The header lacks a column the engine needs.
    #[error("the stats header has no `{0}` column")]
    MissingColumn(&'static str),
}

/// Splits one CSV line: fields separated by `,`, a field in double quotes
/// may hold commas and doubled quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Reads one marathon-lb's `/haproxy?stats;csv` page by column name, so
/// HAProxy 1.6's 62 columns and 2.x's 90-odd read alike. Lines that repeat
/// the header (`#`) and blank lines are skipped; a row shorter than the
/// header leaves the missing columns empty.
pub fn parse_stats_csv(text: &str) -> Result<Vec<StatsRow>, StatsError> {
    let mut lines = text.lines();
    let header = lines
        .by_ref()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.trim_start().strip_prefix('#'))
        .ok_or(StatsError::NoHeader)?;
    let names: Vec<String> = csv_fields(header.trim().trim_end_matches(','))
        .into_iter()
        .map(|n| n.trim().to_owned())
        .collect();
    for required in ["pxname", "svname", "status", "scur", "qcur"] {
        if !names.iter().any(|n| n == required) {
            return Err(StatsError::MissingColumn(required));
        }
    }
    let mut rows = Vec::new();
    for line in lines {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields = csv_fields(line.trim_end_matches(['\r', '\n']));
        let columns: BTreeMap<String, String> = names
            .iter()
            .cloned()
            .zip(fields.into_iter().chain(std::iter::repeat(String::new())))
            .collect();
        rows.push(StatsRow {
            pxname: columns.get("pxname").cloned().unwrap_or_default(),
            svname: columns.get("svname").cloned().unwrap_or_default(),
            columns,
        });
    }
    Ok(rows)
}

/// How many haproxy processes `/_haproxy_getpids` lists (whitespace
/// separated pids).
pub fn count_pids(text: &str) -> usize {
    text.split_whitespace().count()
}

/// One marathon-lb instance as the engine saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbView {
    /// Its stats URL (one per address the marathon-lb name resolves to).
    pub url: String,
    /// What it showed.
    pub state: LbState,
}

/// What one marathon-lb showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LbState {
    /// Its stats: the haproxy pids it listed and every row.
    Stats {
        /// How many haproxy processes `/_haproxy_getpids` listed: more than
        /// two means a reload is in progress (an old worker lingers).
        pids: usize,
        /// The rows of `/haproxy?stats;csv`.
        rows: Vec<StatsRow>,
    },
    /// It could not be read.
    Unreachable {
        /// What failed.
        message: String,
    },
}

/// Everything the planner sees at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The group's apps (any order).
    pub apps: Vec<GroupApp>,
    /// Every marathon-lb instance.
    pub lbs: Vec<LbView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apps_of_the_group_read_with_tasks_health_and_scaling_times() {
        let answer = json!({"apps": [
            {"id": "/web-green", "instances": 2,
             "labels": {"HAPROXY_DEPLOYMENT_GROUP": "web", "HAPROXY_DEPLOYMENT_TARGET_INSTANCES": "4"},
             "container": {"type": "DOCKER", "docker": {"image": "httpd:2.4"},
                           "portMappings": [{"containerPort": 80, "servicePort": 10001}]},
             "healthChecks": [{"protocol": "HTTP"}],
             "versionInfo": {"lastScalingAt": "2026-12-01T09:00:00.000Z", "lastConfigChangeAt": "2026-12-01T08:00:00.000Z"},
             "deployments": [{"id": "d1"}],
             "tasks": [
                {"id": "web-green.1", "host": "10.0.0.1", "ports": [31000], "state": "TASK_RUNNING",
                 "ipAddresses": [{"ipAddress": "10.0.0.1"}], "healthCheckResults": [{"alive": true}]},
                {"id": "web-green.2", "host": "10.0.0.2", "ports": [31001], "state": "TASK_STAGING"}]},
            {"id": "/other", "labels": {"HAPROXY_DEPLOYMENT_GROUP": "other"}}
        ]});
        let apps = GroupApp::group_from_marathon(&answer, "web").unwrap();
        assert_eq!(apps.len(), 1);
        let app = &apps[0];
        assert_eq!(
            (app.instances, app.target(), app.service_port),
            (2, 4, Some(10001))
        );
        assert_eq!(app.image.as_deref(), Some("httpd:2.4"));
        assert_eq!(app.deployments, ["d1"]);
        assert_eq!(
            app.last_scaling_at.as_deref(),
            Some("2026-12-01T09:00:00.000Z")
        );
        assert_eq!(app.healthy_tasks(), 1);
        assert!(app.tasks[0].in_rotation(true) && !app.tasks[1].in_rotation(true));
        assert_eq!(app.tasks[1].alive, None);
        assert!(GroupApp::group_from_marathon(&json!({"x": 1}), "web").is_err());
        let one = GroupApp::group_from_marathon(&json!({"app": answer["apps"][0]}), "web").unwrap();
        assert_eq!(one, apps);
    }

    #[test]
    fn stats_read_by_column_name_whatever_the_column_set() {
        let v16 = "# pxname,svname,qcur,qmax,scur,smax,status,\nweb_10000,FRONTEND,,,3,5,OPEN,\nweb_10000,10_0_0_1_31000,0,0,2,4,UP,\nweb_10000,10_0_0_2_31001,1,1,0,0,MAINT,\n# pxname,svname,qcur,qmax,scur,smax,status,\n\nweb_10000,BACKEND,0,0,2,4,UP,\n";
        let rows = parse_stats_csv(v16).unwrap();
        assert_eq!(rows.len(), 4);
        let up = &rows[1];
        assert!(up.is_server() && up.status() == "UP" && up.number("scur") == 2);
        assert_eq!((rows[2].number("qcur"), rows[2].status()), (1, "MAINT"));
        assert!(!rows[3].is_server());
        // A 2.x order with more columns and a quoted field holding a comma.
        let v2 = "# pxname,svname,status,scur,qcur,check_desc,rtime\nweb_10000,s1,UP,7,0,\"Layer7 check passed, code 200\",12\n";
        let rows = parse_stats_csv(v2).unwrap();
        assert_eq!(rows[0].number("scur"), 7);
        assert_eq!(
            rows[0].columns["check_desc"],
            "Layer7 check passed, code 200"
        );
        assert_eq!(rows[0].number("rtime"), 12);
        assert_eq!(parse_stats_csv("no header"), Err(StatsError::NoHeader));
        assert_eq!(
            parse_stats_csv("# pxname,svname,status\n"),
            Err(StatsError::MissingColumn("scur"))
        );
        assert_eq!(count_pids("101 102\n"), 2);
        assert_eq!(count_pids(""), 0);
    }
}
