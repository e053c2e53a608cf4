//! `stream: false`: the finished session as one `chat.completion`.
//!
//! `message` carries the text, `tool_calls` (arguments as a JSON string),
//! and LiteLLM's `reasoning_content` (all reasoning text) and
//! `thinking_blocks` (the replayable blocks: signed, or redacted); `content`
//! is null when the answer is tool calls without text. The forced call of a
//! JSON answer (`response_format`) is `content`.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Meta;
use super::error::{OpenAiError, failed_status, stream_error};
use super::usage::{self, Spent};
use crate::error::ApiError;
use crate::event::TokenEvent;
use crate::hub::Subscription;
use crate::parts::{Content, answer};

/// Wait for the final event, answer one `chat.completion`.
pub(super) async fn complete_response(
    mut sub: Subscription,
    meta: Meta,
) -> Result<Response, OpenAiError> {
    let mut events: Vec<Arc<TokenEvent>> = Vec::new();
    while let Some(ev) = sub.next().await {
        events.push(ev);
    }
    let Some(last) = events.last().filter(|e| e.is_complete) else {
        return Err(OpenAiError::from(ApiError::NotFound));
    };
    // A complete event with an error is a failed session (`EventKind::Error`).
    if let Some(e) = &last.error {
        let body = json!({ "error": stream_error(e) });
        return Ok((failed_status(e.error_code()), Json(body)).into_response());
    }
    let message = message(events.iter().map(|e| &**e), meta.json_tool.as_deref());
    let mut spent = Spent::default();
    events.iter().for_each(|e| spent.add(e));
    let calls = message.get("tool_calls").is_some();
    Ok(Json(json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": meta.finish_reason(last.stop_reason.as_deref(), calls),
        }],
        "usage": usage::chat(last.usage, &spent),
    }))
    .into_response())
}

/// The assistant `message` of an answer's events; the call of `json_tool`
/// (`response_format`) is its `content`.
fn message<'a>(
    events: impl Iterator<Item = &'a TokenEvent> + Clone,
    json_tool: Option<&str>,
) -> Value {
    let mut text: String = events.clone().map(|e| e.token.as_str()).collect();
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for part in answer::content(events) {
        match part {
            Content::Reasoning(r) => {
                reasoning.push_str(r.text.as_deref().unwrap_or_default());
                // Only what can be replayed: signed text, or a redacted blob.
                match (r.text, r.signature, r.redacted) {
                    (_, _, Some(data)) => {
                        thinking_blocks.push(json!({"type": "redacted_thinking", "data": data}))
                    }
                    (text, Some(signature), None) => thinking_blocks.push(json!({
                        "type": "thinking",
                        "thinking": text.unwrap_or_default(),
                        "signature": signature,
                    })),
                    (_, None, None) => {}
                }
            }
            // The JSON answer is the content: text before it is not.
            Content::ToolCall { input, name, .. } if Some(name.as_str()) == json_tool => {
                text = input.to_string();
            }
            Content::ToolCall { id, name, input } => tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            _ => {}
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    let mut message = json!({"role": "assistant", "content": content, "refusal": null});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
    }
    if !thinking_blocks.is_empty() {
        message["thinking_blocks"] = Value::Array(thinking_blocks);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parts::Part;

    fn ev(token: &str, part: Option<Part>) -> TokenEvent {
        TokenEvent::test_event(token, part)
    }

    #[test]
    fn text_reasoning_and_tool_calls() {
        let events = [
            ev("", Some(Part::reasoning_text(0, "think ".into()))),
            ev("", Some(Part::reasoning_text(0, "more".into()))),
            ev("", Some(Part::reasoning_signature(0, "sig".into()))),
            ev("", Some(Part::reasoning_redacted(1, "AAAA".into()))),
            ev("", Some(Part::reasoning_text(2, " unsigned".into()))),
            ev("Let me ", None),
            ev("check.", None),
            ev("", Some(Part::tool_start(3, "c1".into(), "w".into()))),
            ev("", Some(Part::tool_input(3, "{\"a\":1}".into()))),
            ev(
                "",
                Some(Part::tool_end(3, "c1".into(), "w".into(), json!({"a": 1}))),
            ),
        ];
        assert_eq!(
            message(events.iter(), None),
            json!({
                "role": "assistant",
                "content": "Let me check.",
                "refusal": null,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"a\":1}"}}],
                "reasoning_content": "think more unsigned",
                "thinking_blocks": [
                    {"type": "thinking", "thinking": "think more", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "AAAA"}
                ]
            })
        );
    }

    #[test]
    fn content_is_null_for_tool_calls_alone_and_empty_text_otherwise() {
        let calls = [ev(
            "",
            Some(Part::tool_end(0, "c1".into(), "w".into(), json!({}))),
        )];
        let m = message(calls.iter(), None);
        assert!(m["content"].is_null());
        assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{}");
        assert_eq!(
            message([].iter(), None),
            json!({"role": "assistant", "content": "", "refusal": null})
        );
    }

    #[test]
    fn a_json_answer_is_the_content_without_the_text_before_it() {
        let events = [
            ev("Let me see.", None),
            ev(
                "",
                Some(Part::tool_end(
                    0,
                    "c0".into(),
                    "place".into(),
                    json!({"c": 1}),
                )),
            ),
        ];
        let m = message(events.iter(), Some("place"));
        assert_eq!(m["content"], "{\"c\":1}");
        assert!(m.get("tool_calls").is_none());
    }
}
