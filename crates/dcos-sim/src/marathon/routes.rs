//! Marathon's HTTP surface: `/v2/apps`, `/v2/tasks`, `/v2/deployments`,
//! `/v2/info`, `/v2/queue`, `/v2/events`.

use super::query::{Query, embed_of};
use super::selector;
use super::validate::{self, canonical_id};
use super::{Embed, KillOptions, Refusal, Started, UpdateOptions};
use crate::http::{json, message};
use crate::state::{Cluster, Shared};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};

/// Marathon's routes (`/v2/...`), mounted at `/service/marathon`, `/marathon`
/// and the root.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v2/apps", get(list_apps).post(create_app))
        .route(
            "/v2/apps/{*rest}",
            get(app_path)
                .put(app_path)
                .patch(app_path)
                .delete(app_path)
                .post(app_path),
        )
        .route("/v2/tasks", get(list_tasks))
        .route("/v2/tasks/delete", post(delete_tasks))
        .route("/v2/deployments", get(list_deployments))
        .route("/v2/deployments/{id}", delete(cancel_deployment))
        .route("/v2/events", get(super::events::stream))
        .route("/v2/info", get(info))
        .route("/v2/queue", get(queue))
        .layer(axum::middleware::map_response(no_cache))
}

/// Marathon marks every response as not cacheable.
async fn no_cache(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    response
}

fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::NotFound(m) => message(StatusCode::NOT_FOUND, m),
        Refusal::Conflict(m) => message(StatusCode::CONFLICT, m),
        Refusal::BadRequest(m) => message(StatusCode::BAD_REQUEST, m),
        Refusal::Locked(ids) => json(
            StatusCode::CONFLICT,
            json!({
                "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                "deployments": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            }),
        ),
        Refusal::Invalid(invalid) => json(StatusCode::UNPROCESSABLE_ENTITY, invalid.body()),
    }
}

/// Parses a request body as a JSON object: 400 `Invalid JSON` with the
/// parser's message as a string when malformed, 422 when not an object.
#[allow(clippy::result_large_err)]
fn object_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        json(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid JSON", "details": e.to_string()}),
        )
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Invalid JSON", "details": [{"path": "/", "errors": ["error.expected.jsobject"]}]}),
        )),
    }
}

fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
    response
}

fn started(status: StatusCode, s: &Started) -> Response {
    with_header(
        json(
            status,
            json!({"deploymentId": s.deployment_id, "version": s.version}),
        ),
        "Marathon-Deployment-Id",
        &s.deployment_id,
    )
}

async fn list_apps(State(sim): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw);
    let embed = embed_of(&query);
    let id_filter = query.first("id").map(str::to_lowercase);
    let cmd_filter = query.first("cmd").map(str::to_owned);
    let selectors = match query.first("label").map(selector::parse).transpose() {
        Ok(selectors) => selectors.unwrap_or_default(),
        // Marathon throws IllegalArgumentException for a selector that does
        // not parse; 422 is our reading of its exception mapper, which
        // answers that exception as an unprocessable entity.
        Err(e) => return message(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let cluster = sim.cluster();
    let apps: Vec<Value> = cluster
        .marathon
        .apps()
        .filter(|a| {
            id_filter
                .as_ref()
                .is_none_or(|f| a.id.to_lowercase().contains(f))
        })
        .filter(|a| {
            cmd_filter.as_ref().is_none_or(|f| {
                a.definition()
                    .get("cmd")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.contains(f.as_str()))
            })
        })
        .filter(|a| selector::matches(&selectors, &a.labels))
        .map(|a| a.to_json(&embed))
        .collect();
    // Serialise after releasing the cluster lock, so concurrent requests
    // only queue for the snapshot, not for the JSON writing.
    drop(cluster);
    json(StatusCode::OK, json!({ "apps": apps }))
}

