//! Importing a `GET /v2/apps` response (e.g. marathon-lb's fixtures) with
//! its tasks as given.

use super::Marathon;
use super::app::App;
use super::task::{Task, TaskState};
use super::validate;
use crate::clock::marathon_timestamp;
use crate::rng::SimRng;
use serde_json::Value;

impl Marathon {
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
            app.config_epoch_ms = app.last_config_change_at_ms;
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
        self.generation += 1;
        self.advance(now_ms, rng);
        Ok(count)
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
        // Imported tasks are records, not processes: nothing serves them.
        behaviour: app.behaviour.clone(),
        slave_id: text("slaveId").unwrap_or_default(),
        config_ms: app.config_epoch_ms,
        raw: Some(raw),
    }
}
