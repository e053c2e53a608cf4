//! `stream: true`: the session's events as `chat.completion.chunk`s over SSE.
//!
//! Text is `delta.content`. Reasoning text streams as
//! `delta.reasoning_content`; each replayable block comes once, whole, as
//! LiteLLM's `delta.thinking_blocks` entry when it ends: a signed block as
//! `{"index","type":"thinking","thinking":<its whole text>,"signature"}`, a
//! redacted one as `{"index","type":"redacted_thinking","data"}`. `index` is
//! the block's place among the answer's thinking blocks: the openai SDKs'
//! stream helpers merge list deltas by it (Python's refuses an entry
//! without one), and since each block comes once, a helper that keeps the
//! last value of a field (TypeScript's) still holds a block it can replay.
//! Unsigned reasoning (a model without signatures) has nothing to replay.
//! A tool call is `delta.tool_calls[]` with a dense 0-based `index` among the
//! answer's tool calls: `id`, `type` and `function.name` in its first delta,
//! then `function.arguments` pieces; its end adds nothing, unless no input
//! streamed (then it brings the whole input, so clients always parse JSON).
//! The forced call of a JSON answer (`response_format`) is `delta.content`.

use std::time::Duration;

use axum::response::Response;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use super::Meta;
use super::error::stream_error;
use super::response_format::JsonAnswer;
use super::usage::{self, Spent};
use crate::event::{EventKind, TokenEvent};
use crate::hub::Subscription;
use crate::parts::Part;
use crate::render::sse;

/// The deltas of one answer, in order: what each event adds.
#[derive(Debug, Default)]
pub(super) struct Deltas {
    /// Tool calls seen so far, by dense index: the answer block each is, and
    /// whether any of its arguments went out.
    tools: Vec<(u32, bool)>,
    /// Thinking blocks seen so far, by dense index: the answer block each is.
    thinking: Vec<u32>,
    /// The open thinking block's text so far, sent whole with its signature.
    thinking_text: String,
    /// The call whose input is the answer's `content` (`response_format`).
    json: JsonAnswer,
}

impl Deltas {
    /// The `delta` a non-final event adds, if OpenAI has a shape for it
    /// (citations and guardrail notes have none).
    pub fn delta(&mut self, ev: &TokenEvent) -> Option<Value> {
        let Some(part) = ev.part.as_deref() else {
            if ev.token.is_empty() {
                return None;
            }
            return self.json.plain(&ev.token).map(|t| json!({"content": t}));
        };
        if let Some(text) = self.json.text(part) {
            return (!text.is_empty()).then(|| json!({ "content": text }));
        }
        // A client's tool call: text held for a JSON answer was the answer's.
        let held = match part {
            Part::ToolCall { .. } => self.json.release(),
            _ => String::new(),
        };
        let delta = self.part(part);
        if held.is_empty() {
            return delta;
        }
        let mut delta = delta.unwrap_or_else(|| json!({}));
        delta["content"] = Value::String(held);
        Some(delta)
    }

    /// Text still held for a JSON answer that never came: the answer's own,
    /// let out at its end.
    pub fn flush(&mut self) -> Option<Value> {
        let held = self.json.release();
        (!held.is_empty()).then(|| json!({ "content": held }))
    }

    /// The delta of a part that is not the JSON answer's.
    fn part(&mut self, part: &Part) -> Option<Value> {
        match part {
            Part::Reasoning {
                index,
                text: Some(text),
                ..
            } if !text.is_empty() => {
                self.thinking_block(*index);
                self.thinking_text.push_str(text);
                Some(json!({ "reasoning_content": text }))
            }
            Part::Reasoning {
                index,
                signature: Some(signature),
                ..
            } => {
                let n = self.thinking_block(*index);
                let thinking = std::mem::take(&mut self.thinking_text);
                Some(json!({"thinking_blocks": [
                    {"index": n, "type": "thinking", "thinking": thinking, "signature": signature},
                ]}))
            }
            Part::Reasoning {
                index,
                redacted: Some(data),
                ..
            } => {
                let n = self.thinking_block(*index);
                Some(json!({"thinking_blocks": [
                    {"index": n, "type": "redacted_thinking", "data": data},
                ]}))
            }
            Part::ToolCall {
                index,
                id,
                name,
                input_delta,
                input,
            } => self.tool(
                *index,
                id.as_deref(),
                name.as_deref(),
                input_delta.as_deref(),
                input.as_ref(),
            ),
            Part::Reasoning { .. } | Part::Citation { .. } | Part::Guardrail { .. } => None,
        }
    }

    /// The dense index of answer block `block` among the thinking blocks; a
    /// new block starts with no text.
    fn thinking_block(&mut self, block: u32) -> usize {
        if let Some(n) = self.thinking.iter().position(|b| *b == block) {
            return n;
        }
        self.thinking.push(block);
        self.thinking_text.clear();
        self.thinking.len() - 1
    }

