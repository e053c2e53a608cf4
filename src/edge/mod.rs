//! The edge: what every connection and request passes before a route.
//!
//! - `listener`: global and per-IP connection caps at accept time.
//! - `layers`: security headers, CORS, WebSocket `Origin` checks, per-IP
//!   request rate limiting, timeouts for non-streaming routes.

pub mod layers;
pub mod listener;

pub use layers::EdgeConfig;
pub use listener::{CappedListener, ConnectionCaps};