async fn create_app(State(sim): State<Shared>, body: Bytes) -> Response {
    let raw = match object_body(&body) {
        Ok(raw) => raw,
        Err(response) => return response,
    };
    let mut cluster = sim.cluster();
    let now = cluster.now_ms;
    let Cluster { marathon, rng, .. } = &mut *cluster;
    match marathon.create(raw, now, rng) {
        Ok((body, s)) => {
            cluster.settle();
            let location = body["id"].as_str().unwrap_or("/").to_owned();
            let response = with_header(
                json(StatusCode::CREATED, body),
                "Marathon-Deployment-Id",
                &s.deployment_id,
            );
            with_header(response, header::LOCATION.as_str(), &location)
        }
        Err(r) => refusal(r),
    }
}

/// What a path under `/v2/apps/` addresses.
enum Target {
    App(String),
    Restart(String),
    Tasks(String),
    Task(String, String),
    Versions(String),
    Version(String, String),
}

fn target(rest: &str) -> Target {
    let rest = rest.trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let before = |k: usize| segments[..n - k].join("/");
    match segments.as_slice() {
        [.., _, "restart"] => Target::Restart(before(1)),
        [.., _, "tasks"] => Target::Tasks(before(1)),
        [.., _, "tasks", task] => Target::Task(before(2), (*task).to_owned()),
        [.., _, "versions"] => Target::Versions(before(1)),
        [.., _, "versions", v] => Target::Version(before(2), (*v).to_owned()),
        _ => Target::App(rest.to_owned()),
    }
}

fn not_found(id: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        format!("App '{}' does not exist", canonical_id(id)),
    )
}

async fn app_path(
    State(sim): State<Shared>,
    method: Method,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let query = Query::parse(raw);
    match (target(&rest), method) {
        (Target::App(id), Method::GET) if id == "*" || id.ends_with("/*") => {
            let group = canonical_id(id.trim_end_matches('*'));
            let prefix = if group == "/" {
                group
            } else {
                format!("{group}/")
            };
            let cluster = sim.cluster();
            let apps: Vec<Value> = cluster
                .marathon
                .apps()
                .filter(|a| a.id.starts_with(&prefix))
                .map(|a| a.to_json(&embed_of(&query)))
                .collect();
            json(StatusCode::OK, json!({ "*": apps }))
        }
        (Target::App(id), Method::GET) => get_app(&sim, &id),
        (Target::App(id), Method::PUT) => {
            let options = UpdateOptions {
                partial: query.flag("partialUpdate", true),
                force: query.flag("force", false),
                create: true,
            };
            update_app(&sim, &id, &body, options)
        }
        (Target::App(id), Method::PATCH) => {
            let options = UpdateOptions {
                force: query.flag("force", false),
                ..UpdateOptions::patch()
            };
            update_app(&sim, &id, &body, options)
        }
        (Target::App(id), Method::DELETE) => {
            let mut cluster = sim.cluster();
            let now = cluster.now_ms;
            let Cluster { marathon, rng, .. } = &mut *cluster;
            match marathon.delete(&id, query.flag("force", true), now, rng) {
                Ok(s) => {
                    cluster.settle();
                    started(StatusCode::OK, &s)
                }
                Err(r) => refusal(r),
            }
        }
        (Target::Restart(id), Method::POST) => {
            let mut cluster = sim.cluster();
            let now = cluster.now_ms;
            let Cluster { marathon, rng, .. } = &mut *cluster;
            match marathon.restart(&id, query.flag("force", false), now, rng) {
                Ok(s) => {
                    cluster.settle();
                    started(StatusCode::OK, &s)
                }
                Err(r) => refusal(r),
            }
        }
        (Target::Tasks(id), Method::GET) => {
            let cluster = sim.cluster();
            match cluster.marathon.app(&id) {
                Some(app) => {
                    let tasks: Vec<Value> = app.tasks.iter().map(super::Task::to_json).collect();
                    json(StatusCode::OK, json!({ "tasks": tasks }))
                }
                None => not_found(&id),
            }
        }
        (Target::Tasks(id), Method::DELETE) => kill_app_tasks(&sim, &id, None, &query),
        (Target::Task(id, task), Method::DELETE) => kill_app_tasks(&sim, &id, Some(&task), &query),
        (Target::Versions(id), Method::GET) => {
            let cluster = sim.cluster();
            match cluster.marathon.app(&id) {
                Some(app) => {
                    let versions: Vec<&Value> = app
                        .versions
                        .iter()
                        .rev()
                        .filter_map(|v| v.get("version"))
                        .collect();
                    json(StatusCode::OK, json!({ "versions": versions }))
                }
                None => not_found(&id),
            }
        }
        (Target::Version(id, version), Method::GET) => {
            let cluster = sim.cluster();
            let Some(app) = cluster.marathon.app(&id) else {
                return not_found(&id);
            };
            match app
                .versions
                .iter()
                .find(|v| v.get("version").and_then(Value::as_str) == Some(version.as_str()))
            {
                Some(v) => json(StatusCode::OK, Value::Object(v.clone())),
                None => message(
                    StatusCode::NOT_FOUND,
                    format!("App '{}' does not exist in version {version}", app.id),
                ),
            }
        }
        _ => message(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        ),
    }
}

