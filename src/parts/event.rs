//! The `part` of a `TokenEvent`: every answer block that is not text.
//! Text stays in `token`; a part event has `"token":""`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One non-text piece of an answer. `index` is the content block's place in
/// the answer (0-based, dense, text blocks counted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Part {
    /// Reasoning: `text` deltas, then a `signature`; or one `redacted` blob.
    Reasoning {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redacted: Option<String>,
    },
    /// A tool call: start (`id`, `name`), `inputDelta`s, end (`id`, `name`, `input`).
    #[serde(rename_all = "camelCase")]
    ToolCall {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_delta: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
    },
    /// A source the answer cites.
    Citation {
        index: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Where in the request's documents, in Anthropic's names: `type`
        /// (`char_location`, `page_location`, `content_block_location`),
        /// `document_index` and the range (`start_char_index` /
        /// `end_char_index`, `start_page_number` / `end_page_number`,
        /// `start_block_index` / `end_block_index`), when the model said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Value>,
    },
    /// A guardrail acted on the answer.
    Guardrail {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<Value>,
    },
}

impl Part {
    /// The SSE event name and WebSocket `type` of an event with this part.
    pub fn event_name(&self) -> &'static str {
        match self {
            Part::Reasoning { .. } => "reasoning",
            Part::ToolCall { .. } => "tool",
            Part::Citation { .. } => "citation",
            Part::Guardrail { .. } => "guardrail",
        }
    }

    /// The part's `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Part::Reasoning { .. } => "reasoning",
            Part::ToolCall { .. } => "toolCall",
            Part::Citation { .. } => "citation",
            Part::Guardrail { .. } => "guardrail",
        }
    }

    /// The answer block this part belongs to (`None` for a guardrail).
    pub fn index(&self) -> Option<u32> {
        match self {
            Part::Reasoning { index, .. }
            | Part::ToolCall { index, .. }
            | Part::Citation { index, .. } => Some(*index),
            Part::Guardrail { .. } => None,
        }
    }

    pub fn reasoning_text(index: u32, text: String) -> Self {
        Part::Reasoning {
            index,
            text: Some(text),
            signature: None,
            redacted: None,
        }
    }

    pub fn reasoning_signature(index: u32, signature: String) -> Self {
        Part::Reasoning {
            index,
            text: None,
            signature: Some(signature),
            redacted: None,
        }
    }

    pub fn reasoning_redacted(index: u32, redacted: String) -> Self {
        Part::Reasoning {
            index,
            text: None,
            signature: None,
            redacted: Some(redacted),
        }
    }

    pub fn tool_start(index: u32, id: String, name: String) -> Self {
        Part::ToolCall {
            index,
            id: Some(id),
            name: Some(name),
            input_delta: None,
            input: None,
        }
    }

    pub fn tool_input(index: u32, delta: String) -> Self {
        Part::ToolCall {
            index,
            id: None,
            name: None,
            input_delta: Some(delta),
            input: None,
        }
    }

    pub fn tool_end(index: u32, id: String, name: String, input: Value) -> Self {
        Part::ToolCall {
            index,
            id: Some(id),
            name: Some(name),
            input_delta: None,
            input: Some(input),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parts_serialise_as_the_contract_table() {
        let cases = [
            (
                Part::reasoning_text(0, "hm".into()),
                json!({"type":"reasoning","index":0,"text":"hm"}),
            ),
            (
                Part::reasoning_signature(0, "s".into()),
                json!({"type":"reasoning","index":0,"signature":"s"}),
            ),
            (
                Part::tool_start(2, "t1".into(), "f".into()),
                json!({"type":"toolCall","index":2,"id":"t1","name":"f"}),
            ),
            (
                Part::tool_input(2, "{\"a\"".into()),
                json!({"type":"toolCall","index":2,"inputDelta":"{\"a\""}),
            ),
            (
                Part::tool_end(2, "t1".into(), "f".into(), json!({"a":1})),
                json!({"type":"toolCall","index":2,"id":"t1","name":"f","input":{"a":1}}),
            ),
        ];
        for (part, wire) in cases {
            assert_eq!(serde_json::to_value(&part).unwrap(), wire);
            assert_eq!(serde_json::from_value::<Part>(wire).unwrap(), part);
        }
        assert_eq!(Part::tool_input(0, String::new()).event_name(), "tool");
    }
}