    /// Whether the answer called tools (other than a JSON answer's).
    pub fn calls(&self) -> bool {
        !self.tools.is_empty()
    }

    /// Deltas where the call of `json_tool` is the answer's text.
    pub fn with_json_tool(json_tool: Option<String>) -> Self {
        Self {
            json: JsonAnswer::new(json_tool),
            ..Self::default()
        }
    }

    /// A tool call's start, input piece or end.
    fn tool(
        &mut self,
        block: u32,
        id: Option<&str>,
        name: Option<&str>,
        input_delta: Option<&str>,
        input: Option<&Value>,
    ) -> Option<Value> {
        let Some(n) = self.tools.iter().position(|(b, _)| *b == block) else {
            // A call seen first here: its head, with what input there is.
            let arguments = input_delta
                .map(str::to_owned)
                .or_else(|| input.map(Value::to_string))
                .unwrap_or_default();
            self.tools.push((block, !arguments.is_empty()));
            return Some(json!({"tool_calls": [{
                "index": self.tools.len() - 1,
                "id": id.unwrap_or_default(),
                "type": "function",
                "function": {"name": name.unwrap_or_default(), "arguments": arguments},
            }]}));
        };
        let (_, sent) = self.tools.get_mut(n)?;
        let arguments = match (input_delta, input) {
            (Some(piece), _) if !piece.is_empty() => piece.to_owned(),
            // The end: all of the input when none of it went out, so a
            // client always has JSON to parse (`{}` at least).
            (None, Some(input)) if !*sent => input.to_string(),
            _ => return None,
        };
        *sent = true;
        Some(json!({"tool_calls": [{"index": n, "function": {"arguments": arguments}}]}))
    }
}

