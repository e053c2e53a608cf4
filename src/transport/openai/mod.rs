//! OpenAI-compatible chat completions, rendered from the session log:
//! `POST /v1/chat/completions` (one `chat.completion`, or with `stream: true`
//! `chat.completion.chunk`s over SSE ending in `data: [DONE]`) and
//! `GET /v1/models/{model}` (the list itself is `sessions`' `GET /v1/models`).
//!
//! Users pass their bearer JWT as the SDK's API key. The session id comes
//! back in `X-Session-Id`, so a dropped client can resume on the native route.
//! A failure mid-stream is a `data: {"error":{…}}` event, which the official
//! SDKs raise.
//!
//! # Layout
//!
//! - [`request`]: the body's options, `tools`, `tool_choice`, reasoning budget;
//!   [`response_format`]: JSON mode and structured outputs as a forced tool.
//! - [`messages`]: each role's messages, tool calls and results, replayed
//!   reasoning, as the gateway's turns; [`content`]: their content parts.
//! - [`stream`]: events as `chat.completion.chunk` deltas.
//! - [`complete`]: events as one `chat.completion`.
//! - [`error`]: OpenAI's error shape.
//! - [`usage`]: `usage` from Bedrock's counts, reasoning's estimated share.
//! - [`responses`]: the Responses API (`/v1/responses`), on the same helpers.

mod complete;
mod content;
mod error;
mod messages;
mod request;
mod response_format;
mod responses;
mod stream;
mod usage;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub use error::OpenAiError;
pub use request::EFFORT_BUDGETS;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::{Path, parse_json, stream_headers};
use crate::state::AppState;
use crate::upstream::models::ModelFamily;
use request::CompletionRequest;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/v1/models/{model}", get(model))
        .merge(responses::router())
}

/// `POST /v1/chat/completions`.
async fn completions(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let req: CompletionRequest = parse_json(body)?;
    let streaming = req.stream.unwrap_or(false);
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let (mut stream_request, json_tool) = request::to_stream_request(req)?;
    stream_request.model = stream_request.model.map(|m| model_id(&state, m));
    let (inv, api) = state.models.validate(stream_request)?;
    let sub = state.hub.start(&principal.sub, inv, api).await?;
    tracing::info!(session = %sub.session().id(), user = %principal.sub, model = %sub.session().model(), streaming, "chat completion started");
    let meta = Meta {
        id: format!("chatcmpl-{}", sub.session().id()),
        created: unix_now(),
        model: sub.session().model().to_owned(),
        json_tool,
    };
    let session_id = sub.session().id().clone();
    let mut res = if streaming {
        stream::stream_response(sub, meta, include_usage, state.heartbeat, &state.metrics)
    } else {
        complete::complete_response(sub, meta).await?
    };
    stream_headers(&mut res, &session_id);
    Ok(res)
}

/// The Bedrock id a request's `model` names: an alias of
/// `SPILLWAY_MODEL_ALIASES` or an Anthropic model name, as the Anthropic
/// API resolves them; anything else as it is (the core judges it).
fn model_id(state: &AppState, name: String) -> String {
    crate::transport::anthropic::models::resolve(&name, &state.model_aliases)
        .map_or(name, |r| r.model_id)
}

/// What every object of one completion repeats, and how it renders.
struct Meta {
    id: String,
    created: u64,
    model: String,
    /// The tool whose input is the answer's `content` (`response_format`).
    json_tool: Option<String>,
}

impl Meta {
    /// The `finish_reason` of a stop: a JSON answer's call ends as `stop`,
    /// unless the answer also calls tools of the client's (`calls`).
    fn finish_reason(&self, stop_reason: Option<&str>, calls: bool) -> &'static str {
        match finish_reason(stop_reason) {
            "tool_calls" if self.json_tool.is_some() && !calls => "stop",
            reason => reason,
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        v
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Bedrock's stop reason (Converse names) as OpenAI's `finish_reason`. A
/// session cancelled by its owner ends like any other answer: `stop`.
fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "length") => "length",
        Some("content_filtered" | "guardrail_intervened") => "content_filter",
        Some("tool_use") => "tool_calls",
        _ => "stop",
    }
}

/// `GET /v1/models/{model}`: one model of the list, for `client.models.retrieve`
/// (the Anthropic SDK's too: an Anthropic name, in its shape).
async fn model(
    State(state): State<AppState>,
    _p: Principal,
    path: Result<Path<String>, ApiError>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, axum::response::Response> {
    use crate::transport::anthropic::{error::AnthropicError, models as anthropic_models};
    use axum::response::IntoResponse;
    if anthropic_models::is_anthropic(&headers) {
        let Path(id) = path.map_err(|e| AnthropicError::from(e).into_response())?;
        return anthropic_models::retrieve(&id, &state.model_aliases, |m| {
            state.models.admit(m).is_ok()
        })
        .map(Json)
        .ok_or_else(|| AnthropicError::from(ApiError::NotFound).into_response());
    }
    let Path(id) = path.map_err(|e| OpenAiError::from(e).into_response())?;
    openai_model(&state, id).map_err(IntoResponse::into_response)
}

fn openai_model(state: &AppState, id: String) -> Result<Json<Value>, OpenAiError> {
    let listed = state.models.listed().contains(&id)
        || (state.models.allowed.is_empty() && ModelFamily::from_model_id(&id).is_some());
    if !listed {
        // OpenAI's `model_not_found`, as chat and Responses answer it.
        return Err(OpenAiError::from(ApiError::UnknownModel(format!(
            "The model '{id}' does not exist or is not served here"
        ))));
    }
    Ok(Json(
        json!({"id": id, "object": "model", "created": 0, "owned_by": "bedrock"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(Some("end_turn")), "stop");
        assert_eq!(finish_reason(Some("max_tokens")), "length");
        assert_eq!(finish_reason(Some("tool_use")), "tool_calls");
        assert_eq!(
            finish_reason(Some("guardrail_intervened")),
            "content_filter"
        );
        assert_eq!(finish_reason(Some("cancelled")), "stop");
        let meta = |json_tool: Option<&str>| Meta {
            id: String::new(),
            created: 0,
            model: String::new(),
            json_tool: json_tool.map(str::to_owned),
        };
        // A JSON answer's call is a stop; a call of the client's tools is not.
        let json = meta(Some("place"));
        assert_eq!(json.finish_reason(Some("tool_use"), false), "stop");
        assert_eq!(json.finish_reason(Some("tool_use"), true), "tool_calls");
        assert_eq!(
            meta(None).finish_reason(Some("tool_use"), false),
            "tool_calls"
        );
    }
}
