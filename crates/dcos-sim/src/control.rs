//! The control endpoints under the reserved prefix `/__sim/` (served only
//! with [`crate::SimConfig::control`]): what a test or demo outside the
//! process uses instead of [`crate::SimHandle`]'s methods.

use crate::clock::marathon_timestamp;
use crate::faults::FaultRule;
use crate::http::{json, message};
use crate::lb::{SessionDrain, Traffic};
use crate::state::{Cluster, Shared};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::MutexGuard;
use std::time::Duration;

async fn control_state(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    json(
        StatusCode::OK,
        json!({"clusterId": cluster.cluster_id, "now": marathon_timestamp(cluster.now_ms),
               "nowMs": cluster.now_ms, "timeScale": sim.clock.scale(),
               "faults": cluster.faults.rules(), "servedTasks": cluster.marathon.agent.served()}),
    )
}

async fn add_fault(State(sim): State<Shared>, Json(rule): Json<FaultRule>) -> Response {
    let mut cluster = sim.cluster();
    if let Err(response) = lb_index(&cluster, rule.lb.map(|n| n as u64)) {
        return response;
    }
    cluster.faults.add(rule.clone());
    json(
        StatusCode::CREATED,
        serde_json::to_value(rule).unwrap_or(Value::Null),
    )
}

async fn leader_change(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let Some(seconds) = body.get("seconds").and_then(Value::as_f64) else {
        return message(StatusCode::BAD_REQUEST, "expected {\"seconds\": N}");
    };
    let mut cluster = sim.cluster();
    let now = cluster.now_ms;
    for prefix in ["/service/marathon", "/marathon", "/v2"] {
        cluster.faults.add(FaultRule::leader_change(
            prefix,
            now,
            (seconds * 1000.0) as u64,
        ));
    }
    json(
        StatusCode::CREATED,
        json!({"until": marathon_timestamp(now + (seconds * 1000.0) as u64)}),
    )
}

async fn clear_faults(State(sim): State<Shared>) -> Response {
    sim.cluster().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// A non-negative number of seconds in `body[key]`.
fn seconds(body: &Value, key: &str) -> Option<Duration> {
    body.get(key)
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

async fn advance_clock(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let Some(by) = seconds(&body, "seconds") else {
        return message(
            StatusCode::BAD_REQUEST,
            "expected {\"seconds\": N} with N >= 0",
        );
    };
    sim.clock.advance(by);
    let now = sim.cluster().now_ms;
    json(
        StatusCode::OK,
        json!({"now": marathon_timestamp(now), "nowMs": now}),
    )
}

/// Checks an optional marathon-lb index against the instances.
#[allow(clippy::result_large_err)]
fn lb_index(cluster: &MutexGuard<'_, Cluster>, lb: Option<u64>) -> Result<Option<usize>, Response> {
    let count = cluster.lb.count();
    match lb {
        None => Ok(None),
        Some(n) if (n as usize) < count => Ok(Some(n as usize)),
        Some(n) => Err(message(
            StatusCode::BAD_REQUEST,
            format!("no marathon-lb instance {n}: there are {count} (lb counts from 0)"),
        )),
    }
}

async fn set_traffic(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let Some(server) = body.get("server").and_then(Value::as_str) else {
        return message(
            StatusCode::BAD_REQUEST,
            "expected {\"server\": NAME, \"sessions\": N, \"queued\": N, \"lb\": INDEX (optional), \
             \"seconds\": N (optional: it ends N seconds of cluster time from now)}",
        );
    };
    let count = |key: &str| body.get(key).and_then(Value::as_u64).unwrap_or(0);
    let mut cluster = sim.cluster();
    let lb = match lb_index(&cluster, body.get("lb").and_then(Value::as_u64)) {
        Ok(lb) => lb,
        Err(response) => return response,
    };
    let until_ms = seconds(&body, "seconds").map(|d| cluster.now_ms + d.as_millis() as u64);
    let traffic = Traffic {
        sessions: count("sessions"),
        queued: count("queued"),
        until_ms,
    };
    cluster.lb.set_traffic(lb, server, traffic);
    json(StatusCode::OK, body)
}

async fn set_reloading(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let (Some(lb), Some(reloading)) = (
        body.get("lb").and_then(Value::as_u64),
        body.get("reloading").and_then(Value::as_bool),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "expected {\"lb\": INDEX, \"reloading\": BOOL}",
        );
    };
    let mut cluster = sim.cluster();
    match lb_index(&cluster, Some(lb)) {
        Ok(Some(lb)) => cluster.lb.set_reloading(lb, reloading),
        Ok(None) => {}
        Err(response) => return response,
    }
    json(StatusCode::OK, body)
}

async fn set_delay(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let (Some(lb), Some(delay)) = (
        body.get("lb").and_then(Value::as_u64),
        seconds(&body, "seconds"),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "expected {\"lb\": INDEX, \"seconds\": N} with N >= 0",
        );
    };
    let mut cluster = sim.cluster();
    match lb_index(&cluster, Some(lb)) {
        Ok(Some(lb)) => cluster.lb.set_update_delay(lb, delay),
        Ok(None) => {}
        Err(response) => return response,
    }
    json(StatusCode::OK, body)
}

