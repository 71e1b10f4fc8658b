//! The emulated frontend of one marathon-lb instance, for when no real
//! HAProxy is given: one HTTP listener per backend on the instance's own
//! address and the backend's service port, forwarding each request round
//! robin to the servers of the instance's current view.
//!
//! What it does as HAProxy would: servers in `MAINT` (`disabled`) get no
//! new requests, while requests already sent to them finish; a server that
//! refuses the connection is counted (`econ`) and the next one is tried, up
//! to `retries 3`; a server that breaks off or resets a request makes it a
//! 502 (`eresp`, `srv_abrt`), one that does not answer within `timeout
//! server` (30 s) a 504; with no server left, 503. It adds `X-Forwarded-For`
//! and `X-Forwarded-Port` as marathon-lb's http backends do.
//!
//! What it does not: health checks (it trusts the view, which lists only
//! tasks Marathon reports running and healthy), queueing (`qcur` stays 0),
//! `balance` other than round robin, TCP mode (every frontend speaks HTTP),
//! or counters that restart with a reload (only the `*_max` columns do). It only ever connects to 127.x
//! addresses: a server elsewhere (an imported fixture's) is never chosen.

use super::counters::{Counters, ServerCounters};
use super::rules::Backend;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

/// At most this many client connections are open at once per instance.
pub const MAX_FRONTEND_CONNECTIONS: usize = 4_096;

/// A request body larger than this is refused (413): the emulation keeps
/// each body to resend it on a retry.
const MAX_BODY: usize = 1 << 20;

/// HAProxy's `retries 3`.
const RETRIES: usize = 3;

/// HAProxy's `timeout server 30s`.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// One server a frontend may send to.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    addr: SocketAddr,
    disabled: bool,
}

/// What one frontend routes to now.
#[derive(Debug, Default)]
struct Route {
    backend: String,
    targets: Vec<Target>,
}

/// The connector of the frontend's client: HAProxy's connector, timed, so
/// a request that needed a new connection reports its connect time
/// (`ctime`; a request on a kept connection has none, as in HAProxy).
#[derive(Clone)]
struct TimedConnector {
    inner: HttpConnector,
    /// The connect time (ms) of the newest connection to each server that
    /// no request has claimed yet.
    fresh: Arc<Mutex<BTreeMap<SocketAddr, u64>>>,
}

impl tower::Service<Uri> for TimedConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = <HttpConnector as tower::Service<Uri>>::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let started = Instant::now();
        let addr = uri
            .authority()
            .and_then(|a| a.as_str().parse::<SocketAddr>().ok());
        let connecting = self.inner.call(uri);
        let fresh = self.fresh.clone();
        Box::pin(async move {
            let stream = connecting.await?;
            if let Some(addr) = addr {
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                fresh
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(addr, ms);
            }
            Ok(stream)
        })
    }
}

impl TimedConnector {
    /// The connect time of a new connection to `addr` made for the request
    /// asking, or 0 when it went over a kept one.
    fn claim(&self, addr: SocketAddr) -> u64 {
        self.fresh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&addr)
            .unwrap_or(0)
    }
}

/// What a frontend's connections share.
struct Shared {
    port: u16,
    route: RwLock<Arc<Route>>,
    next: AtomicUsize,
    counters: Arc<Counters>,
    client: Client<TimedConnector, Body>,
    connector: TimedConnector,
}

struct Listening {
    shared: Arc<Shared>,
    listener: Arc<TcpListener>,
    accept: AbortHandle,
}

/// The emulated frontend of one instance.
pub(crate) struct Emulated {
    lb: usize,
    ip: Ipv4Addr,
    runtime: Handle,
    counters: Arc<Counters>,
    client: Client<TimedConnector, Body>,
    connector: TimedConnector,
    permits: Arc<Semaphore>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    frontends: BTreeMap<u16, Listening>,
    /// Frontend ports that could not be bound, with why.
    bind_errors: BTreeMap<u16, String>,
}

impl std::fmt::Debug for Emulated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulated")
            .field("lb", &self.lb)
            .field("ip", &self.ip)
            .finish()
    }
}

