//! Listeners and the request pipeline: path clean-up, control endpoints,
//! faults, Admin Router's authentication, then the service routes.

use crate::faults::FaultAction;
use crate::http::{admin_router_unauthorized, json};
use crate::state::{Cluster, Shared, Sim};
use crate::{iam, marathon, metronome, misc};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, Uri};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::sync::MutexGuard;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Paths Admin Router serves without a token.
const PUBLIC_PATHS: [&str; 3] = [
    "/acs/api/v1/auth/login",
    "/acs/api/v1/auth/providers",
    "/dcos-metadata/dcos-version.json",
];

/// The error a dropped connection is made of (hyper closes the connection
/// without answering when the service fails).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct Dropped;

/// The most of a request's body read before an injected or refusing answer
/// (Marathon's own request limit is far above any app or job definition).
const UNREAD_BODY_LIMIT: usize = 8 << 20;

/// Collapses repeated slashes, as Marathon tolerates `//` in paths.
fn clean_path(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    if !path.contains("//") {
        return None;
    }
    let mut cleaned = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && cleaned.ends_with('/')) {
            cleaned.push(c);
        }
    }
    let with_query = match uri.query() {
        Some(q) => format!("{cleaned}?{q}"),
        None => cleaned,
    };
    with_query.parse().ok()
}

/// The DC/OS-facing router: Admin Router paths plus the bare service paths a
/// job inside the cluster would use (`marathon.mesos:8080/v2`, `:9000/v1`).
pub(crate) fn dcos_router(sim: &Shared) -> Router {
    let mut router = Router::new()
        .merge(iam::routes())
        .merge(misc::routes())
        .nest("/service/marathon", marathon::routes())
        .nest("/marathon", marathon::routes())
        .merge(marathon::routes())
        .nest("/service/metronome", metronome::routes())
        .merge(metronome::v1_routes())
        .merge(crate::secrets::routes())
        .merge(crate::exec::routes::routes());
    if sim.config.control {
        router = router.merge(crate::control::control_routes());
    }
    router.with_state(sim.clone())
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    /// The DC/OS URL (Admin Router).
    Dcos,
    /// The stats listener of marathon-lb instance `n`.
    Lb(usize),
}

/// What to do with one request before routing it.
enum Verdict {
    Serve,
    Answer(Response),
    Delay(Duration),
    Drop,
}

fn judge(
    sim: &Sim,
    cluster: &mut MutexGuard<'_, Cluster>,
    listener: Listener,
    method: &str,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> Verdict {
    if path.starts_with("/__sim/") {
        return Verdict::Serve;
    }
    let Cluster {
        faults,
        rng,
        now_ms,
        ..
    } = &mut **cluster;
    let lb = match listener {
        Listener::Dcos => None,
        Listener::Lb(n) => Some(n),
    };
    match faults.decide(method, path, lb, *now_ms, rng) {
        Some(FaultAction::Drop) => return Verdict::Drop,
        Some(FaultAction::Delay { ms }) => return Verdict::Delay(Duration::from_millis(ms)),
        Some(FaultAction::Status { code, body }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body.unwrap_or_else(|| serde_json::json!({"message": "injected fault"}));
            return Verdict::Answer(json(status, body));
        }
        None => {}
    }
    // marathon-lb's stats are unauthenticated in-cluster: only Admin Router
    // asks for a token.
    if sim.config.auth
        && listener == Listener::Dcos
        && !PUBLIC_PATHS.contains(&path)
        && !cluster.iam.is_authorized(headers, cluster.now_ms)
    {
        return Verdict::Answer(admin_router_unauthorized());
    }
    Verdict::Serve
}

/// One request through the pipeline, its cost counted.
async fn handle(
    sim: Shared,
    router: Router,
    listener: Listener,
    mut request: Request<Body>,
) -> Result<Response, Dropped> {
    if let Some(uri) = clean_path(request.uri()) {
        *request.uri_mut() = uri;
    }
    let class = crate::costs::classify(
        matches!(listener, Listener::Lb(_)),
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
    );
    let response = answer(&sim, router, listener, request).await;
    if let (Some(class), Ok(response)) = (class, &response) {
        let bytes = axum::body::HttpBody::size_hint(response.body())
            .exact()
            .unwrap_or(0);
        sim.costs.record(class, bytes);
    }
    response
}

/// The pipeline's answer to one request: faults, auth, then the routes.
async fn answer(
    sim: &Shared,
    router: Router,
    listener: Listener,
    request: Request<Body>,
) -> Result<Response, Dropped> {
    let verdict = {
        let mut cluster = sim.cluster();
        judge(
            sim,
            &mut cluster,
            listener,
            request.method().as_str(),
            request.uri().path(),
            request.headers(),
        )
    };
    match verdict {
        Verdict::Drop => return Err(Dropped),
        Verdict::Answer(response) => {
            // Marathon and Admin Router read the whole request before they
            // answer. Answering unread would make hyper close the connection
            // under a client that already pooled it for its next request (a
            // broken pipe no real cluster causes).
            let _ = axum::body::to_bytes(request.into_body(), UNREAD_BODY_LIMIT).await;
            return Ok(response);
        }
        Verdict::Delay(delay) => tokio::time::sleep(delay).await,
        Verdict::Serve => {}
    }
    let response: Result<Response, Infallible> = router.oneshot(request).await;
    Ok(response.unwrap_or_else(|never| match never {}))
}

/// Serves one connection, plain or TLS: the same pipeline ([`handle`]) for both.
async fn serve_connection<S>(stream: S, sim: Shared, router: Router, which: Listener)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
        handle(sim.clone(), router.clone(), which, request.map(Body::new))
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .await;
}

/// Accepts connections on `listener` (which is `which`); with `tls`, each
/// one completes a TLS handshake first (a failed handshake just closes that
/// connection).
pub(crate) async fn serve(
    listener: TcpListener,
    which: Listener,
    sim: Shared,
    router: Router,
    tls: Option<TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sim = sim.clone();
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, sim, router, which).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(stream, sim, router, which).await;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_slashes_collapse() {
        let uri: Uri = "/v2/apps//nginx?embed=apps.tasks".parse().unwrap();
        assert_eq!(clean_path(&uri).unwrap(), "/v2/apps/nginx?embed=apps.tasks");
        assert_eq!(clean_path(&"/v2/apps".parse().unwrap()), None);
    }
}