/// `stream: true`: a role delta at once, a delta per event OpenAI has a
/// shape for, the `finish_reason` chunk, the usage chunk when asked, then
/// `[DONE]`.
pub(super) fn stream_response(
    sub: Subscription,
    meta: Meta,
    include_usage: bool,
    heartbeat: Duration,
    metrics: &crate::metrics::Metrics,
) -> Response {
    // With `include_usage`, every chunk but the last carries `"usage": null`.
    let null_usage = include_usage.then_some(Value::Null);
    let choice = |delta: Value, finish: Option<&str>| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let first = meta.chunk(
        choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ),
        null_usage.clone(),
    );
    let mut deltas = Deltas::with_json_tool(meta.json_tool.clone());
    let mut spent = Spent::default();
    let rest = metrics
        .counted("openai", sub.into_stream())
        .flat_map(move |ev| {
            let mut out = Vec::with_capacity(2);
            match ev.kind() {
                EventKind::Done => {
                    out.extend(
                        deltas
                            .flush()
                            .map(|d| meta.chunk(choice(d, None), null_usage.clone())),
                    );
                    let reason = meta.finish_reason(ev.stop_reason.as_deref(), deltas.calls());
                    out.push(meta.chunk(choice(json!({}), Some(reason)), null_usage.clone()));
                    if include_usage {
                        out.push(meta.chunk(json!([]), Some(usage::chat(ev.usage, &spent))));
                    }
                }
                EventKind::Error => {
                    out.extend(
                        deltas
                            .flush()
                            .map(|d| meta.chunk(choice(d, None), null_usage.clone())),
                    );
                    out.extend(
                        ev.error
                            .as_ref()
                            .map(|e| json!({ "error": stream_error(e) })),
                    );
                }
                _ => {
                    spent.add(&ev);
                    out.extend(
                        deltas
                            .delta(&ev)
                            .map(|d| meta.chunk(choice(d, None), null_usage.clone())),
                    );
                }
            }
            stream::iter(out)
        });
    let frames = stream::once(async { first })
        .chain(rest)
        .map(|v| sse::json_frame(None, &v))
        .chain(stream::once(async { sse::frame(None, None, "[DONE]") }));
    sse::response(frames, heartbeat, sse::comment("heartbeat"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(token: &str, part: Option<Part>) -> TokenEvent {
        TokenEvent::test_event(token, part)
    }

    fn deltas(events: &[TokenEvent]) -> Vec<Value> {
        let mut d = Deltas::default();
        events.iter().filter_map(|e| d.delta(e)).collect()
    }

    #[test]
    fn reasoning_then_text() {
        let out = deltas(&[
            ev("", Some(Part::reasoning_text(0, "hm".into()))),
            ev("", Some(Part::reasoning_text(0, ", ok".into()))),
            ev("", Some(Part::reasoning_signature(0, "sig".into()))),
            ev("", Some(Part::reasoning_redacted(1, "AAAA".into()))),
            ev("Hi", None),
            ev("", Some(Part::reasoning_text(3, "again".into()))),
            ev("", Some(Part::reasoning_signature(3, "sig2".into()))),
            ev("", None),
        ]);
        assert_eq!(
            out,
            [
                json!({"reasoning_content": "hm"}),
                json!({"reasoning_content": ", ok"}),
                json!({"thinking_blocks": [{"index": 0, "type": "thinking", "thinking": "hm, ok", "signature": "sig"}]}),
                json!({"thinking_blocks": [{"index": 1, "type": "redacted_thinking", "data": "AAAA"}]}),
                json!({"content": "Hi"}),
                json!({"reasoning_content": "again"}),
                json!({"thinking_blocks": [{"index": 2, "type": "thinking", "thinking": "again", "signature": "sig2"}]}),
            ]
        );
    }

    #[test]
    fn text_before_a_json_answer_is_held_and_dropped_or_let_out() {
        let json_answer = || Deltas::with_json_tool(Some("place".into()));
        let mut d = json_answer();
        let out: Vec<Value> = [
            ev("Let me see.", None),
            ev("", Some(Part::tool_start(0, "c0".into(), "place".into()))),
            ev("", Some(Part::tool_input(0, "{}".into()))),
        ]
        .iter()
        .filter_map(|e| d.delta(e))
        .collect();
        assert_eq!(out, [json!({"content": "{}"})]);
        assert_eq!(d.flush(), None);
        // Before a client's tool call, the held text goes out with it.
        let mut d = json_answer();
        assert_eq!(d.delta(&ev("Checking.", None)), None);
        let call = d
            .delta(&ev("", Some(Part::tool_start(1, "c1".into(), "w".into()))))
            .unwrap();
        assert_eq!(call["content"], "Checking.");
        assert_eq!(call["tool_calls"][0]["function"]["name"], "w");
        // No call at all: the end lets it out.
        let mut d = json_answer();
        assert_eq!(d.delta(&ev("Sorry.", None)), None);
        assert_eq!(d.flush(), Some(json!({"content": "Sorry."})));
    }

    #[test]
    fn tool_calls_get_dense_indices() {
        let out = deltas(&[
            ev("Let me look.", None),
            ev("", Some(Part::tool_start(1, "c1".into(), "w".into()))),
            ev("", Some(Part::tool_input(1, String::new()))),
            ev("", Some(Part::tool_input(1, "{\"city\":".into()))),
            ev("", Some(Part::tool_input(1, "\"Oslo\"}".into()))),
            ev(
                "",
                Some(Part::tool_end(
                    1,
                    "c1".into(),
                    "w".into(),
                    json!({"city": "Oslo"}),
                )),
            ),
            ev("", Some(Part::tool_start(2, "c2".into(), "now".into()))),
            ev(
                "",
                Some(Part::tool_end(2, "c2".into(), "now".into(), json!({}))),
            ),
            ev(
                "",
                Some(Part::tool_end(3, "c3".into(), "w".into(), json!({"a": 1}))),
            ),
        ]);
        assert_eq!(
            out,
            [
                json!({"content": "Let me look."}),
                json!({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "w", "arguments": ""}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]}),
                json!({"tool_calls": [{"index": 1, "id": "c2", "type": "function", "function": {"name": "now", "arguments": ""}}]}),
                // No input streamed: the end brings it, so clients parse `{}`.
                json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
                // An end never started: the whole call at once.
                json!({"tool_calls": [{"index": 2, "id": "c3", "type": "function", "function": {"name": "w", "arguments": "{\"a\":1}"}}]}),
            ]
        );
    }

    #[test]
    fn a_json_answer_streams_as_content() {
        let mut d = Deltas::with_json_tool(Some("place".into()));
        let out: Vec<Value> = [
            ev("", Some(Part::tool_start(0, "c1".into(), "place".into()))),
            ev("", Some(Part::tool_input(0, "{\"city\":".into()))),
            ev("", Some(Part::tool_input(0, "\"Oslo\"}".into()))),
            ev(
                "",
                Some(Part::tool_end(
                    0,
                    "c1".into(),
                    "place".into(),
                    json!({"city": "Oslo"}),
                )),
            ),
        ]
        .iter()
        .filter_map(|e| d.delta(e))
        .collect();
        assert_eq!(
            out,
            [
                json!({"content": "{\"city\":"}),
                json!({"content": "\"Oslo\"}"})
            ]
        );
        // A call whose input never streamed brings it whole at its end.
        let mut d = Deltas::with_json_tool(Some("place".into()));
        let whole = d.delta(&ev(
            "",
            Some(Part::tool_end(
                0,
                "c1".into(),
                "place".into(),
                json!({"a": 1}),
            )),
        ));
        assert_eq!(whole, Some(json!({"content": "{\"a\":1}"})));
    }

    #[test]
    fn citations_and_guardrails_add_nothing() {
        let out = deltas(&[
            ev(
                "",
                Some(Part::Citation {
                    index: 0,
                    title: None,
                    source: None,
                    text: None,
                    location: None,
                }),
            ),
            ev(
                "",
                Some(Part::Guardrail {
                    action: "x".into(),
                    trace: None,
                }),
            ),
        ]);
        assert!(out.is_empty());
    }
}
