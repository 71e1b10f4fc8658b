//! Read-only copies of the model for tests: what an app and its tasks are at
//! one cluster time, without handing out the model itself.

use super::app::{App, Embed};
use super::task::{Task, TaskState};
use serde_json::Value;
use std::collections::BTreeMap;

/// One Marathon app as the sim holds it, copied out at one cluster time.
#[derive(Debug, Clone, PartialEq)]
pub struct AppView {
    /// Canonical absolute id, e.g. `/prod/web`.
    pub id: String,
    /// The wanted number of tasks.
    pub instances: u64,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// `version`, epoch milliseconds.
    pub version_ms: u64,
    /// `versionInfo.lastScalingAt`, epoch milliseconds (what marathon-lb's
    /// old/new swap reads).
    pub last_scaling_at_ms: u64,
    /// `versionInfo.lastConfigChangeAt`, epoch milliseconds.
    pub last_config_change_at_ms: u64,
    /// The running deployment that owns the app, if any.
    pub deployment: Option<String>,
    /// Its tasks, in launch order.
    pub tasks: Vec<TaskView>,
    /// The app as `GET /v2/apps/{id}` renders it (counts, tasks,
    /// deployments, `lastTaskFailure`), for any other field.
    pub json: Value,
}

/// One task of an [`AppView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// Marathon's task id.
    pub id: String,
    /// The agent's host name.
    pub host: String,
    /// Host ports, one per port mapping or port definition.
    pub ports: Vec<u16>,
    /// Mesos state.
    pub state: TaskState,
    /// `None` without health checks or before the first result; else
    /// whether the last result was alive.
    pub healthy: Option<bool>,
    /// Launch time, epoch milliseconds.
    pub staged_at_ms: u64,
    /// When it reached `TASK_RUNNING`, epoch milliseconds.
    pub started_at_ms: Option<u64>,
}

impl AppView {
    pub(crate) fn of(app: &App) -> AppView {
        AppView {
            id: app.id.clone(),
            instances: app.instances,
            labels: app.labels.clone(),
            version_ms: app.version_ms,
            last_scaling_at_ms: app.last_scaling_at_ms,
            last_config_change_at_ms: app.last_config_change_at_ms,
            deployment: app.deployment.clone(),
            tasks: app.tasks.iter().map(TaskView::of).collect(),
            json: app.to_json(&Embed::full()),
        }
    }
}

impl TaskView {
    fn of(task: &Task) -> TaskView {
        TaskView {
            id: task.id.clone(),
            host: task.host.clone(),
            ports: task.ports.clone(),
            state: task.state,
            healthy: task.healthy,
            staged_at_ms: task.staged_at_ms,
            started_at_ms: task.started_at_ms,
        }
    }
}
