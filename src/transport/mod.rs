//! Transports: each renders the session log for one kind of client and
//! exposes one `router()`; `crate::app` merges them.
//!
//! - `sse`: `POST /v1/stream` (SSE or `text/plain`) and `GET /v1/sessions/{id}/stream`.
//! - `ws`: `GET /v1/ws` and the `@connections` management API.
//! - `sessions`: session status and cancel.
//! - `ops`: health, readiness, dev-mode JWKS and sign-in.

pub mod ai_sdk;
pub mod graphql;
pub mod openai;
pub mod ops;
pub mod sessions;
pub mod sse;
pub mod web;
pub mod ws;
