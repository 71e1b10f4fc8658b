//! The small DC/OS endpoints the CLI touches: metadata, version,
//! capabilities and the Mesos state summary.

use crate::http::json;
use crate::state::Shared;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

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