impl Emulated {
    /// The emulated frontend of instance `lb`, on `ip`.
    pub(crate) fn new(lb: usize, ip: Ipv4Addr, runtime: Handle) -> Emulated {
        let connector = TimedConnector {
            inner: HttpConnector::new(),
            fresh: Arc::default(),
        };
        let client = {
            let _entered = runtime.enter();
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(5))
                .build(connector.clone())
        };
        Emulated {
            lb,
            ip,
            runtime,
            counters: Arc::new(Counters::default()),
            client,
            connector,
            permits: Arc::new(Semaphore::new(MAX_FRONTEND_CONNECTIONS)),
            state: Mutex::new(State::default()),
        }
    }

    /// The per-server counters.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Frontend ports that could not be bound, with why.
    pub(crate) fn bind_errors(&self) -> BTreeMap<u16, String> {
        self.state
            .lock()
            .map(|s| s.bind_errors.clone())
            .unwrap_or_default()
    }

    /// Routes as `backends` say from now on: a listener per service port
    /// (bound at first need), closed when its backend is gone. Each call is
    /// a reload: a new emulated worker serves new requests.
    pub(crate) fn adopt(&self, backends: &[Backend]) {
        self.counters.new_worker();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut wanted: BTreeMap<u16, Route> = BTreeMap::new();
        for backend in backends {
            let Ok(port) = u16::try_from(backend.port) else {
                continue;
            };
            let targets = backend
                .servers
                .iter()
                .filter_map(|s| {
                    let ip: Ipv4Addr = s.ip.parse().ok()?;
                    let port = u16::try_from(s.port).ok()?;
                    // Loopback only: a fixture's 10.x server is never sent to.
                    (ip.octets()[0] == 127).then(|| Target {
                        name: s.name.clone(),
                        addr: SocketAddr::from((ip, port)),
                        disabled: s.disabled,
                    })
                })
                .collect();
            wanted.insert(
                port,
                Route {
                    backend: backend.name.clone(),
                    targets,
                },
            );
        }
        let gone: Vec<u16> = state
            .frontends
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        for port in gone {
            if let Some(listening) = state.frontends.remove(&port) {
                let _ = socket2::SockRef::from(listening.listener.as_ref())
                    .shutdown(std::net::Shutdown::Read);
                listening.accept.abort();
            }
        }
        state.bind_errors.retain(|p, _| wanted.contains_key(p));
        for (port, route) in wanted {
            if let Some(listening) = state.frontends.get(&port) {
                *listening
                    .shared
                    .route
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = Arc::new(route);
                continue;
            }
            match self.listen(port, route) {
                Ok(listening) => {
                    state.bind_errors.remove(&port);
                    state.frontends.insert(port, listening);
                }
                Err(e) => {
                    if !state.bind_errors.contains_key(&port) {
                        eprintln!(
                            "dcos-sim: marathon-lb {}: cannot bind the frontend {}:{port}: {e}",
                            self.lb, self.ip
                        );
                    }
                    state.bind_errors.insert(port, e.to_string());
                }
            }
        }
    }

    fn listen(&self, port: u16, route: Route) -> std::io::Result<Listening> {
        let std_listener = std::net::TcpListener::bind(SocketAddr::from((self.ip, port)))?;
        std_listener.set_nonblocking(true)?;
        let listener = {
            let _entered = self.runtime.enter();
            Arc::new(TcpListener::from_std(std_listener)?)
        };
        let shared = Arc::new(Shared {
            port,
            route: RwLock::new(Arc::new(route)),
            next: AtomicUsize::new(0),
            counters: self.counters.clone(),
            client: self.client.clone(),
            connector: self.connector.clone(),
        });
        let accept = self
            .runtime
            .spawn(accept_loop(
                listener.clone(),
                shared.clone(),
                self.permits.clone(),
            ))
            .abort_handle();
        Ok(Listening {
            shared,
            listener,
            accept,
        })
    }

    /// Stops every frontend.
    pub(crate) fn stop(&self) {
        self.adopt(&[]);
    }
}

