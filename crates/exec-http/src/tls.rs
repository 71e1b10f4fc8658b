//! How the executor checks the cluster's certificate on `https://` URLs:
//! against the default roots (Mozilla's, from webpki-roots), against a CA
//! bundle the user gives ([`CaBundle`]), or not at all ([`Tls::Insecure`],
//! only when asked). rustls with the `ring` provider does the work.

use bounded_read::{Limit, ReadError};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The largest CA bundle read (Mozilla's whole bundle is about 220 KiB).
pub const CA_BUNDLE_LIMIT: Limit = Limit::mib(1);

/// A CA bundle that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaCertError {
    /// The file could not be read, or is larger than [`CA_BUNDLE_LIMIT`].
    #[error("cannot read the CA certificate file {origin}: {source}")]
    Read {
        /// The file, as given.
        origin: String,
        /// What went wrong.
        source: ReadError,
    },
    /// The text holds no `-----BEGIN CERTIFICATE-----` block.
    #[error(
        "the CA certificate file {origin} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    )]
    NoCertificate {
        /// The file, as given.
        origin: String,
    },
    /// A PEM block or the certificate in it is malformed.
    #[error("the CA certificate file {origin} holds an invalid certificate: {message}")]
    Invalid {
        /// The file, as given.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl CaCertError {
    /// Whether the file could not be read at all (rather than read and
    /// found wanting: too large, or no valid certificate).
    pub fn is_io(&self) -> bool {
        matches!(self, CaCertError::Read { source, .. } if source.is_io())
    }
}

/// One or more CA certificates, parsed from PEM, that are the only trust
/// roots for the cluster's certificate.
#[derive(Clone)]
pub struct CaBundle {
    origin: String,
    certs: Arc<Vec<Certificate<'static>>>,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("origin", &self.origin)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

impl PartialEq for CaBundle {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin
            && self.certs.len() == other.certs.len()
            && self
                .certs
                .iter()
                .zip(other.certs.iter())
                .all(|(a, b)| a.der() == b.der())
    }
}

impl Eq for CaBundle {}

impl CaBundle {
    /// The certificates in `pem` (other PEM blocks, such as keys, are
    /// skipped); `origin` names where they came from in errors. Fails when
    /// there is none or one is malformed.
    pub fn from_pem(origin: &str, pem: &[u8]) -> Result<Self, CaCertError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let invalid = |message: String| CaCertError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let mut certs = Vec::new();
        for (index, der) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let der = der.map_err(|e| invalid(format!("PEM block {}: {e}", index + 1)))?;
            // The same parse rustls does when it builds the trust store,
            // which would otherwise drop a bad certificate silently.
            rustls::RootCertStore::empty()
                .add(der.clone())
                .map_err(|e| invalid(format!("certificate {}: {e}", index + 1)))?;
            certs.push(Certificate::from_der(der.as_ref()).to_owned());
        }
        if certs.is_empty() {
            return Err(CaCertError::NoCertificate {
                origin: origin.to_owned(),
            });
        }
        Ok(CaBundle {
            origin: origin.to_owned(),
            certs: Arc::new(certs),
        })
    }

    /// The certificates in the PEM file at `path` (at most
    /// [`CA_BUNDLE_LIMIT`]).
    pub fn from_file(path: &Path) -> Result<Self, CaCertError> {
        let origin = path.display().to_string();
        let pem = bounded_read::read_bytes(path, CA_BUNDLE_LIMIT).map_err(|source| {
            CaCertError::Read {
                origin: origin.clone(),
                source,
            }
        })?;
        Self::from_pem(&origin, &pem)
    }

    /// Where the certificates came from (the file, as given).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many certificates it holds (at least one).
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Always `false`: a bundle holds at least one certificate.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// How the cluster's TLS certificate is verified on `https://` URLs
/// (plain `http://` URLs are not affected).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Tls {
    /// Against the default trust roots (Mozilla's, built in).
    #[default]
    Verify,
    /// Against these CA certificates only (a cluster with its own CA, as
    /// DC/OS clusters usually have).
    CaCert(CaBundle),
    /// No verification at all: anyone in the path can read and change the
    /// traffic, token included. Only when the user asks for it.
    Insecure,
}

