//! The shape of the http(s) URLs canary is given (the DC/OS URL, Marathon
//! and marathon-lb as the jobs reach them, a service account's login
//! endpoint): checked once, by one rule, so every flag and variable refuses
//! the same things with the same words.
//!
//! A URL that carries credentials (`http://user:password@host`) is refused
//! as [`UrlError::Credentials`], whose message never repeats the URL: the
//! password would end up in errors and logs.

/// Why a URL is refused. Messages never quote the URL itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("must start with http:// or https://")]
    Scheme,
    /// Whitespace or control characters anywhere in it.
    #[error("contains whitespace or control characters")]
    Whitespace,
    /// `user:password@` before the host.
    #[error(
        "must not carry credentials (user:password@ before the host): they would show in logs and errors"
    )]
    Credentials,
    /// No host after the scheme.
    #[error("has no host")]
    NoHost,
    /// A port that is not a number from 1 to 65535.
    #[error("has an invalid port '{0}': a port is a number from 1 to 65535")]
    Port(String),
}

/// An http(s) URL taken apart (borrowing from the text it came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpUrl<'a> {
    /// `https://` rather than `http://`.
    pub https: bool,
    /// The host: a name, an IPv4 address or a bracketed IPv6 literal.
    pub host: &'a str,
    /// The port, when one is written.
    pub port: Option<u16>,
    /// What follows the authority up to any `?` or `#` (empty or starting
    /// with `/`).
    pub path: &'a str,
    /// The query without its `?`, when there is one.
    pub query: Option<&'a str>,
    /// The fragment without its `#`, when there is one.
    pub fragment: Option<&'a str>,
}

/// Takes an absolute http(s) URL apart, refusing credentials, a missing
/// host and ports outside 1 to 65535.
///
/// ```
/// use canary_core::url::{parse_http_url, UrlError};
/// let url = parse_http_url("https://dcos.example.com:8443/base?x=1#top").unwrap();
/// assert_eq!((url.host, url.port, url.path), ("dcos.example.com", Some(8443), "/base"));
/// assert_eq!((url.query, url.fragment), (Some("x=1"), Some("top")));
/// assert_eq!(parse_http_url("http://admin:pw@host"), Err(UrlError::Credentials));
/// assert_eq!(parse_http_url("http://host:0"), Err(UrlError::Port("0".into())));
/// ```
pub fn parse_http_url(url: &str) -> Result<HttpUrl<'_>, UrlError> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(UrlError::Scheme);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    // Before anything else: no later message may show a password.
    if authority.contains('@') {
        return Err(UrlError::Credentials);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Whitespace);
    }
    let (before_fragment, fragment) = match after.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (after, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    // A ':' after a bracketed IPv6 literal, or the only ':' otherwise,
    // starts the port.
    let (host, port) = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => {
            (&authority[..at], Some(&authority[at + 1..]))
        }
        _ => (authority, None),
    };
    if host.is_empty() || host == "[]" {
        return Err(UrlError::NoHost);
    }
    let port = match port {
        None => None,
        Some(p) => {
            let number = p
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .filter(|n| *n != 0);
            Some(number.ok_or_else(|| UrlError::Port(p.escape_debug().to_string()))?)
        }
    };
    Ok(HttpUrl {
        https,
        host,
        port,
        path,
        query,
        fragment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_apart() {
        let url = parse_http_url("http://marathon.mesos:8080").unwrap();
        assert_eq!(
            url,
            HttpUrl {
                https: false,
                host: "marathon.mesos",
                port: Some(8080),
                path: "",
                query: None,
                fragment: None
            }
        );
        let url = parse_http_url("https://[::1]:9090/a/b#frag").unwrap();
        assert_eq!(
            (url.host, url.port, url.path),
            ("[::1]", Some(9090), "/a/b")
        );
        assert_eq!(url.fragment, Some("frag"));
        // A fragment is not a port: it follows the authority.
        let url = parse_http_url("http://lb:9090#x").unwrap();
        assert_eq!(
            (url.port, url.path, url.fragment),
            (Some(9090), "", Some("x"))
        );
        assert_eq!(parse_http_url("http://[fe80::1]").unwrap().port, None);
        assert_eq!(parse_http_url("http://h:65535").unwrap().port, Some(65535));
    }

    #[test]
    fn what_is_refused() {
        let err = |u: &str| parse_http_url(u).unwrap_err();
        assert_eq!(err("ftp://x"), UrlError::Scheme);
        assert_eq!(err("dcos.example.com"), UrlError::Scheme);
        assert_eq!(err("http://a b"), UrlError::Whitespace);
        assert_eq!(err("http://a\n"), UrlError::Whitespace);
        assert_eq!(err("http://admin:S3cret@host"), UrlError::Credentials);
        assert_eq!(err("https://token@host:443/x"), UrlError::Credentials);
        assert_eq!(err("http://u:p w@host"), UrlError::Credentials);
        assert_eq!(err("http://"), UrlError::NoHost);
        assert_eq!(err("http:///x"), UrlError::NoHost);
        assert_eq!(err("http://:80"), UrlError::NoHost);
        for port in ["0", "65536", "99999999999", "", "9x", "-1"] {
            assert_eq!(
                err(&format!("http://h:{port}/")),
                UrlError::Port(port.into()),
                "{port}"
            );
        }
        assert!(
            !UrlError::Credentials.to_string().contains("S3cret"),
            "the message never quotes the URL"
        );
    }
}