fn get_app(sim: &Shared, id: &str) -> Response {
    let cluster = sim.cluster();
    match cluster.marathon.app(id) {
        Some(app) => json(
            StatusCode::OK,
            json!({ "app": app.to_json(&Embed::full()) }),
        ),
        None => not_found(id),
    }
}

fn update_app(sim: &Shared, id: &str, body: &Bytes, options: UpdateOptions) -> Response {
    let raw = match object_body(body) {
        Ok(raw) => raw,
        Err(response) => return response,
    };
    let mut cluster = sim.cluster();
    let now = cluster.now_ms;
    let Cluster { marathon, rng, .. } = &mut *cluster;
    match marathon.update(id, raw, options, now, rng) {
        Ok((created, s)) => {
            cluster.settle();
            if created {
                let response = started(StatusCode::CREATED, &s);
                with_header(response, header::LOCATION.as_str(), &canonical_id(id))
            } else {
                started(StatusCode::OK, &s)
            }
        }
        Err(r) => refusal(r),
    }
}

/// `scale` and `force` of a kill; `None` for `scale` with `wipe`, which
/// Marathon refuses.
fn kill_options(query: &Query) -> Option<KillOptions> {
    let options = KillOptions {
        scale: query.flag("scale", false),
        force: query.flag("force", false),
    };
    (!(options.scale && query.flag("wipe", false))).then_some(options)
}

fn scale_and_wipe() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "You cannot use scale and wipe at the same time.",
    )
}

fn kill_app_tasks(sim: &Shared, id: &str, task: Option<&str>, query: &Query) -> Response {
    let Some(options) = kill_options(query) else {
        return scale_and_wipe();
    };
    let mut cluster = sim.cluster();
    let Some(app) = cluster.marathon.app(id) else {
        return not_found(id);
    };
    let ids: Vec<String> = match task {
        Some(task) => {
            if !app.tasks.iter().any(|t| t.id == task) {
                return message(
                    StatusCode::NOT_FOUND,
                    format!("Task '{task}' does not exist"),
                );
            }
            vec![task.to_owned()]
        }
        None => {
            let host = query.first("host").filter(|h| *h != "*");
            app.tasks
                .iter()
                .filter(|t| host.is_none_or(|h| t.host == h))
                .map(|t| t.id.clone())
                .collect()
        }
    };
    if options.scale && ids.is_empty() {
        return message(
            StatusCode::NOT_FOUND,
            format!("Path '{}' does not exist", app.id),
        );
    }
    let now = cluster.now_ms;
    let Cluster { marathon, rng, .. } = &mut *cluster;
    match marathon.kill(&ids, options, now, rng) {
        Ok((killed, started_deployment)) => {
            cluster.settle();
            match (started_deployment, task) {
                (Some(s), _) => started(StatusCode::OK, &s),
                (None, Some(_)) => json(
                    StatusCode::OK,
                    json!({ "task": killed.into_iter().next().unwrap_or(Value::Null) }),
                ),
                (None, None) => json(StatusCode::OK, json!({ "tasks": killed })),
            }
        }
        Err(r) => refusal(r),
    }
}

