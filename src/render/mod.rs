//! Renderings of the session log that more than one transport speaks,
//! below them so no transport imports another.
//!
//! - [`anthropic`]: Anthropic Messages stream events and the whole `message`
//!   (`/v1/messages`, and Claude bodies on the Bedrock runtime API), with
//!   Anthropic's error types.
//! - [`sse`]: Server-Sent Events framing, and the response every SSE route
//!   streams through (one heartbeat rule).

pub mod anthropic;
pub mod sse;
