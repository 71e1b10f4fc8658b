//! Where the listeners go: the DC/OS URL on 127.0.0.1, and each marathon-lb
//! instance on its loopback address, sharing one OS-picked port across
//! distinct addresses as one DNS name with several A records would.

use crate::config::SimConfig;
use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpListener;

/// Why a simulated cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A marathon-lb bind address outside 127.0.0.0/8.
    #[error("marathon-lb bind address {addr} is not a 127.x.y.z loopback address")]
    NotLoopback {
        /// The address given.
        addr: SocketAddr,
    },
    /// [`SimConfig::marathon_lb_count`] disagrees with
    /// [`SimConfig::lb_binds`].
    #[error("marathon_lb_count is {count} but {binds} lb_binds are given")]
    LbCount {
        /// `marathon_lb_count`.
        count: usize,
        /// How many `lb_binds`.
        binds: usize,
    },
    /// marathon-lb ports given next to bind addresses that carry their own.
    #[error(
        "marathon-lb ports are given both as ports and in lb_binds; give them in lb_binds only"
    )]
    PortsWithBinds,
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The runtime or the TLS certificate could not be made.
    #[error("cannot start: {0}")]
    Setup(#[from] io::Error),
    /// A real HAProxy ([`SimConfig::haproxy`]) could not be started.
    #[error("cannot start haproxy: {0}")]
    Haproxy(#[from] crate::lb::HaproxyError),
    /// Job execution ([`SimConfig::jobs`]) could not be set up.
    #[error("cannot execute job runs: {0}")]
    Jobs(#[from] crate::exec::JobsError),
}

/// The address of each marathon-lb instance: `config.lb_binds`, or
/// `marathon_lb_count` times 127.0.0.1 with `lb_ports` (0 or missing: the OS
/// picks).
pub(crate) fn lb_addresses(
    config: &SimConfig,
    lb_ports: &[u16],
) -> Result<Vec<SocketAddr>, StartError> {
    let localhost = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    if config.lb_binds.is_empty() {
        return Ok((0..config.marathon_lb_count)
            .map(|i| localhost(lb_ports.get(i).copied().unwrap_or(0)))
            .collect());
    }
    if !lb_ports.is_empty() {
        return Err(StartError::PortsWithBinds);
    }
    let binds = config.lb_binds.len();
    if config.marathon_lb_count != 1 && config.marathon_lb_count != binds {
        return Err(StartError::LbCount {
            count: config.marathon_lb_count,
            binds,
        });
    }
    if let Some(&addr) = config.lb_binds.iter().find(|a| !is_loopback_v4(a)) {
        return Err(StartError::NotLoopback { addr });
    }
    Ok(config.lb_binds.clone())
}

/// Whether `addr` is IPv4 in 127.0.0.0/8.
pub fn is_loopback_v4(addr: &SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V4(ip) if ip.octets()[0] == 127)
}

/// Binds one listener.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// What one attempt at binding every marathon-lb listener met.
enum Attempt {
    /// The shared port was taken on another address: pick again.
    Retry(StartError),
    Fatal(StartError),
}

/// Binds every marathon-lb listener. Addresses with port 0 on distinct IPs
/// share the port the OS picked for the first of them; when that port is
/// taken on one of the others, every listener is dropped and the pick is
/// made again (a few times).
pub(crate) async fn bind_lbs(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, StartError> {
    let mut last = None;
    for _ in 0..8 {
        match try_bind_lbs(addrs).await {
            Ok(listeners) => return Ok(listeners),
            Err(Attempt::Retry(e)) => last = Some(e),
            Err(Attempt::Fatal(e)) => return Err(e),
        }
    }
    Err(last.unwrap_or(StartError::Setup(io::Error::other(
        "no shared marathon-lb port found",
    ))))
}

async fn try_bind_lbs(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, Attempt> {
    let mut shared: Option<u16> = None;
    let mut listeners: Vec<TcpListener> = Vec::new();
    for &addr in addrs {
        let ip_taken = listeners
            .iter()
            .any(|l| l.local_addr().is_ok_and(|a| a.ip() == addr.ip()));
        let mut want = addr;
        let reuse = match shared {
            Some(port) if addr.port() == 0 && !ip_taken => {
                want.set_port(port);
                true
            }
            _ => false,
        };
        match TcpListener::bind(want).await {
            Ok(listener) => {
                if addr.port() == 0 && shared.is_none() {
                    shared = listener.local_addr().ok().map(|a| a.port());
                }
                listeners.push(listener);
            }
            Err(source) if reuse && source.kind() == io::ErrorKind::AddrInUse => {
                return Err(Attempt::Retry(StartError::Bind { addr: want, source }));
            }
            Err(source) => return Err(Attempt::Fatal(StartError::Bind { addr: want, source })),
        }
    }
    Ok(listeners)
}
