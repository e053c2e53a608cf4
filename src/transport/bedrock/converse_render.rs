//! A session's events as Converse: stream events (`messageStart`,
//! `contentBlockStart` for tool use only, `contentBlockDelta`,
//! `contentBlockStop`, `messageStop`, `metadata`) and the non-streaming
//! response. Nova's InvokeModel chunks are the same objects, one per chunk.
//!
//! Block indices are dense over what is rendered: a text run, a reasoning
//! block, a tool call each take the next one. A tool call gets a
//! `contentBlockStart` (the SDKs cannot read an empty one: BEDROCK.md fact
//! 6); a tool call whose input never streamed brings it whole at its end.

use std::time::Instant;

use serde_json::{Value, json};

use crate::event::TokenEvent;
use crate::parts::{Content, Part, answer};
use crate::upstream::Usage;

/// Which kind of block is open, with its index in the answer (the part's
/// `index`; text runs have none) and its rendered index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning(u32),
    /// A tool call, and whether any of its input went out.
    Tool(u32, bool),
}

/// Renders one session's events as Converse stream events, in order.
#[derive(Debug)]
pub struct ConverseEvents {
    open: Option<(Open, u32)>,
    next: u32,
    started: Instant,
}

impl Default for ConverseEvents {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl ConverseEvents {
    /// `started`: when the call came in (for `metrics.latencyMs`).
    pub fn new(started: Instant) -> Self {
        Self {
            open: None,
            next: 0,
            started,
        }
    }

    /// The first event, sent before any output.
    pub fn start() -> (&'static str, Value) {
        ("messageStart", json!({"role": "assistant"}))
    }

