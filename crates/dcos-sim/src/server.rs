//! Listeners and the request pipeline: path clean-up, control endpoints,
//! faults, Admin Router's authentication, then the service routes.

use crate::config::SimConfig;
use crate::faults::FaultAction;
use crate::http::{admin_router_unauthorized, json};
use crate::state::{Cluster, Shared, Sim};
use crate::{iam, lb, marathon, metronome, misc};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, Uri};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::MutexGuard;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
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
fn dcos_router(sim: &Shared) -> Router {
    let mut router = Router::new()
        .merge(iam::routes())
        .merge(misc::routes())
        .nest("/service/marathon", marathon::routes())
        .nest("/marathon", marathon::routes())
        .merge(marathon::routes())
        .nest("/service/metronome", metronome::routes())
        .merge(metronome::v1_routes());
    if sim.config.control {
        router = router.merge(misc::control_routes());
    }
    router.with_state(sim.clone())
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
    match faults.decide(method, path, *now_ms, rng) {
        Some(FaultAction::Drop) => return Verdict::Drop,
        Some(FaultAction::Delay { ms }) => return Verdict::Delay(Duration::from_millis(ms)),
        Some(FaultAction::Status { code, body }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body.unwrap_or_else(|| serde_json::json!({"message": "injected fault"}));
            return Verdict::Answer(json(status, body));
        }
        None => {}
    }
    if sim.config.auth
        && !PUBLIC_PATHS.contains(&path)
        && !cluster.iam.is_authorized(headers, cluster.now_ms)
    {
        return Verdict::Answer(admin_router_unauthorized());
    }
    Verdict::Serve
}

async fn handle(
    sim: Shared,
    router: Router,
    mut request: Request<Body>,
) -> Result<Response, Dropped> {
    if let Some(uri) = clean_path(request.uri()) {
        *request.uri_mut() = uri;
    }
    let verdict = {
        let mut cluster = sim.cluster();
        judge(
            &sim,
            &mut cluster,
            request.method().as_str(),
            request.uri().path(),
            request.headers(),
        )
    };
    match verdict {
        Verdict::Drop => return Err(Dropped),
        Verdict::Answer(response) => return Ok(response),
        Verdict::Delay(delay) => tokio::time::sleep(delay).await,
        Verdict::Serve => {}
    }
    let response: Result<Response, Infallible> = router.oneshot(request).await;
    Ok(response.unwrap_or_else(|never| match never {}))
}

/// Serves one connection, plain or TLS: the same pipeline ([`handle`]) for both.
async fn serve_connection<S>(stream: S, sim: Shared, router: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
        handle(sim.clone(), router.clone(), request.map(Body::new))
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .await;
}

/// Accepts connections on `listener`; with `tls`, each one completes a TLS
/// handshake first (a failed handshake just closes that connection).
async fn serve(listener: TcpListener, sim: Shared, router: Router, tls: Option<TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sim = sim.clone();
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, sim, router).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(stream, sim, router).await;
                    }
                }
            }
        });
    }
}

/// A running simulated cluster. Dropping it stops the listeners.
#[derive(Debug)]
pub struct SimHandle {
    sim: Shared,
    dcos_url: String,
    lb_urls: Vec<String>,
    ca_cert_pem: Option<String>,
    runtime: Option<Runtime>,
}

impl SimHandle {
    /// Starts a cluster on free loopback ports (127.0.0.1 only), on its own
    /// runtime threads, and returns once every listener accepts connections.
    /// With [`SimConfig::tls`] the DC/OS port speaks HTTPS with a certificate
    /// made for this run (see [`SimHandle::ca_cert_pem`]).
    pub fn start(config: SimConfig) -> io::Result<SimHandle> {
        Self::start_on(config, 0, &[])
    }

    /// Like [`SimHandle::start`], with a fixed DC/OS port and marathon-lb
    /// ports (0 or missing: the OS picks).
    pub fn start_on(config: SimConfig, port: u16, lb_ports: &[u16]) -> io::Result<SimHandle> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("dcos-sim")
            .build()?;
        let lb_count = config.marathon_lb_count;
        let server_tls = if config.tls {
            Some(crate::tls::server_tls()?)
        } else {
            None
        };
        let sim = Sim::new(config);
        let (dcos_url, lb_urls) = runtime.block_on(async {
            let bind = |port: u16| TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)));
            let listener = bind(port).await?;
            let scheme = if server_tls.is_some() {
                "https"
            } else {
                "http"
            };
            let url = format!("{scheme}://{}", listener.local_addr()?);
            let acceptor = server_tls.as_ref().map(|t| t.acceptor.clone());
            tokio::spawn(serve(listener, sim.clone(), dcos_router(&sim), acceptor));
            let mut lb_urls = Vec::new();
            for index in 0..lb_count {
                let listener = bind(lb_ports.get(index).copied().unwrap_or(0)).await?;
                lb_urls.push(format!("http://{}", listener.local_addr()?));
                let router = lb::routes(index, sim.clone());
                tokio::spawn(serve(listener, sim.clone(), router, None));
            }
            Ok::<_, io::Error>((url, lb_urls))
        })?;
        Ok(SimHandle {
            sim,
            dcos_url,
            lb_urls,
            ca_cert_pem: server_tls.map(|t| t.ca_pem),
            runtime: Some(runtime),
        })
    }

    /// The DC/OS URL (Admin Router), e.g. `http://127.0.0.1:41234`, or
    /// `https://127.0.0.1:41234` with [`SimConfig::tls`].
    pub fn dcos_url(&self) -> &str {
        &self.dcos_url
    }

    /// With [`SimConfig::tls`], the PEM of the CA that signed the DC/OS
    /// port's certificate (valid for `127.0.0.1` and `localhost`): what a
    /// client trusts to verify the sim. Made anew at every start; `None`
    /// without TLS.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.ca_cert_pem.as_deref()
    }

    /// One stats URL per marathon-lb instance.
    pub fn lb_urls(&self) -> &[String] {
        &self.lb_urls
    }

    /// The simulation, to read or change its state from a test.
    pub fn sim(&self) -> &Shared {
        &self.sim
    }

    /// Runs `f` on the cluster state, brought up to the current time.
    pub fn with_cluster<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        f(&mut self.sim.cluster())
    }

    /// Moves the cluster clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.sim.clock.advance(by);
    }

    /// Blocks until the process is interrupted (Ctrl-C), for the binary.
    pub fn wait_for_ctrl_c(&self) {
        if let Some(runtime) = &self.runtime {
            let _ = runtime.block_on(tokio::signal::ctrl_c());
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
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
