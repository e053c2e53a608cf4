//! OpenAI-compatible chat completions, rendered from the session log:
//! `POST /v1/chat/completions` (one `chat.completion`, or with `stream: true`
//! `chat.completion.chunk`s over SSE ending in `data: [DONE]`) and
//! `GET /v1/models/{model}` (the list itself is `sessions`' `GET /v1/models`).
//!
//! Users pass their bearer JWT as the SDK's API key. The session id comes
//! back in `X-Session-Id`, so a dropped client can resume on the native route.
//! A failure mid-stream is a `data: {"error":{…}}` event, which the official
//! SDKs raise.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::event::{EventError, EventKind, TokenEvent};
use crate::http::{parse_json, stream_headers};
use crate::hub::{StartError, Subscription};
use crate::request::StreamRequest;
use crate::state::AppState;
use crate::upstream::Usage;
use crate::upstream::models::ModelFamily;
use crate::upstream::request::{Role, Turn};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/v1/models/{model}", get(model))
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// An error in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
#[derive(Debug)]
pub struct OpenAiError(ApiError);

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<StartError> for OpenAiError {
    fn from(e: StartError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for OpenAiError {
    /// The gateway's own rendering (status, `Retry-After`…) with OpenAI's body.
    fn into_response(self) -> Response {
        let code = self.0.error_code();
        let message = self.0.to_string();
        let (mut parts, _) = self.0.into_response().into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        let body = json!({ "error": error_object(parts.status, code.as_str(), &message) });
        (parts, Json(body)).into_response()
    }
}

/// OpenAI's error object, `{"message","type","param","code"}`: `type` from
/// the HTTP status, `code` the gateway's (an [`ErrorCode`]'s string).
fn error_object(status: StatusCode, code: &str, message: &str) -> Value {
    let kind = match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    json!({"message": message, "type": kind, "param": null, "code": code})
}

fn bad(msg: impl Into<String>) -> OpenAiError {
    OpenAiError(ApiError::BadRequest(msg.into()))
}

/// The request as the gateway's stream request: `system`/`developer`
/// messages become the system prompt, text content parts are joined.
fn to_stream_request(req: CompletionRequest) -> Result<StreamRequest, OpenAiError> {
    if req.n.is_some_and(|n| n != 1) {
        return Err(bad("only n = 1 is supported"));
    }
    if req.tools.is_some_and(|t| !t.is_empty()) {
        return Err(bad("tools are not supported"));
    }
    let mut system = Vec::new();
    let mut turns = Vec::with_capacity(req.messages.len());
    for m in req.messages {
        let text = match m.content {
            None => String::new(),
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => {
                let mut text = String::new();
                for p in parts {
                    match (p.kind.as_str(), p.text) {
                        ("text", Some(t)) => text.push_str(&t),
                        (kind, _) => {
                            return Err(bad(format!(
                                "content parts of type '{kind}' are not supported"
                            )));
                        }
                    }
                }
                text
            }
        };
        let role = match m.role.as_str() {
            "system" | "developer" => {
                system.push(text);
                continue;
            }
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => return Err(bad(format!("message role '{other}' is not supported"))),
        };
        turns.push(Turn::text_turn(role, text));
    }
    Ok(StreamRequest {
        prompt: None,
        model: req.model,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: turns,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: match req.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        },
        api: None,
        ..Default::default()
    })
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
    let (inv, api) = state.models.validate(to_stream_request(req)?)?;
    let sub = state.hub.start(&principal.sub, inv, api).await?;
    tracing::info!(session = %sub.session().id(), user = %principal.sub, model = %sub.session().model(), streaming, "chat completion started");
    let meta = Meta {
        id: format!("chatcmpl-{}", sub.session().id()),
        created: unix_now(),
        model: sub.session().model().to_owned(),
    };
    let session_id = sub.session().id().clone();
    let mut res = if streaming {
        stream_response(sub, meta, include_usage, state.heartbeat, &state.metrics)
    } else {
        complete_response(sub, meta).await?
    };
    stream_headers(&mut res, &session_id);
    Ok(res)
}

/// What every object of one completion repeats.
struct Meta {
    id: String,
    created: u64,
    model: String,
}

impl Meta {
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

fn usage_json(u: Option<Usage>) -> Value {
    let u = u.unwrap_or_default();
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    })
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

/// The `error` object of a failed session.
fn stream_error(e: &EventError) -> Value {
    error_object(StatusCode::BAD_GATEWAY, &e.code, &e.message)
}

/// The status of a completion whose session failed once started: 429 if
/// throttled, 504 if it timed out, 502 otherwise.
fn failed_status(code: Option<ErrorCode>) -> StatusCode {
    match code {
        Some(ErrorCode::Throttled) => StatusCode::TOO_MANY_REQUESTS,
        Some(
            ErrorCode::FirstTokenTimeout | ErrorCode::UpstreamIdleTimeout | ErrorCode::ModelTimeout,
        ) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// `stream: false`: wait for the final event, answer one `chat.completion`.
async fn complete_response(mut sub: Subscription, meta: Meta) -> Result<Response, OpenAiError> {
    let mut text = String::new();
    let mut last: Option<std::sync::Arc<TokenEvent>> = None;
    while let Some(ev) = sub.next().await {
        text.push_str(&ev.token);
        last = Some(ev);
    }
    let Some(last) = last.filter(|e| e.is_complete) else {
        return Err(OpenAiError(ApiError::NotFound));
    };
    // A complete event with an error is a failed session (`EventKind::Error`).
    if let Some(e) = &last.error {
        let body = json!({ "error": stream_error(e) });
        return Ok((failed_status(e.error_code()), Json(body)).into_response());
    }
    Ok(Json(json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason(last.stop_reason.as_deref()),
        }],
        "usage": usage_json(last.usage),
    }))
    .into_response())
}

