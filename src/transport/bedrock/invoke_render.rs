//! A session's events as InvokeModel answers for Nova and the text
//! families: each family's streamed chunk objects (the shapes its decoder
//! in `upstream::models` reads) as `chunk` frames, the last one carrying
//! `amazon-bedrock-invocationMetrics` (and a guardrail's verdict); and each
//! family's response object.
//! Claude's are in [`super::claude_render`].

use std::time::Instant;

use axum::body::Bytes;
use serde_json::{Value, json};

use super::converse_render::{ConverseEvents, latency_ms, stop_reason};
use super::frames::chunk_frame;
use super::guardrail::Verdict;
use super::session::Render;
use crate::event::TokenEvent;
use crate::parts::Part;
use crate::upstream::Usage;
use crate::upstream::models::ModelFamily;

/// Bedrock's `amazon-bedrock-invocationMetrics` of one call.
#[derive(Debug, Clone, Copy)]
pub struct InvocationMetrics {
    started: Instant,
    first_byte: Option<Instant>,
}

impl InvocationMetrics {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            first_byte: None,
        }
    }

    /// Note that output went out (the first time counts).
    pub fn output(&mut self) {
        self.first_byte.get_or_insert_with(Instant::now);
    }

    /// `{inputTokenCount, outputTokenCount, invocationLatency, firstByteLatency}`, and
    /// `cacheReadInputTokenCount` / `cacheWriteInputTokenCount` when Bedrock reported them.
    pub fn json(&self, usage: Option<Usage>) -> Value {
        let u = usage.unwrap_or_default();
        let first = self.first_byte.map_or(0, |t| {
            u64::try_from(t.duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
        });
        let mut v = json!({
            "inputTokenCount": u.input_tokens,
            "outputTokenCount": u.output_tokens,
            "invocationLatency": latency_ms(self.started),
            "firstByteLatency": first,
        });
        if let Some(n) = u.cache_read_input_tokens {
            v["cacheReadInputTokenCount"] = n.into();
        }
        if let Some(n) = u.cache_write_input_tokens {
            v["cacheWriteInputTokenCount"] = n.into();
        }
        v
    }
}

/// The headers Bedrock puts on a whole InvokeModel answer: its token
/// counts and latency (`X-Amzn-Bedrock-Input-Token-Count`, …), read by
/// LiteLLM, botocore's OpenTelemetry instrumentation and cost scripts.
pub fn whole_answer_headers(
    headers: &mut axum::http::HeaderMap,
    usage: Option<Usage>,
    started: Instant,
) {
    let u = usage.unwrap_or_default();
    let counts = [
        ("x-amzn-bedrock-input-token-count", Some(u.input_tokens)),
        ("x-amzn-bedrock-output-token-count", Some(u.output_tokens)),
        (
            "x-amzn-bedrock-cache-read-input-token-count",
            u.cache_read_input_tokens,
        ),
        (
            "x-amzn-bedrock-cache-write-input-token-count",
            u.cache_write_input_tokens,
        ),
    ];
    for (name, n) in counts {
        if let Some(n) = n {
            headers.insert(name, axum::http::HeaderValue::from(n));
        }
    }
    headers.insert(
        "x-amzn-bedrock-invocation-latency",
        axum::http::HeaderValue::from(latency_ms(started)),
    );
}

/// Nova's chunks: Converse's events as `{"<eventType>": {…}}` objects.
pub struct NovaChunks {
    events: ConverseEvents,
    metrics: InvocationMetrics,
    verdict: Verdict,
}

impl NovaChunks {
    pub fn new(started: Instant) -> Self {
        Self {
            events: ConverseEvents::new(started),
            metrics: InvocationMetrics::new(started),
            verdict: Verdict::default(),
        }
    }
}

impl Render for NovaChunks {
    fn start(&mut self, _prompt: Option<Usage>) -> Vec<Bytes> {
        let (name, payload) = ConverseEvents::start();
        vec![chunk_frame(&json!({ name: payload }))]
    }

