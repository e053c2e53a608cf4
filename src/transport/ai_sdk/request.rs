//! What the AI SDK's transports send: the chat id, the conversation as UI
//! messages (`parts`), and the transport's `body` options, turned into the
//! gateway's `StreamRequest`.

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::request::StreamRequest;
use crate::upstream::Api;
use crate::upstream::request::{Role, Turn};

/// Longest chat id accepted.
pub const MAX_CHAT_ID_LEN: usize = 256;

/// One `UIMessage`; only its text parts reach the model.
#[derive(Debug, Deserialize)]
pub struct UiMessage {
    pub role: String,
    #[serde(default)]
    pub parts: Vec<Value>,
}

/// Options a client passes in the transport's `body` (top level over HTTP,
/// the frame's `body` over WebSocket), named as on `POST /v1/stream`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatOptions {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stop_sequences: Vec<String>,
    #[serde(default)]
    pub api: Option<Api>,
}

/// The body `DefaultChatTransport` posts: `id`, `messages`, `trigger`,
/// `messageId`, and whatever its `body` option adds.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub id: String,
    #[serde(default)]
    pub messages: Vec<UiMessage>,
    #[serde(flatten)]
    pub options: ChatOptions,
}

/// A chat id must be short and printable (it is also a URL path segment).
pub fn check_chat_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_CHAT_ID_LEN || id.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "a chat id is 1 to {MAX_CHAT_ID_LEN} printable characters"
        )));
    }
    Ok(())
}

/// The conversation and options as a stream request. `system` messages join
/// the system prompt; the text parts of each message become its content.
pub fn to_stream_request(
    messages: Vec<UiMessage>,
    options: ChatOptions,
) -> Result<StreamRequest, ApiError> {
    let mut system: Vec<String> = options.system.into_iter().collect();
    let mut turns = Vec::with_capacity(messages.len());
    for m in messages {
        let text = text_of(&m.parts);
        match m.role.as_str() {
            "system" => system.push(text),
            "user" => turns.push(Turn::text_turn(Role::User, text)),
            "assistant" => turns.push(Turn::text_turn(Role::Assistant, text)),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "message role '{other}' is not supported (system, user, assistant)"
                )));
            }
        }
    }
    Ok(StreamRequest {
        prompt: None,
        model: options.model,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: turns,
        max_tokens: options.max_tokens,
        temperature: options.temperature,
        top_p: options.top_p,
        stop_sequences: options.stop_sequences,
        api: options.api,
        ..Default::default()
    })
}

/// The text parts of a message, joined; other parts (files, tools, reasoning,
/// step markers, data) are not sent to the model.
fn text_of(parts: &[Value]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    texts.join("")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn default_chat_transport_body() {
        let body = json!({
            "id": "chat-1",
            "trigger": "submit-message",
            "messageId": null,
            "model": "meta.llama3-8b-instruct-v1:0",
            "maxTokens": 50,
            "messages": [
                {"id": "m0", "role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
                {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]},
                {"id": "m2", "role": "assistant", "parts": [
                    {"type": "step-start"},
                    {"type": "text", "text": "Hello", "state": "done"}
                ]},
                {"id": "m3", "role": "user", "parts": [{"type": "text", "text": "More"}, {"type": "file", "url": "x", "mediaType": "image/png"}]}
            ]
        });
        let req: ChatRequest = serde_json::from_value(body).unwrap();
        assert_eq!(req.id, "chat-1");
        let s = to_stream_request(req.messages, req.options).unwrap();
        assert_eq!(s.model.as_deref(), Some("meta.llama3-8b-instruct-v1:0"));
        assert_eq!(s.max_tokens, Some(50));
        assert_eq!(s.system.as_deref(), Some("Be brief."));
        let contents: Vec<_> = s.messages.iter().map(Turn::text).collect();
        assert_eq!(contents, ["Hi", "Hello", "More"]);
    }

    #[test]
    fn refuses_odd_roles_and_ids() {
        let m = vec![UiMessage {
            role: "tool".into(),
            parts: vec![],
        }];
        assert!(to_stream_request(m, ChatOptions::default()).is_err());
        assert!(check_chat_id("").is_err());
        assert!(check_chat_id(&"x".repeat(300)).is_err());
        assert!(check_chat_id("a\nb").is_err());
        assert!(check_chat_id("chat-1").is_ok());
    }
}
