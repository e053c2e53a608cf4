//! Counters the simulator keeps and the `GET /sim/stats` snapshot of them.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the simulator's counters, as served by `GET /sim/stats`.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimStats {
    /// Streams answered with `200` and begun.
    pub streams_started: u64,
    /// Streams whose final frame was written and whose body ended normally.
    pub streams_completed: u64,
    /// Streams the client abandoned before they ended.
    pub streams_cancelled: u64,
    /// Text tokens written, over all streams.
    pub tokens_sent: u64,
    /// Requests refused with `ThrottlingException` by a `throttle=K` directive.
    pub throttled: u64,
    /// What each request to the runtime and listing routes carried (not `/sim/stats`).
    pub auth_schemes: AuthSchemes,
    /// Connections accepted, on every listener (plain and TLS).
    pub connections: u64,
    /// Requests answered, by the HTTP version they came in on.
    pub http_versions: HttpVersions,
}

/// Requests by the credentials they carried (see `auth_scheme`).
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthSchemes {
    /// Signed with SigV4 (`Authorization: AWS4-HMAC-SHA256 …`, or a presigned query).
    pub sigv4: u64,
    /// `Authorization: Bearer …` (a Bedrock API key).
    pub bearer: u64,
    /// Neither: no `Authorization` header, or one of another scheme.
    pub none: u64,
}

/// Requests by HTTP version: `{"HTTP/1.1": n, "HTTP/2": n}`.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpVersions {
    /// HTTP/1.0 and HTTP/1.1.
    #[serde(rename = "HTTP/1.1")]
    pub http1: u64,
    #[serde(rename = "HTTP/2")]
    pub http2: u64,
}

/// The live counters behind [`SimStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    streams_started: AtomicU64,
    streams_completed: AtomicU64,
    streams_cancelled: AtomicU64,
    tokens_sent: AtomicU64,
    throttled: AtomicU64,
    auth_sigv4: AtomicU64,
    auth_bearer: AtomicU64,
    auth_none: AtomicU64,
    connections: AtomicU64,
    http1_requests: AtomicU64,
    http2_requests: AtomicU64,
}

impl Counters {
    pub(crate) fn stream_started(&self) {
        self.streams_started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_completed(&self) {
        self.streams_completed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_cancelled(&self) {
        self.streams_cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn token_sent(&self) {
        self.tokens_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tokens_sent(&self, n: u32) {
        self.tokens_sent.fetch_add(u64::from(n), Ordering::Relaxed);
    }

    pub(crate) fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn auth_scheme(&self, scheme: crate::auth_scheme::AuthScheme) {
        use crate::auth_scheme::AuthScheme;
        let counter = match scheme {
            AuthScheme::Sigv4 => &self.auth_sigv4,
            AuthScheme::Bearer => &self.auth_bearer,
            AuthScheme::None => &self.auth_none,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_accepted(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// One request, counted by its HTTP version.
    pub(crate) fn request(&self, version: axum::http::Version) {
        let counter = if version == axum::http::Version::HTTP_2 {
            &self.http2_requests
        } else {
            &self.http1_requests
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SimStats {
        SimStats {
            streams_started: self.streams_started.load(Ordering::Relaxed),
            streams_completed: self.streams_completed.load(Ordering::Relaxed),
            streams_cancelled: self.streams_cancelled.load(Ordering::Relaxed),
            tokens_sent: self.tokens_sent.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            auth_schemes: AuthSchemes {
                sigv4: self.auth_sigv4.load(Ordering::Relaxed),
                bearer: self.auth_bearer.load(Ordering::Relaxed),
                none: self.auth_none.load(Ordering::Relaxed),
            },
            connections: self.connections.load(Ordering::Relaxed),
            http_versions: HttpVersions {
                http1: self.http1_requests.load(Ordering::Relaxed),
                http2: self.http2_requests.load(Ordering::Relaxed),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_serialises_with_camel_case_names() {
        let c = Counters::default();
        c.stream_started();
        c.token_sent();
        c.token_sent();
        c.throttled();
        c.auth_scheme(crate::auth_scheme::AuthScheme::Bearer);
        c.connection_accepted();
        c.request(axum::http::Version::HTTP_11);
        c.request(axum::http::Version::HTTP_2);
        c.request(axum::http::Version::HTTP_2);
        let json = serde_json::to_value(c.snapshot()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "streamsStarted": 1, "streamsCompleted": 0, "streamsCancelled": 0,
                "tokensSent": 2, "throttled": 1, "connections": 1,
                "authSchemes": {"sigv4": 0, "bearer": 1, "none": 0},
                "httpVersions": {"HTTP/1.1": 1, "HTTP/2": 2}
            })
        );
    }
}
