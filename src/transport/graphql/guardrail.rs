//! `startStream(guardrail: GuardrailInput)`: the stream request's `guardrail`.

use async_graphql::{Enum, InputObject};

use crate::upstream::guardrail::{Guardrail, GuardrailTrace, StreamMode};

/// A Bedrock guardrail to apply to the stream (the deployment's default when absent).
#[derive(InputObject)]
pub struct GuardrailInput {
    /// The guardrail's id or ARN.
    pub id: String,
    /// A version number, or `DRAFT`.
    pub version: String,
    /// Report the guardrail's assessment in a `guardrail` part.
    pub trace: Option<bool>,
    /// `SYNC` (the default) holds chunks back until checked; `ASYNC` sends them at once.
    pub stream_processing_mode: Option<GuardrailStreamMode>,
}

/// How Bedrock applies a guardrail to a stream.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum GuardrailStreamMode {
    Sync,
    Async,
}

impl From<GuardrailInput> for Guardrail {
    fn from(g: GuardrailInput) -> Self {
        Guardrail {
            id: g.id,
            version: g.version,
            trace: if g.trace.unwrap_or(false) {
                GuardrailTrace::Enabled
            } else {
                GuardrailTrace::Disabled
            },
            stream_processing_mode: match g.stream_processing_mode {
                Some(GuardrailStreamMode::Async) => StreamMode::Async,
                _ => StreamMode::Sync,
            },
        }
    }
}
