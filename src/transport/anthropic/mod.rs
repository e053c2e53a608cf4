//! Anthropic's Messages API, rendered from the session log:
//! `POST /v1/messages` (one `message`, or with `"stream": true` Anthropic's
//! SSE events) and `POST /v1/messages/count_tokens` (Bedrock's count for
//! Claude, else an estimate).
//!
//! Users pass their JWT as the SDK's API key (`x-api-key`) or auth token
//! (`Authorization: Bearer`); these routes check it themselves ([`auth`]),
//! so a refusal is in Anthropic's shape. Anthropic model names map to
//! Bedrock ids ([`models`]). For Claude, the client's own body goes upstream
//! ([`body`]); it is also read as the gateway's request ([`request`],
//! [`content`]) so the model allow-list, the limits and the part checks
//! apply. Other models are served through ConverseStream and rendered in the
//! same shapes ([`events`]). The session id comes back in `X-Session-Id`.
//!
//! # Layout
//!
//! - [`auth`]: the key from `x-api-key` or `Authorization: Bearer`.
//! - [`models`]: model names and aliases as Bedrock ids.
//! - [`request`]: the body's options, `tools`, `tool_choice`, `thinking`;
//!   [`content`]: `messages` and `system` as the gateway's turns and parts;
//!   [`system_messages`]: system messages among `messages`, folded into
//!   user turns first.
//! - [`body`]: the Claude body sent upstream, from the client's.
//! - [`events`]: session events as Anthropic streaming events, and the whole
//!   answer as one `message` object.
//! - [`stream`]: those events over SSE; [`complete`]: one `message`.
//! - [`count`]: `count_tokens`' estimate, where Bedrock cannot count.
//! - [`error`]: Anthropic's error shape and types, from the gateway's codes.

mod auth;
mod body;
mod complete;
mod content;
mod count;
pub mod error;
pub mod models;
mod request;
mod stream;
mod system_messages;

use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::http::{parse_json, stream_headers};
use crate::state::AppState;
use crate::upstream::CountInput;
use crate::upstream::models::ModelFamily;
use auth::Caller;
use error::{AnthropicError, bad};
use request::MessagesRequest;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        // Anthropic's APIs this gateway does not serve, refused in its shape
        // (else the gateway's own 404 would ask for a bearer token first).
        .route("/v1/messages/batches", any(not_served))
        .route("/v1/messages/batches/{*rest}", any(not_served))
        .route("/v1/files", any(not_served))
        .route("/v1/files/{*rest}", any(not_served))
        .layer(axum::middleware::from_fn(request_id))
}

/// Anthropic's `request-id` header (the SDKs' `request_id`, in their logs
/// and errors): the session's id, as `X-Session-Id` has it; else (an error,
/// `count_tokens`) the request's `x-request-id`.
async fn request_id(req: Request, next: Next) -> Response {
    let fallback = req.headers().get("x-request-id").cloned();
    let mut res = next.run(req).await;
    if let Some(id) = res.headers().get("x-session-id").cloned().or(fallback) {
        res.headers_mut().insert("request-id", id);
    }
    res
}

/// `404 not_found_error` for an Anthropic API the gateway does not serve.
async fn not_served(uri: axum::http::Uri) -> Response {
    let message = format!(
        "{} is not served by this gateway (it serves Anthropic's /v1/messages, /v1/messages/count_tokens and /v1/models, and OpenAI's /v1/chat/completions and /v1/responses; send files inline, as base64)",
        uri.path()
    );
    let body = error::error_body("not_found_error", &message);
    (axum::http::StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// A body read as Anthropic's request, and kept as the JSON object it was.
struct Parsed {
    req: MessagesRequest,
    raw: Map<String, Value>,
    /// The Bedrock model the name resolved to.
    resolved: models::Resolved,
    claude: bool,
}

fn parse(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Parsed, AnthropicError> {
    let mut raw: Value = parse_json(body)?;
    if !raw.is_object() {
        return Err(bad("the body must be a JSON object"));
    }
    if let Value::Object(body) = &raw {
        body::refuse_platform_features(body)?;
    }
    system_messages::fold(raw.get_mut("messages"))?;
    let req = MessagesRequest::deserialize(&raw)
        .map_err(|e| bad(format!("invalid request body: {e}")))?;
    let Value::Object(raw) = raw else {
        return Err(bad("the body must be a JSON object"));
    };
    let resolved = models::resolve(&req.model, &state.model_aliases).ok_or_else(|| {
        AnthropicError::from(ApiError::UnknownModel(format!("model: {}", req.model)))
    })?;
    let claude = state.models.family_of(&resolved.model_id) == Some(ModelFamily::AnthropicClaude);
    Ok(Parsed {
        req,
        raw,
        resolved,
        claude,
    })
}

/// `POST /v1/messages`.
async fn messages(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AnthropicError> {
    let Parsed {
        req,
        raw,
        resolved,
        claude,
    } = parse(&state, body)?;
    let streaming = req.stream.unwrap_or(false);
    let name = req.model.clone();
    let stream_req = request::to_stream_request(req, &resolved.model_id, claude)?;
    let (mut inv, api) = state.models.validate(stream_req)?;
    if claude {
        inv.raw_body = Some(body::bedrock_body(raw, &headers, resolved.one_m));
    }
    let sub = state.hub.start(&principal.sub, inv, api).await?;
    tracing::info!(session = %sub.session().id(), user = %principal.sub, model = %sub.session().model(), streaming, "anthropic message started");
    let session_id = sub.session().id().clone();
    let message_id = format!("msg_{session_id}");
    let mut res = if streaming {
        stream::response(sub, &message_id, &name, state.heartbeat, &state.metrics)
    } else {
        complete::response(sub, &message_id, &name).await
    };
    stream_headers(&mut res, &session_id);
    Ok(res)
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}` for the request
/// as `/v1/messages` would validate and send it: Bedrock's count
/// (CountTokens) for a Claude model, else an estimate (Bedrock counts for
/// Claude only); an estimate too when Bedrock cannot count it.
async fn count_tokens(
    State(state): State<AppState>,
    Caller(_): Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AnthropicError> {
    let Parsed {
        mut req,
        mut raw,
        resolved,
        claude,
    } = parse(&state, body)?;
    // Counting needs no answer budget: any will do for the checks, and
    // InvokeModel's body must have one.
    req.max_tokens.get_or_insert(1);
    raw.entry("max_tokens").or_insert(json!(1));
    let (inv, _) =
        state
            .models
            .validate(request::to_stream_request(req, &resolved.model_id, claude)?)?;
    if claude {
        let body = body::bedrock_body(raw, &headers, resolved.one_m);
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match state
            .hub
            .count_tokens(&inv.model_id, CountInput::Invoke(&bytes))
            .await
        {
            Ok(n) => return Ok(Json(json!({ "input_tokens": n }))),
            Err(e) => {
                tracing::debug!(model = %inv.model_id, error = %e, "Bedrock did not count; estimating");
            }
        }
    }
    Ok(Json(json!({"input_tokens": count::estimate(&inv)})))
}
