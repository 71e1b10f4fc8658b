//! Marathon's event bus as its Server-Sent Events stream (`GET /v2/events`,
//! Marathon's `events.raml`), which marathon-lb (`--sse`) listens to.
//!
//! Events come from what changed in the model, in cluster time: whenever
//! Marathon's state changes ([`super::Marathon::generation`]), the bus
//! compares it with what it saw last and publishes an `api_post_event` for
//! each app whose definition is new or changed (with its `appDefinition`),
//! an `app_terminated_event` for each app gone, a `status_update_event` for
//! each task whose state changed (`TASK_STAGING`, `TASK_RUNNING`, and
//! `TASK_KILLED` for a task gone) and a `health_status_changed_event` for
//! each task whose health changed. A client gets `event_stream_attached`
//! when it connects, only the types it names with repeated `event_type`
//! parameters (all without any), and a comment line every
//! [`KEEP_ALIVE`] so an idle stream stays open. `plan-format` is accepted
//! and ignored (no deployment events are published). Like every Marathon
//! path, the stream is under Admin Router's auth when the sim has auth on.

use super::Marathon;
use crate::clock::marathon_timestamp;
use crate::state::Shared;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::broadcast;

/// How often an idle stream gets a comment line.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Events a slow client may lag behind by before it misses some.
const BACKLOG: usize = 4096;

/// One published event: its type and its JSON text.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    kind: &'static str,
    data: String,
}

/// What the bus saw of a task last time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenTask {
    app_id: String,
    state: &'static str,
    healthy: Option<bool>,
    task: Value,
}

/// The event bus: what Marathon looked like last, and the subscribers.
#[derive(Debug)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<Event>,
    generation: Option<u64>,
    apps: BTreeMap<String, String>,
    tasks: BTreeMap<String, SeenTask>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            sender: broadcast::channel(BACKLOG).0,
            generation: None,
            apps: BTreeMap::new(),
            tasks: BTreeMap::new(),
        }
    }
}

impl EventBus {
    fn publish(&self, kind: &'static str, mut body: Value, at_ms: u64) {
        body["eventType"] = json!(kind);
        body["timestamp"] = json!(marathon_timestamp(at_ms));
        // No subscriber is not an error: nobody listens yet.
        let _ = self.sender.send(Event {
            kind,
            data: body.to_string(),
        });
    }

    /// Publishes what changed in `marathon` since the last call, as of
    /// `at_ms`.
    pub(crate) fn observe(&mut self, at_ms: u64, marathon: &Marathon) {
        if self.generation == Some(marathon.generation()) {
            return;
        }
        self.generation = Some(marathon.generation());
        let mut apps = BTreeMap::new();
        let mut tasks = BTreeMap::new();
        for app in marathon.apps() {
            let version = marathon_timestamp(app.version_ms);
            if self.apps.get(&app.id) != Some(&version) {
                let definition = app.to_json(&super::Embed::default());
                let uri = format!("/v2/apps{}", app.id);
                self.publish(
                    "api_post_event",
                    json!({"remoteAddress": "127.0.0.1", "uri": uri, "appDefinition": definition}),
                    at_ms,
                );
            }
            apps.insert(app.id.clone(), version);
            for task in &app.tasks {
                let seen = SeenTask {
                    app_id: app.id.clone(),
                    state: task.state.as_str(),
                    healthy: task.healthy,
                    task: task.to_json(),
                };
                let before = self.tasks.get(&task.id);
                if before.is_none_or(|b| b.state != seen.state) {
                    self.publish(
                        "status_update_event",
                        status_update(&seen, seen.state),
                        at_ms,
                    );
                }
                if seen.healthy.is_some() && before.is_none_or(|b| b.healthy != seen.healthy) {
                    self.publish(
                        "health_status_changed_event",
                        json!({"appId": seen.app_id, "taskId": task.id,
                               "instanceId": task.id.strip_suffix("._app.1").unwrap_or(&task.id),
                               "version": seen.task["version"], "alive": seen.healthy == Some(true)}),
                        at_ms,
                    );
                }
                tasks.insert(task.id.clone(), seen);
            }
        }
        for (id, gone) in &self.tasks {
            if !tasks.contains_key(id) {
                self.publish(
                    "status_update_event",
                    status_update(gone, "TASK_KILLED"),
                    at_ms,
                );
            }
        }
        for id in self.apps.keys().filter(|id| !apps.contains_key(*id)) {
            self.publish("app_terminated_event", json!({"appId": id}), at_ms);
        }
        self.apps = apps;
        self.tasks = tasks;
    }

    /// A new subscriber.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

/// A `status_update_event` for a task in `state`.
fn status_update(seen: &SeenTask, state: &str) -> Value {
    let t = &seen.task;
    json!({"slaveId": t["slaveId"], "taskId": t["id"], "taskStatus": state, "message": "",
           "appId": seen.app_id, "host": t["host"], "ipAddresses": t["ipAddresses"],
           "ports": t["ports"], "version": t["version"]})
}

/// One SSE message.
fn message(kind: &str, data: &str) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

/// `GET /v2/events`: the stream, from now on.
pub(crate) async fn stream(State(sim): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let query = super::query::Query::parse(raw);
    let wanted: Vec<String> = query.all("event_type").map(str::to_owned).collect();
    let (mut receiver, now) = {
        let cluster = sim.cluster();
        (cluster.events.subscribe(), cluster.now_ms)
    };
    // Every client of the sim is on loopback.
    let attached = json!({"remoteAddress": "127.0.0.1", "eventType": "event_stream_attached",
                          "timestamp": marathon_timestamp(now)});
    let first = message("event_stream_attached", &attached.to_string());
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        if tx.send(first).await.is_err() {
            return;
        }
        loop {
            let next = tokio::time::timeout(KEEP_ALIVE, receiver.recv()).await;
            let text = match next {
                Err(_) => ":\n\n".to_owned(),
                Ok(Ok(event)) if wanted.is_empty() || wanted.iter().any(|w| w == event.kind) => {
                    message(event.kind, &event.data)
                }
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
            };
            if tx.send(text).await.is_err() {
                return;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|text| (Ok::<_, std::convert::Infallible>(text), rx))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
