//! What the AI SDK's transports send: the chat id, the conversation as UI
//! messages (`parts`), and the transport's `body` options, turned into the
//! gateway's `StreamRequest`.

use serde::Deserialize;
use serde_json::Value;

use super::turns::conversation;
use crate::error::ApiError;
use crate::hub::chats::ChatAnswer;
use crate::parts::{Tool, ToolChoice};
use crate::request::{ReasoningRequest, StreamRequest};
use crate::upstream::Api;

/// Longest chat id accepted.
pub const MAX_CHAT_ID_LEN: usize = 256;

/// One `UIMessage`; [`turns`](super::turns) says which parts reach the model.
#[derive(Debug, Deserialize)]
pub struct UiMessage {
    #[serde(default)]
    pub id: Option<String>,
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
    /// Tools the model may call, in the gateway's shape
    /// (`{"name","description"?,"inputSchema"}`).
    #[serde(default)]
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// `{"budgetTokens": N}` turns on extended thinking.
    #[serde(default)]
    pub reasoning: Option<ReasoningRequest>,
    /// `true`: the `finish` chunk carries `messageMetadata` (`sessionId`,
    /// `model`, `usage`), which the SDK puts in `message.metadata`. Off by
    /// default: a client's `messageMetadataSchema` would refuse a shape it
    /// does not expect.
    #[serde(default)]
    pub message_metadata: bool,
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

/// How the answer to `messages` with `options` renders.
pub fn chat_answer(messages: &[UiMessage], options: &ChatOptions) -> ChatAnswer {
    ChatAnswer {
        continues: continued_message(messages),
        metadata: options.message_metadata,
    }
}

/// The assistant message the answer continues: the last message, when it is
/// the assistant's (the client sends it back with its tool outputs). The
/// answer keeps its id, as the AI SDK's own server does, so the client
/// extends that message instead of adding a second one.
pub fn continued_message(messages: &[UiMessage]) -> Option<String> {
    let last = messages.last().filter(|m| m.role == "assistant")?;
    last.id.clone().filter(|id| check_chat_id(id).is_ok())
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
/// the system prompt; the other messages become turns (see
/// [`turns`](super::turns)).
pub fn to_stream_request(
    messages: Vec<UiMessage>,
    options: ChatOptions,
) -> Result<StreamRequest, ApiError> {
    let c = conversation(messages.into_iter().map(|m| (m.role, m.parts)))?;
    let system: Vec<String> = options.system.into_iter().chain(c.system).collect();
    Ok(StreamRequest {
        prompt: None,
        model: options.model,
        system: (!system.is_empty()).then(|| system.join("\n\n")).into(),
        messages: c.turns,
        max_tokens: options.max_tokens,
        temperature: options.temperature,
        top_p: options.top_p,
        stop_sequences: options.stop_sequences,
        api: options.api,
        tools: options.tools.into(),
        tool_choice: options.tool_choice,
        parallel_tool_calls: None,
        reasoning: options.reasoning,
        guardrail: None,
        output_config: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::upstream::request::Turn;

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
                {"id": "m3", "role": "user", "parts": [{"type": "text", "text": "More"}, {"type": "data-note", "data": {}}]}
            ]
        });
        let req: ChatRequest = serde_json::from_value(body).unwrap();
        assert_eq!(req.id, "chat-1");
        let s = to_stream_request(req.messages, req.options).unwrap();
        assert_eq!(s.model.as_deref(), Some("meta.llama3-8b-instruct-v1:0"));
        assert_eq!(s.max_tokens, Some(50));
        assert_eq!(s.system.text().as_deref(), Some("Be brief."));
        let contents: Vec<_> = s.messages.iter().map(Turn::text).collect();
        assert_eq!(contents, ["Hi", "Hello", "More"]);
    }

    /// The second request of a client-side tool round: the tools, the
    /// assistant message with reasoning and a tool call in state
    /// `output-available`; it passes the gateway's own validation.
    #[test]
    fn a_tool_round_trip_validates() {
        let body = json!({
            "id": "chat-1",
            "model": "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "tools": [{"name": "get_weather", "description": "Weather in a city",
                "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
            "toolChoice": {"name": "get_weather"},
            "reasoning": {"budgetTokens": 2048},
            "messages": [
                {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Weather?"}]},
                {"id": "s1", "role": "assistant", "parts": [
                    {"type": "step-start"},
                    {"type": "reasoning", "text": "Use the tool.", "state": "done",
                        "providerMetadata": {"bedrock": {"signature": "sig"}}},
                    {"type": "tool-get_weather", "toolCallId": "t1", "state": "output-available",
                        "input": {"city": "sample"}, "output": "sunny"}
                ]}
            ]
        });
        let req: ChatRequest = serde_json::from_value(body).unwrap();
        let s = to_stream_request(req.messages, req.options).unwrap();
        assert_eq!(s.tools.tools.len(), 1);
        assert_eq!(s.tool_choice, ToolChoice::Tool("get_weather".into()));
        assert_eq!(s.reasoning.map(|r| r.budget_tokens), Some(2048));
        let policy = crate::request::ModelPolicy {
            default_model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            allowed: vec![],
            default_api: Api::Converse,
            max_prompt_bytes: 10_000,
            default_guardrail: None,
            profiles: Default::default(),
        };
        let (inv, _) = policy.validate(s).unwrap();
        assert_eq!(
            serde_json::to_value(inv.turns.iter().map(|t| &t.content).collect::<Vec<_>>()).unwrap(),
            json!([
                [{"type": "text", "text": "Weather?"}],
                [{"type": "reasoning", "text": "Use the tool.", "signature": "sig"},
                 {"type": "toolCall", "id": "t1", "name": "get_weather", "input": {"city": "sample"}}],
                [{"type": "toolResult", "toolCallId": "t1", "content": "sunny"}]
            ])
        );
    }

    #[test]
    fn refuses_odd_roles_and_ids() {
        let m = vec![UiMessage {
            id: None,
            role: "tool".into(),
            parts: vec![],
        }];
        assert!(to_stream_request(m, ChatOptions::default()).is_err());
        assert!(check_chat_id("").is_err());
        assert!(check_chat_id(&"x".repeat(300)).is_err());
        assert!(check_chat_id("a\nb").is_err());
        assert!(check_chat_id("chat-1").is_ok());
    }

    #[test]
    fn an_answer_continues_a_last_assistant_message() {
        let message = |id: &str, role: &str| UiMessage {
            id: Some(id.into()),
            role: role.into(),
            parts: vec![],
        };
        let asked = vec![message("u1", "user")];
        assert_eq!(continued_message(&asked), None);
        let answered = vec![message("u1", "user"), message("a1", "assistant")];
        assert_eq!(continued_message(&answered).as_deref(), Some("a1"));
        let odd = vec![message("u1", "user"), message("a\n1", "assistant")];
        assert_eq!(continued_message(&odd), None);
    }
}