async fn list_tasks(State(sim): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw);
    let states: Vec<String> = query
        .all("status")
        .chain(query.all("status[]"))
        .map(str::to_lowercase)
        .collect();
    let cluster = sim.cluster();
    let tasks: Vec<Value> = cluster
        .marathon
        .apps()
        .flat_map(|a| a.tasks.iter())
        .filter(|t| {
            states.is_empty()
                || states.iter().any(|s| match s.as_str() {
                    "running" => t.state == super::TaskState::Running,
                    "staging" => t.state == super::TaskState::Staging,
                    _ => false,
                })
        })
        .map(super::Task::to_json)
        .collect();
    json(StatusCode::OK, json!({ "tasks": tasks }))
}

async fn delete_tasks(State(sim): State<Shared>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let query = Query::parse(raw);
    let raw_body = match object_body(&body) {
        Ok(raw) => raw,
        Err(response) => return response,
    };
    let Some(options) = kill_options(&query) else {
        return scale_and_wipe();
    };
    let ids: Vec<String> = match raw_body.get("ids").and_then(Value::as_array) {
        Some(ids) if ids.iter().all(Value::is_string) => ids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => {
            return json(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": "Invalid JSON", "details": [{"path": "/ids", "errors": ["error.path.missing"]}]}),
            );
        }
    };
    if let Some(bad) = ids.iter().find(|id| validate::app_id_of_task(id).is_none()) {
        return message(
            StatusCode::BAD_REQUEST,
            format!("Invalid task id '{bad}'. [The task id does not match any known format]"),
        );
    }
    let mut cluster = sim.cluster();
    let now = cluster.now_ms;
    let Cluster { marathon, rng, .. } = &mut *cluster;
    match marathon.kill(&ids, options, now, rng) {
        Ok((killed, started_deployment)) => {
            cluster.settle();
            match started_deployment {
                Some(s) => started(StatusCode::OK, &s),
                None => json(StatusCode::OK, json!({ "tasks": killed })),
            }
        }
        Err(r) => refusal(r),
    }
}

async fn list_deployments(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    let list: Vec<Value> = cluster
        .marathon
        .deployments()
        .iter()
        .map(super::Deployment::to_json)
        .collect();
    json(StatusCode::OK, Value::Array(list))
}

async fn cancel_deployment(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    let mut cluster = sim.cluster();
    let now = cluster.now_ms;
    let Cluster { marathon, rng, .. } = &mut *cluster;
    match marathon.cancel_deployment(&id, query.flag("force", false), now, rng) {
        Ok(result) => {
            cluster.settle();
            match result {
                Some(s) => started(StatusCode::OK, &s),
                None => StatusCode::ACCEPTED.into_response(),
            }
        }
        Err(r) => refusal(r),
    }
}

async fn info(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    json(
        StatusCode::OK,
        json!({
            "name": "marathon",
            "version": "1.11.24",
            "buildref": "dcos-sim",
            "elected": true,
            "leader": "127.0.0.1:8080",
            "frameworkId": format!("{}-0000", cluster.cluster_id),
            "marathon_config": {"master": "zk://zk-1.zk:2181/mesos", "mesos_role": "slave_public"},
            "http_config": {"http_port": 8080, "https_port": 8443},
            "zookeeper_config": {"zk": "zk://zk-1.zk:2181/marathon"},
        }),
    )
}

async fn queue() -> Response {
    json(StatusCode::OK, json!({ "queue": [] }))
}
