//! Marathon v2: apps, tasks and deployments, with a simulated scheduler.
//!
//! # The model
//!
//! Apps are keyed by their canonical absolute id. An app's definition is
//! kept as JSON: the fields given (unknown fields are **kept** and echoed
//! back), Marathon's defaults for the missing ones, and `version` /
//! `versionInfo` stamped with the cluster time.
//!
//! The scheduler runs in [`Marathon::advance`] (replaying every task
//! transition due, in time order) and right after every change: it launches
//! tasks until the app has `instances` tasks of its current configuration
//! (`TASK_STAGING`, then `TASK_RUNNING` after
//! [`SimConfig::task_start_delay`], then healthy after
//! [`SimConfig::health_delay`] when the app has health checks), kills excess
//! tasks (per `killSelection`) and replaces the tasks of an older
//! configuration as a rolling restart: at least
//! `ceil(instances * minimumHealthCapacity)` tasks stay up and at most
//! `floor(instances * (1 + maximumOverCapacity))` run; when neither rule
//! lets it progress, one old task is given up. A task is up when running,
//! and healthy when the app has health checks. A deployment lasts until its
//! apps have exactly `instances` up tasks of the current configuration.
//!
//! Convention: an app whose `container.docker.image` contains the word
//! `broken` never passes its health checks (its tasks report
//! `alive: false` once `health_delay` has passed), so a deployment of it
//! never finishes.
//!
//! Deviations from the real Marathon: kills are immediate (no
//! `TASK_KILLING`, no kill grace period); failing tasks are not killed and
//! relaunched; the scheduler keeps converging apps even after their
//! deployment was cancelled with `force=true`; deployments have one step;
//! pods, groups (beyond `GET /v2/apps/<group>/*`), readiness checks, the
//! launch queue and the event stream are not simulated; `Content-Type` is
//! not checked (no 415).

mod routes;
pub mod validate;

use crate::clock::marathon_timestamp;
use crate::config::SimConfig;
use crate::rng::SimRng;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub use routes::routes;

/// A task's Mesos state as the simulation models it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Launched, not running yet.
    Staging,
    /// Running.
    Running,
    /// Any other state (only for imported tasks), e.g. `TASK_KILLING`.
    Other,
}

impl TaskState {
    /// Mesos' name of the state, e.g. `TASK_RUNNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Staging => "TASK_STAGING",
            TaskState::Running => "TASK_RUNNING",
            TaskState::Other => "TASK_UNKNOWN",
        }
    }
}

/// One task of an app.
#[derive(Debug, Clone)]
pub struct Task {
    /// Task id, `<app id with / replaced by _>.instance-<uuid>._app.1`.
    pub id: String,
    /// The app's id.
    pub app_id: String,
    /// The agent's host name (always `127.0.0.1` for launched tasks).
    pub host: String,
    /// Host ports, one per port mapping or port definition.
    pub ports: Vec<u16>,
    /// The app's service ports.
    pub service_ports: Vec<u16>,
    /// Mesos state.
    pub state: TaskState,
    /// Launch time, epoch milliseconds.
    pub staged_at_ms: u64,
    /// When it reached `TASK_RUNNING`, epoch milliseconds.
    pub started_at_ms: Option<u64>,
    /// Health: `None` when the app has no health checks or no result yet,
    /// `Some(true)` when alive, `Some(false)` when failing.
    pub healthy: Option<bool>,
    /// When the first health check passed, epoch milliseconds.
    pub first_success_ms: Option<u64>,
    /// The app `version` the task was launched with.
    pub version: String,
    slave_id: String,
    /// `versionInfo.lastConfigChangeAt` (ms) of the configuration it runs.
    config_ms: u64,
    /// The task exactly as imported, rendered as is.
    raw: Option<Value>,
}

impl Task {
    /// Whether the task counts as up: running, and healthy when its app has
    /// health checks (pass [`App::has_health_checks`]).
    pub fn is_up(&self, has_health_checks: bool) -> bool {
        self.state == TaskState::Running && (!has_health_checks || self.healthy == Some(true))
    }

    /// The task as Marathon renders it.
    pub fn to_json(&self) -> Value {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let health: Vec<Value> = match self.healthy {
            None => Vec::new(),
            Some(true) => {
                let first = self.first_success_ms.map(marathon_timestamp);
                vec![json!({
                    "alive": true,
                    "consecutiveFailures": 0,
                    "firstSuccess": first,
                    "lastSuccess": first,
                    "lastFailure": null,
                    "lastFailureCause": null,
                    "instanceId": instance_id(&self.id),
                })]
            }
            Some(false) => {
                let since = self.started_at_ms.map(marathon_timestamp);
                vec![json!({
                    "alive": false,
                    "consecutiveFailures": 1,
                    "firstSuccess": null,
                    "lastSuccess": null,
                    "lastFailure": since,
                    "lastFailureCause": "simulated: the image is broken",
                    "instanceId": instance_id(&self.id),
                })]
            }
        };
        json!({
            "appId": self.app_id,
            "id": self.id,
            "host": self.host,
            "ports": self.ports,
            "servicePorts": self.service_ports,
            "ipAddresses": [{"ipAddress": self.host, "protocol": "IPv4"}],
            "slaveId": self.slave_id,
            "state": self.state.as_str(),
            "stagedAt": marathon_timestamp(self.staged_at_ms),
            "startedAt": self.started_at_ms.map(marathon_timestamp),
            "version": self.version,
            "healthCheckResults": health,
            "localVolumes": [],
            "role": "*",
        })
    }
}

