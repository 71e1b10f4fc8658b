//! One task's HTTP/1.1 server: its listeners, its open connections, and a
//! kill that ends them all at once.

use super::LaunchSpec;
use crate::image::{Behaviour, CHECK_HEADER};
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use socket2::SockRef;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

/// The header that names the app and image that served a response.
pub const VERSION_HEADER: &str = "x-canary-version";

/// What every connection of one task shares.
struct Task {
    behaviour: Behaviour,
    /// `<app id> <image>`.
    version: HeaderValue,
    /// Traffic requests answered so far (the error spread's position).
    seq: AtomicU64,
    error_offset: u64,
    /// Traffic requests (not health checks) being served now.
    in_flight: AtomicU64,
}

/// One traffic request's hold on its task's in-flight count, released
/// however the request ends (answered, or cut off by a kill).
struct Serving(Arc<Task>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The open connections of one task, and whether it was killed.
#[derive(Default)]
struct Connections {
    killed: bool,
    next: u64,
    /// A duplicate of each connection's socket (to reset it from outside
    /// its task) and its task.
    open: BTreeMap<u64, (socket2::Socket, AbortHandle)>,
}

/// Resets a connection: no lingering on close, both directions shut now.
fn reset(socket: &socket2::Socket) {
    let _ = socket.set_linger(Some(Duration::ZERO));
    let _ = socket.shutdown(Shutdown::Both);
}

/// One task's server.
pub(super) struct TaskServer {
    task: Arc<Task>,
    ports: Vec<u16>,
    listeners: Vec<(Arc<TcpListener>, AbortHandle)>,
    connections: Arc<Mutex<Connections>>,
}

fn bind(runtime: &Handle, port: u16) -> std::io::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    listener.set_nonblocking(true)?;
    let _entered = runtime.enter();
    TcpListener::from_std(listener)
}

impl TaskServer {
    /// Binds the task's ports and starts serving; an error says which port
    /// could not be bound.
    pub(super) fn start(
        runtime: &Handle,
        permits: Arc<Semaphore>,
        spec: &LaunchSpec<'_>,
    ) -> Result<TaskServer, String> {
        let mut bound = Vec::new();
        for fixed in spec.fixed_ports {
            let port = fixed.unwrap_or(0);
            let listener = bind(runtime, port).map_err(|e| {
                format!("dcos-sim: cannot bind host port 127.0.0.1:{port} for the task: {e}")
            })?;
            bound.push(listener);
        }
        let version = format!("{} {}", spec.app_id, spec.behaviour.image);
        let task = Arc::new(Task {
            behaviour: spec.behaviour.clone(),
            version: HeaderValue::from_str(&version)
                .unwrap_or_else(|_| HeaderValue::from_static("unprintable")),
            seq: AtomicU64::new(0),
            error_offset: spec.error_offset,
            in_flight: AtomicU64::new(0),
        });
        let connections = Arc::new(Mutex::new(Connections::default()));
        let mut ports = Vec::new();
        let mut listeners = Vec::new();
        for listener in bound {
            ports.push(listener.local_addr().map_or(0, |a| a.port()));
            let listener = Arc::new(listener);
            let accept = runtime.spawn(accept_loop(
                listener.clone(),
                task.clone(),
                connections.clone(),
                permits.clone(),
            ));
            listeners.push((listener, accept.abort_handle()));
        }
        Ok(TaskServer {
            task,
            ports,
            listeners,
            connections,
        })
    }

    /// Traffic requests (not health checks) it is serving now.
    pub(super) fn in_flight(&self) -> u64 {
        self.task.in_flight.load(Ordering::Relaxed)
    }

    /// The host ports it listens on, in port order.
    pub(super) fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Ends the task as SIGKILL would: no more connections accepted, and
    /// every open one reset now, with whatever request it carries.
    pub(super) fn kill(self) {
        for (listener, accept) in &self.listeners {
            // Shutting the read side of a listening socket stops it listening
            // (Linux): new connections are refused from this moment, not
            // from when the accept task is next polled.
            let _ = SockRef::from(listener.as_ref()).shutdown(Shutdown::Read);
            accept.abort();
        }
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections.killed = true;
        for (_, (socket, task)) in std::mem::take(&mut connections.open) {
            reset(&socket);
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: Arc<TcpListener>,
    task: Arc<Task>,
    connections: Arc<Mutex<Connections>>,
    permits: Arc<Semaphore>,
) {
    loop {
        // Past the cap, connections wait in the backlog for a free permit.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // A listener shut by a kill fails every accept: stop.
                if connections.lock().map(|c| c.killed).unwrap_or(true) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(duplicate) = SockRef::from(&stream).try_clone() else {
            continue;
        };
        let mut guard = connections.lock().unwrap_or_else(|p| p.into_inner());
        if guard.killed {
            reset(&duplicate);
            return;
        }
        let id = guard.next;
        guard.next += 1;
        let (task, connections_for_task) = (task.clone(), connections.clone());
        let handle = tokio::spawn(async move {
            serve_connection(stream, task).await;
            drop(permit);
            let mut guard = connections_for_task
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            guard.open.remove(&id);
        });
        guard.open.insert(id, (duplicate, handle.abort_handle()));
    }
}

async fn serve_connection(stream: TcpStream, task: Arc<Task>) {
    let service = hyper::service::service_fn(move |request| answer(task.clone(), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// `ms` of a `/slow?ms=N` request (0 for any other path).
fn slow_ms(request: &Request<Incoming>) -> u64 {
    if request.uri().path() != "/slow" {
        return 0;
    }
    request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .and_then(|ms| ms.parse::<u64>().ok())
        .unwrap_or(0)
}

async fn answer(task: Arc<Task>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let check = request.headers().contains_key(CHECK_HEADER);
    let _serving = (!check).then(|| {
        task.in_flight.fetch_add(1, Ordering::Relaxed);
        Serving(task.clone())
    });
    let (status, delay_ms) = if check {
        (task.behaviour.check_status(), 0)
    } else {
        let seq = task.seq.fetch_add(1, Ordering::Relaxed);
        let answer = task
            .behaviour
            .answer(seq, task.error_offset, slow_ms(&request));
        (answer.status, answer.delay_ms)
    };
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let mut response = Response::new(Body::from(task.behaviour.body(status)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    headers.insert(VERSION_HEADER, task.version.clone());
    Ok(response)
}
