//! Metronome's HTTP handlers.

use super::validate::{self, Details};
use super::{Embed, Job, Metronome};
use crate::http::{json, message};
use crate::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

/// The Metronome version `/info` reports (the one DC/OS 2.2 bundles).
const VERSION: &str = "0.6.70";

/// An early answer from a helper (boxed: a `Response` is large).
pub(super) type Rejection = Box<Response>;

/// Decodes `%XX` and `+` in a query component.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every value of `key` in a raw query string.
fn query_values(query: Option<&str>, key: &str) -> Vec<String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
        .collect()
}

/// Parses `embed` (repeatable and comma-separated); an unknown value is a 400.
fn parse_embed(query: Option<&str>, uri: &Uri) -> Result<Embed, Rejection> {
    let mut embed = Embed::default();
    for value in query_values(query, "embed") {
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "activeRuns" => embed.active_runs = true,
                "history" => embed.history = true,
                "historySummary" => embed.history_summary = true,
                "schedules" => {}
                other => {
                    return Err(Box::new(json(
                        StatusCode::BAD_REQUEST,
                        json!({
                            "message": format!(
                                "Unknown embed options. Valid options are: activeRuns, schedules, history, historySummary. Unknown: {other}"
                            ),
                            "requestPath": uri.path(),
                        }),
                    )));
                }
            }
        }
    }
    Ok(embed)
}

/// `?key=true` (case-insensitive); anything else is false.
fn query_flag(query: Option<&str>, key: &str) -> bool {
    query_values(query, key)
        .last()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// 400 for an invalid job id in the URL path.
pub(super) fn check_path_id(id: &str, uri: &Uri) -> Result<(), Rejection> {
    if validate::is_valid_job_id(id) {
        Ok(())
    } else {
        Err(Box::new(json(
            StatusCode::BAD_REQUEST,
            json!({"message": format!("Not a valid id: {id}"), "requestPath": uri.path()}),
        )))
    }
}

pub(super) fn job_not_found(id: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        json!({"id": id, "message": "Job not found"}),
    )
}

fn run_not_found(job_id: &str, run_id: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        json!({"jobSpec": job_id, "id": run_id, "message": "Job Run not found"}),
    )
}

pub(super) fn schedule_not_found(schedule_id: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        json!({"id": schedule_id, "message": "Schedule not found"}),
    )
}

pub(super) fn unprocessable(details: &Details) -> Response {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        validate::invalid_body(details),
    )
}

/// The request body as JSON; a 422 in Metronome's shape when it is not.
fn parse_body(body: &Bytes) -> Result<Value, Rejection> {
    serde_json::from_slice(body).map_err(|e| {
        let mut details = Details::new();
        details.insert("/".into(), vec![format!("Invalid JSON: {e}")]);
        Box::new(unprocessable(&details))
    })
}

/// A valid job id in the path, then the body as JSON: what every write
/// under `/v1/jobs/{id}` checks first.
pub(super) fn path_id_and_body(id: &str, uri: &Uri, body: &Bytes) -> Result<Value, Rejection> {
    check_path_id(id, uri)?;
    parse_body(body)
}

/// Schema, then semantic rules, then dependencies (against `metronome`'s
/// jobs; `replacing` is the id of the job being replaced by a PUT).
fn validate_spec(
    spec: &Value,
    metronome: &Metronome,
    replacing: Option<&str>,
) -> Result<(), Rejection> {
    let details = validate::schema_errors(spec);
    if !details.is_empty() {
        return Err(Box::new(unprocessable(&details)));
    }
    let details = validate::semantic_errors(spec);
    if !details.is_empty() {
        return Err(Box::new(unprocessable(&details)));
    }
    let dependencies: Vec<String> = spec["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    let unknown: Vec<&str> = dependencies
        .iter()
        .map(String::as_str)
        .filter(|id| !metronome.jobs.contains_key(*id) && Some(*id) != replacing)
        .collect();
    if !unknown.is_empty() {
        return Err(Box::new(message(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Dependencies contain unknown jobs. unknown=[{}]",
                unknown.join(", ")
            ),
        )));
    }
    if let Some(id) = replacing
        && reaches(metronome, &dependencies, id)
    {
        return Err(Box::new(message(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Dependencies contain a cycle through {id}"),
        )));
    }
    Ok(())
}

