//! Plain requests through marathon-lb's frontends: the traffic of `canary
//! status --sample`, whose split marathon-lb's own counters then show.

use canary_core::plan::sample::{Sent, Traffic};
use std::time::{Duration, Instant};

/// How much of each answer is read (so that the connection is reusable
/// and the response counted whole) before it is dropped.
const BODY_LIMIT: u64 = 1 << 20;

/// Sends GETs over HTTP/1.1 with keep-alive, no redirects followed, each
/// bounded by its own time limit.
#[derive(Debug)]
pub struct HttpTraffic {
    agent: ureq::Agent,
}

impl HttpTraffic {
    /// A sender whose every request (connecting included) ends within
    /// `request_timeout`.
    pub fn new(request_timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(request_timeout))
            .max_redirects(0)
            .user_agent(concat!("canary-sample/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpTraffic { agent }
    }
}

impl Traffic for HttpTraffic {
    fn send(&mut self, urls: &[String], requests: u32, limit: Duration) -> Sent {
        let mut sent = Sent::default();
        if urls.is_empty() {
            return sent;
        }
        let started = Instant::now();
        for n in 0..requests {
            if started.elapsed() >= limit {
                sent.cut_short = true;
                break;
            }
            let url = &urls[n as usize % urls.len()];
            sent.sent += 1;
            match self.agent.get(url).call() {
                Ok(mut response) => {
                    let _ = response
                        .body_mut()
                        .with_config()
                        .limit(BODY_LIMIT)
                        .read_to_vec();
                    if response.status().is_success() {
                        sent.ok += 1;
                    } else {
                        sent.other_status += 1;
                    }
                }
                Err(_) => sent.failed += 1,
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A server answering `statuses` in turn, one request per connection.
    fn server(statuses: Vec<u16>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for status in statuses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        url
    }

    #[test]
    fn answers_are_counted_by_class_and_a_closed_port_as_failed() {
        let url = server(vec![200, 503, 204]);
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/", l.local_addr().unwrap())
        };
        let mut traffic = HttpTraffic::new(Duration::from_secs(5));
        let sent = traffic.send(std::slice::from_ref(&url), 3, Duration::from_secs(60));
        assert_eq!(
            sent,
            Sent {
                sent: 3,
                ok: 2,
                other_status: 1,
                failed: 0,
                cut_short: false
            }
        );
        let sent = traffic.send(&[closed], 2, Duration::from_secs(60));
        assert_eq!((sent.sent, sent.failed), (2, 2));
        let sent = traffic.send(&[url], 5, Duration::ZERO);
        assert!(sent.cut_short && sent.sent == 0, "{sent:?}");
    }
}
