//! Claude's InvokeModel answers: the session's events as Anthropic stream
//! events (the Anthropic Messages renderer, `render::anthropic`),
//! each in a `chunk` frame, `message_stop` carrying
//! `amazon-bedrock-invocationMetrics` (and a guardrail's verdict); or one Anthropic `message` object.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use serde_json::Value;

use super::frames::chunk_frame;
use super::guardrail::Verdict;
use super::invoke_render::InvocationMetrics;
use super::session::Render;
use crate::event::TokenEvent;
use crate::render::anthropic::{Renderer, message};
use crate::upstream::Usage;

/// Bedrock's message id for a session (`msg_bdrk_…`).
fn message_id(session_id: &str) -> String {
    format!("msg_bdrk_{}", session_id.replace('-', ""))
}

/// Anthropic stream events as `chunk` frames.
pub struct ClaudeChunks {
    renderer: Renderer,
    metrics: InvocationMetrics,
    verdict: Verdict,
}

impl ClaudeChunks {
    pub fn new(session_id: &str, model: &str, started: Instant) -> Self {
        Self {
            renderer: Renderer::new(&message_id(session_id), model),
            metrics: InvocationMetrics::new(started),
            verdict: Verdict::default(),
        }
    }
}

impl Render for ClaudeChunks {
    fn start(&mut self, prompt: Option<Usage>) -> Vec<Bytes> {
        vec![chunk_frame(&self.renderer.start(prompt))]
    }

    fn render(&mut self, ev: &TokenEvent) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.renderer.render(ev, &mut out);
        self.verdict.note(ev);
        if !out.is_empty() {
            self.metrics.output();
        }
        out.into_iter()
            .map(|mut chunk| {
                if chunk.get("type").and_then(Value::as_str) == Some("message_stop") {
                    chunk["amazon-bedrock-invocationMetrics"] = self.metrics.json(ev.usage);
                    self.verdict.mark_invoke(&mut chunk);
                }
                chunk_frame(&chunk)
            })
            .collect()
    }

    fn converse(&self) -> bool {
        false
    }
}

/// The non-streaming answer: one Anthropic `message`.
pub fn claude_message(session_id: &str, model: &str, events: &[Arc<TokenEvent>]) -> Value {
    message(&message_id(session_id), model, events)
}
