//! A minimal blocking HTTP/1.1 client over one keep-alive connection: what
//! the load client needs to tell every way a request can end apart, and
//! nothing more (GET only; `Content-Length`, chunked or close-delimited
//! bodies; no redirects, no TLS).

use crate::Outcome;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The most a response's head (status line and headers) may take.
const MAX_HEAD: usize = 64 * 1024;

/// The most a response's body may take (bodies are pages of a few KB).
const MAX_BODY: usize = 1 << 20;

/// One response, as far as the load client cares.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    /// `X-Canary-Version`, if any.
    pub version: Option<String>,
    /// Whether the server keeps the connection open.
    pub keep_alive: bool,
}

/// One connection to the target, opened when needed.
pub(crate) struct Connection {
    addr: SocketAddr,
    host: String,
    stream: Option<TcpStream>,
}

/// How an I/O error ends a request.
fn classify(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Outcome::Timeout,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Outcome::Reset,
        _ => Outcome::Error,
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "closed before the response ended",
    )
}

impl Connection {
    pub(crate) fn new(addr: SocketAddr, host: String) -> Connection {
        Connection {
            addr,
            host,
            stream: None,
        }
    }

    /// Whether a kept connection was closed by the server while idle (it
    /// may close an idle keep-alive connection at any time): then the next
    /// request opens a new one, as every HTTP client does, and nothing is
    /// lost.
    fn closed_while_idle(stream: &TcpStream) -> bool {
        if stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let closed =
            !matches!(stream.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        stream.set_nonblocking(false).is_err() || closed
    }

    /// Sends `GET path` and reads the response within `limit`; on any
    /// failure the connection is dropped and the outcome says how it ended.
    /// The second value says whether the request was sent again: a GET on
    /// a reused keep-alive connection that the server closed before a
    /// single byte of response came back (it closed the idle connection as
    /// the request was on its way, as HAProxy's old process does on a
    /// reload) is sent once more on a new connection, as RFC 9112 §9.3.1
    /// lets a client do for an idempotent request, and as every common HTTP
    /// client does. A response begun and then broken is never retried.
    pub(crate) fn get(&mut self, path: &str, limit: Duration) -> (Result<Response, Outcome>, bool) {
        let deadline = Instant::now() + limit;
        if self.stream.as_ref().is_some_and(Self::closed_while_idle) {
            self.stream = None;
        }
        let reused = self.stream.is_some();
        let mut received = false;
        let mut result = self.exchange(path, deadline, &mut received);
        let mut retried = false;
        if let Err(e) = &result {
            let closed = matches!(classify(e), Outcome::Reset);
            if reused && !received && closed {
                self.stream = None;
                retried = true;
                received = false;
                result = self.exchange(path, deadline, &mut received);
            }
        }
        let outcome = match result {
            Ok(response) => {
                if !response.keep_alive {
                    self.stream = None;
                }
                Ok(response)
            }
            Err(e) => {
                self.stream = None;
                Err(classify(&e))
            }
        };
        (outcome, retried)
    }

    /// One request and its response; `received` is set once any byte of
    /// the response has arrived.
    fn exchange(
        &mut self,
        path: &str,
        deadline: Instant,
        received: &mut bool,
    ) -> io::Result<Response> {
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "request timed out"))
        };
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, left()?)?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected");
        stream.set_write_timeout(Some(left()?))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: canary-load-client\r\n\r\n",
            self.host
        )?;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(at) = find(&buf, b"\r\n\r\n") {
                break at + 4;
            }
            if buf.len() > MAX_HEAD {
                return Err(io::Error::other("response head too large"));
            }
            stream.set_read_timeout(Some(left()?))?;
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(eof());
            }
            *received = true;
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.split(' ');
        let http11 = parts.next() == Some("HTTP/1.1");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("not an HTTP status line: {status_line:?}")))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = !http11;
        let mut version = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "x-canary-version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        let mut body = buf[head_end..].to_vec();
        let mut read_more = |body: &mut Vec<u8>| -> io::Result<bool> {
            if body.len() > MAX_BODY {
                return Err(io::Error::other("response body too large"));
            }
            stream.set_read_timeout(Some(left()?))?;
            let n = stream.read(&mut chunk)?;
            body.extend_from_slice(&chunk[..n]);
            Ok(n > 0)
        };
        if chunked {
            // Read until the last chunk (`0\r\n\r\n`).
            while find(&body, b"0\r\n\r\n")
                .is_none_or(|at| at != 0 && !body[..at].ends_with(b"\r\n"))
            {
                if !read_more(&mut body)? {
                    return Err(eof());
                }
            }
        } else if let Some(length) = length {
            while body.len() < length {
                if !read_more(&mut body)? {
                    return Err(eof());
                }
            }
        } else if status >= 200 && status != 204 && status != 304 {
            // Delimited by the close.
            while read_more(&mut body)? {}
            close = true;
        }
        Ok(Response {
            status,
            version,
            keep_alive: !close,
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Canary-Version: v1\r\n\r\nok";

    /// Reads one request head from `stream`.
    fn read_request(reader: &mut io::BufReader<TcpStream>) -> bool {
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return false;
            }
            if line == "\r\n" {
                return true;
            }
        }
    }

    /// A server that serves the first connection's first request, then
    /// reads its second request and does `second` to it; every later
    /// connection is answered normally.
    fn server(second: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (first, _) = listener.accept().unwrap();
            let mut reader = io::BufReader::new(first.try_clone().unwrap());
            assert!(read_request(&mut reader));
            (&first).write_all(OK).unwrap();
            assert!(read_request(&mut reader));
            (&first).write_all(second).unwrap();
            drop(reader);
            drop(first);
            // The retry, if any, comes on a new connection.
            listener.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut served = 0;
            while Instant::now() < deadline && served == 0 {
                if let Ok((next, _)) = listener.accept() {
                    next.set_nonblocking(false).unwrap();
                    let mut reader = io::BufReader::new(next.try_clone().unwrap());
                    if read_request(&mut reader) {
                        (&next).write_all(OK).unwrap();
                        served += 1;
                    }
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            served
        });
        (addr, handle)
    }

    #[test]
    fn a_reused_connection_closed_before_any_byte_is_retried_once() {
        let (addr, server) = server(b"");
        let mut connection = Connection::new(addr, "t".into());
        let (first, retried) = connection.get("/", Duration::from_secs(2));
        assert_eq!((first.unwrap().status, retried), (200, false));
        let (second, retried) = connection.get("/", Duration::from_secs(2));
        let response = second.expect("sent again on a new connection");
        assert_eq!((response.status, retried), (200, true));
        assert_eq!(server.join().unwrap(), 1, "one new connection");
    }

    #[test]
    fn a_response_begun_and_broken_is_a_failure_never_retried() {
        let (addr, server) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
        let mut connection = Connection::new(addr, "t".into());
        assert!(connection.get("/", Duration::from_secs(2)).0.is_ok());
        let (second, retried) = connection.get("/", Duration::from_secs(2));
        assert_eq!((second.unwrap_err(), retried), (Outcome::Reset, false));
        assert_eq!(server.join().unwrap(), 0, "no second attempt");
    }
}
