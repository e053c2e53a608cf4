//! What the gateway asks a model for: one conversation plus inference options.

use serde::{Deserialize, Serialize};

use crate::parts::content::join_text;
use crate::parts::{Content, SystemPrompt, Tool, ToolChoice};

/// Who said a turn of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation: a string or a list of parts on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub role: Role,
    #[serde(deserialize_with = "crate::parts::content::string_or_parts")]
    pub content: Vec<Content>,
}

impl Turn {
    /// A turn of one text part.
    pub fn text_turn(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![Content::text(text)],
        }
    }

    /// The turn's text parts joined by a blank line (what text-only families see).
    pub fn text(&self) -> String {
        join_text(&self.content, "\n\n")
    }
}

/// A model invocation, independent of the model family and of the API path.
///
/// `turns` starts with a user turn and alternates roles; it ends with the
/// user's, or with an assistant prefill where the model continues one; the transport
/// layer builds it from the client's `messages` and `prompt`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvocationRequest {
    pub model_id: String,
    /// The system prompt: text, with cache points (normalised: no blank
    /// text, no point that marks nothing).
    pub system: SystemPrompt,
    pub turns: Vec<Turn>,
    /// The answer's token ceiling; `None` when the request named none:
    /// Converse then leaves it to the model's own default, and a family body
    /// (which needs one) gets [`DEFAULT_MAX_TOKENS`].
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop_sequences: Vec<String>,
    /// Tools the model may call (empty: none offered).
    pub tools: Vec<Tool>,
    /// A prompt-cache checkpoint after `tools` (only with tools).
    pub tools_cache_point: bool,
    /// That checkpoint's TTL, when the request named one.
    pub tools_cache_ttl: Option<crate::parts::CacheTtl>,
    pub tool_choice: ToolChoice,
    /// At most one tool call per answer (the client said
    /// `parallel_tool_calls: false`): Claude's `disable_parallel_tool_use`;
    /// Converse has no such switch, so its models decide.
    pub one_tool_call: bool,
    /// Extended thinking's token budget, when asked for.
    pub reasoning_budget: Option<u32>,
    /// The model family's InvokeModel body exactly as a drop-in client sent
    /// it (beta flags, cache points, thinking, tools kept): sent instead of a
    /// body built from the fields above, which still describe the request
    /// for validation, limits and the session. Ignored by ConverseStream.
    pub raw_body: Option<serde_json::Value>,
    /// Converse's `additionalModelRequestFields` exactly as a drop-in client
    /// sent them (thinking included): sent instead of the fields built from
    /// `reasoning_budget`. Ignored by InvokeModel.
    pub converse_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Bedrock's per-call options, as a drop-in client named them.
    pub call_options: CallOptions,
    /// The Bedrock guardrail to apply (the request's, or the deployment default).
    pub guardrail: Option<super::guardrail::Guardrail>,
    /// Structured output and effort (Converse's `outputConfig`, Claude's
    /// `output_config`; no other family body has a place for them).
    pub output_config: crate::parts::OutputConfig,
    /// The model's family when its id does not say: an application
    /// inference profile's declared model's (`SPILLWAY_PROFILE_MODELS`).
    pub family: Option<super::models::ModelFamily>,
}

/// Bedrock's per-call options a drop-in client names, sent on as named
/// (Bedrock refuses what a model does not offer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallOptions {
    /// Latency-optimized inference (Converse's `performanceConfig`,
    /// InvokeModel's `X-Amzn-Bedrock-PerformanceConfig-Latency`).
    pub latency_optimized: bool,
    /// The service tier: `default`, `flex`, `priority` or `reserved`
    /// (Converse's `serviceTier.type`, InvokeModel's `X-Amzn-Bedrock-Service-Tier`).
    pub service_tier: Option<String>,
    /// `requestMetadata`: key-value pairs for the invocation logs (Converse's
    /// body, InvokeModel's header).
    pub request_metadata: Option<std::collections::HashMap<String, String>>,
}

/// The `max_tokens` of a family body when the request named none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

impl InvocationRequest {
    /// The model's family: its id's, or the one the policy resolved.
    pub fn family(&self) -> Option<super::models::ModelFamily> {
        super::models::ModelFamily::from_model_id(&self.model_id).or(self.family)
    }

    /// `max_tokens` for a family body, which needs one.
    pub fn body_max_tokens(&self) -> u32 {
        self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)
    }
}

/// Token counts reported by the model, and what they cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens read from Bedrock's prompt cache (when it reports them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Prompt tokens written to Bedrock's prompt cache (when it reports them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
    /// What the tokens cost in USD, when the model has a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl Usage {
    /// Every prompt token: uncached input plus cache reads and writes (Bedrock's
    /// `inputTokens` counts only the uncached ones; OpenAI's `prompt_tokens` all).
    pub fn prompt_tokens(&self) -> u64 {
        self.input_tokens
            + self.cache_read_input_tokens.unwrap_or(0)
            + self.cache_write_input_tokens.unwrap_or(0)
    }
}

/// One decoded piece of a model's stream, whatever the family.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// Generated text to show the user.
    Text(String),
    /// The model said why it stopped (`end_turn`, `max_tokens`, …, normalised
    /// to Bedrock Converse's names where the family has its own).
    Stop(String),
    /// Which of the request's stop sequences ended the answer (Claude says).
    StopSequence(String),
    /// Token counts (may arrive more than once; later values win per field).
    Usage {
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
        cache_read_input_tokens: Option<u64>,
        cache_write_input_tokens: Option<u64>,
    },
    /// Bedrock's own latency figures from `amazon-bedrock-invocationMetrics`.
    Latency {
        invocation_ms: Option<u64>,
        first_byte_ms: Option<u64>,
    },
    /// Reasoning text (extended thinking).
    Reasoning(String),
    /// The signature that closes a reasoning block.
    ReasoningSignature(String),
    /// A reasoning block the provider redacted (opaque, base64).
    ReasoningRedacted(String),
    /// A tool call begins.
    ToolStart { id: String, name: String },
    /// A piece of the tool call's input JSON text.
    ToolInput(String),
    /// A source the answer cites.
    Citation {
        title: Option<String>,
        source: Option<String>,
        text: Option<String>,
        /// Where in the documents ([`Part::Citation`](crate::parts::Part)'s `location`).
        location: Option<serde_json::Value>,
    },
    /// A guardrail's verdict on the answer: `INTERVENED`, or `NONE` with the
    /// assessment when a trace was asked for; `trace` is Bedrock's guardrail trace.
    Guardrail {
        action: String,
        trace: Option<serde_json::Value>,
    },
    /// The current content block ended.
    BlockEnd,
    /// A frame with nothing to show (a block start, a ping): the model is
    /// still working, so the idle timer starts over.
    Alive,
}
