//! Reads marathon-lb the way zdd.py does: every instance, unauthenticated.
//!
//! A marathon-lb URL names a host and its stats port
//! (`http://marathon-lb.marathon.mesos:9090`); the host is resolved to all
//! its IPv4 addresses, and each address is one marathon-lb instance, read
//! at `<scheme>://<address>:<port>/_haproxy_getpids` (how many haproxy
//! processes: more than two while a reload lingers) and
//! `/haproxy?stats;csv` (the stats, read by column name). Several URLs may
//! be given; names are resolved again at every observation, so an instance
//! that appears or goes during a phase is seen. An instance that cannot be
//! read is an [`LbState::Unreachable`] view: the engine waits, it never acts
//! on a partial picture.
//!
//! Every request has a connect and an overall time limit, and an answer is
//! read up to a size cap ([`MAX_ANSWER`]).

use canary_core::engine::observe::{count_pids, parse_stats_csv};
use canary_core::engine::{LbSource, LbState, LbView};
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The most of one answer that is read (a stats page of a few thousand
/// servers is well under it).
pub const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// A marathon-lb URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `http://HOST:PORT` or `https://HOST:PORT` (a path is allowed and
    /// kept as the base).
    #[error("{url:?} is not an http(s) URL with a host and an explicit port: {reason}")]
    Invalid {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One marathon-lb URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    scheme: &'static str,
    host: String,
    port: u16,
    base_path: String,
}

fn parse(url: &str) -> Result<Target, UrlError> {
    let invalid = |reason| UrlError::Invalid {
        url: url.to_owned(),
        reason,
    };
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        ("http", rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest)
    } else {
        return Err(invalid("it must start with http:// or https://"));
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if authority.contains('@') {
        return Err(invalid("it must not carry credentials"));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("it must have no query, fragment or whitespace"));
    }
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| invalid("the port must be explicit (zdd.py needs one too)"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid("the port is not a number from 1 to 65535"))?;
    if host.is_empty() || host.starts_with('[') {
        return Err(invalid("it needs an IPv4 host or a name"));
    }
    Ok(Target {
        scheme,
        host: host.to_owned(),
        port,
        base_path: path.trim_end_matches('/').to_owned(),
    })
}

/// Reads every marathon-lb instance behind the configured URLs.
#[derive(Debug)]
pub struct LbStatsClient {
    targets: Vec<Target>,
    agent: ureq::Agent,
}

impl LbStatsClient {
    /// A client for these marathon-lb URLs (each `http(s)://HOST:PORT`),
    /// with `timeout` per request (connecting included).
    pub fn new(urls: &[String], timeout: Duration) -> Result<Self, UrlError> {
        let targets = urls
            .iter()
            .map(|u| parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout.min(Duration::from_secs(3))))
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .user_agent(concat!("canary-lb-stats/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(LbStatsClient { targets, agent })
    }

    /// The instances' base URLs now: each URL's host resolved to all its
    /// IPv4 addresses (in the resolver's order, duplicates dropped), or an
    /// error view naming the URL when it does not resolve.
    fn instances(&self) -> Vec<Result<String, LbView>> {
        let mut out: Vec<Result<String, LbView>> = Vec::new();
        for target in &self.targets {
            let addresses: Result<Vec<SocketAddr>, _> = match target.host.parse::<IpAddr>() {
                Ok(ip) => Ok(vec![SocketAddr::new(ip, target.port)]),
                Err(_) => (target.host.as_str(), target.port)
                    .to_socket_addrs()
                    .map(|a| a.filter(SocketAddr::is_ipv4).collect()),
            };
            let base = |addr: &SocketAddr| {
                let path = if target.base_path.is_empty() {
                    String::new()
                } else {
                    format!("/{}", target.base_path)
                };
                format!("{}://{}{path}", target.scheme, addr)
            };
            match addresses {
                Ok(list) if !list.is_empty() => {
                    for addr in list {
                        let url = base(&addr);
                        if !out.iter().any(|u| u.as_ref().ok() == Some(&url)) {
                            out.push(Ok(url));
                        }
                    }
                }
                Ok(_) => out.push(Err(unreachable_view(
                    &format!("{}://{}:{}", target.scheme, target.host, target.port),
                    "the name resolves to no IPv4 address",
                ))),
                Err(e) => out.push(Err(unreachable_view(
                    &format!("{}://{}:{}", target.scheme, target.host, target.port),
                    &format!("cannot resolve {}: {e}", target.host),
                ))),
            }
        }
        out
    }

    fn get(&self, url: &str) -> Result<String, String> {
        let response = self.agent.get(url).call().map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut body = String::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_ANSWER)
            .read_to_string(&mut body)
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        if status != 200 {
            return Err(format!("answered {status}"));
        }
        Ok(body)
    }

