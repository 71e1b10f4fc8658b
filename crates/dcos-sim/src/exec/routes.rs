//! How a user reads the job tasks' sandboxes on DC/OS, served by the sim
//! (under Admin Router's authentication like the rest):
//!
//! * the Mesos master's state: `/mesos/master/state.json` (also
//!   `/mesos/master/state`): the tasks, their agent and statuses;
//! * the agent's state: `/agent/{agent}/state.json` (also `/state`, and
//!   Admin Router's older `/slave/{agent}/…`): each task's executor and
//!   sandbox `directory`;
//! * the agent's files API: `/agent/{agent}/files/read?path=&offset=&length=`
//!   answering `{"data", "offset"}`, and `/files/browse?path=` (also
//!   `read.json`, `browse.json`);
//! * dcos-log v2, which `dcos task log` uses on DC/OS 2.x:
//!   `/system/v1/logs/v2/task/{task}[/file/{file}]` redirects (303) to
//!   `/system/v1/agent/{agent}/logs/v2/task/frameworks/{f}/executors/{e}/runs/{c}/{file}`,
//!   which answers the file's lines as text (`cursor=BEG|END|offset`,
//!   `skip=N`, `limit=N`). Event streams (`--follow`) are not emulated.

use super::AGENT_ID;
use super::files::{self, Attached, FilesError};
use super::mesos;
use crate::http::json;
use crate::state::Shared;
use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::collections::BTreeMap;

type Params = Query<BTreeMap<String, String>>;

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn files_error(error: FilesError) -> Response {
    match error {
        FilesError::BadRequest(why) => text(StatusCode::BAD_REQUEST, why),
        FilesError::NotFound => StatusCode::NOT_FOUND.into_response(),
        FilesError::Internal(why) => text(StatusCode::INTERNAL_SERVER_ERROR, why),
    }
}

fn unknown_agent(agent: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("Agent '{agent}' is not known to the cluster (dcos-sim has one: {AGENT_ID})\n"),
    )
}

/// The sandboxes the files API may read, taken under the cluster lock.
fn attached(sim: &Shared) -> Attached {
    let cluster = sim.cluster();
    let framework = cluster.jobs.framework_id().to_owned();
    Attached {
        sandboxes: cluster
            .jobs
            .tasks()
            .map(|task| {
                let executor = format!("/frameworks/{framework}/executors/{}/runs", task.id);
                (
                    task.sandbox.clone(),
                    vec![
                        format!("{executor}/{}", task.container_id),
                        format!("{executor}/latest"),
                    ],
                )
            })
            .collect(),
    }
}

async fn master_state(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    json(
        StatusCode::OK,
        mesos::master_state(
            &cluster.jobs,
            &cluster.cluster_id,
            &sim.config.cluster_name,
            cluster.now_ms,
        ),
    )
}

async fn agent_state(State(sim): State<Shared>, Path(agent): Path<String>) -> Response {
    if agent != AGENT_ID {
        return unknown_agent(&agent);
    }
    json(StatusCode::OK, mesos::agent_state(&sim.cluster().jobs))
}

async fn files_read(
    State(sim): State<Shared>,
    Path(agent): Path<String>,
    Query(params): Params,
) -> Response {
    if agent != AGENT_ID {
        return unknown_agent(&agent);
    }
    let read = || -> Result<Value, FilesError> {
        let offset = files::number(params.get("offset"), "offset")?;
        let length = files::number(params.get("length"), "length")?;
        let path = params.get("path").map(String::as_str).unwrap_or_default();
        let real = files::resolve(path, &attached(&sim))?;
        let (data, offset) = files::read(&real, offset, length)?;
        Ok(serde_json::json!({"data": data, "offset": offset}))
    };
    match read() {
        Ok(body) => json(StatusCode::OK, body),
        Err(error) => files_error(error),
    }
}

async fn files_browse(
    State(sim): State<Shared>,
    Path(agent): Path<String>,
    Query(params): Params,
) -> Response {
    if agent != AGENT_ID {
        return unknown_agent(&agent);
    }
    let path = params.get("path").cloned().unwrap_or_default();
    let listing =
        files::resolve(&path, &attached(&sim)).and_then(|real| files::browse(&path, &real));
    match listing {
        Ok(entries) => json(StatusCode::OK, Value::Array(entries)),
        Err(error) => files_error(error),
    }
}

