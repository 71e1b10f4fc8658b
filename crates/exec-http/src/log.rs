//! What the client logs: one line per attempt, its headers with the
//! secrets redacted. Bodies are never logged.

use crate::client::Reply;
use canary_core::redact::REDACTED;
use canary_core::retry::Attempt;
use std::fmt;
use std::time::Duration;

/// Headers that carry secrets: their values are shown as [`REDACTED`].
const SECRET_HEADERS: [&str; 3] = ["authorization", "cookie", "set-cookie"];

/// Request headers, `name: value` separated by `, `, with the values of
/// [`SECRET_HEADERS`] redacted.
pub(crate) struct RedactedHeaders<'a>(pub(crate) &'a ureq::http::HeaderMap);

impl fmt::Display for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            let name = name.as_str();
            if SECRET_HEADERS.contains(&name) {
                write!(f, "{name}: {REDACTED}")?;
            } else {
                write!(f, "{name}: {}", value.to_str().unwrap_or("<binary>"))?;
            }
        }
        Ok(())
    }
}

/// Logs one attempt's outcome at `info` (failures to get an answer at
/// `warn`); the outcome's messages are already scrubbed of secrets.
pub(crate) fn attempt(
    method: &str,
    url: &str,
    attempt: u32,
    elapsed: Duration,
    outcome: &Attempt<Reply>,
) {
    let elapsed_ms = elapsed.as_millis() as u64;
    match outcome {
        Attempt::Done(reply) => tracing::info!(
            method,
            url,
            attempt,
            status = reply.status,
            elapsed_ms,
            "request"
        ),
        Attempt::Transient(failure) => tracing::warn!(
            method,
            url,
            attempt,
            elapsed_ms,
            error = %failure.message,
            "request failed"
        ),
        Attempt::Fatal(error) => tracing::warn!(
            method,
            url,
            attempt,
            elapsed_ms,
            error = %error,
            "request failed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_redacted() {
        let mut headers = ureq::http::HeaderMap::new();
        headers.insert("accept", "application/json".parse().unwrap());
        headers.insert("authorization", "token=s3cr3t".parse().unwrap());
        let shown = RedactedHeaders(&headers).to_string();
        assert_eq!(shown, "accept: application/json, authorization: <redacted>");
    }
}