/// Whether following dependencies from `start` reaches `target`.
fn reaches(metronome: &Metronome, start: &[String], target: &str) -> bool {
    let mut stack: Vec<String> = start.to_vec();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(id) = stack.pop() {
        if id == target {
            return true;
        }
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(job) = metronome.jobs.get(&id) {
            stack.extend(
                job.spec["dependencies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["id"].as_str().map(str::to_owned)),
            );
        }
    }
    false
}

/// Validates and normalises the schedules given inside a job spec.
fn spec_schedules(spec: &Value) -> Result<Vec<Value>, Rejection> {
    let mut schedules = Vec::new();
    for (index, schedule) in spec["schedules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let details = validate::schedule_errors(schedule);
        if !details.is_empty() {
            let details = details
                .into_iter()
                .map(|(path, errors)| (format!("/schedules/{index}{path}"), errors))
                .collect();
            return Err(Box::new(unprocessable(&details)));
        }
        schedules.push(validate::normalize_schedule(schedule));
    }
    Ok(schedules)
}

async fn list_jobs(State(sim): State<Shared>, RawQuery(query): RawQuery, uri: Uri) -> Response {
    let embed = match parse_embed(query.as_deref(), &uri) {
        Ok(embed) => embed,
        Err(response) => return *response,
    };
    let cluster = sim.cluster();
    let jobs: Vec<Value> = cluster
        .metronome
        .jobs
        .values()
        .map(|job| job.to_json(embed, true))
        .collect();
    json(StatusCode::OK, Value::Array(jobs))
}

async fn create_job(State(sim): State<Shared>, body: Bytes) -> Response {
    let spec = match parse_body(&body) {
        Ok(spec) => spec,
        Err(response) => return *response,
    };
    let mut cluster = sim.cluster();
    let metronome = &mut cluster.metronome;
    if let Err(response) = validate_spec(&spec, metronome, None) {
        return *response;
    }
    let schedules = match spec_schedules(&spec) {
        Ok(schedules) => schedules,
        Err(response) => return *response,
    };
    let id = spec["id"].as_str().unwrap_or_default().to_owned();
    if metronome.jobs.contains_key(&id) {
        return message(StatusCode::CONFLICT, "Job with this id already exists");
    }
    let job = Job {
        spec: validate::normalize(&spec),
        schedules,
        active: Vec::new(),
        history: Default::default(),
    };
    let body = job.spec_json();
    metronome.jobs.insert(id, job);
    json(StatusCode::CREATED, body)
}

async fn get_job(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Response {
    if let Err(response) = check_path_id(&id, &uri) {
        return *response;
    }
    let embed = match parse_embed(query.as_deref(), &uri) {
        Ok(embed) => embed,
        Err(response) => return *response,
    };
    let cluster = sim.cluster();
    match cluster.metronome.jobs.get(&id) {
        Some(job) => json(StatusCode::OK, job.to_json(embed, false)),
        None => job_not_found(&id),
    }
}

async fn put_job(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut spec = match path_id_and_body(&id, &uri, &body) {
        Ok(spec) => spec,
        Err(response) => return *response,
    };
    let mut cluster = sim.cluster();
    let metronome = &mut cluster.metronome;
    if !metronome.jobs.contains_key(&id) {
        return job_not_found(&id);
    }
    if let Err(response) = validate_spec(&spec, metronome, Some(&id)) {
        return *response;
    }
    let has_dependencies = spec["dependencies"]
        .as_array()
        .is_some_and(|d| !d.is_empty());
    if has_dependencies
        && metronome
            .jobs
            .get(&id)
            .is_some_and(|j| !j.schedules.is_empty())
    {
        let mut details = Details::new();
        details.insert(
            "/dependencies".into(),
            vec!["A job with schedules cannot have dependencies".into()],
        );
        return unprocessable(&details);
    }
    spec["id"] = json!(id);
    let normalized = validate::normalize(&spec);
    let Some(job) = metronome.jobs.get_mut(&id) else {
        return job_not_found(&id);
    };
    job.spec = normalized;
    json(StatusCode::OK, job.spec_json())
}

async fn delete_job(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Response {
    if let Err(response) = check_path_id(&id, &uri) {
        return *response;
    }
    let stop = query_flag(query.as_deref(), "stopCurrentJobRuns");
    let mut cluster = sim.cluster();
    let metronome = &mut cluster.metronome;
    let Some(job) = metronome.jobs.get(&id) else {
        return job_not_found(&id);
    };
    if !job.active.is_empty() && !stop {
        return message(
            StatusCode::CONFLICT,
            "There are active job runs. Override with stopCurrentJobRuns=true",
        );
    }
    let children: Vec<&str> = metronome
        .jobs
        .iter()
        .filter(|(_, other)| {
            other.spec["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["id"] == id.as_str())
        })
        .map(|(child, _)| child.as_str())
        .collect();
    if !children.is_empty() {
        return message(
            StatusCode::CONFLICT,
            format!(
                "There are jobs with a dependency on {id}. children=[{}]",
                children.join(", ")
            ),
        );
    }
    // Runs that execute are stopped with their job (their processes too).
    for task_id in metronome.executing_tasks(&id) {
        cluster.jobs.stop(&task_id);
    }
    match cluster.metronome.jobs.remove(&id) {
        Some(job) => json(StatusCode::OK, job.spec_json()),
        None => job_not_found(&id),
    }
}

async fn start_run(State(sim): State<Shared>, Path(id): Path<String>, uri: Uri) -> Response {
    if let Err(response) = check_path_id(&id, &uri) {
        return *response;
    }
    let mut cluster = sim.cluster();
    match super::start_run(&mut cluster, &id, &sim) {
        Some(run) => json(StatusCode::CREATED, run),
        None => job_not_found(&id),
    }
}

/// Answers from one job, read-only: 400 for an invalid id in the path, 404
/// for a job that does not exist.
pub(super) fn with_job(
    sim: &Shared,
    id: &str,
    uri: &Uri,
    answer: impl FnOnce(&super::Job) -> Value,
) -> Response {
    if let Err(response) = check_path_id(id, uri) {
        return *response;
    }
    let cluster = sim.cluster();
    match cluster.metronome.jobs.get(id) {
        Some(job) => json(StatusCode::OK, answer(job)),
        None => job_not_found(id),
    }
}

async fn list_runs(State(sim): State<Shared>, Path(id): Path<String>, uri: Uri) -> Response {
    with_job(&sim, &id, &uri, |job| {
        Value::Array(job.active.iter().map(super::Run::to_json).collect())
    })
}

async fn get_run(
    State(sim): State<Shared>,
    Path((id, run_id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    if let Err(response) = check_path_id(&id, &uri) {
        return *response;
    }
    let cluster = sim.cluster();
    let Some(job) = cluster.metronome.jobs.get(&id) else {
        return job_not_found(&id);
    };
    match job.active.iter().find(|r| r.id == run_id) {
        Some(run) => json(StatusCode::OK, run.to_json()),
        None => run_not_found(&id, &run_id),
    }
}

async fn stop_run(
    State(sim): State<Shared>,
    Path((id, run_id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    if let Err(response) = check_path_id(&id, &uri) {
        return *response;
    }
    let mut cluster = sim.cluster();
    let now = cluster.now_ms;
    if !cluster.metronome.jobs.contains_key(&id) {
        return job_not_found(&id);
    }
    match cluster.metronome.stop_run(&id, &run_id, now) {
        Some(super::Stopped::Ended(run)) => json(StatusCode::OK, run),
        Some(super::Stopped::Executing { run, task_id }) => {
            cluster.jobs.stop(&task_id);
            json(StatusCode::OK, run)
        }
        None => run_not_found(&id, &run_id),
    }
}

/// Runs waiting for their task (`INITIAL`/`STARTING`), per job.
async fn queue(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    let queued: Vec<Value> = cluster
        .metronome
        .jobs
        .iter()
        .filter_map(|(id, job)| {
            let runs: Vec<Value> = job
                .active
                .iter()
                .filter(|r| r.task_started_ms.is_none())
                .map(|r| json!({"runId": r.id}))
                .collect();
            (!runs.is_empty()).then(|| json!({"jobId": id, "runs": runs}))
        })
        .collect();
    json(StatusCode::OK, Value::Array(queued))
}

async fn ping() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "pong",
    )
        .into_response()
}

async fn info() -> Response {
    json(
        StatusCode::OK,
        json!({"version": VERSION, "libVersion": "1.11.24"}),
    )
}

async fn leader() -> Response {
    json(StatusCode::OK, json!({"leader": "127.0.0.1:9000"}))
}

async fn metrics() -> Response {
    json(
        StatusCode::OK,
        json!({"version": "4.0.0", "gauges": {}, "counters": {}, "histograms": {}, "meters": {}, "timers": {}}),
    )
}

async fn unknown_route(uri: Uri) -> Response {
    json(
        StatusCode::NOT_FOUND,
        json!({"message": "Unknown route.", "requestPath": uri.path()}),
    )
}

/// Every route, relative to Metronome's root: the `/v1` API plus `/ping`,
/// `/info` and `/leader`.
pub(super) fn routes() -> Router<Shared> {
    v1_routes()
        .route("/ping", get(ping))
        .route("/info", get(info))
        .route("/leader", get(leader))
}

/// The `/v1/...` routes only.
pub(super) fn v1_routes() -> Router<Shared> {
    Router::new()
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route(
            "/v1/jobs/{id}",
            get(get_job).put(put_job).delete(delete_job),
        )
        .route("/v1/jobs/{id}/runs", get(list_runs).post(start_run))
        .route("/v1/jobs/{id}/runs/{run_id}", get(get_run))
        .route("/v1/jobs/{id}/runs/{run_id}/actions/stop", post(stop_run))
        .merge(super::schedules::routes())
        .route("/v1/queue", get(queue))
        .route("/v1/info", get(info))
        .route("/v1/metrics", get(metrics))
        .route("/v1/{*rest}", any(unknown_route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(percent_decode("a%2Cb+c%zz%4"), "a,b c%zz%4");
        let query = Some("embed=activeRuns&x=1&embed=history%2ChistorySummary&embed");
        assert_eq!(
            query_values(query, "embed"),
            ["activeRuns", "history,historySummary", ""]
        );
        assert!(query_flag(
            Some("stopCurrentJobRuns=TRUE"),
            "stopCurrentJobRuns"
        ));
        assert!(!query_flag(
            Some("stopCurrentJobRuns"),
            "stopCurrentJobRuns"
        ));
        assert!(!query_flag(None, "stopCurrentJobRuns"));
    }
}
