//! The changes the API makes to apps: create, update, delete, restart and
//! kill, each starting a deployment.

use super::Marathon;
use super::app::{App, Embed};
use super::deployment::{Action, Refusal, Started};
use super::kills::{KillCause, Killed};
use super::task::Task;
use super::validate;
use crate::clock::marathon_timestamp;
use crate::rng::SimRng;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// How `PUT`/`PATCH /v2/apps/{id}` applies a body. `Default` is all off:
/// the body replaces the definition, a deployment lock is a 409, and a
/// missing app is a 404.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateOptions {
    /// Merge the body into the stored definition (`PATCH`, and `PUT` with
    /// `partialUpdate=true`, its default); otherwise the body replaces it and
    /// missing fields get Marathon's defaults.
    pub partial: bool,
    /// `force=true`: cancel the deployment that locks the app instead of
    /// refusing with 409.
    pub force: bool,
    /// Create the app when it does not exist (`PUT` does, `PATCH` does not).
    pub create: bool,
}

impl UpdateOptions {
    /// `PUT /v2/apps/{id}` with its default query: merge, no force, create a
    /// missing app.
    pub fn put() -> Self {
        UpdateOptions {
            partial: true,
            force: false,
            create: true,
        }
    }

    /// `PATCH /v2/apps/{id}`: merge, no force, 404 for a missing app.
    pub fn patch() -> Self {
        UpdateOptions {
            partial: true,
            force: false,
            create: false,
        }
    }
}

/// How a task kill treats the app. `Default`: no scaling, no force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KillOptions {
    /// `scale=true`: lower each app's `instances` by the tasks killed, in one
    /// `ScaleApplication` deployment, so Marathon does not replace them.
    pub scale: bool,
    /// `force=true`: with `scale`, cancel a deployment that locks the app
    /// instead of refusing with 409.
    pub force: bool,
}

impl Marathon {
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
        self.generation += 1;
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

    /// `PUT`/`PATCH /v2/apps/{id}`: updates the app as `options` say, or
    /// creates it. Returns whether it was created.
    pub fn update(
        &mut self,
        path_id: &str,
        mut body: Map<String, Value>,
        options: UpdateOptions,
        now_ms: u64,
        rng: &mut SimRng,
    ) -> Result<(bool, Started), Refusal> {
        let id = validate::canonical_id(path_id);
        let existing = self.apps.get(&id).map(|a| a.definition.clone());
        let Some(old) = existing else {
            if !options.create {
                return Err(Refusal::NotFound(format!("App '{id}' does not exist")));
            }
            body.insert("id".into(), json!(id));
            let (_, started) = self.create(body, now_ms, rng)?;
            return Ok((true, started));
        };
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
        } else if options.partial {
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
        // Marathon stamps versionInfo by what changed: everything on a config
        // change, version and lastScalingAt on a scale, nothing at all when
        // the update changes nothing (then the deployment has no steps, so it
        // conflicts with no running deployment either).
        let action = match (scale_only, instances_of(&old) == instances_of(&definition)) {
            (true, true) => None,
            (true, false) => Some(Action::Scale),
            (false, _) => Some(Action::Restart),
        };
        if action.is_some() {
            self.locked(&[&id], options.force)?;
        }
        let app = self.apps.get_mut(&id).expect("app exists");
        let previous = app.definition.clone();
        app.definition = definition;
        if action.is_some() {
            app.version_ms = now_ms;
            app.last_scaling_at_ms = now_ms;
        }
        if action == Some(Action::Restart) {
            app.last_config_change_at_ms = now_ms;
            app.config_epoch_ms = now_ms;
        }
        app.refresh();
        if action.is_some() {
            app.remember_version();
        }
        self.generation += 1;
        let actions = action.map(|a| (a, id.clone())).into_iter().collect();
        let started = self.start_deployment(
            rng,
            marathon_timestamp(now_ms),
            actions,
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
        if let Some(app) = self.apps.remove(&id) {
            for task in &app.tasks {
                self.killed
                    .push(Killed::new(&app, task, now_ms, KillCause::AppRemoved));
            }
        }
        self.generation += 1;
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
        // A restart is a new version and counts as scaling for versionInfo
        // (lastScalingAt), not as a config change; its tasks are replaced.
        app.version_ms = now_ms;
        app.last_scaling_at_ms = now_ms;
        app.config_epoch_ms = now_ms;
        app.refresh();
        app.remember_version();
        self.generation += 1;
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
        options: KillOptions,
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
        let KillOptions { scale, force } = options;
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
            for task in &gone {
                self.killed
                    .push(Killed::new(app, task, now_ms, KillCause::Request { scale }));
            }
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
        self.generation += 1;
        let started = scale.then(|| {
            let actions = per_app
                .keys()
                .map(|id| (Action::Scale, id.clone()))
                .collect();
            self.start_deployment(rng, marathon_timestamp(now_ms), actions, previous)
        });
        Ok((killed, started))
    }
}

/// The `instances` of a definition (0 when missing).
fn instances_of(definition: &Map<String, Value>) -> u64 {
    definition
        .get("instances")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Whether two definitions differ at most in `instances` (and the stamps).
pub(super) fn same_config(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
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