    fn read(&self, base: &str) -> LbView {
        let pids = match self.get(&format!("{base}/_haproxy_getpids")) {
            Ok(text) => count_pids(&text),
            Err(e) => return unreachable_view(base, &format!("/_haproxy_getpids: {e}")),
        };
        let rows = match self.get(&format!("{base}/haproxy?stats;csv")) {
            Ok(text) => match parse_stats_csv(&text) {
                Ok(rows) => rows,
                Err(e) => return unreachable_view(base, &format!("/haproxy?stats;csv: {e}")),
            },
            Err(e) => return unreachable_view(base, &format!("/haproxy?stats;csv: {e}")),
        };
        LbView {
            url: base.to_owned(),
            state: LbState::Stats { pids, rows },
        }
    }
}

fn unreachable_view(url: &str, message: &str) -> LbView {
    LbView {
        url: url.to_owned(),
        state: LbState::Unreachable {
            message: message.to_owned(),
        },
    }
}

impl LbSource for LbStatsClient {
    fn observe(&mut self) -> Vec<LbView> {
        self.instances()
            .into_iter()
            .map(|instance| match instance {
                Ok(base) => {
                    let view = self.read(&base);
                    if let LbState::Unreachable { message } = &view.state {
                        tracing::warn!(lb = base, error = %message, "marathon-lb not read");
                    }
                    view
                }
                Err(view) => view,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_host_and_an_explicit_port() {
        let t = parse("http://marathon-lb.marathon.mesos:9090").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.base_path.as_str()),
            ("marathon-lb.marathon.mesos", 9090, "")
        );
        let t = parse("https://10.0.0.1:9090/prefix/").unwrap();
        assert_eq!((t.scheme, t.base_path.as_str()), ("https", "prefix"));
        for bad in [
            "marathon-lb:9090",
            "http://marathon-lb",
            "http://marathon-lb:0",
            "http://marathon-lb:99999",
            "http://u:p@marathon-lb:9090",
            "http://marathon-lb:9090/?x",
            "http://[::1]:9090",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_resolves_to_every_address_and_literals_to_themselves() {
        let client = LbStatsClient::new(
            &[
                "http://127.0.0.2:9090".into(),
                "http://localhost:9091".into(),
                "http://127.0.0.2:9090".into(),
            ],
            Duration::from_secs(1),
        )
        .unwrap();
        let urls: Vec<String> = client
            .instances()
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(urls[0], "http://127.0.0.2:9090");
        assert!(
            urls.contains(&"http://127.0.0.1:9091".to_owned()),
            "{urls:?}"
        );
        assert_eq!(
            urls.iter()
                .filter(|u| *u == "http://127.0.0.2:9090")
                .count(),
            1
        );
    }

    #[test]
    fn an_instance_that_does_not_answer_is_unreachable_not_empty() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut client = LbStatsClient::new(
            &[format!("http://127.0.0.1:{port}")],
            Duration::from_secs(1),
        )
        .unwrap();
        let views = client.observe();
        assert_eq!(views.len(), 1);
        assert!(
            matches!(views[0].state, LbState::Unreachable { .. }),
            "{views:?}"
        );
    }
}
