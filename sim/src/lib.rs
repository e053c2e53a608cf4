//! The Bedrock simulator: the other side of the wire.
//!
//! It answers `InvokeModelWithResponseStream` and `ConverseStream` in
//! Bedrock's own wire format (HTTP + `application/vnd.amazon.eventstream`)
//! so that the real SDKs decode it, shapes chunks per model family, and
//! plays scenarios selected by a `[[sim …]]` directive in the prompt. It
//! answers `InvokeModel` and `Converse` with the same answers collected, and
//! lists its model table as `ListFoundationModels` and `ListInferenceProfiles`.
//!
//! It shares no code with the gateway's upstream client, and that is a
//! compile fact: this crate does not depend on the gateway (`spillway`). The
//! gateway runs it embedded (`--upstream sim`, the local mode) or on its own
//! (`spillway sim`); tests and fuzz targets drive [`router`] or [`serve`].
//!
//! # Layout
//!
//! - `routes`: the HTTP handlers (streams, whole answers, listings); [`router`]
//!   maps the paths to them.
//! - `model`: model ids (ARNs, cross-region prefixes) → model family.
//! - `catalog`: the model table — names, providers, output-token ceilings.
//! - `body`: request-body accessors with Bedrock's validation messages.
//! - `parts`: what a request carries besides text (tools, attachments, tool
//!   results, replayed reasoning, citable documents), read from Claude's and
//!   Converse's blocks.
//! - `attachments`: image magic numbers and sizes, documents, their lines.
//! - `signature`: reasoning signatures, issued and checked.
//! - `families`: per-family request parsing, chunk shapes and whole responses (InvokeModel).
//! - `converse`: Converse requests, stream events and whole responses.
//! - `directive`: the `[[sim …]]` scenario directive.
//! - `guardrail`: the request's guardrail and what an intervention adds to a stream.
//! - `answer`: the answer's content blocks (reasoning, text, tool calls).
//! - `collect`: an answer walked to its end and kept whole (non-streaming).
//! - `listing`: the control-plane listings drawn from `catalog`.
//! - `schema_input`: a tool call's input, built from its JSON Schema.
//! - `stream`: the paced generator, one stream's frames over time.
//! - `text`: deterministic prose, split into tokens.
//! - `wire`: event-stream frames and pre-stream errors.
//! - `throttle`: the `throttle=K` scenario's memory.
//! - `cache`: prompt-cache points, and the memory of prefixes seen.
//! - `stats`: counters and the `GET /sim/stats` snapshot ([`SimStats`]).
//! - `recorded`: the last request bodies, served by `GET /sim/requests`.
//! - `auth_scheme`: which credentials each request carried (`authSchemes`).
//! - `tls`, `serve_tls`: the TLS listener ([`serve_tls`]) with a certificate
//!   the simulator makes ([`SimTls`]), HTTP/2 or HTTP/1.1 by ALPN.

mod answer;
mod attachments;
mod auth_scheme;
mod body;
mod cache;
mod call_options;
mod catalog;
mod collect;
mod converse;
mod directive;
mod families;
mod guardrail;
mod listing;
mod model;
mod parts;
mod recorded;
mod routes;
mod schema_input;
mod serve_tls;
mod signature;
mod stats;
mod stream;
mod text;
mod throttle;
mod tls;
mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio_util::sync::CancellationToken;

pub use serve_tls::serve_tls;
pub use stats::{AuthSchemes, HttpVersions, SimStats};
pub use tls::{Alpn, SimTls, SimTlsError};

use stats::Counters;
use throttle::ThrottleGate;

/// The simulator's shared state: counters, throttle memory and the prompt cache. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SimState {
    inner: Arc<Inner>,
    /// Cancelled when the server stops; aborts streams still running.
    halt: CancellationToken,
}

#[derive(Debug, Default)]
struct Inner {
    counters: Arc<Counters>,
    throttle: ThrottleGate,
    cache: cache::PromptCache,
    recorded: recorded::Recorded,
}

impl SimState {
    /// Fresh state with every counter at zero.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner::default()),
            halt: CancellationToken::new(),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SimStats {
        self.inner.counters.snapshot()
    }
}

impl Default for SimState {
    fn default() -> Self {
        Self::new()
    }
}

/// The largest request body read: images and documents travel base64 in the body.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The simulator's routes.
pub fn router(state: SimState) -> Router {
    Router::new()
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(routes::invoke_stream),
        )
        .route(
            "/model/{model_id}/converse-stream",
            post(routes::converse_stream),
        )
        .route("/model/{model_id}/invoke", post(routes::invoke))
        .route("/model/{model_id}/converse", post(routes::converse))
        .route("/model/{model_id}/count-tokens", post(routes::count_tokens))
        .route("/foundation-models", get(routes::foundation_models))
        .route("/inference-profiles", get(routes::inference_profiles))
        .route("/sim/stats", get(routes::stats))
        .route("/sim/requests", get(routes::requests))
        .fallback(routes::unknown_operation)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth_scheme::count,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_version,
        ))
        .with_state(state)
}

/// Counts every request but the `/sim/` ones by its HTTP version
/// (`httpVersions` in `/sim/stats`): reading the counters does not move them.
async fn count_version(State(state): State<SimState>, request: Request, next: Next) -> Response {
    if !auth_scheme::is_sim_path(request.uri().path()) {
        state.inner.counters.request(request.version());
    }
    next.run(request).await
}

/// Serve on an already-bound listener until `shutdown` is cancelled.
///
/// Cancelling `shutdown` stops accepting connections and aborts the streams
/// still running (stalled ones included), so the server stops promptly.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: SimState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = SimState {
        halt: shutdown.child_token(),
        ..state
    };
    let counters = Arc::clone(&state.inner.counters);
    let listener = listener.tap_io(move |tcp| {
        counters.connection_accepted();
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::trace!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
