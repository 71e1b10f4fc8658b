//! Deployments: what they do, how they lock apps, and how they are cancelled
//! or rolled back.

use super::Marathon;
use super::app::App;
use super::changes::same_config;
use super::kills::{KillCause, Killed};
use super::validate;
use crate::clock::marathon_timestamp;
use crate::rng::SimRng;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

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
    pub(super) previous: Vec<(String, Option<Map<String, Value>>)>,
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

/// Why Marathon refused a change; each maps to the status and body the real
/// Marathon answers with (apis.md §1.2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// 404 with this message.
    #[error("404: {0}")]
    NotFound(String),
    /// 409: locked by these deployments.
    #[error("409: the app is locked by deployment(s) {}", .0.join(", "))]
    Locked(Vec<String>),
    /// 409 with this message (duplicate id).
    #[error("409: {0}")]
    Conflict(String),
    /// 422 (or 400) validation failure.
    #[error("422: {}", .0.body())]
    Invalid(validate::Invalid),
    /// 400 with this message.
    #[error("400: {0}")]
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

impl Marathon {
    pub(super) fn locked(&self, ids: &[&str], force: bool) -> Result<(), Refusal> {
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
    pub(super) fn cancel_for(&mut self, app_id: &str) {
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

    pub(super) fn start_deployment(
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
                    if let Some(app) = self.apps.remove(&app_id) {
                        for task in &app.tasks {
                            self.killed.push(Killed::new(
                                &app,
                                task,
                                now_ms,
                                KillCause::AppRemoved,
                            ));
                        }
                    }
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
                    if let Some(old) = self.apps.remove(&app_id) {
                        app.tasks = old.tasks;
                        app.versions = old.versions;
                        app.last_task_failure = old.last_task_failure;
                        if scale_only {
                            app.last_config_change_at_ms = old.last_config_change_at_ms;
                            app.config_epoch_ms = old.config_epoch_ms;
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
        self.generation += 1;
        Ok(Some(self.start_deployment(
            rng,
            marathon_timestamp(now_ms),
            actions,
            previous,
        )))
    }
}
