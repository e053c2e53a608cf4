//! The simulator's TLS: a certificate it makes for itself (in memory, for
//! `localhost` and `127.0.0.1`) and a rustls acceptor offering HTTP/2 and
//! HTTP/1.1 by ALPN, or HTTP/1.1 alone (a server without HTTP/2).
//!
//! The gateway's own TLS listener (`src/edge/tls.rs`) reads its certificate
//! from files an operator provides; this one never touches the disk unless
//! asked to write the certificate out for a client to trust. The simulator
//! does not depend on the gateway, so the few lines they share in spirit are
//! not shared in code.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the certificate is for.
const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Which protocols the TLS listener offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alpn {
    /// `h2`, then `http/1.1`: clients that speak HTTP/2 multiplex on one connection.
    #[default]
    H2AndHttp1,
    /// `http/1.1` only, as a server without HTTP/2.
    Http1Only,
}

impl Alpn {
    fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::H2AndHttp1 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Alpn::Http1Only => vec![b"http/1.1".to_vec()],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimTlsError {
    #[error("cannot make the simulator's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("simulator TLS configuration: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
}

/// A self-signed certificate and the acceptor that presents it.
#[derive(Clone)]
pub struct SimTls {
    acceptor: TlsAcceptor,
    cert_pem: String,
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTls").finish_non_exhaustive()
    }
}

impl SimTls {
    /// A fresh certificate for `localhost` and `127.0.0.1`, offering `alpn`.
    pub fn generate(alpn: Alpn) -> Result<Self, SimTlsError> {
        let made = rcgen::generate_simple_self_signed(NAMES.map(String::from).to_vec())?;
        let cert_pem = made.cert.pem();
        let chain = vec![CertificateDer::from(made.cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = alpn.protocols();
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_pem,
        })
    }

    /// The certificate (PEM): what a client adds to its trust store.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
