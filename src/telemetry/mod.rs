//! Telemetry: logs, and OpenTelemetry traces of sessions.
//!
//! - `logs`: `tracing` to stderr (text or JSON) and request spans.
//! - `failures`: which responses the request trace logs as failures (not a
//!   probe's `503`).
//! - `otel`: the OTLP trace exporter, configured from the standard `OTEL_*`
//!   variables; off (and free) unless an OTLP endpoint is set.
//! - `trace_context`: an incoming W3C `traceparent`, captured once below
//!   the transports (an HTTP layer; a socket's upgrade request).
//! - `session_span`: the one span of a session (`chat MODEL`).
//! - `gen_ai_metrics`: the GenAI client metrics each session records
//!   (token usage, operation duration), exported like the traces.

pub mod failures;
pub mod gen_ai_metrics;
pub mod logs;
pub mod otel;
pub mod session_span;
pub mod trace_context;

pub use logs::{init, request_span};
pub use session_span::SessionSpan;
