//! How secrets are kept out of what canary prints: one marker, written in
//! place of every secret, by every crate.

/// What a secret is replaced with in messages, logs and `Debug` output.
pub const REDACTED: &str = "<redacted>";

/// `text` with every occurrence of `secret` (when not empty) replaced by
/// [`REDACTED`].
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_replaced_and_empty_secrets_change_nothing() {
        assert_eq!(redact("a s3 b s3", "s3"), "a <redacted> b <redacted>");
        assert_eq!(redact("plain", ""), "plain");
    }
}