/// `<safe app id>.instance-<uuid>` of a task id.
fn instance_id(task_id: &str) -> &str {
    task_id.strip_suffix("._app.1").unwrap_or(task_id)
}

/// One app with its tasks.
#[derive(Debug, Clone)]
pub struct App {
    /// Canonical absolute id, e.g. `/prod/web`.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The wanted number of tasks.
    pub instances: u64,
    /// Its tasks.
    pub tasks: Vec<Task>,
    /// Whether it has health checks (only then do tasks report health).
    pub has_health_checks: bool,
    /// Service ports (`portDefinitions[].port` or
    /// `portMappings[].servicePort`).
    pub service_ports: Vec<u16>,
    /// `versionInfo.lastScalingAt`, epoch milliseconds.
    pub last_scaling_at_ms: u64,
    /// `versionInfo.lastConfigChangeAt`, epoch milliseconds.
    pub last_config_change_at_ms: u64,
    /// `version`, epoch milliseconds.
    pub version_ms: u64,
    /// The running deployment that owns the app, if any.
    pub deployment: Option<String>,
    definition: Map<String, Value>,
    broken: bool,
    versions: Vec<Map<String, Value>>,
    last_task_failure: Option<Value>,
}

impl App {
    /// The app definition as Marathon stores it (defaults applied, with
    /// `version` and `versionInfo`), without counts or tasks.
    pub fn definition(&self) -> &Map<String, Value> {
        &self.definition
    }

    fn from_definition(definition: Map<String, Value>, now_ms: u64) -> App {
        let mut app = App {
            id: String::new(),
            labels: BTreeMap::new(),
            instances: 0,
            tasks: Vec::new(),
            has_health_checks: false,
            service_ports: Vec::new(),
            last_scaling_at_ms: now_ms,
            last_config_change_at_ms: now_ms,
            version_ms: now_ms,
            deployment: None,
            definition,
            broken: false,
            versions: Vec::new(),
            last_task_failure: None,
        };
        app.refresh();
        app
    }

    /// Re-derives the public fields from the definition and stamps it.
    fn refresh(&mut self) {
        let d = &mut self.definition;
        d.insert("version".into(), json!(marathon_timestamp(self.version_ms)));
        d.insert(
            "versionInfo".into(),
            json!({
                "lastScalingAt": marathon_timestamp(self.last_scaling_at_ms),
                "lastConfigChangeAt": marathon_timestamp(self.last_config_change_at_ms),
            }),
        );
        self.id = d
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_owned();
        self.instances = d.get("instances").and_then(Value::as_u64).unwrap_or(0);
        self.labels = d
            .get("labels")
            .and_then(Value::as_object)
            .map(|l| {
                l.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        self.has_health_checks = d
            .get("healthChecks")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty());
        self.broken = d
            .get("container")
            .and_then(|c| c.get("docker"))
            .and_then(|c| c.get("image"))
            .and_then(Value::as_str)
            .is_some_and(|image| image.contains("broken"));
        self.service_ports = if let Some(mappings) = validate::port_mappings(d) {
            mappings
                .iter()
                .map(|m| m.get("servicePort").and_then(Value::as_u64).unwrap_or(0) as u16)
                .collect()
        } else if let Some(defs) = d.get("portDefinitions").and_then(Value::as_array) {
            defs.iter()
                .map(|p| p.get("port").and_then(Value::as_u64).unwrap_or(0) as u16)
                .collect()
        } else {
            d.get("ports")
                .and_then(Value::as_array)
                .map(|p| p.iter().map(|v| v.as_u64().unwrap_or(0) as u16).collect())
                .unwrap_or_default()
        };
    }

    fn remember_version(&mut self) {
        self.versions.push(self.definition.clone());
    }

    fn counts(&self) -> (usize, usize, usize, usize) {
        let staged = self
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Staging)
            .count();
        let running = self
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .count();
        let healthy = self
            .tasks
            .iter()
            .filter(|t| t.healthy == Some(true))
            .count();
        let unhealthy = self
            .tasks
            .iter()
            .filter(|t| t.healthy == Some(false))
            .count();
        (staged, running, healthy, unhealthy)
    }

