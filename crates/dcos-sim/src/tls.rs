//! HTTPS for the DC/OS port ([`crate::SimConfig::tls`]): at start, a fresh
//! self-signed CA and a leaf certificate for `127.0.0.1` and `localhost`
//! signed by it, served with rustls on the `ring` provider. Clients trust
//! the sim by trusting the CA ([`crate::SimHandle::ca_cert_pem`]); the keys
//! never leave the process.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The names the leaf certificate is valid for.
const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A server identity made for one run of the sim.
pub(crate) struct ServerTls {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    /// Accepts TLS connections with the leaf certificate.
    pub acceptor: TlsAcceptor,
}

fn failed(what: &str, error: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("cannot set up TLS: {what}: {error}"))
}

/// Makes the CA, the leaf certificate and the acceptor.
pub(crate) fn server_tls() -> io::Result<ServerTls> {
    let ca_key = KeyPair::generate().map_err(|e| failed("CA key", e))?;
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| failed("CA", e))?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "dcos-sim test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| failed("CA certificate", e))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().map_err(|e| failed("server key", e))?;
    let names = SERVER_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect::<Vec<_>>();
    let mut leaf_params = CertificateParams::new(names).map_err(|e| failed("server", e))?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "dcos-sim");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| failed("server certificate", e))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed("protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|e| failed("server configuration", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        ca_pem: ca_cert.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
