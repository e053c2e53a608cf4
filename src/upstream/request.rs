//! What the gateway asks a model for: one conversation plus inference options.

use serde::{Deserialize, Serialize};

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation, text only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub role: Role,
    pub content: String,
}

/// A model invocation, independent of the model family and of the API path.
///
/// `turns` always ends with a user turn and alternates roles; the transport
/// layer builds it from the client's `messages` and `prompt`.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRequest {
    pub model_id: String,
    pub system: Option<String>,
    pub turns: Vec<Turn>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop_sequences: Vec<String>,
}

impl InvocationRequest {
    /// The text of the last user turn (the prompt).
    pub fn prompt(&self) -> &str {
        self.turns.last().map(|t| t.content.as_str()).unwrap_or("")
    }
}

/// Token counts reported by the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One decoded piece of a model's stream, whatever the family.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// Generated text to show the user.
    Text(String),
    /// The model said why it stopped (`end_turn`, `max_tokens`, …, normalised
    /// to Bedrock Converse's names where the family has its own).
    Stop(String),
    /// Token counts (may arrive more than once; later values win per field).
    Usage {
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
    },
    /// Bedrock's own latency figures from `amazon-bedrock-invocationMetrics`.
    Latency {
        invocation_ms: Option<u64>,
        first_byte_ms: Option<u64>,
    },
}
