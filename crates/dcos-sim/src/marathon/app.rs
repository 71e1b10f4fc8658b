//! An app: its stored definition, the fields derived from it, and how
//! Marathon renders it.

use super::task::{Task, TaskState};
use super::validate;
use crate::clock::marathon_timestamp;
use crate::image::Behaviour;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

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
    /// The last configuration change or restart, epoch milliseconds: tasks
    /// launched for an earlier one are replaced. (A restart leaves
    /// `lastConfigChangeAt` alone, as Marathon does, but still replaces.)
    pub config_epoch_ms: u64,
    /// `version`, epoch milliseconds.
    pub version_ms: u64,
    /// The running deployment that owns the app, if any.
    pub deployment: Option<String>,
    pub(super) definition: Map<String, Value>,
    /// What the current configuration's image does (new tasks get it).
    pub(crate) behaviour: Behaviour,
    /// When the next launch may be tried after a failed one (Marathon's
    /// launch backoff), epoch milliseconds.
    pub(super) launch_backoff_until_ms: Option<u64>,
    /// Launches failed in a row (the backoff grows with them).
    pub(super) launch_failures: u32,
    pub(super) versions: Vec<Map<String, Value>>,
    pub(super) last_task_failure: Option<Value>,
}

impl App {
    /// The app definition as Marathon stores it (defaults applied, with
    /// `version` and `versionInfo`), without counts or tasks.
    pub fn definition(&self) -> &Map<String, Value> {
        &self.definition
    }

    pub(super) fn from_definition(definition: Map<String, Value>, now_ms: u64) -> App {
        let mut app = App {
            id: String::new(),
            labels: BTreeMap::new(),
            instances: 0,
            tasks: Vec::new(),
            has_health_checks: false,
            service_ports: Vec::new(),
            last_scaling_at_ms: now_ms,
            last_config_change_at_ms: now_ms,
            config_epoch_ms: now_ms,
            version_ms: now_ms,
            deployment: None,
            definition,
            behaviour: Behaviour::of(""),
            launch_backoff_until_ms: None,
            launch_failures: 0,
            versions: Vec::new(),
            last_task_failure: None,
        };
        app.refresh();
        app
    }

    /// Re-derives the public fields from the definition and stamps it.
    pub(super) fn refresh(&mut self) {
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
        self.behaviour = Behaviour::of(
            d.get("container")
                .and_then(|c| c.get("docker"))
                .and_then(|c| c.get("image"))
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
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

    pub(super) fn remember_version(&mut self) {
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
