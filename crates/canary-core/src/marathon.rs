//! A Marathon app as canary reads it: [`MarathonApp`] and its [`Task`]s,
//! from the JSON `GET /v2/apps?embed=apps.tasks` (or `GET /v2/apps/{id}`)
//! returns, and the apps of one deployment group.

use crate::executor::ExecError;
use crate::plan::labels;
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

/// One Marathon app with its tasks: the one typed view of an app canary
/// has, parsed once from Marathon's JSON for every executor (the HTTP API
/// and the dcos CLI's `--json` both pass it through), for the planner,
/// the analysis and `status` alike.
#[derive(Debug, Clone, PartialEq)]
pub struct MarathonApp {
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
    /// Its `version` timestamp (what `status` shows when it has no
    /// `HAPROXY_DEPLOYMENT_STARTED_AT`).
    pub version: Option<String>,
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

impl MarathonApp {
    /// Reads one app object as `GET /v2/apps?embed=apps.tasks` or
    /// `GET /v2/apps/{id}` returns it.
    pub fn from_marathon(app: &Value) -> Result<MarathonApp, ExecError> {
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
        let deployments = match app.get("deployments") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|d| d.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            Some(other) => return Err(unexpected(&what, &format!("deployments are {other}"))),
        };
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
        Ok(MarathonApp {
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
            version: text("/version"),
            tasks,
            labels,
            definition: app.clone(),
        })
    }

    /// The apps of Marathon's answer (`{"apps": [...]}`, `{"app": {...}}` or
    /// a bare array, as `dcos marathon app list --json` prints it) whose
    /// `HAPROXY_DEPLOYMENT_GROUP` is `group`, compared exactly, as zdd.py
    /// does.
    pub fn group_from_marathon(answer: &Value, group: &str) -> Result<Vec<MarathonApp>, ExecError> {
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
            .map(MarathonApp::from_marathon)
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

    /// Its tasks that run (`TASK_RUNNING`), healthy or not.
    pub fn running_tasks(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.state == "TASK_RUNNING")
            .count()
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
        let apps = MarathonApp::group_from_marathon(&answer, "web").unwrap();
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
        assert_eq!((app.running_tasks(), app.healthy_tasks()), (1, 1));
        assert_eq!(app.version, None);
        assert!(app.tasks[0].in_rotation(true) && !app.tasks[1].in_rotation(true));
        assert_eq!(app.tasks[1].alive, None);
        assert!(MarathonApp::group_from_marathon(&json!({"x": 1}), "web").is_err());
        let one =
            MarathonApp::group_from_marathon(&json!({"app": answer["apps"][0]}), "web").unwrap();
        assert_eq!(one, apps);
    }

    #[test]
    fn deployments_that_are_not_a_list_are_refused_naming_the_app() {
        let err =
            MarathonApp::from_marathon(&json!({"id": "/web", "deployments": "d1"})).unwrap_err();
        assert!(err.to_string().contains("app /web"), "{err}");
        let app = MarathonApp::from_marathon(
            &json!({"id": "/web", "version": "2026-01-01T00:00:00.000Z"}),
        )
        .unwrap();
        assert_eq!(app.version.as_deref(), Some("2026-01-01T00:00:00.000Z"));
    }
}
