//! The edge: what every connection and request passes before a route.
//!
//! - `listener`: global and per-IP connection caps at accept time.
//! - `descriptors`: the descriptor limit raised at start, the caps fitted under it.
//! - `http`: the HTTP/1.1 server loop, its header-read and keep-alive idle timeouts.
//! - `client_ip`: the client's address (`SPILLWAY_TRUSTED_PROXIES`, `X-Forwarded-For`).
//! - `layers`: security headers, CORS, WebSocket `Origin` checks, per-IP
//!   request rate limiting, timeouts for non-streaming routes.

pub mod client_ip;
pub mod descriptors;
pub mod http;
pub mod layers;
pub mod listener;

pub use client_ip::{ClientIp, ProxyRange, TrustedProxies};
pub use http::HttpTimeouts;
pub use layers::EdgeConfig;
pub use listener::{CappedListener, ConnectionCaps};