    /// The app as Marathon renders it: the definition plus, as asked, the
    /// counts, deployments, tasks and last task failure.
    pub fn to_json(&self, embed: &Embed) -> Value {
        let mut out = self.definition.clone();
        if embed.counts {
            let (staged, running, healthy, unhealthy) = self.counts();
            out.insert("tasksStaged".into(), json!(staged));
            out.insert("tasksRunning".into(), json!(running));
            out.insert("tasksHealthy".into(), json!(healthy));
            out.insert("tasksUnhealthy".into(), json!(unhealthy));
        }
        if embed.deployments {
            let deployments: Vec<Value> =
                self.deployment.iter().map(|id| json!({"id": id})).collect();
            out.insert("deployments".into(), Value::Array(deployments));
        }
        if embed.tasks {
            let tasks: Vec<Value> = self.tasks.iter().map(Task::to_json).collect();
            out.insert("tasks".into(), Value::Array(tasks));
        }
        if embed.last_task_failure
            && let Some(failure) = &self.last_task_failure
        {
            out.insert("lastTaskFailure".into(), failure.clone());
        }
        if embed.readiness {
            out.insert("readinessCheckResults".into(), json!([]));
        }
        Value::Object(out)
    }
}

/// Which parts of an app a response embeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Embed {
    /// `tasksStaged`, `tasksRunning`, `tasksHealthy`, `tasksUnhealthy`.
    pub counts: bool,
    /// `deployments: [{id}]`.
    pub deployments: bool,
    /// `tasks: [Task]`.
    pub tasks: bool,
    /// `lastTaskFailure` (when there is one).
    pub last_task_failure: bool,
    /// `readinessCheckResults`.
    pub readiness: bool,
}

impl Embed {
    /// What `GET /v2/apps/{id}` always embeds.
    pub fn full() -> Self {
        Embed {
            counts: true,
            deployments: true,
            tasks: true,
            last_task_failure: true,
            readiness: false,
        }
    }
}

/// A deployment action, as Marathon names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new app.
    Start,
    /// An app removed.
    Stop,
    /// Instances changed only.
    Scale,
    /// Configuration changed: tasks replaced.
    Restart,
}

impl Action {
    /// Marathon's name, e.g. `ScaleApplication`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "StartApplication",
            Action::Stop => "StopApplication",
            Action::Scale => "ScaleApplication",
            Action::Restart => "RestartApplication",
        }
    }
}

/// A running deployment.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// UUID.
    pub id: String,
    /// Timestamp of the target version.
    pub version: String,
    /// `(action, app id)` per affected app.
    pub actions: Vec<(Action, String)>,
    /// The definitions before the deployment (`None`: the app did not
    /// exist), for a rollback.
    previous: Vec<(String, Option<Map<String, Value>>)>,
}

impl Deployment {
    /// The §1.9 shape.
    pub fn to_json(&self) -> Value {
        let apps: Vec<&String> = self.actions.iter().map(|(_, app)| app).collect();
        let actions: Vec<Value> = self
            .actions
            .iter()
            .map(|(a, app)| json!({"action": a.as_str(), "app": app}))
            .collect();
        let current: Vec<Value> = self
            .actions
            .iter()
            .map(|(a, app)| json!({"action": a.as_str(), "app": app, "readinessCheckResults": []}))
            .collect();
        json!({
            "id": self.id,
            "version": self.version,
            "affectedApps": apps,
            "affectedPods": [],
            "steps": [{"actions": actions}],
            "currentActions": current,
            "currentStep": 1,
            "totalSteps": 1,
        })
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// 404 with this message.
    NotFound(String),
    /// 409: locked by these deployments.
    Locked(Vec<String>),
    /// 409 with this message (duplicate id).
    Conflict(String),
    /// 422 (or 400) validation failure.
    Invalid(validate::Invalid),
    /// 400 with this message.
    BadRequest(String),
}

/// The result of a change that started a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The deployment id.
    pub deployment_id: String,
    /// The new version's timestamp.
    pub version: String,
}

/// Marathon's state.
#[derive(Debug, Default)]
pub struct Marathon {
    apps: BTreeMap<String, App>,
    deployments: Vec<Deployment>,
    task_start_ms: u64,
    health_ms: u64,
    next_service_port: u16,
}

impl Marathon {
    /// An empty Marathon.
    pub fn new(config: &SimConfig) -> Self {
        Marathon {
            task_start_ms: config.task_start_delay.as_millis() as u64,
            health_ms: config.health_delay.as_millis() as u64,
            next_service_port: 10_000,
            ..Marathon::default()
        }
    }

    /// The apps, sorted by id.
    pub fn apps(&self) -> impl Iterator<Item = &App> {
        self.apps.values()
    }

    /// One app by id (relative ids are resolved against `/`).
    pub fn app(&self, id: &str) -> Option<&App> {
        self.apps.get(&validate::canonical_id(id))
    }

    /// The running deployments, oldest first.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }

