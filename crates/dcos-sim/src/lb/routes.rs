//! The stats listener of one marathon-lb instance (`:9090` on a cluster).

use super::Proxy;
use crate::state::Shared;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

async fn stats(State((sim, lb)): State<(Shared, usize)>, RawQuery(query): RawQuery) -> Response {
    let (csv, proxy) = {
        let cluster = sim.cluster();
        (
            cluster.lb.stats_csv(lb, cluster.now_ms),
            cluster.lb.proxy(lb),
        )
    };
    // A real HAProxy's stats come from its stats socket, read off the
    // cluster lock.
    let csv = match proxy {
        Proxy::Haproxy(haproxy) => {
            match tokio::task::spawn_blocking(move || haproxy.stats_csv()).await {
                Ok(Ok(csv)) => csv,
                _ => {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "haproxy's stats socket did not answer\n",
                    )
                        .into_response();
                }
            }
        }
        _ => csv,
    };
    if query.as_deref().is_some_and(|q| q.ends_with(";csv")) {
        ([(header::CONTENT_TYPE, "text/plain")], csv).into_response()
    } else {
        let html = format!("<html><body><h1>Statistics Report</h1><pre>{csv}</pre></body></html>");
        ([(header::CONTENT_TYPE, "text/html")], html).into_response()
    }
}

async fn pids(State((sim, lb)): State<(Shared, usize)>) -> Response {
    let pids = {
        let cluster = sim.cluster();
        cluster.lb.pids(lb, cluster.now_ms)
    };
    ([(header::CONTENT_TYPE, "text/plain")], pids).into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

/// The routes of marathon-lb instance `lb`.
pub(crate) fn routes(lb: usize, sim: Shared) -> Router {
    Router::new()
        .route("/haproxy", get(stats))
        .route("/_haproxy_getpids", get(pids))
        .route("/_haproxy_health_check", get(health))
        .with_state((sim, lb))
}
