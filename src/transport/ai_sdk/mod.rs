//! The Vercel AI SDK's chat protocols, rendered from the session log:
//!
//! - `http`: `POST /v1/ai-sdk/chat` answers `DefaultChatTransport` with the UI
//!   message stream (v1) over SSE; `GET /v1/ai-sdk/chat/{chatId}/stream`
//!   resumes the chat's active stream (`204` when none) for `useChat({ resume: true })`.
//! - `ws`: `GET /v1/ai-sdk/ws`, the `WebSocketChatTransport` frames (`send`,
//!   `resume`, `abort` → `start`, `chunk`, `end`, `error`, `no-active`).
//! - `chunks`: the UI message chunks and how errors and stop reasons are named.
//! - `render`: the session log → chunks, the same on both.
//! - `request`: the request bodies and options → the gateway's stream request.
//! - `turns`: UI messages → turns (an assistant message's steps, tool results).
//! - `ui_part`: one UI message part → request parts (reasoning, tools, files).
//!
//! Chat ids map to the user's latest session per chat (`hub::chats`), one
//! index shared by both transports, so a chat started over HTTP resumes over
//! WebSocket and the other way round.

pub mod chunks;
pub mod http;
pub mod render;
pub mod request;
pub mod turns;
pub mod ui_part;
pub mod ws;

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::hub::chats::ChatIndex;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ai-sdk/chat", post(http::chat))
        .route("/v1/ai-sdk/chat/{chat_id}/stream", get(http::resume))
        .route("/v1/ai-sdk/ws", get(ws::upgrade))
        .layer(Extension(ChatIndex::new()))
}
