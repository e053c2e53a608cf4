//! The UI message stream chunks (protocol v1) the gateway sends, exactly as
//! the `ai` package's `uiMessageChunkSchema` allows them, and the names it
//! gives errors and stop reasons. [`render`](super::render) makes them from
//! the session log.

use serde::Serialize;
use serde_json::Value;

/// One chunk of the UI message stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UiChunk {
    #[serde(rename_all = "camelCase")]
    Start {
        message_id: String,
    },
    StartStep,
    TextStart {
        id: String,
    },
    TextDelta {
        id: String,
        delta: String,
    },
    TextEnd {
        id: String,
    },
    ReasoningStart {
        id: String,
    },
    ReasoningDelta {
        id: String,
        delta: String,
    },
    /// Closes a reasoning part; `providerMetadata` carries what replaying it
    /// needs (`{"bedrock":{"signature"}}` or `{"bedrock":{"redactedData"}}`).
    #[serde(rename_all = "camelCase")]
    ReasoningEnd {
        id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    #[serde(rename_all = "camelCase")]
    ToolInputStart {
        tool_call_id: String,
        tool_name: String,
    },
    #[serde(rename_all = "camelCase")]
    ToolInputDelta {
        tool_call_id: String,
        input_text_delta: String,
    },
    #[serde(rename_all = "camelCase")]
    ToolInputAvailable {
        tool_call_id: String,
        tool_name: String,
        input: Value,
    },
    #[serde(rename_all = "camelCase")]
    SourceUrl {
        source_id: String,
        url: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    #[serde(rename_all = "camelCase")]
    SourceDocument {
        source_id: String,
        media_type: String,
        title: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        provider_metadata: Option<Value>,
    },
    FinishStep,
    #[serde(rename_all = "camelCase")]
    Finish {
        finish_reason: &'static str,
        /// `sessionId`, `model`, `usage`, when the request asked for them.
        #[serde(skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Value>,
    },
    #[serde(rename_all = "camelCase")]
    Error {
        error_text: String,
    },
    Abort {
        reason: &'static str,
    },
}

/// The AI SDK's rendering of an error: `errorText` is `"{code}: {message}"`,
/// `code` an [`ErrorCode`](crate::error::ErrorCode)'s string.
pub fn error_text(code: &str, message: &str) -> String {
    format!("{code}: {message}")
}

/// Bedrock's stop reason (Converse names) as the SDK's `finishReason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        None | Some("end_turn" | "stop_sequence" | "stop" | "complete") => "stop",
        Some("max_tokens" | "length") => "length",
        Some("content_filtered" | "guardrail_intervened") => "content-filter",
        Some("tool_use") => "tool-calls",
        Some(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn chunks_serialise_in_the_sdk_shapes() {
        let cases = [
            (
                UiChunk::Start {
                    message_id: "s".into(),
                },
                json!({"type":"start","messageId":"s"}),
            ),
            (
                UiChunk::ReasoningEnd {
                    id: "reasoning-0".into(),
                    provider_metadata: Some(json!({"bedrock":{"signature":"sig"}})),
                },
                json!({"type":"reasoning-end","id":"reasoning-0","providerMetadata":{"bedrock":{"signature":"sig"}}}),
            ),
            (
                UiChunk::ReasoningEnd {
                    id: "reasoning-0".into(),
                    provider_metadata: None,
                },
                json!({"type":"reasoning-end","id":"reasoning-0"}),
            ),
            (
                UiChunk::ToolInputStart {
                    tool_call_id: "t1".into(),
                    tool_name: "f".into(),
                },
                json!({"type":"tool-input-start","toolCallId":"t1","toolName":"f"}),
            ),
            (
                UiChunk::ToolInputDelta {
                    tool_call_id: "t1".into(),
                    input_text_delta: "{\"a\"".into(),
                },
                json!({"type":"tool-input-delta","toolCallId":"t1","inputTextDelta":"{\"a\""}),
            ),
            (
                UiChunk::ToolInputAvailable {
                    tool_call_id: "t1".into(),
                    tool_name: "f".into(),
                    input: json!({"a":1}),
                },
                json!({"type":"tool-input-available","toolCallId":"t1","toolName":"f","input":{"a":1}}),
            ),
            (
                UiChunk::SourceUrl {
                    source_id: "source-0".into(),
                    url: "https://example.com".into(),
                    title: None,
                    provider_metadata: None,
                },
                json!({"type":"source-url","sourceId":"source-0","url":"https://example.com"}),
            ),
            (
                UiChunk::SourceDocument {
                    source_id: "source-1".into(),
                    media_type: "application/octet-stream".into(),
                    title: "notes".into(),
                    provider_metadata: None,
                },
                json!({"type":"source-document","sourceId":"source-1","mediaType":"application/octet-stream","title":"notes"}),
            ),
            (
                UiChunk::Finish {
                    finish_reason: finish_reason(Some("tool_use")),
                    message_metadata: None,
                },
                json!({"type":"finish","finishReason":"tool-calls"}),
            ),
            (
                UiChunk::Finish {
                    finish_reason: "stop",
                    message_metadata: Some(json!({"sessionId": "s1"})),
                },
                json!({"type":"finish","finishReason":"stop","messageMetadata":{"sessionId":"s1"}}),
            ),
            (
                UiChunk::Error {
                    error_text: error_text("x", "y"),
                },
                json!({"type":"error","errorText":"x: y"}),
            ),
        ];
        for (chunk, wire) in cases {
            assert_eq!(serde_json::to_value(&chunk).unwrap(), wire);
        }
    }
}