impl Drop for Emulated {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: Arc<TcpListener>, shared: Arc<Shared>, permits: Arc<Semaphore>) {
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(forward(&shared, request, peer).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// HAProxy's answer when it has none from a server.
fn error_page(status: StatusCode, text: &str) -> Response<Body> {
    let body = format!(
        "<html><body><h1>{} {}</h1>\n{text}\n</body></html>\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

/// One request's hold on a server's counters: `scur` while it lasts (under
/// the worker it started with), and a client abort when the client goes
/// before it ends.
struct InFlight {
    counters: Arc<ServerCounters>,
    worker: u64,
    done: bool,
}

impl InFlight {
    fn new(counters: Arc<ServerCounters>, worker: u64) -> InFlight {
        counters.start(worker);
        InFlight {
            counters,
            worker,
            done: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counters.end(self.worker);
        if !self.done {
            self.counters.cli_abrt.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

async fn forward(shared: &Shared, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error_page(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large."),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    for _attempt in 0..=RETRIES {
        let route = shared.route.read().map(|r| r.clone()).unwrap_or_default();
        let candidates: Vec<&Target> = route.targets.iter().filter(|t| !t.disabled).collect();
        if candidates.is_empty() {
            break;
        }
        let target = candidates[shared.next.fetch_add(1, Ordering::Relaxed) % candidates.len()];
        let Ok(uri) = format!("http://{}{path}", target.addr).parse::<Uri>() else {
            return error_page(StatusCode::BAD_REQUEST, "Bad request.");
        };
        let mut outgoing = Request::new(Body::from(body.clone()));
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = uri;
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                outgoing.headers_mut().append(name.clone(), value.clone());
            }
        }
        if let IpAddr::V4(ip) = peer.ip()
            && let Ok(v) = HeaderValue::from_str(&ip.to_string())
        {
            outgoing.headers_mut().append("x-forwarded-for", v);
        }
        outgoing
            .headers_mut()
            .insert("x-forwarded-port", HeaderValue::from(shared.port));
        let counters = shared.counters.of(&route.backend, &target.name);
        let mut in_flight = InFlight::new(counters.clone(), shared.counters.generation());
        let started = Instant::now();
        let sent = tokio::time::timeout(SERVER_TIMEOUT, shared.client.request(outgoing)).await;
        let response = match sent {
            Err(_) => {
                counters.eresp.fetch_add(1, Ordering::Relaxed);
                in_flight.done = true;
                return error_page(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The server didn't respond in time.",
                );
            }
            Ok(Err(e)) if e.is_connect() => {
                // Never reached the server: count it and try the next one.
                counters.econ.fetch_add(1, Ordering::Relaxed);
                in_flight.done = true;
                continue;
            }
            Ok(Err(_)) => {
                counters.eresp.fetch_add(1, Ordering::Relaxed);
                counters.srv_abrt.fetch_add(1, Ordering::Relaxed);
                in_flight.done = true;
                return error_page(
                    StatusCode::BAD_GATEWAY,
                    "The server returned an invalid or incomplete response.",
                );
            }
            Ok(Ok(response)) => response,
        };
        let headers_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (head, body) = response.into_parts();
        let left = SERVER_TIMEOUT.saturating_sub(started.elapsed());
        let bytes = match tokio::time::timeout(left, body.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            _ => {
                counters.eresp.fetch_add(1, Ordering::Relaxed);
                counters.srv_abrt.fetch_add(1, Ordering::Relaxed);
                in_flight.done = true;
                return error_page(
                    StatusCode::BAD_GATEWAY,
                    "The server returned an invalid or incomplete response.",
                );
            }
        };
        counters.response(head.status.as_u16(), headers_ms);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        counters.timings([
            0,
            shared.connector.claim(target.addr),
            headers_ms as u64,
            ms(started.elapsed()),
        ]);
        in_flight.done = true;
        let mut response = Response::from_parts(head, Body::from(bytes));
        // Re-framed here: hyper writes the length of the body as collected.
        for name in HOP_BY_HOP
            .iter()
            .chain(&["transfer-encoding", "content-length"])
        {
            response.headers_mut().remove(*name);
        }
        return response;
    }
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "No server is available to handle this request.",
    )
}
