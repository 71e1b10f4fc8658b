//! Syntax check of container image references, following the grammar of the
//! Docker distribution reference (`[host[:port]/]path[:tag][@digest]`).

/// Why an image reference is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The reference is empty.
    #[error("is empty")]
    Empty,
    /// It holds a character no image reference can hold (whitespace, quotes,
    /// shell metacharacters, control characters, ...).
    #[error(
        "contains {what} at byte {at}; an image reference is [host[:port]/]name[:tag][@digest]"
    )]
    ForbiddenChar {
        /// A description of the character.
        what: String,
        /// Its byte offset.
        at: usize,
    },
    /// The registry host part is malformed.
    #[error("registry '{0}' is not a valid host[:port]")]
    BadRegistry(String),
    /// The registry's port is 0 or above 65535.
    #[error("registry '{0}' has a port out of range: a port is 1 to 65535")]
    BadRegistryPort(String),
    /// A repository path component is malformed.
    #[error(
        "path component '{0}' is invalid: components are lowercase letters and digits, \
         separated by '.', '_', '__' or hyphens"
    )]
    BadPathComponent(String),
    /// The tag is malformed.
    #[error("tag '{0}' is invalid: 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'")]
    BadTag(String),
    /// The digest is malformed.
    #[error("digest '{0}' is invalid: expected ALGORITHM:HEX with at least 32 hex digits")]
    BadDigest(String),
    /// The repository name is longer than 255 characters.
    #[error("repository name is {0} characters long; the limit is 255")]
    TooLong(usize),
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\n' => "a newline".into(),
        '\t' => "a tab".into(),
        '"' => "a double quote".into(),
        '\'' => "a single quote".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("'{c}'"),
    }
}

fn is_domain_component(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The port of a registry `host:port` or `[v6]:port`, when it has one made
/// of digits.
fn registry_port(s: &str) -> Option<&str> {
    let port = match s.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':')?,
        None => s.split_once(':')?.1,
    };
    port.bytes().all(|b| b.is_ascii_digit()).then_some(port)
}

/// Whether a port of digits is one a registry can listen on (1 to 65535).
fn port_in_range(port: &str) -> bool {
    port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

fn is_registry(s: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit());
    if let Some(rest) = s.strip_prefix('[') {
        // An IPv6 literal: [addr] or [addr]:port.
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        let inner_ok =
            !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
        return inner_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    port.is_none_or(port_ok) && host.split('.').all(is_domain_component)
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_tag(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if word(c))
        && s.len() <= 128
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

fn is_digest(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let algo_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    algo_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// Checks the syntax of an image reference such as `httpd`,
/// `registry.example.com:5000/team/web:1.2` or `nginx@sha256:…`.
///
/// ```
/// use canary_core::validate_image;
/// assert!(validate_image("mesosphere/marathon-lb:v1.14.2").is_ok());
/// assert!(validate_image("httpd; rm -rf /").is_err());
/// ```
pub fn validate_image(image: &str) -> Result<(), ImageError> {
    if image.is_empty() {
        return Err(ImageError::Empty);
    }
    if let Some((at, c)) = image.char_indices().find(|&(_, c)| {
        !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '[' | ']'))
    }) {
        return Err(ImageError::ForbiddenChar {
            what: describe(c),
            at,
        });
    }
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(digest) = digest
        && !is_digest(digest)
    {
        return Err(ImageError::BadDigest(digest.to_owned()));
    }
    // A tag is a ':' after the last '/' (a ':' before it belongs to a registry port).
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(&name_and_tag[last_slash + i + 1..]),
        ),
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag
        && !is_tag(tag)
    {
        return Err(ImageError::BadTag(tag.to_owned()));
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // Docker's rule: the first component is a registry when it has a '.' or
    // ':', is 'localhost', or has uppercase letters, and more components follow.
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':', '['])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase())
        {
            if !is_registry(first) {
                return Err(ImageError::BadRegistry(first.to_owned()));
            }
            if registry_port(first).is_some_and(|p| !port_in_range(p)) {
                return Err(ImageError::BadRegistryPort(first.to_owned()));
            }
            components.remove(0);
        }
    }
    if let Some(bad) = components.iter().find(|c| !is_path_component(c)) {
        return Err(ImageError::BadPathComponent((*bad).to_owned()));
    }
    if name.len() > 255 {
        return Err(ImageError::TooLong(name.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_references() {
        for ok in [
            "httpd",
            "nginx:1.19",
            "brndnmtthws/nginx-echo-sleep",
            "mesosphere/marathon-lb:v1.14.2",
            "bitnami/nginx:1.10.2-r0",
            "registry.example.com:5000/team/web:2024.01.02",
            "localhost/app",
            "localhost:5000/a__b/c-d.e:latest",
            "[::1]:5000/app:1",
            "[fe80::1]/app",
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b:t@sha256:0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(validate_image(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_references() {
        let err = |s: &str| validate_image(s).unwrap_err();
        assert_eq!(err(""), ImageError::Empty);
        assert!(
            matches!(err("a b"), ImageError::ForbiddenChar { what, at: 1 } if what == "a space")
        );
        assert!(
            matches!(err("a\nb"), ImageError::ForbiddenChar { what, .. } if what == "a newline")
        );
        assert!(matches!(err("a\"b"), ImageError::ForbiddenChar { .. }));
        assert!(matches!(err("httpd;ls"), ImageError::ForbiddenChar { what, .. } if what == "';'"));
        assert!(matches!(err("$(id)"), ImageError::ForbiddenChar { .. }));
        assert!(matches!(err("a`b`"), ImageError::ForbiddenChar { .. }));
        assert_eq!(err("Httpd"), ImageError::BadPathComponent("Httpd".into()));
        assert_eq!(err("a/-b"), ImageError::BadPathComponent("-b".into()));
        assert_eq!(err("a//b"), ImageError::BadPathComponent("".into()));
        assert_eq!(err("a:"), ImageError::BadTag("".into()));
        assert_eq!(err("a:.x"), ImageError::BadTag(".x".into()));
        assert_eq!(
            err("a@sha256:12"),
            ImageError::BadDigest("sha256:12".into())
        );
        assert_eq!(
            err("bad_host.:5000/a"),
            ImageError::BadRegistry("bad_host.:5000".into())
        );
        assert_eq!(
            err("host:99x/a"),
            ImageError::BadRegistry("host:99x".into())
        );
        assert!(matches!(err(&"a".repeat(256)), ImageError::TooLong(256)));
        for port in ["0", "65536", "99999", "00000"] {
            let image = format!("registry.example.com:{port}/web:1");
            assert_eq!(
                err(&image),
                ImageError::BadRegistryPort(format!("registry.example.com:{port}")),
                "{image}"
            );
        }
        assert_eq!(
            err("[::1]:0/app"),
            ImageError::BadRegistryPort("[::1]:0".into())
        );
        assert_eq!(validate_image("r.example.com:65535/web:1"), Ok(()));
        assert_eq!(validate_image("r.example.com:1/web:1"), Ok(()));
    }
}
