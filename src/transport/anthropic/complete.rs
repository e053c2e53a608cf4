//! `"stream": false` (the default): the finished session as one `message`,
//! or a failed one as an error response.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};

use super::error::failed;
use crate::error::ErrorCode;
use crate::event::{EventError, TokenEvent};
use crate::hub::Subscription;
use crate::render::anthropic::message;

/// Wait for the final event, answer the `message` (or the session's error).
pub(super) async fn response(mut sub: Subscription, message_id: &str, model: &str) -> Response {
    let mut events: Vec<Arc<TokenEvent>> = Vec::new();
    while let Some(ev) = sub.next().await {
        events.push(ev);
    }
    match events.last() {
        Some(last) if last.is_complete => match &last.error {
            Some(e) => failed(e),
            None => Json(message(message_id, model, &events)).into_response(),
        },
        _ => failed(&EventError::new(
            ErrorCode::Internal,
            "the session ended without a final event",
        )),
    }
}
