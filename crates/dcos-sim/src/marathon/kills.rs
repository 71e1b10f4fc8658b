//! Every task the simulated Marathon kills, noted with why and when, for the
//! cluster's independent kill log (see [`crate::lb::KillRecord`]).

use super::app::App;
use super::task::Task;
use serde::Serialize;
use serde_json::Value;

/// Why a task was killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KillCause {
    /// A kill request: `POST /v2/tasks/delete` or `DELETE
    /// /v2/apps/{id}/tasks[/{taskId}]`; `scale` when it also lowered the
    /// app's `instances`.
    Request {
        /// Whether the request had `scale=true`.
        scale: bool,
    },
    /// The app was removed with its tasks: `DELETE /v2/apps/{id}`, or the
    /// rollback of the deployment that created it.
    AppRemoved,
    /// The scheduler killed a task beyond the app's (lowered) `instances`,
    /// e.g. after `PUT {"instances": n}`.
    ScaledDown,
    /// The scheduler replaced a task of an older configuration (a config
    /// change, a restart or a rollback).
    Replaced,
}

/// One kill as Marathon saw it: the app (definition) and the task as
/// rendered just before the kill.
#[derive(Debug, Clone)]
pub(crate) struct Killed {
    /// Cluster time of the kill, epoch milliseconds.
    pub(crate) at_ms: u64,
    /// Why.
    pub(crate) cause: KillCause,
    /// The app's id.
    pub(crate) app_id: String,
    /// The app's definition (networking decides marathon-lb's server names).
    pub(crate) app: Value,
    /// The task as `GET /v2/apps/{id}` rendered it.
    pub(crate) task: Value,
}

impl Killed {
    pub(crate) fn new(app: &App, task: &Task, at_ms: u64, cause: KillCause) -> Killed {
        Killed {
            at_ms,
            cause,
            app_id: app.id.clone(),
            app: Value::Object(app.definition.clone()),
            task: task.to_json(),
        }
    }
}