/// `stream: true`: a role delta at once, a content delta per token, the
/// `finish_reason` chunk, the usage chunk when asked, then `[DONE]`.
fn stream_response(
    sub: Subscription,
    meta: Meta,
    include_usage: bool,
    heartbeat: Duration,
    metrics: &crate::metrics::Metrics,
) -> Response {
    // With `include_usage`, every chunk but the last carries `"usage": null`.
    let null_usage = include_usage.then_some(Value::Null);
    let choice = |delta: Value, finish: Option<&str>| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let first = meta.chunk(
        choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ),
        null_usage.clone(),
    );
    let rest = metrics
        .counted("openai", sub.into_stream())
        .flat_map(move |ev| {
            let mut out = Vec::with_capacity(2);
            match ev.kind() {
                EventKind::Token if ev.token.is_empty() => {}
                EventKind::Token => out.push(meta.chunk(
                    choice(json!({"content": ev.token}), None),
                    null_usage.clone(),
                )),
                EventKind::Done => {
                    let reason = finish_reason(ev.stop_reason.as_deref());
                    out.push(meta.chunk(choice(json!({}), Some(reason)), null_usage.clone()));
                    if include_usage {
                        out.push(meta.chunk(json!([]), Some(usage_json(ev.usage))));
                    }
                }
                EventKind::Reasoning
                | EventKind::Tool
                | EventKind::Citation
                | EventKind::Guardrail => {}
                EventKind::Error => out.extend(
                    ev.error
                        .as_ref()
                        .map(|e| json!({ "error": stream_error(e) })),
                ),
            }
            stream::iter(out)
        });
    let events = stream::once(async { first })
        .chain(rest)
        .map(|v| Event::default().json_data(v))
        .chain(stream::once(async { Ok(Event::default().data("[DONE]")) }));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
        .into_response()
}

/// `GET /v1/models/{model}`: one model of the list, for `client.models.retrieve`.
async fn model(
    State(state): State<AppState>,
    _p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let listed = state.models.listed().contains(&id)
        || (state.models.allowed.is_empty() && ModelFamily::from_model_id(&id).is_some());
    if !listed {
        return Err(OpenAiError(ApiError::NotFound));
    }
    Ok(Json(
        json!({"id": id, "object": "model", "created": 0, "owned_by": "bedrock"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<StreamRequest, OpenAiError> {
        to_stream_request(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn maps_messages_and_options() {
        let s = parse(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "No lists."}]},
                {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "More"}
            ],
            "max_tokens": 5,
            "max_completion_tokens": 7,
            "stop": "END",
            "temperature": null,
            "stream": true,
            "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(s.system.as_deref(), Some("Be brief.\n\nNo lists."));
        let contents: Vec<_> = s.messages.iter().map(Turn::text).collect();
        assert_eq!(contents, ["Hi there", "Hello", "More"]);
        assert_eq!(s.max_tokens, Some(7));
        assert_eq!(s.stop_sequences, ["END"]);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let bad = [
            json!({"messages": [{"role": "user", "content": "x"}], "n": 2}),
            json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}),
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
        ];
        for b in bad {
            assert!(parse(b.clone()).is_err(), "{b} should be refused");
        }
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(Some("end_turn")), "stop");
        assert_eq!(finish_reason(Some("max_tokens")), "length");
        assert_eq!(
            finish_reason(Some("guardrail_intervened")),
            "content_filter"
        );
        assert_eq!(finish_reason(Some("cancelled")), "stop");
    }
}
