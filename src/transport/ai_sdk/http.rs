//! The AI SDK over HTTP: `DefaultChatTransport`'s `POST` and its resume `GET`,
//! answered with the UI message stream protocol v1 over SSE.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};

use super::render::chunk_stream;
use super::request::{ChatRequest, chat_answer, check_chat_id, to_stream_request};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::{Path, http_reader, parse_json, stream_headers};
use crate::hub::Subscription;
use crate::hub::chats::{ChatIndex, Rendering};
use crate::render::sse;
use crate::state::AppState;

/// `POST /v1/ai-sdk/chat`: start the chat's next answer and stream it.
pub async fn chat(
    State(state): State<AppState>,
    Extension(chats): Extension<ChatIndex>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ChatRequest = parse_json(body)?;
    check_chat_id(&req.id)?;
    let answer = chat_answer(&req.messages, &req.options);
    let (inv, api) = state
        .models
        .validate(to_stream_request(req.messages, req.options)?)?;
    let (sub, rendering) = state
        .hub
        .start_chat(&chats, &principal.sub, &req.id, answer, inv, api)
        .await?;
    tracing::info!(session = %sub.session().id(), user = %principal.sub, chat = %req.id, "ai-sdk chat started");
    Ok(ui_message_sse(sub, rendering, &state))
}

/// `GET /v1/ai-sdk/chat/{chatId}/stream`: replay the chat's active stream
/// from its start (the SDK resets the message on replay), or `204`; `429`
/// past the user's connection budget.
pub async fn resume(
    State(state): State<AppState>,
    Extension(chats): Extension<ChatIndex>,
    principal: Principal,
    Path(chat_id): Path<String>,
) -> Response {
    match state
        .hub
        .resume_chat(&chats, &principal.sub, &chat_id)
        .await
    {
        Some((sub, rendering)) => match http_reader(&state, &principal.sub, sub).await {
            Ok(sub) => ui_message_sse(sub, rendering, &state),
            Err(e) => e.into_response(),
        },
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The subscription as `data:` chunks, then `data: [DONE]`.
fn ui_message_sse(sub: Subscription, rendering: Rendering, state: &AppState) -> Response {
    let heartbeat = state.heartbeat;
    let id = sub.session().id().clone();
    let events = state
        .metrics
        .counted("ai-sdk", chunk_stream(sub, rendering))
        .map(|c| sse::json_frame(None, &c))
        .chain(stream::once(async { sse::frame(None, None, "[DONE]") }));
    let mut res = sse::response(events, heartbeat, sse::comment("heartbeat"));
    stream_headers(&mut res, &id);
    res.headers_mut().insert(
        "x-vercel-ai-ui-message-stream",
        HeaderValue::from_static("v1"),
    );
    res
}
