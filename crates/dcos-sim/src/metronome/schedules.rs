//! Metronome's schedule handlers: `/v1/jobs/{id}/schedules[/{scheduleId}]`.
//! Schedules are stored and returned, never executed.

use super::api::{
    check_path_id, job_not_found, path_id_and_body, schedule_not_found, unprocessable, with_job,
};
use super::validate::{self, Details};
use crate::http::{json, message};
use crate::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

async fn list_schedules(State(sim): State<Shared>, Path(id): Path<String>, uri: Uri) -> Response {
    with_job(&sim, &id, &uri, |job| Value::Array(job.schedules.clone()))
}

async fn create_schedule(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let schedule = match path_id_and_body(&id, &uri, &body) {
        Ok(schedule) => schedule,
        Err(response) => return *response,
    };
    let mut cluster = sim.cluster();
    let Some(job) = cluster.metronome.jobs.get_mut(&id) else {
        return job_not_found(&id);
    };
    let details = validate::schedule_errors(&schedule);
    if !details.is_empty() {
        return unprocessable(&details);
    }
    if job.schedules.iter().any(|s| s["id"] == schedule["id"]) {
        return message(StatusCode::CONFLICT, "Schedule with this id already exists");
    }
    if !job.schedules.is_empty() {
        let mut details = Details::new();
        details.insert(
            "/".into(),
            vec!["Only one schedule supported at the moment".into()],
        );
        return unprocessable(&details);
    }
    if job
        .spec
        .get("dependencies")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty())
    {
        let mut details = Details::new();
        details.insert(
            "/".into(),
            vec!["A job with dependencies cannot have schedules".into()],
        );
        return unprocessable(&details);
    }
    let schedule = validate::normalize_schedule(&schedule);
    job.schedules.push(schedule.clone());
    json(StatusCode::CREATED, schedule)
}

async fn get_schedule(
    State(sim): State<Shared>,
    Path((id, schedule_id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    if let Err(response) = check_path_id(&id, &uri) {
        return *response;
    }
    let cluster = sim.cluster();
    let Some(job) = cluster.metronome.jobs.get(&id) else {
        return job_not_found(&id);
    };
    match job
        .schedules
        .iter()
        .find(|s| s["id"] == schedule_id.as_str())
    {
        Some(schedule) => json(StatusCode::OK, schedule.clone()),
        None => schedule_not_found(&schedule_id),
    }
}

async fn put_schedule(
    State(sim): State<Shared>,
    Path((id, schedule_id)): Path<(String, String)>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut schedule = match path_id_and_body(&id, &uri, &body) {
        Ok(schedule) => schedule,
        Err(response) => return *response,
    };
    let mut cluster = sim.cluster();
    let Some(job) = cluster.metronome.jobs.get_mut(&id) else {
        return job_not_found(&id);
    };
    let Some(index) = job
        .schedules
        .iter()
        .position(|s| s["id"] == schedule_id.as_str())
    else {
        return schedule_not_found(&schedule_id);
    };
    if let Some(map) = schedule.as_object_mut() {
        map.insert("id".into(), json!(schedule_id));
    }
    let details = validate::schedule_errors(&schedule);
    if !details.is_empty() {
        return unprocessable(&details);
    }
    let schedule = validate::normalize_schedule(&schedule);
    job.schedules[index] = schedule.clone();
    json(StatusCode::OK, schedule)
}

async fn delete_schedule(
    State(sim): State<Shared>,
    Path((id, schedule_id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    if let Err(response) = check_path_id(&id, &uri) {
        return *response;
    }
    let mut cluster = sim.cluster();
    let Some(job) = cluster.metronome.jobs.get_mut(&id) else {
        return job_not_found(&id);
    };
    let Some(index) = job
        .schedules
        .iter()
        .position(|s| s["id"] == schedule_id.as_str())
    else {
        return schedule_not_found(&schedule_id);
    };
    job.schedules.remove(index);
    StatusCode::OK.into_response()
}

/// The schedule routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/jobs/{id}/schedules",
            get(list_schedules).post(create_schedule),
        )
        .route(
            "/v1/jobs/{id}/schedules/{schedule_id}",
            get(get_schedule).put(put_schedule).delete(delete_schedule),
        )
}
