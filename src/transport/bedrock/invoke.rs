//! `POST /model/{modelId}/invoke-with-response-stream` and `/invoke`: the
//! family's own body, read as parts for the gateway's checks, then sent
//! upstream exactly as it came (`raw_body`, `api: invoke`); the answer is
//! rendered back in the family's chunk (or response) shapes.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::BedrockCaller;
use super::call_options;
use super::claude_render::{ClaudeChunks, claude_message};
use super::converse_render;
use super::error::BedrockError;
use super::family_parse;
use super::guardrail::{self, Verdict};
use super::invoke_render::{self, NovaChunks, TextChunks, text_response};
use super::session::{self, AsSent};
use super::{Body, ModelId};
use crate::event::TokenEvent;
use crate::hub::Subscription;
use crate::state::AppState;
use crate::upstream::models::ModelFamily;

/// `POST /model/{modelId}/invoke-with-response-stream`.
pub async fn invoke_stream(
    State(state): State<AppState>,
    BedrockCaller(caller): BedrockCaller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let (family, sub) = start(&state, &caller, &model_id, &headers, body).await?;
    Ok(match family {
        ModelFamily::AnthropicClaude => {
            let chunks = ClaudeChunks::new(sub.session().id(), sub.session().model(), started);
            session::stream_response(&state, sub, chunks)
        }
        ModelFamily::AmazonNova => session::stream_response(&state, sub, NovaChunks::new(started)),
        other => session::stream_response(&state, sub, TextChunks::new(other, started)),
    })
}

/// `POST /model/{modelId}/invoke`.
pub async fn invoke(
    State(state): State<AppState>,
    BedrockCaller(caller): BedrockCaller,
    ModelId(model_id): ModelId,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let (family, sub) = start(&state, &caller, &model_id, &headers, body).await?;
    let session_id = sub.session().id().clone();
    let model = sub.session().model().to_owned();
    let events = session::collect(sub).await?;
    let refs: Vec<&TokenEvent> = events.iter().map(|e| &**e).collect();
    let mut body: Value = match family {
        ModelFamily::AnthropicClaude => claude_message(&session_id, &model, &events),
        ModelFamily::AmazonNova => {
            let mut body = converse_render::response(&refs, started);
            invoke_render::nova_cache_names(&mut body["usage"]);
            body
        }
        other => text_response(other, &refs),
    };
    Verdict::of(refs.iter().copied()).mark_invoke(&mut body);
    let mut res = Json(body).into_response();
    crate::http::stream_headers(&mut res, &session_id);
    invoke_render::whole_answer_headers(
        res.headers_mut(),
        refs.last().and_then(|e| e.usage),
        started,
    );
    Ok(res)
}

/// Read the body for the model's family and start its session with the
/// body as sent.
async fn start(
    state: &AppState,
    caller: &crate::auth::Principal,
    model_id: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<(ModelFamily, Subscription), BedrockError> {
    let family = state
        .models
        .family_of(model_id)
        .ok_or_else(|| super::not_invoked(model_id))?;
    let mut req =
        family_parse::stream_request(family, model_id, &body).map_err(BedrockError::validation)?;
    req.guardrail = guardrail::from_invoke(headers, &body).map_err(BedrockError::validation)?;
    let call_options = call_options::from_invoke(headers).map_err(BedrockError::validation)?;
    let sub = session::start(
        state,
        caller,
        req,
        AsSent {
            invoke_body: Some(body),
            call_options,
            ..AsSent::default()
        },
    )
    .await?;
    Ok((family, sub))
}
