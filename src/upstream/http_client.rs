//! The HTTP client under the Bedrock SDK client: the SDK's own HTTP/2-aware
//! connection pool (`aws_smithy_http_client::pool`), so streams to one
//! endpoint share a connection where the server offers `h2` by ALPN, and
//! HTTP/1.1 (a connection per concurrent stream) where it does not.
//!
//! Why not the SDK's default client: it offers `h2` by ALPN too, but it is
//! hyper-util's legacy pool, which learns a connection is HTTP/2 only after
//! the handshake. A burst of N first requests dials N TLS connections and
//! then throws all but one away. The newer pool establishes one HTTP/2
//! connection per origin and lets every waiting request join it; but it,
//! too, dials once per waiting request before ALPN tells it the origin
//! speaks HTTP/2 (measured: 50 connections for a cold burst of 50), which
//! `cold_gate` holds back.

use std::path::Path;
use std::sync::Arc;

use aws_smithy_http_client::pool::{Client, ConnectionEvent, ConnectionPool};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use tokio_rustls::rustls::RootCertStore;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

use super::cold_gate::ColdGate;

/// Which certificates the client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The system's roots, and these PEM certificates besides (real Bedrock,
    /// or an endpoint behind a private CA).
    SystemAnd(Vec<String>),
    /// Only this PEM certificate (the simulator's own, in local mode).
    Only(String),
}

#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("upstream CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("upstream certificate: {0}")]
    Certificate(String),
    #[error("upstream HTTP client: {0}")]
    Build(String),
}

/// Read a PEM bundle to trust, checked whole (the SDK would panic on a bad
/// one when it first connects).
pub fn read_ca_file(path: &Path) -> Result<String, HttpClientError> {
    let ca_err = |reason: String| HttpClientError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read_to_string(path).map_err(|e| ca_err(e.to_string()))?;
    check_pem(&pem).map_err(|e| ca_err(e.to_string()))?;
    Ok(pem)
}

/// At least one certificate, each usable as a trust anchor.
fn check_pem(pem: &str) -> Result<(), HttpClientError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HttpClientError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(HttpClientError::Certificate(
            "no CERTIFICATE block".to_owned(),
        ));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| HttpClientError::Certificate(e.to_string()))?;
    }
    Ok(())
}

/// A pooled client trusting `trust`; `proxy` from the environment
/// (`HTTPS_PROXY`, `NO_PROXY`…) for real Bedrock, never for the simulator.
/// `gate` hears the pool's connection events.
pub(crate) fn pooled(
    trust: Trust,
    proxy_from_env: bool,
    gate: Arc<ColdGate>,
) -> Result<Client, HttpClientError> {
    let store = match trust {
        Trust::SystemAnd(extra) => {
            let mut store = TrustStore::default();
            for pem in extra {
                check_pem(&pem)?;
                store.add_pem_certificate(pem.into_bytes());
            }
            store
        }
        Trust::Only(pem) => {
            check_pem(&pem)?;
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem.into_bytes())
        }
    };
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .map_err(|e| HttpClientError::Build(e.to_string()))?;
    let proxy = if proxy_from_env {
        ProxyConfig::from_env()
    } else {
        ProxyConfig::disabled()
    };
    let pool = ConnectionPool::builder()
        .proxy_config(proxy)
        .event_listener(move |event: &ConnectionEvent<'_>| gate.on_event(event))
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
        .map_err(|e| HttpClientError::Build(e.to_string()))?;
    Client::new(&pool).map_err(|e| HttpClientError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn garbage_and_empty_bundles_are_refused_before_the_sdk_sees_them() {
        assert!(check_pem("not pem").is_err());
        assert!(check_pem("").is_err());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = read_ca_file(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        let tls = spillway_sim::SimTls::generate(spillway_sim::Alpn::H2AndHttp1).unwrap();
        check_pem(tls.cert_pem()).unwrap();
        let gate = Arc::new(ColdGate::default());
        pooled(
            Trust::Only(tls.cert_pem().to_owned()),
            false,
            Arc::clone(&gate),
        )
        .unwrap();
        pooled(Trust::SystemAnd(Vec::new()), true, gate).unwrap();
    }
}
