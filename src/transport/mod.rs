//! Transports: each renders the session log for one kind of client and
//! exposes one `router()`; `crate::app` merges them.
//!
//! - `sse`: `POST /v1/stream` (SSE or `text/plain`) and `GET /v1/sessions/{id}/stream`.
//! - `ws`: `GET /v1/ws` and the `@connections` management API.
//! - `graphql`: `/graphql` queries, mutations and subscriptions (AppSync-compatible schema).
//! - `openai`: `POST /v1/chat/completions` (chat) and `/v1/responses` (the Responses API).
//! - `anthropic`: Anthropic's Messages API (`POST /v1/messages`).
//! - `ai_sdk`: the Vercel AI SDK's UI message stream, over SSE and WebSocket.
//! - `sessions`: session status and cancel, `GET /v1/models`.
//! - `web`: the browser chat UI and its public config.
//! - `ops`: health, readiness, metrics, dev-mode JWKS and sign-in.

pub mod ai_sdk;
pub mod anthropic;
pub mod graphql;
pub mod openai;
pub mod ops;
pub mod sessions;
pub mod sse;
pub mod web;
pub mod ws;