impl Tls {
    /// What the dcos CLI's `core.ssl_verify` asks for, its CA bundle (if
    /// it names one) loaded.
    pub fn from_ssl_verify(setting: &dcos_cli_config::SslVerify) -> Result<Tls, CaCertError> {
        use dcos_cli_config::SslVerify;
        Ok(match setting {
            SslVerify::Verify => Tls::Verify,
            SslVerify::DoNotVerify => Tls::Insecure,
            SslVerify::CaBundle(path) => Tls::CaCert(CaBundle::from_file(path)?),
        })
    }

    /// The ureq TLS configuration: rustls on `ring`.
    pub(crate) fn ureq_config(&self) -> TlsConfig {
        let builder = TlsConfig::builder()
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
        match self {
            Tls::Verify => builder.root_certs(RootCerts::WebPki),
            Tls::CaCert(bundle) => builder.root_certs(RootCerts::Specific(bundle.certs.clone())),
            Tls::Insecure => builder.disable_verification(true),
        }
        .build()
    }
}

/// A TLS handshake that failed.
pub(crate) enum Handshake {
    /// The server's certificate could not be verified against the roots.
    Untrusted(String),
    /// Anything else.
    Failed(String),
}

/// When `error` is a failed TLS handshake, which kind, and what the TLS
/// library said.
pub(crate) fn handshake_failure(error: &ureq::Error) -> Option<Handshake> {
    let rustls_error = match error {
        ureq::Error::Rustls(e) => e,
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
        ureq::Error::Tls(message) => {
            return Some(Handshake::Failed(format!(
                "the TLS handshake failed: {message}"
            )));
        }
        _ => return None,
    };
    Some(match rustls_error {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            Handshake::Untrusted(format!(
                "the server's TLS certificate could not be verified ({rustls_error})"
            ))
        }
        other => Handshake::Failed(format!("the TLS handshake failed: {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_or_with_a_broken_one_is_refused() {
        let err = CaBundle::from_pem("empty.pem", b"").unwrap_err();
        assert!(matches!(err, CaCertError::NoCertificate { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "the CA certificate file empty.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        );
        let key_only = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            CaBundle::from_pem("key.pem", key_only),
            Err(CaCertError::NoCertificate { .. })
        ));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = CaBundle::from_pem("bad.pem", garbage).unwrap_err();
        assert!(matches!(err, CaCertError::Invalid { .. }), "{err}");
        assert!(
            err.to_string().starts_with(
                "the CA certificate file bad.pem holds an invalid certificate: certificate 1"
            ),
            "{err}"
        );
        assert!(!err.is_io());
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let err = CaBundle::from_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.is_io());
        assert!(
            err.to_string()
                .starts_with("cannot read the CA certificate file /nonexistent/ca.pem: "),
            "{err}"
        );
    }

    #[test]
    fn ssl_verify_settings_map_to_tls() {
        use dcos_cli_config::SslVerify;
        assert_eq!(
            Tls::from_ssl_verify(&SslVerify::Verify).unwrap(),
            Tls::Verify
        );
        assert_eq!(
            Tls::from_ssl_verify(&SslVerify::DoNotVerify).unwrap(),
            Tls::Insecure
        );
        let missing = SslVerify::CaBundle("/nonexistent/dcos-ca.crt".into());
        let err = Tls::from_ssl_verify(&missing).unwrap_err();
        assert!(err.is_io() && err.to_string().contains("/nonexistent/dcos-ca.crt"));
    }

    #[test]
    fn the_default_verifies_against_the_built_in_roots() {
        assert_eq!(Tls::default(), Tls::Verify);
        let config = Tls::Verify.ureq_config();
        assert!(matches!(config.root_certs(), RootCerts::WebPki));
        assert!(!config.disable_verification());
        assert!(Tls::Insecure.ureq_config().disable_verification());
    }
}