    /// Runs the scheduler up to `now_ms`.
    pub fn advance(&mut self, now_ms: u64, rng: &mut SimRng, _config: &SimConfig) {
        let (start, health) = (self.task_start_ms, self.health_ms);
        // Replay every task transition due by `now_ms` in time order, so a
        // large clock jump still lets a rolling restart progress step by step
        // with launches stamped at the time they happened.
        for _ in 0..100_000 {
            let next = self
                .apps
                .values()
                .flat_map(|a| {
                    a.tasks
                        .iter()
                        .filter_map(|t| pending_transition(t, a.has_health_checks, start, health))
                })
                .min();
            match next {
                Some(at) if at <= now_ms => {
                    for app in self.apps.values_mut() {
                        converge(app, at, rng, start, health);
                    }
                }
                _ => break,
            }
        }
        // Settled apps (no deployment, the wanted tasks of the current
        // configuration, nothing pending) have nothing to converge: skipping
        // them keeps a request's cost independent of how many apps are idle.
        for app in self
            .apps
            .values_mut()
            .filter(|a| !settled(a, start, health))
        {
            converge(app, now_ms, rng, start, health);
        }
        let apps = &mut self.apps;
        self.deployments.retain(|d| {
            let done = d.actions.iter().all(|(_, id)| match apps.get(id) {
                None => true,
                Some(app) => app.deployment.as_deref() != Some(&d.id) || converged(app),
            });
            if done {
                for (_, id) in &d.actions {
                    if let Some(app) = apps.get_mut(id)
                        && app.deployment.as_deref() == Some(&d.id)
                    {
                        app.deployment = None;
                    }
                }
            }
            !done
        });
    }

    /// Imports a `GET /v2/apps` response (`{"apps":[…]}`) such as marathon-lb's
    /// `zdd_apps.json`: each app replaces any app of the same id, keeps its
    /// `version`/`versionInfo` and its tasks exactly as given. Returns the
    /// number of apps imported.
    pub fn load_apps_response(
        &mut self,
        value: &Value,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<usize, validate::Invalid> {
        let apps = value
            .get("apps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut count = 0;
        for raw in apps {
            let Value::Object(raw) = raw else { continue };
            let tasks = raw.get("tasks").and_then(Value::as_array).cloned();
            let times = |key: &str| {
                raw.get("versionInfo")
                    .and_then(|v| v.get(key))
                    .and_then(Value::as_str)
                    .and_then(validate::parse_timestamp)
            };
            let scaling = times("lastScalingAt");
            let config = times("lastConfigChangeAt");
            let version = raw
                .get("version")
                .and_then(Value::as_str)
                .and_then(validate::parse_timestamp);
            let failure = raw.get("lastTaskFailure").cloned();
            let definition = validate::normalise(raw)?;
            let mut app = App::from_definition(definition, now_ms);
            app.version_ms = version.unwrap_or(now_ms);
            app.last_config_change_at_ms = config.unwrap_or(app.version_ms);
            app.last_scaling_at_ms = scaling.unwrap_or(app.version_ms);
            app.last_task_failure = failure;
            app.refresh();
            app.remember_version();
            for raw_task in tasks.unwrap_or_default() {
                app.tasks.push(imported_task(&app, raw_task, now_ms));
            }
            self.apps.insert(app.id.clone(), app);
            count += 1;
        }
        self.advance(now_ms, rng, &SimConfig::default());
        Ok(count)
    }

    fn locked(&self, ids: &[&str], force: bool) -> Result<(), Refusal> {
        if force {
            return Ok(());
        }
        let locks: BTreeSet<String> = ids
            .iter()
            .filter_map(|id| self.apps.get(*id).and_then(|a| a.deployment.clone()))
            .collect();
        if locks.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Locked(locks.into_iter().collect()))
        }
    }

    /// Cancels the deployment owning `app_id` (for `force=true`).
    fn cancel_for(&mut self, app_id: &str) {
        let Some(id) = self.apps.get(app_id).and_then(|a| a.deployment.clone()) else {
            return;
        };
        self.deployments.retain(|d| d.id != id);
        for app in self.apps.values_mut() {
            if app.deployment.as_deref() == Some(&id) {
                app.deployment = None;
            }
        }
    }

    fn start_deployment(
        &mut self,
        rng: &mut SimRng,
        version: String,
        actions: Vec<(Action, String)>,
        previous: Vec<(String, Option<Map<String, Value>>)>,
    ) -> Started {
        let id = rng.uuid_v4();
        for (_, app_id) in &actions {
            self.cancel_for(app_id);
            if let Some(app) = self.apps.get_mut(app_id) {
                app.deployment = Some(id.clone());
            }
        }
        self.deployments.push(Deployment {
            id: id.clone(),
            version: version.clone(),
            actions,
            previous,
        });
        Started {
            deployment_id: id,
            version,
        }
    }

    /// Gives service ports to port definitions / mappings that ask for 0.
    fn assign_service_ports(&mut self, definition: &mut Map<String, Value>) {
        let used: BTreeSet<u16> = self
            .apps
            .values()
            .filter(|a| a.definition.get("id") != definition.get("id"))
            .flat_map(|a| a.service_ports.iter().copied())
            .collect();
        let mut next = self.next_service_port.max(10_000);
        let mut assign = |entry: &mut Value, key: &str| {
            if let Some(obj) = entry.as_object_mut()
                && obj.get(key).and_then(Value::as_u64).unwrap_or(0) == 0
            {
                while used.contains(&next) {
                    next += 1;
                }
                obj.insert(key.into(), json!(next));
                next += 1;
            }
        };
        if let Some(Value::Array(defs)) = definition.get_mut("portDefinitions") {
            for d in defs.iter_mut() {
                assign(d, "port");
            }
        }
        if let Some(container) = definition
            .get_mut("container")
            .and_then(Value::as_object_mut)
        {
            if let Some(Value::Array(maps)) = container.get_mut("portMappings") {
                maps.iter_mut().for_each(|m| assign(m, "servicePort"));
            }
            if let Some(Value::Array(maps)) = container
                .get_mut("docker")
                .and_then(|d| d.get_mut("portMappings"))
            {
                maps.iter_mut().for_each(|m| assign(m, "servicePort"));
            }
        }
        self.next_service_port = if next > 20_000 { 10_000 } else { next };
    }