/// dcos-log's discovery: the task's canonical log URL, by its exact id.
fn discover(sim: &Shared, task: &str, file: &str, query: Option<&str>) -> Response {
    let cluster = sim.cluster();
    let Some(record) = cluster.jobs.task(task) else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unable to get canonical task ID: task {task} not found\n"),
        );
    };
    let mut location = format!(
        "/system/v1/agent/{AGENT_ID}/logs/v2/task/frameworks/{}/executors/{}/runs/{}/{file}",
        cluster.jobs.framework_id(),
        record.id,
        record.container_id
    );
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(query);
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

async fn log_task(
    State(sim): State<Shared>,
    Path(task): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    discover(&sim, &task, "stdout", query.as_deref())
}

async fn log_task_file(
    State(sim): State<Shared>,
    Path((task, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    discover(&sim, &task, &file, query.as_deref())
}

/// The path parts of a dcos-log v2 task file URL.
type LogPath = (String, String, String, String, String);

async fn log_lines(
    State(sim): State<Shared>,
    Path((agent, framework, executor, container, file)): Path<LogPath>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    if agent != AGENT_ID {
        return unknown_agent(&agent);
    }
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if streaming {
        return text(
            StatusCode::NOT_ACCEPTABLE,
            "dcos-sim: dcos-log event streams (dcos task log --follow) are not emulated\n",
        );
    }
    let cursor = match files::cursor(params.get("cursor")) {
        Ok(cursor) => cursor,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    let number = |key: &str| -> Result<Option<i64>, String> {
        params
            .get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("unable to parse {key} parameter. {v} not an integer"))
            })
            .transpose()
    };
    let (skip, limit) = match (number("skip"), number("limit")) {
        (Ok(skip), Ok(limit)) => (skip.unwrap_or(0), limit.map(|l| l.max(0) as usize)),
        (Err(why), _) | (_, Err(why)) => return text(StatusCode::BAD_REQUEST, why),
    };
    let sandbox = {
        let cluster = sim.cluster();
        cluster
            .jobs
            .task(&executor)
            .filter(|t| t.container_id == container && cluster.jobs.framework_id() == framework)
            .map(|t| t.sandbox.clone())
    };
    let Some(sandbox) = sandbox else {
        return text(StatusCode::NOT_FOUND, "No files exist. Exiting.\n");
    };
    // The file must be a name in the sandbox (dcos-log reads the sandbox
    // through the files API, which has the same rule).
    let path = format!("{}/{file}", sandbox.display());
    let attached = Attached {
        sandboxes: vec![(sandbox, Vec::new())],
    };
    let answer = tokio::task::spawn_blocking(move || {
        files::resolve(&path, &attached).and_then(|real| files::lines(&real, cursor, skip, limit))
    })
    .await
    .unwrap_or_else(|e| Err(FilesError::Internal(e.to_string())));
    match answer {
        Ok(lines) => text(StatusCode::OK, lines),
        // dcos-log answers a missing file with 204 "File not found".
        Err(FilesError::NotFound) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => files_error(error),
    }
}

/// The Mesos and dcos-log routes.
pub(crate) fn routes() -> Router<Shared> {
    let mut router = Router::new()
        .route("/mesos/master/state", get(master_state))
        .route("/mesos/master/state.json", get(master_state))
        .route("/system/v1/logs/v2/task/{task}", get(log_task))
        .route("/system/v1/logs/v2/task/{task}/file/{file}", get(log_task_file))
        .route(
            "/system/v1/agent/{agent}/logs/v2/task/frameworks/{framework}/executors/{executor}/runs/{container}/{file}",
            get(log_lines),
        );
    for prefix in ["/agent", "/slave"] {
        router = router
            .route(&format!("{prefix}/{{agent}}/state"), get(agent_state))
            .route(&format!("{prefix}/{{agent}}/state.json"), get(agent_state))
            .route(&format!("{prefix}/{{agent}}/files/read"), get(files_read))
            .route(
                &format!("{prefix}/{{agent}}/files/read.json"),
                get(files_read),
            )
            .route(
                &format!("{prefix}/{{agent}}/files/browse"),
                get(files_browse),
            )
            .route(
                &format!("{prefix}/{{agent}}/files/browse.json"),
                get(files_browse),
            );
    }
    router
}
