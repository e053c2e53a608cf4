//! Anthropic's Messages API, rendered from the session log.
//!
//! # Layout
//!
//! - [`events`]: session events as Anthropic streaming events, and the whole
//!   answer as one `message` object.
//! - [`error`]: Anthropic's error shape and types, from the gateway's codes.

pub mod error;
pub mod events;
