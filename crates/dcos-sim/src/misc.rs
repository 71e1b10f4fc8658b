//! The small DC/OS endpoints the CLI touches: metadata, version,
//! capabilities, Mesos state summary, and the control endpoints.

use crate::clock::marathon_timestamp;
use crate::faults::FaultRule;
use crate::http::{json, message};
use crate::state::Shared;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::time::Duration;

/// The media type the dcos CLI asks `/capabilities` for, and checks for.
pub const CAPABILITIES_MEDIA_TYPE: &str =
    "application/vnd.dcos.capabilities+json;charset=utf-8;version=v1";

/// The DC/OS version the sim reports.
pub const DCOS_VERSION: &str = "2.2.0";

async fn metadata(State(sim): State<Shared>) -> Response {
    let id = sim.cluster().cluster_id.clone();
    json(
        StatusCode::OK,
        json!({"CLUSTER_ID": id, "PUBLIC_IPV4": "127.0.0.1"}),
    )
}

async fn dcos_version() -> Response {
    json(
        StatusCode::OK,
        json!({"version": DCOS_VERSION, "dcos-image-commit": "0000000000000000000000000000000000000000",
               "bootstrap-id": "0000000000000000000000000000000000000000"}),
    )
}

async fn state_summary(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    json(
        StatusCode::OK,
        json!({"cluster": sim.config.cluster_name, "hostname": "127.0.0.1", "version": "1.11.0",
               "frameworks": [{"name": "marathon", "active": true}, {"name": "metronome", "active": true}],
               "slaves": [{"hostname": "127.0.0.1", "active": true}],
               "start_time": cluster.now_ms as f64 / 1000.0}),
    )
}

async fn capabilities() -> Response {
    let body = json!({"capabilities": [
        {"name": "PACKAGE_MANAGEMENT"}, {"name": "METRONOME"}, {"name": "LOGGING"}, {"name": "LOGGING_V2"}
    ]});
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CAPABILITIES_MEDIA_TYPE),
    );
    response
}

async fn buildinfo() -> Response {
    json(StatusCode::OK, json!({}))
}

/// DC/OS endpoints outside Marathon, Metronome and IAM.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/metadata", get(metadata))
        .route("/dcos-metadata/dcos-version.json", get(dcos_version))
        .route("/mesos/state-summary", get(state_summary))
        .route("/capabilities", get(capabilities))
        .route("/pkgpanda/active.buildinfo.full.json", get(buildinfo))
}

async fn control_state(State(sim): State<Shared>) -> Response {
    let cluster = sim.cluster();
    json(
        StatusCode::OK,
        json!({"clusterId": cluster.cluster_id, "now": marathon_timestamp(cluster.now_ms),
               "nowMs": cluster.now_ms, "timeScale": sim.clock.scale(),
               "faults": cluster.faults.rules()}),
    )
}

async fn add_fault(State(sim): State<Shared>, Json(rule): Json<FaultRule>) -> Response {
    sim.cluster().faults.add(rule.clone());
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

async fn advance_clock(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let Some(seconds) = body
        .get("seconds")
        .and_then(Value::as_f64)
        .filter(|s| *s >= 0.0)
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "expected {\"seconds\": N} with N >= 0",
        );
    };
    sim.clock.advance(Duration::from_secs_f64(seconds));
    let now = sim.cluster().now_ms;
    json(
        StatusCode::OK,
        json!({"now": marathon_timestamp(now), "nowMs": now}),
    )
}

async fn set_traffic(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let Some(server) = body.get("server").and_then(Value::as_str) else {
        return message(
            StatusCode::BAD_REQUEST,
            "expected {\"server\": NAME, \"sessions\": N, \"queued\": N, \"lb\": INDEX (optional)}",
        );
    };
    let count = |key: &str| body.get(key).and_then(Value::as_u64).unwrap_or(0);
    let lb = body.get("lb").and_then(Value::as_u64).map(|i| i as usize);
    sim.cluster()
        .lb
        .set_traffic(lb, server, count("sessions"), count("queued"));
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
    sim.cluster().lb.set_reloading(lb as usize, reloading);
    json(StatusCode::OK, body)
}

/// Loads apps (with their tasks, as given) from a `GET /v2/apps` response,
/// such as marathon-lb's `zdd_apps.json` fixture.
async fn load_apps(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    match sim.cluster().load_apps_response(&body) {
        Ok(count) => json(StatusCode::CREATED, json!({"loaded": count})),
        Err(invalid) => json(StatusCode::UNPROCESSABLE_ENTITY, invalid.body()),
    }
}

/// The control endpoints, under the reserved prefix `/__sim`; served only
/// when the sim was started with them on.
pub fn control_routes() -> Router<Shared> {
    Router::new()
        .route("/__sim/marathon/apps", post(load_apps))
        .route("/__sim/lb/traffic", post(set_traffic))
        .route("/__sim/lb/reloading", post(set_reloading))
        .route("/__sim/state", get(control_state))
        .route("/__sim/faults", post(add_fault).delete(clear_faults))
        .route("/__sim/faults/leader-change", post(leader_change))
        .route("/__sim/clock/advance", post(advance_clock))
}