    /// The events `ev` adds (`(event type, payload)`); errors are the caller's.
    pub fn render(&mut self, ev: &TokenEvent, out: &mut Vec<(&'static str, Value)>) {
        if ev.is_complete {
            if ev.error.is_none() {
                self.close(out);
                out.push((
                    "messageStop",
                    json!({"stopReason": stop_reason(ev.stop_reason.as_deref())}),
                ));
                out.push(("metadata", self.metadata(ev.usage)));
            }
            return;
        }
        let Some(part) = ev.part.as_deref() else {
            if !ev.token.is_empty() {
                let i = self.enter(Open::Text, out);
                out.push(delta(i, json!({"text": ev.token})));
            }
            return;
        };
        match part {
            Part::Reasoning {
                index,
                text,
                signature,
                redacted,
            } => {
                let i = self.enter(Open::Reasoning(*index), out);
                if let Some(t) = text.as_deref().filter(|t| !t.is_empty()) {
                    out.push(delta(i, json!({"reasoningContent": {"text": t}})));
                }
                if let Some(s) = signature {
                    out.push(delta(i, json!({"reasoningContent": {"signature": s}})));
                }
                if let Some(r) = redacted {
                    out.push(delta(
                        i,
                        json!({"reasoningContent": {"redactedContent": r}}),
                    ));
                }
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
                out,
            ),
            Part::Citation { .. } => {
                let i = self.enter(Open::Text, out);
                if let Some(c) = citation(part) {
                    out.push(delta(i, json!({ "citation": c })));
                }
            }
            Part::Guardrail { .. } => {}
        }
    }

    fn tool(
        &mut self,
        index: u32,
        id: Option<&str>,
        name: Option<&str>,
        piece: Option<&str>,
        input: Option<&Value>,
        out: &mut Vec<(&'static str, Value)>,
    ) {
        let i = match self.open {
            Some((Open::Tool(b, _), i)) if b == index => i,
            _ => {
                self.close(out);
                let i = self.next;
                self.next += 1;
                self.open = Some((Open::Tool(index, false), i));
                out.push((
                    "contentBlockStart",
                    json!({"contentBlockIndex": i, "start": {"toolUse": {
                        "toolUseId": id.unwrap_or_default(),
                        "name": name.unwrap_or_default(),
                    }}}),
                ));
                i
            }
        };
        if let Some(p) = piece.filter(|p| !p.is_empty()) {
            out.push(delta(i, json!({"toolUse": {"input": p}})));
            self.open = Some((Open::Tool(index, true), i));
        }
        if let Some(input) = input {
            if self.open == Some((Open::Tool(index, false), i)) {
                out.push(delta(i, json!({"toolUse": {"input": input.to_string()}})));
            }
            self.close(out);
        }
    }

    /// The rendered index of a text or reasoning block, opening it if needed.
    fn enter(&mut self, kind: Open, out: &mut Vec<(&'static str, Value)>) -> u32 {
        if let Some((open, i)) = self.open
            && open == kind
        {
            return i;
        }
        self.close(out);
        let i = self.next;
        self.next += 1;
        self.open = Some((kind, i));
        i
    }

    fn close(&mut self, out: &mut Vec<(&'static str, Value)>) {
        if let Some((_, i)) = self.open.take() {
            out.push(("contentBlockStop", json!({"contentBlockIndex": i})));
        }
    }

    fn metadata(&self, usage: Option<Usage>) -> Value {
        json!({
            "usage": usage_json(usage),
            "metrics": {"latencyMs": latency_ms(self.started)},
        })
    }
}

fn delta(i: u32, delta: Value) -> (&'static str, Value) {
    (
        "contentBlockDelta",
        json!({"contentBlockIndex": i, "delta": delta}),
    )
}

/// Milliseconds since `started`.
pub fn latency_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A citation part as Converse's `Citation` (a stream's `citation` delta
/// and an item of a `citationsContent` block alike).
fn citation(part: &Part) -> Option<Value> {
    let Part::Citation {
        title,
        source,
        text,
        location,
        ..
    } = part
    else {
        return None;
    };
    let mut c = json!({});
    if let Some(t) = title {
        c["title"] = json!(t);
    }
    if let Some(s) = source {
        c["source"] = json!(s);
    }
    if let Some(t) = text {
        c["sourceContent"] = json!([{"text": t}]);
    }
    if let Some(l) = location.as_ref().and_then(converse_location) {
        c["location"] = l;
    }
    Some(c)
}

/// A citation's location (Anthropic's names, as the event keeps it) in
/// Converse's: `documentChar`, `documentPage` or `documentChunk`, each
/// `{documentIndex, start, end}`.
fn converse_location(l: &Value) -> Option<Value> {
    let (kind, start, end) = match l["type"].as_str()? {
        "char_location" => ("documentChar", "start_char_index", "end_char_index"),
        "page_location" => ("documentPage", "start_page_number", "end_page_number"),
        "content_block_location" => ("documentChunk", "start_block_index", "end_block_index"),
        _ => return None,
    };
    Some(json!({ kind: {
        "documentIndex": l["document_index"],
        "start": l[start],
        "end": l[end],
    }}))
}

/// Converse's `usage`.
pub fn usage_json(usage: Option<Usage>) -> Value {
    let u = usage.unwrap_or_default();
    let mut v = json!({
        "inputTokens": u.input_tokens,
        "outputTokens": u.output_tokens,
        "totalTokens": u.prompt_tokens() + u.output_tokens,
    });
    if let Some(n) = u.cache_read_input_tokens {
        v["cacheReadInputTokens"] = n.into();
    }
    if let Some(n) = u.cache_write_input_tokens {
        v["cacheWriteInputTokens"] = n.into();
    }
    v
}

/// The session's stop reason (Converse's names already); a session its
/// owner cancelled ends as `end_turn`.
pub fn stop_reason(reason: Option<&str>) -> &str {
    match reason {
        None | Some("cancelled" | "") => "end_turn",
        Some(r) => r,
    }
}

/// The non-streaming Converse response (and Nova's InvokeModel response)
/// of a finished session's events. A cited run of text is a
/// `citationsContent` block (the text and its citations), as Bedrock answers.
pub fn response(events: &[&TokenEvent], started: Instant) -> Value {
    let last = events.last().filter(|e| e.is_complete);
    let mut citations = answer::text_citations(events.iter().copied(), citation).into_iter();
    let content: Vec<Value> = answer::content(events.iter().copied())
        .into_iter()
        .filter_map(|c| match c {
            Content::Text { text } => Some(match citations.next().filter(|c| !c.is_empty()) {
                Some(cited) => json!({"citationsContent": {
                    "content": [{"text": text}],
                    "citations": cited,
                }}),
                None => json!({"text": text}),
            }),
            Content::Reasoning(r) => Some(match r.redacted {
                Some(data) => json!({"reasoningContent": {"redactedContent": data}}),
                None => {
                    let mut t = json!({"text": r.text.unwrap_or_default()});
                    if let Some(s) = r.signature {
                        t["signature"] = json!(s);
                    }
                    json!({"reasoningContent": {"reasoningText": t}})
                }
            }),
            Content::ToolCall { id, name, input } => {
                Some(json!({"toolUse": {"toolUseId": id, "name": name, "input": input}}))
            }
            _ => None,
        })
        .collect();
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(last.and_then(|e| e.stop_reason.as_deref())),
        "usage": usage_json(last.and_then(|e| e.usage)),
        "metrics": {"latencyMs": latency_ms(started)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(token: &str, part: Option<Part>) -> TokenEvent {
        TokenEvent::test_event(token, part)
    }

    fn done() -> TokenEvent {
        let mut e = ev("", None);
        e.is_complete = true;
        e.stop_reason = Some("tool_use".into());
        e.usage = Some(Usage {
            input_tokens: 3,
            output_tokens: 4,
            ..Usage::default()
        });
        e
    }

    #[test]
    fn events_become_converse_stream_events() {
        let events = [
            ev("", Some(Part::reasoning_text(0, "hm".into()))),
            ev("", Some(Part::reasoning_signature(0, "sig".into()))),
            ev("Let me ", None),
            ev("look.", None),
            ev("", Some(Part::tool_start(2, "t1".into(), "w".into()))),
            ev("", Some(Part::tool_input(2, "{\"a\":1}".into()))),
            ev(
                "",
                Some(Part::tool_end(2, "t1".into(), "w".into(), json!({"a": 1}))),
            ),
            ev(
                "",
                Some(Part::tool_end(3, "t2".into(), "now".into(), json!({}))),
            ),
            done(),
        ];
        let mut r = ConverseEvents::default();
        let mut out = Vec::new();
        for e in &events {
            r.render(e, &mut out);
        }
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "contentBlockStart",
                "contentBlockDelta",
                "contentBlockStop",
                "contentBlockStart",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
        assert_eq!(
            out[1].1,
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}})
        );
        assert_eq!(
            out[4].1,
            json!({"contentBlockIndex": 1, "delta": {"text": "look."}})
        );
        assert_eq!(
            out[6].1,
            json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1", "name": "w"}}})
        );
        assert_eq!(
            out[10].1,
            json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}})
        );
        assert_eq!(out[12].1, json!({"stopReason": "tool_use"}));
        assert_eq!(
            out[13].1["usage"],
            json!({"inputTokens": 3, "outputTokens": 4, "totalTokens": 7})
        );
    }

    #[test]
    fn non_streaming_response() {
        let events = [
            ev("", Some(Part::reasoning_text(0, "hm".into()))),
            ev("", Some(Part::reasoning_signature(0, "sig".into()))),
            ev("Hi", None),
            ev(
                "",
                Some(Part::tool_end(2, "t1".into(), "w".into(), json!({"a": 1}))),
            ),
            done(),
        ];
        let refs: Vec<&TokenEvent> = events.iter().collect();
        let v = response(&refs, Instant::now());
        assert_eq!(
            v["output"]["message"]["content"],
            json!([
                {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "sig"}}},
                {"text": "Hi"},
                {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"a": 1}}}
            ])
        );
        assert_eq!(v["stopReason"], "tool_use");
        assert_eq!(v["usage"]["totalTokens"], 7);
    }
}
