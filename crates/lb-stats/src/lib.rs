//! Reads every marathon-lb instance, unauthenticated as in the cluster,
//! without costing it anything.
//!
//! A marathon-lb URL names a host and its stats port
//! (`http://marathon-lb.marathon.mesos:9090`); the host is resolved to all
//! its IPv4 addresses, and each address is one marathon-lb instance. Each
//! is read at `/haproxy?stats;csv;scope=<the group's backend>`: HAProxy
//! returns only the proxies whose name contains the scope, so a reading is
//! the size of the group, not of the cluster; the page is read as a stream
//! up to [`MAX_STATS_PAGE`] (past it the reading fails, naming the URL and
//! the cap: never a silent partial count), keeping only the rows asked
//! for. Where counters are compared across readings (the analysis,
//! `status --sample`), the answering worker's pid is read from the HTML
//! page's header (`;norefresh`, same scope), to tell a reload apart.
//!
//! `/_haproxy_getpids` is never read: marathon-lb serves it with
//! `io.popen("pidof haproxy")` inside the HAProxy that carries the
//! traffic, and each call costs requests (marathon-lb-haproxy.md §8). The
//! engine tells a reload's old worker apart by its own readings instead
//! ([`canary_core::plan::evidence`]).
//!
//! Several URLs may be given; names are resolved again at every
//! observation, so an instance that appears or goes during a phase is
//! seen. An instance that cannot be read is an [`LbState::Unreachable`]
//! view: the engine waits, it never acts on a partial picture. Every
//! request has a connect and an overall time limit.

mod traffic;

pub use traffic::HttpTraffic;

use canary_core::plan::stats::{StatsCsv, parse_stats_page_worker};
use canary_core::plan::{LbQuery, LbSource, LbState, LbView, Worker};
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The most of one `;csv` stats page that is read: a page of the group's
/// proxies is a few kilobytes, a whole cluster's of thousands of servers
/// a few megabytes.
pub const MAX_STATS_PAGE: u64 = 16 * 1024 * 1024;

