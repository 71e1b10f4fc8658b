//! A task: its Mesos state, how Marathon renders it, and how the scheduler
//! launches one.

use super::App;
use super::validate;
use crate::agent::{Agent, LaunchSpec};
use crate::clock::marathon_timestamp;
use crate::image::Behaviour;
use crate::rng::SimRng;
use serde_json::{Map, Value, json};

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
    /// What its image does (the image it was launched with: an old task
    /// keeps serving the old image during a rolling restart).
    pub(crate) behaviour: Behaviour,
    pub(super) slave_id: String,
    /// The app's `config_epoch_ms` when it was launched.
    pub(super) config_ms: u64,
    /// The task exactly as imported, rendered as is.
    pub(super) raw: Option<Value>,
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
                    "lastFailureCause": "simulated: the image is broken (its health check answers 500)",
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

/// Launches a task of `app` on the agent: its ports are the ones the agent
/// bound (or, when it serves nothing, drawn from the seed as before). `Err`
/// says why the agent could not start it.
pub(super) fn launch(
    app: &App,
    now_ms: u64,
    rng: &mut SimRng,
    agent: &mut Agent,
) -> Result<Task, String> {
    let fixed = fixed_host_ports(&app.definition);
    // Drawn whether or not they are used, so the seed gives the same ids.
    let drawn: Vec<u16> = fixed
        .iter()
        .map(|_| 10_000 + (rng.next_u64() % 22_001) as u16)
        .collect();
    let id = format!(
        "{}.instance-{}._app.1",
        validate::safe_app_id(&app.id),
        rng.uuid_v4()
    );
    let ports = agent.launch(&LaunchSpec {
        task_id: &id,
        app_id: &app.id,
        behaviour: &app.behaviour,
        fixed_ports: &fixed,
        drawn_ports: &drawn,
        // From the (seeded) id rather than a fresh draw, so adding it left
        // every id the seed gives as it was.
        error_offset: id.bytes().map(u64::from).sum::<u64>() % 100,
    })?;
    Ok(Task {
        id,
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
        behaviour: app.behaviour.clone(),
        slave_id: SLAVE_ID.into(),
        config_ms: app.config_epoch_ms,
        raw: None,
    })
}

/// The one simulated agent's id.
pub(crate) const SLAVE_ID: &str = "a0b1c2d3-0000-4000-8000-000000000001-S0";

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
