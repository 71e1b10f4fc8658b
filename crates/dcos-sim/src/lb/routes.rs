//! The stats listener of one marathon-lb instance (`:9090` on a cluster).
//!
//! Emulated, it answers from the sim's model. With a real HAProxy
//! ([`crate::SimConfig::haproxy`]) it forwards `/haproxy?…`,
//! `/_haproxy_getpids` and `/_haproxy_health_check` to that HAProxy's own
//! stats listener, so each answer is HAProxy's (and a getpids really forks
//! it), while the sim's faults on this listener keep working.

use super::Proxy;
use crate::state::Shared;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How long a forwarded request may take (a stats page of a large cluster
/// included).
const FORWARD_LIMIT: Duration = Duration::from_secs(10);

/// What one instance's routes share.
#[derive(Clone)]
struct Lb {
    sim: Shared,
    lb: usize,
    client: Client<HttpConnector, Body>,
}

/// Forwards `request` to a real HAProxy's stats listener; 502 when it does
/// not answer.
async fn forward(
    client: &Client<HttpConnector, Body>,
    addr: std::net::SocketAddr,
    request: Request,
) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let Ok(uri) = format!("http://{addr}{path}").parse::<Uri>() else {
        return (StatusCode::BAD_REQUEST, "bad request\n").into_response();
    };
    let mut outgoing = axum::http::Request::new(Body::empty());
    *outgoing.uri_mut() = uri;
    *outgoing.method_mut() = request.method().clone();
    let unanswered = || {
        (
            StatusCode::BAD_GATEWAY,
            "dcos-sim: marathon-lb's haproxy did not answer on its stats listener\n",
        )
            .into_response()
    };
    let Ok(Ok(response)) = tokio::time::timeout(FORWARD_LIMIT, client.request(outgoing)).await
    else {
        return unanswered();
    };
    let (mut head, body) = response.into_parts();
    let Ok(Ok(bytes)) = tokio::time::timeout(FORWARD_LIMIT, body.collect()).await else {
        return unanswered();
    };
    // Re-framed here: hyper writes the length of the body as collected.
    head.headers.remove(header::TRANSFER_ENCODING);
    head.headers.remove(header::CONNECTION);
    Response::from_parts(head, Body::from(bytes.to_bytes()))
}

/// The proxy of the instance, or the answer when it is a real HAProxy.
async fn forwarded(state: &Lb, request: Request) -> Result<Response, Request> {
    let proxy = state.sim.cluster().lb.proxy(state.lb);
    match proxy {
        Proxy::Haproxy(haproxy) => Ok(forward(&state.client, haproxy.stats_addr(), request).await),
        _ => Err(request),
    }
}

async fn stats(State(state): State<Lb>, RawQuery(query): RawQuery, request: Request) -> Response {
    if let Ok(response) = forwarded(&state, request).await {
        return response;
    }
    let (content_type, body) = {
        let cluster = state.sim.cluster();
        cluster
            .lb
            .stats_page(state.lb, cluster.now_ms, query.as_deref().unwrap_or(""))
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn pids(State(state): State<Lb>, request: Request) -> Response {
    if let Ok(response) = forwarded(&state, request).await {
        return response;
    }
    let pids = {
        let cluster = state.sim.cluster();
        cluster.lb.pids(state.lb, cluster.now_ms)
    };
    ([(header::CONTENT_TYPE, "text/plain")], pids).into_response()
}

async fn health(State(state): State<Lb>, request: Request) -> Response {
    match forwarded(&state, request).await {
        Ok(response) => response,
        Err(_) => StatusCode::OK.into_response(),
    }
}

/// The routes of marathon-lb instance `lb`.
pub(crate) fn routes(lb: usize, sim: Shared) -> Router {
    // A new connection per request: HAProxy closes idle connections after
    // `timeout http-keep-alive` and at every reload, and a pooled one could
    // be reused just as it closes.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    Router::new()
        .route("/haproxy", get(stats))
        .route("/_haproxy_getpids", get(pids))
        .route("/_haproxy_health_check", get(health))
        .with_state(Lb { sim, lb, client })
}