/// The most of an HTML stats page read to find the worker in its header
/// (the header comes first; the reading stops once it is found).
pub const MAX_HTML_HEAD: u64 = 1024 * 1024;

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

    /// Sends `GET url`: its body as a reader when it answered 200.
    fn get(&self, url: &str) -> Result<impl Read + use<>, String> {
        let response = self.agent.get(url).call().map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(format!("answered {status}"));
        }
        Ok(response.into_body().into_reader())
    }

    /// The rows `query` asks for of the `;csv` page at `url`, read a line
    /// at a time up to [`MAX_STATS_PAGE`].
    fn read_rows(
        &self,
        url: &str,
        query: &LbQuery,
    ) -> Result<Vec<canary_core::plan::StatsRow>, String> {
        let body = self.get(url)?;
        let mut reader = BufReader::new(body.take(MAX_STATS_PAGE + 1));
        let mut csv = StatsCsv::new(query.filter.clone());
        let mut line = Vec::new();
        let mut total = 0u64;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("reading the answer failed: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > MAX_STATS_PAGE {
                return Err(format!(
                    "the stats page is larger than {} MiB, the most canary reads of one; nothing of it was used",
                    MAX_STATS_PAGE >> 20
                ));
            }
            csv.line(&String::from_utf8_lossy(&line))
                .map_err(|e| e.to_string())?;
        }
        csv.finish().map_err(|e| e.to_string())
    }

    /// The worker that answered the HTML page at `url`, from its header;
    /// `None` when the page does not say (counters are then compared by
    /// the counter rule alone).
    fn read_worker(&self, url: &str) -> Result<Option<Worker>, String> {
        let body = self.get(url)?;
        let mut reader = BufReader::new(body.take(MAX_HTML_HEAD));
        let mut head = String::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("reading the answer failed: {e}"))?;
            head.push_str(&String::from_utf8_lossy(&line));
            // The header is complete once the uptime line is in.
            let done = head.contains("uptime = ") && line.ends_with(b"\n");
            if done || n == 0 {
                break;
            }
        }
        let worker = parse_stats_page_worker(&head);
        if worker.is_none() {
            tracing::debug!(
                url,
                "the HTML stats page does not say which worker answered"
            );
        }
        Ok(worker)
    }

    fn read(&self, base: &str, query: &LbQuery) -> LbView {
        let scope = match query.scope() {
            scope if scope.is_empty() => String::new(),
            scope => format!(";scope={scope}"),
        };
        let csv_url = format!("{base}/haproxy?stats;csv{scope}");
        let rows = match self.read_rows(&csv_url, query) {
            Ok(rows) => rows,
            Err(e) => return unreachable_view(base, &format!("{csv_url}: {e}")),
        };
        let worker = if query.worker {
            let html_url = format!("{base}/haproxy?stats;norefresh{scope}");
            match self.read_worker(&html_url) {
                Ok(worker) => worker,
                Err(e) => return unreachable_view(base, &format!("{html_url}: {e}")),
            }
        } else {
            None
        };
        LbView {
            url: base.to_owned(),
            state: LbState::Stats { worker, rows },
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
    /// Reads every instance at once (one thread each), so one that does
    /// not answer costs an observation one request's time limit, however
    /// many there are.
    fn observe(&mut self, query: &LbQuery) -> Vec<LbView> {
        let client = &*self;
        std::thread::scope(|scope| {
            let reads: Vec<_> = client
                .instances()
                .into_iter()
                .map(|instance| {
                    scope.spawn(move || match instance {
                        Ok(base) => {
                            let view = client.read(&base, query);
                            if let LbState::Unreachable { message } = &view.state {
                                tracing::warn!(lb = base, error = %message, "marathon-lb not read");
                            }
                            view
                        }
                        Err(view) => view,
                    })
                })
                .collect();
            reads
                .into_iter()
                .map(|read| read.join().expect("a marathon-lb read does not panic"))
                .collect()
        })
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
        let views = client.observe(&LbQuery::for_group("web", Some(10000), true));
        assert_eq!(views.len(), 1);
        assert!(
            matches!(views[0].state, LbState::Unreachable { .. }),
            "{views:?}"
        );
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// Serves one HTTP/1.1 answer of `body` (given in pieces, so a page
    /// larger than memory would be needed is never held) to every request
    /// on a loopback port, on a thread; returns the base URL.
    fn serve(make_body: fn(&mut dyn Write) -> std::io::Result<()>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut stream) = stream else { return };
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut stream, &mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                );
                let _ = make_body(&mut stream);
            }
        });
        url
    }

    /// A stats page of `rows` server rows of other proxies, then the
    /// group's one row.
    fn page(out: &mut dyn Write, rows: usize) -> std::io::Result<()> {
        writeln!(out, "# pxname,svname,status,scur,qcur,stot")?;
        let filler = format!("other_{},s,UP,0,0,1\n", "x".repeat(40));
        for _ in 0..rows {
            out.write_all(filler.as_bytes())?;
        }
        writeln!(out, "web_10000,s1,UP,2,0,7")
    }

    #[test]
    fn a_page_past_the_cap_fails_naming_the_url_and_the_cap_never_a_partial_count() {
        // About 19 MB: past the 16 MiB cap.
        let url = serve(|out| page(out, 340_000));
        let mut client =
            LbStatsClient::new(std::slice::from_ref(&url), Duration::from_secs(20)).unwrap();
        let views = client.observe(&LbQuery::for_group("web", Some(10000), false));
        let LbState::Unreachable { message } = &views[0].state else {
            panic!("a partial page was counted: {views:?}");
        };
        assert!(
            message.contains(&format!("{url}/haproxy?stats;csv;scope=web_10000"))
                && message.contains("larger than 16 MiB"),
            "{message}"
        );
    }

    #[test]
    fn a_large_page_under_the_cap_keeps_only_the_groups_rows() {
        // About 14 MB of other proxies' rows, read a line at a time: only
        // the group's row is kept.
        let url = serve(|out| page(out, 250_000));
        let mut client = LbStatsClient::new(&[url], Duration::from_secs(20)).unwrap();
        let views = client.observe(&LbQuery::for_group("web", Some(10000), false));
        let LbState::Stats { rows, .. } = &views[0].state else {
            panic!("{views:?}");
        };
        assert_eq!(rows.len(), 1, "only web_10000's rows");
        assert_eq!(rows[0].number("scur"), 2);
    }
}