    fn render(&mut self, ev: &TokenEvent) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.events.render(ev, &mut out);
        self.verdict.note(ev);
        if !out.is_empty() {
            self.metrics.output();
        }
        out.into_iter()
            .map(|(name, payload)| {
                let mut chunk = json!({ name: payload });
                if name == "metadata" {
                    nova_cache_names(&mut chunk["metadata"]["usage"]);
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

/// Nova's own names for the cache counts of a Converse `usage` object
/// (`cacheReadInputTokenCount`, `cacheWriteInputTokenCount`).
pub fn nova_cache_names(usage: &mut Value) {
    if let Some(u) = usage.as_object_mut() {
        for (converse, nova) in [
            ("cacheReadInputTokens", "cacheReadInputTokenCount"),
            ("cacheWriteInputTokens", "cacheWriteInputTokenCount"),
        ] {
            if let Some(n) = u.remove(converse) {
                u.insert(nova.to_owned(), n);
            }
        }
    }
}

/// The text families' chunks: text (DeepSeek R1's reasoning too, closed by
/// `</think>` as R1 writes it), then a final chunk with the stop reason,
/// the counts and the invocation metrics.
pub struct TextChunks {
    family: ModelFamily,
    metrics: InvocationMetrics,
    verdict: Verdict,
    /// All text so far (Cohere's `stream-end` repeats it).
    text: String,
    /// R1 reasoning went out and its `</think>` not yet.
    thinking: bool,
}

impl TextChunks {
    pub fn new(family: ModelFamily, started: Instant) -> Self {
        Self {
            family,
            metrics: InvocationMetrics::new(started),
            verdict: Verdict::default(),
            text: String::new(),
            thinking: false,
        }
    }

    fn text_chunk(&mut self, t: &str) -> Value {
        self.metrics.output();
        self.text.push_str(t);
        match self.family {
            ModelFamily::AmazonTitanText => json!({"outputText": t, "index": 0}),
            ModelFamily::MetaLlama => json!({"generation": t}),
            ModelFamily::Mistral => json!({"outputs": [{"text": t, "stop_reason": null}]}),
            ModelFamily::CohereCommandR => {
                json!({"is_finished": false, "event_type": "text-generation", "text": t})
            }
            _ => json!({"choices": [{"text": t, "stop_reason": null}]}),
        }
    }
}

impl Render for TextChunks {
    fn start(&mut self, _prompt: Option<Usage>) -> Vec<Bytes> {
        Vec::new()
    }

    fn render(&mut self, ev: &TokenEvent) -> Vec<Bytes> {
        self.verdict.note(ev);
        if ev.is_complete {
            let mut last = final_chunk(self.family, ev, &self.text);
            last["amazon-bedrock-invocationMetrics"] = self.metrics.json(ev.usage);
            self.verdict.mark_invoke(&mut last);
            return vec![chunk_frame(&last)];
        }
        let text = match ev.part.as_deref() {
            None if !ev.token.is_empty() => {
                if std::mem::take(&mut self.thinking) {
                    format!("\n</think>\n\n{}", ev.token)
                } else {
                    ev.token.clone()
                }
            }
            Some(Part::Reasoning { text: Some(t), .. }) if !t.is_empty() => {
                self.thinking = true;
                t.clone()
            }
            _ => return Vec::new(),
        };
        vec![chunk_frame(&self.text_chunk(&text))]
    }

    fn converse(&self) -> bool {
        false
    }
}

/// The family's name for a Converse stop reason.
fn family_stop(family: ModelFamily, reason: &str) -> &'static str {
    let length = reason == "max_tokens";
    match family {
        ModelFamily::AmazonTitanText if length => "LENGTH",
        ModelFamily::AmazonTitanText if reason == "stop_sequence" => "STOP_CRITERIA_MET",
        ModelFamily::AmazonTitanText => "FINISH",
        ModelFamily::CohereCommandR if length => "MAX_TOKENS",
        ModelFamily::CohereCommandR => "COMPLETE",
        _ if length => "length",
        _ => "stop",
    }
}

/// The last streamed chunk of a text family: the stop reason and counts.
fn final_chunk(family: ModelFamily, ev: &TokenEvent, text: &str) -> Value {
    let u = ev.usage.unwrap_or_default();
    let stop = family_stop(family, stop_reason(ev.stop_reason.as_deref()));
    match family {
        ModelFamily::AmazonTitanText => json!({
            "outputText": "", "index": 0,
            "totalOutputTextTokenCount": u.output_tokens,
            "completionReason": stop,
            "inputTextTokenCount": u.input_tokens,
        }),
        ModelFamily::MetaLlama => json!({
            "generation": "",
            "prompt_token_count": u.input_tokens,
            "generation_token_count": u.output_tokens,
            "stop_reason": stop,
        }),
        ModelFamily::Mistral => json!({"outputs": [{"text": "", "stop_reason": stop}]}),
        ModelFamily::CohereCommandR => json!({
            "is_finished": true, "event_type": "stream-end", "finish_reason": stop,
            "response": {"text": text, "finish_reason": stop},
        }),
        _ => json!({"choices": [{"text": "", "stop_reason": stop}]}),
    }
}

/// A text family's non-streaming InvokeModel response.
pub fn text_response(family: ModelFamily, events: &[&TokenEvent]) -> Value {
    let mut text = String::new();
    let mut thinking = false;
    for ev in events {
        match ev.part.as_deref() {
            None if !ev.token.is_empty() => {
                if std::mem::take(&mut thinking) {
                    text.push_str("\n</think>\n\n");
                }
                text.push_str(&ev.token);
            }
            Some(Part::Reasoning { text: Some(t), .. }) => {
                thinking = true;
                text.push_str(t);
            }
            _ => {}
        }
    }
    let last = events.last().filter(|e| e.is_complete);
    let u = last.and_then(|e| e.usage).unwrap_or_default();
    let stop = family_stop(
        family,
        stop_reason(last.and_then(|e| e.stop_reason.as_deref())),
    );
    match family {
        ModelFamily::AmazonTitanText => json!({
            "inputTextTokenCount": u.input_tokens,
            "results": [{"tokenCount": u.output_tokens, "outputText": text, "completionReason": stop}],
        }),
        ModelFamily::MetaLlama => json!({
            "generation": text,
            "prompt_token_count": u.input_tokens,
            "generation_token_count": u.output_tokens,
            "stop_reason": stop,
        }),
        ModelFamily::Mistral => json!({"outputs": [{"text": text, "stop_reason": stop}]}),
        ModelFamily::CohereCommandR => json!({"text": text, "finish_reason": stop}),
        _ => json!({"choices": [{"text": text, "stop_reason": stop}]}),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ev(token: &str, complete: bool) -> TokenEvent {
        TokenEvent {
            session_id: Arc::from("s"),
            seq: 0,
            token: token.into(),
            is_complete: complete,
            timestamp: String::new(),
            stop_reason: complete.then(|| "max_tokens".into()),
            stop_sequence: None,
            usage: complete.then_some(Usage {
                input_tokens: 2,
                output_tokens: 5,
                ..Usage::default()
            }),
            model: None,
            error: None,
            part: None,
            wire: Default::default(),
        }
    }

    #[test]
    fn text_families_decode_back_with_the_gateways_own_decoders() {
        for family in [
            ModelFamily::AmazonTitanText,
            ModelFamily::MetaLlama,
            ModelFamily::Mistral,
            ModelFamily::CohereCommandR,
            ModelFamily::DeepSeek,
        ] {
            let mut r = TextChunks::new(family, Instant::now());
            let chunks = [r.text_chunk("Hi"), {
                let mut c = final_chunk(family, &ev("", true), "Hi");
                c["amazon-bedrock-invocationMetrics"] = r.metrics.json(None);
                c
            }];
            let mut decoder = family.decoder();
            let mut deltas = Vec::new();
            for c in &chunks {
                deltas.extend(decoder.decode(c.to_string().as_bytes()).unwrap());
            }
            let text: String = deltas
                .iter()
                .filter_map(|d| match d {
                    crate::upstream::request::Delta::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(text, "Hi", "{family}");
            assert!(
                deltas.iter().any(
                    |d| matches!(d, crate::upstream::request::Delta::Stop(s) if s == "max_tokens")
                ),
                "{family}: {deltas:?}"
            );
        }
    }
}