async fn set_drain(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let (Some(sessions), Some(duration)) = (
        body.get("sessions").and_then(Value::as_u64),
        seconds(&body, "seconds"),
    ) else {
        return message(
            StatusCode::BAD_REQUEST,
            "expected {\"sessions\": N, \"seconds\": N} (0 sessions: off)",
        );
    };
    let drain =
        (sessions > 0 && !duration.is_zero()).then_some(SessionDrain { sessions, duration });
    sim.cluster().lb.set_session_drain(drain);
    json(StatusCode::OK, body)
}

/// The kill log and the capacity timeline, as JSON.
async fn records(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    json(
        StatusCode::OK,
        json!({"kills": cluster.lb.kill_log(), "capacity": cluster.lb.capacity_timeline()}),
    )
}

/// Loads apps (with their tasks, as given) from a `GET /v2/apps` response,
/// such as marathon-lb's `zdd_apps.json` fixture.
async fn load_apps(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    match sim.cluster().load_apps_response(&body) {
        Ok(count) => json(StatusCode::CREATED, json!({"loaded": count})),
        Err(invalid) => json(StatusCode::UNPROCESSABLE_ENTITY, invalid.body()),
    }
}

/// How each marathon-lb instance carries traffic: its mode, frontend bind
/// errors, a real HAProxy's reloads, refused configs and pids.
async fn proxies(State(sim): State<Shared>) -> Response {
    let list: Vec<_> = {
        let cluster = sim.cluster();
        (0..cluster.lb.count())
            .map(|lb| cluster.lb.proxy(lb))
            .collect()
    };
    let statuses: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(lb, proxy)| {
            let mut status = serde_json::to_value(proxy.status()).unwrap_or(Value::Null);
            status["lb"] = json!(lb);
            status
        })
        .collect();
    json(StatusCode::OK, Value::Array(statuses))
}

/// What clients cost the cluster so far, per class of endpoint.
async fn costs(State(sim): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        serde_json::to_value(sim.costs.snapshot()).unwrap_or(Value::Null),
    )
}

/// Starts the cost tally over.
async fn reset_costs(State(sim): State<Shared>) -> Response {
    sim.costs.reset();
    StatusCode::NO_CONTENT.into_response()
}

/// The control endpoints.
pub(crate) fn control_routes() -> Router<Shared> {
    Router::new()
        .route("/__sim/marathon/apps", post(load_apps))
        .route("/__sim/lb/traffic", post(set_traffic))
        .route("/__sim/lb/reloading", post(set_reloading))
        .route("/__sim/lb/delay", post(set_delay))
        .route("/__sim/lb/drain", post(set_drain))
        .route("/__sim/records", get(records))
        .route("/__sim/costs", get(costs).delete(reset_costs))
        .route("/__sim/lb/proxies", get(proxies))
        .route("/__sim/state", get(control_state))
        .route("/__sim/faults", post(add_fault).delete(clear_faults))
        .route("/__sim/faults/leader-change", post(leader_change))
        .route("/__sim/clock/advance", post(advance_clock))
}