    /// `POST /v2/apps`: creates an app from a raw definition.
    pub fn create(
        &mut self,
        raw: Map<String, Value>,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<(Value, Started), Refusal> {
        let mut definition = validate::normalise(raw).map_err(Refusal::Invalid)?;
        let id = definition["id"].as_str().unwrap_or_default().to_owned();
        if self.apps.contains_key(&id) {
            return Err(Refusal::Conflict(format!(
                "An app with id [{id}] already exists."
            )));
        }
        self.assign_service_ports(&mut definition);
        let mut app = App::from_definition(definition, now_ms);
        app.remember_version();
        let body = app.to_json(&Embed {
            counts: true,
            ..Embed::default()
        });
        let version = marathon_timestamp(now_ms);
        self.apps.insert(id.clone(), app);
        let started = self.start_deployment(
            rng,
            version,
            vec![(Action::Start, id.clone())],
            vec![(id, None)],
        );
        let mut body = body;
        body["deployments"] = json!([{"id": started.deployment_id}]);
        Ok((body, started))
    }

    /// `PUT`/`PATCH /v2/apps/{id}`: updates (merge when `partial`, else
    /// replace) or, when `may_create`, creates the app. Returns whether it
    /// was created.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        path_id: &str,
        mut body: Map<String, Value>,
        partial: bool,
        force: bool,
        may_create: bool,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<(bool, Started), Refusal> {
        let id = validate::canonical_id(path_id);
        let existing = self.apps.get(&id).map(|a| a.definition.clone());
        let Some(old) = existing else {
            if !may_create {
                return Err(Refusal::NotFound(format!("App '{id}' does not exist")));
            }
            body.insert("id".into(), json!(id));
            let (_, started) = self.create(body, now_ms, rng)?;
            return Ok((true, started));
        };
        self.locked(&[&id], force)?;
        // `{"version": ts}` (with at most an id): roll back to that version.
        let only_version =
            body.contains_key("version") && body.keys().all(|k| k == "version" || k == "id");
        let target = if only_version {
            let wanted = body["version"].as_str().unwrap_or_default().to_owned();
            let app = &self.apps[&id];
            let found = app
                .versions
                .iter()
                .find(|v| v.get("version").and_then(Value::as_str) == Some(&wanted))
                .cloned();
            found.ok_or_else(|| {
                Refusal::NotFound(format!("App '{id}' does not exist in version {wanted}"))
            })?
        } else if partial {
            let mut merged = old.clone();
            for (k, v) in body {
                merged.insert(k, v);
            }
            merged
        } else {
            body
        };
        let mut target = target;
        target.insert("id".into(), json!(id));
        let mut definition = validate::normalise(target).map_err(Refusal::Invalid)?;
        keep_service_ports(&mut definition, &self.apps[&id].service_ports);
        self.assign_service_ports(&mut definition);
        let scale_only = same_config(&definition, &old);
        let app = self.apps.get_mut(&id).expect("app exists");
        let previous = app.definition.clone();
        app.definition = definition;
        app.version_ms = now_ms;
        app.last_scaling_at_ms = now_ms;
        if !scale_only {
            app.last_config_change_at_ms = now_ms;
        }
        app.refresh();
        app.remember_version();
        let action = if scale_only {
            Action::Scale
        } else {
            Action::Restart
        };
        let started = self.start_deployment(
            rng,
            marathon_timestamp(now_ms),
            vec![(action, id.clone())],
            vec![(id, Some(previous))],
        );
        Ok((false, started))
    }

    /// `DELETE /v2/apps/{id}`.
    pub fn delete(
        &mut self,
        path_id: &str,
        force: bool,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<Started, Refusal> {
        let id = validate::canonical_id(path_id);
        if !self.apps.contains_key(&id) {
            return Err(Refusal::NotFound(format!("App '{id}' does not exist")));
        }
        self.locked(&[&id], force)?;
        self.cancel_for(&id);
        let previous = self.apps.get(&id).map(|a| a.definition.clone());
        let started = self.start_deployment(
            rng,
            marathon_timestamp(now_ms),
            vec![(Action::Stop, id.clone())],
            vec![(id.clone(), previous)],
        );
        self.apps.remove(&id);
        Ok(started)
    }

    /// `POST /v2/apps/{id}/restart`.
    pub fn restart(
        &mut self,
        path_id: &str,
        force: bool,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<Started, Refusal> {
        let id = validate::canonical_id(path_id);
        let Some(app) = self.apps.get(&id) else {
            return Err(Refusal::NotFound(format!("App '{id}' does not exist")));
        };
        let previous = app.definition.clone();
        self.locked(&[&id], force)?;
        let app = self.apps.get_mut(&id).expect("app exists");
        app.version_ms = now_ms;
        app.last_config_change_at_ms = now_ms;
        app.refresh();
        app.remember_version();
        Ok(self.start_deployment(
            rng,
            marathon_timestamp(now_ms),
            vec![(Action::Restart, id.clone())],
            vec![(id, Some(previous))],
        ))
    }

    /// Kills tasks by id. With `scale`, lowers each app's `instances` by the
    /// number of its tasks killed, in one deployment (returned). Ids of
    /// unknown tasks are ignored. Returns the killed tasks as they were.
    pub fn kill(
        &mut self,
        task_ids: &[String],
        scale: bool,
        force: bool,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<(Vec<Value>, Option<Started>), Refusal> {
        let wanted: BTreeSet<&str> = task_ids.iter().map(String::as_str).collect();
        let mut per_app: BTreeMap<String, usize> = BTreeMap::new();
        for app in self.apps.values() {
            let n = app
                .tasks
                .iter()
                .filter(|t| wanted.contains(t.id.as_str()))
                .count();
            if n > 0 {
                per_app.insert(app.id.clone(), n);
            }
        }
        if scale {
            let ids: Vec<&str> = per_app.keys().map(String::as_str).collect();
            self.locked(&ids, force)?;
        }
        let mut killed = Vec::new();
        let mut previous = Vec::new();
        for (id, n) in &per_app {
            let app = self.apps.get_mut(id).expect("app exists");
            let (gone, kept): (Vec<Task>, Vec<Task>) = std::mem::take(&mut app.tasks)
                .into_iter()
                .partition(|t| wanted.contains(t.id.as_str()));
            app.tasks = kept;
            killed.extend(gone.iter().map(Task::to_json));
            if scale {
                previous.push((id.clone(), Some(app.definition.clone())));
                let instances = app.instances.saturating_sub(*n as u64);
                app.definition.insert("instances".into(), json!(instances));
                app.version_ms = now_ms;
                app.last_scaling_at_ms = now_ms;
                app.refresh();
                app.remember_version();
            }
        }
        let started = scale.then(|| {
            let actions = per_app
                .keys()
                .map(|id| (Action::Scale, id.clone()))
                .collect();
            self.start_deployment(rng, marathon_timestamp(now_ms), actions, previous)
        });
        Ok((killed, started))
    }

    /// `DELETE /v2/deployments/{id}`: with `force`, cancels it (`None`);
    /// otherwise cancels it and starts a rollback deployment.
    pub fn cancel_deployment(
        &mut self,
        id: &str,
        force: bool,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<Option<Started>, Refusal> {
        let Some(index) = self.deployments.iter().position(|d| d.id == id) else {
            return Err(Refusal::NotFound(format!(
                "DeploymentPlan {id} does not exist"
            )));
        };
        let deployment = self.deployments.remove(index);
        for app in self.apps.values_mut() {
            if app.deployment.as_deref() == Some(id) {
                app.deployment = None;
            }
        }
        if force {
            return Ok(None);
        }
        let mut actions = Vec::new();
        let mut previous = Vec::new();
        for (app_id, before) in deployment.previous {
            let now = self.apps.get(&app_id).map(|a| a.definition.clone());
            match (before, now) {
                (None, Some(now)) => {
                    self.apps.remove(&app_id);
                    actions.push((Action::Stop, app_id.clone()));
                    previous.push((app_id, Some(now)));
                }
                (Some(before), current) => {
                    let scale_only = current.as_ref().is_some_and(|c| same_config(c, &before));
                    let action = match (&current, scale_only) {
                        (None, _) => Action::Start,
                        (Some(_), true) => Action::Scale,
                        (Some(_), false) => Action::Restart,
                    };
                    let mut app = App::from_definition(before, now_ms);
                    app.last_config_change_at_ms = now_ms;
                    if let Some(old) = self.apps.remove(&app_id) {
                        app.tasks = old.tasks;
                        app.versions = old.versions;
                        app.last_task_failure = old.last_task_failure;
                        if scale_only {
                            app.last_config_change_at_ms = old.last_config_change_at_ms;
                        }
                    }
                    app.version_ms = now_ms;
                    app.last_scaling_at_ms = now_ms;
                    app.refresh();
                    app.remember_version();
                    self.apps.insert(app_id.clone(), app);
                    actions.push((action, app_id.clone()));
                    previous.push((app_id, current));
                }
                (None, None) => {}
            }
        }
        Ok(Some(self.start_deployment(
            rng,
            marathon_timestamp(now_ms),
            actions,
            previous,
        )))
    }
}

/// Whether two definitions differ at most in `instances` (and the stamps).
fn same_config(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let strip = |d: &Map<String, Value>| {
        let mut d = d.clone();
        for k in ["instances", "version", "versionInfo"] {
            d.remove(k);
        }
        d
    };
    strip(a) == strip(b)
}

/// An update that leaves a service port at 0 keeps the one the app had at
/// that index.
fn keep_service_ports(definition: &mut Map<String, Value>, ports: &[u16]) {
    let fill = |entries: Option<&mut Value>, key: &str| {
        if let Some(Value::Array(entries)) = entries {
            for (entry, port) in entries.iter_mut().zip(ports) {
                if let Some(obj) = entry.as_object_mut()
                    && obj.get(key).and_then(Value::as_u64).unwrap_or(0) == 0
                    && *port != 0
                {
                    obj.insert(key.into(), json!(port));
                }
            }
        }
    };
    fill(definition.get_mut("portDefinitions"), "port");
    if let Some(container) = definition
        .get_mut("container")
        .and_then(Value::as_object_mut)
    {
        fill(container.get_mut("portMappings"), "servicePort");
        fill(
            container
                .get_mut("docker")
                .and_then(|d| d.get_mut("portMappings")),
            "servicePort",
        );
    }
}

fn imported_task(app: &App, raw: Value, now_ms: u64) -> Task {
    let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
    let ports = |key: &str| -> Vec<u16> {
        raw.get(key)
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(Value::as_u64)
                    .map(|p| p as u16)
                    .collect()
            })
            .unwrap_or_default()
    };
    let state = match text("state").as_deref() {
        None | Some("TASK_RUNNING") => TaskState::Running,
        Some("TASK_STAGING" | "TASK_STARTING") => TaskState::Staging,
        Some(_) => TaskState::Other,
    };
    let results = raw
        .get("healthCheckResults")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let healthy = (!results.is_empty()).then(|| {
        results
            .iter()
            .all(|r| r.get("alive") == Some(&Value::Bool(true)))
    });
    let first_success = results
        .iter()
        .filter_map(|r| r.get("firstSuccess").and_then(Value::as_str))
        .filter_map(validate::parse_timestamp)
        .min();
    let service_ports = {
        let given = ports("servicePorts");
        if given.is_empty() {
            app.service_ports.clone()
        } else {
            given
        }
    };
    Task {
        id: text("id").unwrap_or_default(),
        app_id: text("appId").unwrap_or_else(|| app.id.clone()),
        host: text("host").unwrap_or_else(|| "127.0.0.1".into()),
        ports: ports("ports"),
        service_ports,
        state,
        staged_at_ms: text("stagedAt")
            .as_deref()
            .and_then(validate::parse_timestamp)
            .unwrap_or(now_ms),
        started_at_ms: text("startedAt")
            .as_deref()
            .and_then(validate::parse_timestamp),
        healthy,
        first_success_ms: first_success,
        version: text("version").unwrap_or_else(|| marathon_timestamp(app.version_ms)),
        slave_id: text("slaveId").unwrap_or_default(),
        config_ms: app.last_config_change_at_ms,
        raw: Some(raw),
    }
}

/// Whether an app has exactly its wanted tasks, all of the current
/// configuration and ready.
fn converged(app: &App) -> bool {
    app.tasks.len() as u64 == app.instances
        && app
            .tasks
            .iter()
            .all(|t| t.config_ms == app.last_config_change_at_ms && t.is_up(app.has_health_checks))
}

/// Whether an app is at rest: no deployment, exactly its wanted tasks, all
/// of the current configuration and with no state change still to come.
fn settled(app: &App, start_ms: u64, health_ms: u64) -> bool {
    app.deployment.is_none()
        && app.tasks.len() as u64 == app.instances
        && app.tasks.iter().all(|t| {
            t.config_ms == app.last_config_change_at_ms
                && pending_transition(t, app.has_health_checks, start_ms, health_ms).is_none()
        })
}

/// When a simulated task changes next (`TASK_RUNNING`, first health
/// result), if it still will.
fn pending_transition(task: &Task, has_checks: bool, start_ms: u64, health_ms: u64) -> Option<u64> {
    if task.raw.is_some() {
        return None;
    }
    match task.state {
        TaskState::Staging => Some(task.staged_at_ms + start_ms),
        TaskState::Running if has_checks && task.healthy.is_none() => {
            Some(task.started_at_ms.unwrap_or(task.staged_at_ms) + health_ms)
        }
        _ => None,
    }
}

/// Brings one app's tasks up to `now_ms`: state changes by time, launches,
/// excess kills and the rolling replacement of old-configuration tasks.
fn converge(app: &mut App, now_ms: u64, rng: &mut SimRng, start_ms: u64, health_ms: u64) {
    let has_checks = app.has_health_checks;
    let broken = app.broken;
    for task in app.tasks.iter_mut().filter(|t| t.raw.is_none()) {
        if task.state == TaskState::Staging && now_ms >= task.staged_at_ms + start_ms {
            task.state = TaskState::Running;
            task.started_at_ms = Some(task.staged_at_ms + start_ms);
        }
        if let (true, None, Some(started)) = (has_checks, task.healthy, task.started_at_ms)
            && now_ms >= started + health_ms
        {
            task.healthy = Some(!broken);
            if !broken {
                task.first_success_ms = Some(started + health_ms);
            }
        }
    }
    let current = app.last_config_change_at_ms;
    let oldest_first =
        app.definition.get("killSelection").and_then(Value::as_str) == Some("OLDEST_FIRST");
    let wanted = app.instances as usize;
    let mut fresh: Vec<usize> = (0..app.tasks.len())
        .filter(|&i| app.tasks[i].config_ms == current)
        .collect();
    if fresh.len() > wanted {
        // Kill the excess: youngest (latest staged) first unless OLDEST_FIRST.
        fresh.sort_by_key(|&i| (app.tasks[i].staged_at_ms, i));
        if !oldest_first {
            fresh.reverse();
        }
        let doomed: BTreeSet<usize> = fresh[..fresh.len() - wanted].iter().copied().collect();
        let mut i = 0;
        app.tasks.retain(|_| {
            let keep = !doomed.contains(&i);
            i += 1;
            keep
        });
    }
    let strategy = |key: &str, default: f64| {
        app.definition
            .get("upgradeStrategy")
            .and_then(|s| s.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(default)
    };
    // Marathon's rolling restart: keep `ceil(instances * minimumHealthCapacity)`
    // tasks up, run at most `floor(instances * (1 + maximumOverCapacity))`.
    let min_up = (wanted as f64 * strategy("minimumHealthCapacity", 1.0) - 1e-9).ceil() as usize;
    let max_total = ((wanted as f64 * (1.0 + strategy("maximumOverCapacity", 1.0)) + 1e-9).floor()
        as usize)
        .max(wanted);
    loop {
        let mut progressed = false;
        // Kill old tasks while enough stay up: not-up ones first.
        loop {
            let up = app.tasks.iter().filter(|t| t.is_up(has_checks)).count();
            let victim = app
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.config_ms != current)
                .min_by_key(|(i, t)| {
                    let age = if oldest_first {
                        t.staged_at_ms as i128
                    } else {
                        -(t.staged_at_ms as i128)
                    };
                    (t.is_up(has_checks), age, *i)
                })
                .map(|(i, t)| (i, t.is_up(has_checks)));
            match victim {
                Some((i, is_up)) if wanted == 0 || up - usize::from(is_up) >= min_up => {
                    app.tasks.remove(i);
                    progressed = true;
                }
                _ => break,
            }
        }
        // Launch new tasks within the capacity.
        let fresh_count = app.tasks.iter().filter(|t| t.config_ms == current).count();
        for _ in fresh_count..wanted {
            if app.tasks.len() >= max_total {
                break;
            }
            let task = launch(app, now_ms, rng);
            app.tasks.push(task);
            progressed = true;
        }
        if progressed {
            continue;
        }
        // Stuck (e.g. minimumHealthCapacity 1 with maximumOverCapacity 0):
        // when every new task is up, give up one old task to make room.
        let fresh_up = app
            .tasks
            .iter()
            .filter(|t| t.config_ms == current)
            .all(|t| t.is_up(has_checks));
        let fresh_count = app.tasks.iter().filter(|t| t.config_ms == current).count();
        match app.tasks.iter().position(|t| t.config_ms != current) {
            Some(i) if fresh_up && fresh_count < wanted => {
                app.tasks.remove(i);
            }
            _ => break,
        }
    }
}

fn launch(app: &App, now_ms: u64, rng: &mut SimRng) -> Task {
    let ports = fixed_host_ports(&app.definition)
        .into_iter()
        .map(|fixed| fixed.unwrap_or_else(|| 10_000 + (rng.next_u64() % 22_001) as u16))
        .collect();
    Task {
        id: format!(
            "{}.instance-{}._app.1",
            validate::safe_app_id(&app.id),
            rng.uuid_v4()
        ),
        app_id: app.id.clone(),
        host: "127.0.0.1".into(),
        ports,
        service_ports: app.service_ports.clone(),
        state: TaskState::Staging,
        staged_at_ms: now_ms,
        started_at_ms: None,
        healthy: None,
        first_success_ms: None,
        version: marathon_timestamp(app.version_ms),
        slave_id: "a0b1c2d3-0000-4000-8000-000000000001-S0".into(),
        config_ms: app.last_config_change_at_ms,
        raw: None,
    }
}

/// One entry per host port a task gets: `Some(port)` when the definition
/// fixes it (`hostPort` of a port mapping, or a port definition's `port`
/// with `requirePorts`), `None` when Marathon picks one.
fn fixed_host_ports(definition: &Map<String, Value>) -> Vec<Option<u16>> {
    let port = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_u64)
            .filter(|p| *p > 0)
            .map(|p| p as u16)
    };
    if let Some(mappings) = validate::port_mappings(definition) {
        return mappings.iter().map(|m| port(m, "hostPort")).collect();
    }
    let require = definition.get("requirePorts") == Some(&Value::Bool(true));
    let fixed = |p: Option<u16>| if require { p } else { None };
    if let Some(defs) = definition.get("portDefinitions").and_then(Value::as_array) {
        return defs.iter().map(|d| fixed(port(d, "port"))).collect();
    }
    definition
        .get("ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| fixed(p.as_u64().filter(|p| *p > 0).map(|p| p as u16)))
                .collect()
        })
        .unwrap_or_default()
}
