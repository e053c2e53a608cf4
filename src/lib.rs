//! Spillway: one binary that streams Amazon Bedrock output over SSE,
//! WebSocket and GraphQL, fed by one shared fan-out per invocation.
//!
//! # Layout
//!
//! The data flow is `transport → auth → hub → upstream`, and back as `TokenEvent`s:
//!
//! - [`config`]: the one `Config`, from flags and `SPILLWAY_*` env vars.
//! - [`server`]: builds the state from a config, serves, drains on shutdown.
//! - [`state`]: `AppState`, the handles every route shares.
//! - [`edge`]: the HTTP server loop and its timeouts, connection caps under the
//!   descriptor limit, the client address, rate limits, CORS, origin checks, security headers.
//! - [`transport`]: one module per client protocol, each with its `router()`.
//! - [`socket`]: the one WebSocket driver under `/v1/ws`, `/v1/ai-sdk/ws` and
//!   `/graphql`: admission, registry, limits, deadlines, pings, drain.
//! - [`auth`]: JWT verification (Cognito or dev key), the `Principal` extractor.
//! - [`request`]: the stream request every transport accepts, validated.
//! - [`registry`]: where connections are recorded (memory; DynamoDB for a fleet).
//! - [`cluster`]: the fleet: node heartbeats, cross-node relay, internal routes.
//! - [`hub`]: sessions, their append-only logs, subscriber cursors, cancellation,
//!   the one session lookup (`Hub::find` with an explicit `Access`).
//! - [`upstream`]: Bedrock through the real SDK; model-family adapters.
//! - [`metrics`]: Prometheus metrics.
//! - [`cost`]: the price table per model, and what a session cost.
//! - [`event`]: the `TokenEvent` every transport carries.
//! - [`render`]: renderings two transports share (Anthropic's events: `/v1/messages` and the Bedrock API).
//! - [`parts`]: conversations with parts: request content, tools, answer blocks (reasoning, tool calls).
//! - [`error`]: every error code in one `ErrorCode` table; API errors and their HTTP rendering.
//! - [`http`]: JSON bodies, path parameters and stream headers every HTTP transport shares.
//! - [`telemetry`]: logs and request spans; OpenTelemetry session spans (OTLP).
//! - `woken`: waits a task polls only after they woke it (cancel, timers), not on every token.
//!
//! The Bedrock simulator, the other side of the wire, is its own crate
//! ([`spillway_sim`], `sim/`) and does not depend on this one: it shares no
//! code with [`upstream`]. [`server`] embeds it for `--upstream sim`.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod cost;
pub mod edge;
pub mod error;
pub mod event;
pub mod http;
pub mod hub;
mod local_sim;
pub mod metrics;
pub mod parts;
pub mod registry;
pub mod render;
pub mod request;
pub mod server;
pub mod socket;
pub mod state;
pub mod telemetry;
pub mod transport;
pub mod upstream;
mod woken;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use state::AppState;

/// The whole HTTP surface. Tests build the same app the binary serves.
///
/// Every route needs a valid token (`auth::gate`) except an explicit open
/// list (probes, metrics, the web client's assets, dev sign-in, GraphiQL and
/// the GraphQL upgrade whose token comes in `connection_init`). The drop-in
/// Bedrock and Anthropic routes sit after the gate and require a token
/// through their own extractors, to refuse in their protocols' shapes.
pub fn app(state: AppState) -> Router {
    let body_limit = state.max_body_bytes;
    let edge = state.edge.clone();
    let routes = Router::new()
        .merge(transport::sse::router())
        .merge(transport::ws::router())
        .merge(transport::graphql::router())
        .merge(transport::sessions::router())
        .merge(transport::ops::router())
        .merge(transport::openai::router())
        .merge(transport::ai_sdk::router())
        .merge(transport::web::router())
        // No such route, or not this method: in the path's error shape
        // (OpenAI's on its routes and under `/v1/`).
        .fallback(error::shape::no_route)
        .method_not_allowed_fallback(error::shape::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::gate::require_token,
        ))
        // The drop-in APIs authenticate with the same verifier through their
        // own extractors, so a refusal comes in each protocol's own shape
        // (SDKs raise their own exception types): Bedrock's (SigV4 refused,
        // bearer only) and Anthropic's (`x-api-key` too).
        .merge(transport::bedrock::router())
        .merge(transport::anthropic::router())
        // Again for the routes merged since (it fills only fallbacks not set).
        .method_not_allowed_fallback(error::shape::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            edge::layers::check_declared_body,
        ))
        .with_state(state);
    let app = edge::layers::apply(routes, &edge);
    // An incoming `traceparent`, for the sessions this request starts (only
    // while traces are exported).
    let app = if telemetry::otel::enabled() {
        app.layer(axum::middleware::from_fn(telemetry::trace_context::capture))
    } else {
        app
    };
    app.layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            // Server errors are logged as failures, a probe's answer never.
            TraceLayer::new(telemetry::failures::ServerFailures)
                .make_span_with(telemetry::request_span),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The fleet-internal routes, served only on `SPILLWAY_INTERNAL_LISTEN`
/// (never by [`app`]); each still checks the cluster secret.
pub fn internal_app(state: AppState) -> Router {
    Router::new()
        .merge(cluster::internal::router())
        .fallback(|| async { error::ApiError::NotFound })
        .with_state(state)
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
}
