//! The edge: what every connection and request passes before a route.
//!
//! - `listener`: global and per-IP connection caps at accept time.
//! - `descriptors`: the descriptor limit raised at start, the caps fitted under it.
//! - `http`: the server loop (HTTP/1.1 and HTTP/2, over TLS or not), its
//!   timeouts and graceful stop.
//! - `head_timer`: the HTTP/1.1 header-read and keep-alive idle clock.
//! - `activity`: a connection's requests in flight; its first-request and
//!   HTTP/2 idle deadlines.
//! - `tls`: rustls with ALPN `h2` and `http/1.1` from PEM files.
//! - `self_signed`: `SPILLWAY_TLS=self-signed`, a certificate kept in the data dir.
//! - `client_ip`: the client's address (`SPILLWAY_TRUSTED_PROXIES`, `X-Forwarded-For`).
//! - `layers`: security headers, CORS, WebSocket `Origin` checks, per-IP
//!   request rate limiting, timeouts for non-streaming routes.
//! - `request_body`: whether a request still waits on its client's body
//!   (the timeout's `408` rather than `504`).

pub mod activity;
pub mod client_ip;
pub mod descriptors;
pub mod head_timer;
pub mod http;
pub mod layers;
pub mod listener;
mod request_body;
pub mod self_signed;
pub mod tls;

pub use client_ip::{ClientIp, ProxyRange, TrustedProxies};
pub use http::HttpTimeouts;
pub use layers::EdgeConfig;
pub use listener::{Admission, CappedListener, ConnectionCaps, bind_port};
