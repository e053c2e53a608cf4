//! The session log as Anthropic Messages events, a pure function of the log:
//! `message_start`, then each answer block as `content_block_start` /
//! `content_block_delta` (`text_delta`, `thinking_delta`, `signature_delta`,
//! `input_json_delta`) / `content_block_stop`, then `message_delta` (stop
//! reason, usage) and `message_stop`, or an `error` event. [`message`] gives
//! the same answer as one `message` object.
//!
//! Block indices are dense and counted here: text events carry no index, and
//! a part's `index` only says which events belong to one block. Citations and
//! guardrail notes have no Anthropic event of their own and are left out.

use std::sync::Arc;

use serde_json::{Value, json};

use axum::http::StatusCode;

use crate::error::ErrorCode;
use crate::event::{EventKind, TokenEvent};
use crate::parts::{Content, Part, answer};
use crate::upstream::Usage;

/// The block being written: its kind and, for parts, the log's `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// Opened and closed at once.
    Redacted,
    Thinking {
        part: u32,
    },
    /// A tool call; `streamed` once an `input_json_delta` went out.
    Tool {
        part: u32,
        streamed: bool,
    },
}

/// Turns a session's events into Anthropic streaming events, one at a time.
#[derive(Debug)]
pub struct Renderer {
    message_id: String,
    model: String,
    /// The Anthropic `index` of the next block.
    next: u32,
    /// The open block and its Anthropic `index`.
    open: Option<(u32, Block)>,
}

impl Renderer {
    pub fn new(message_id: &str, model: &str) -> Self {
        Self {
            message_id: message_id.to_owned(),
            model: model.to_owned(),
            next: 0,
            open: None,
        }
    }

    /// `message_start`: the empty assistant message, with the prompt's counts
    /// when the model gave them before its answer (zero otherwise; the whole
    /// usage comes at the end, in `message_delta`).
    pub fn start(&mut self, prompt: Option<Usage>) -> Value {
        let usage = prompt.unwrap_or_default();
        json!({
            "type": "message_start",
            "message": {
                "id": self.message_id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage_json(Usage { output_tokens: 0, ..usage }),
            },
        })
    }

    /// Append the events `ev` makes to `out`. The final event closes the
    /// open block and ends the message (`message_delta` + `message_stop`),
    /// or is an `error` event when the session failed.
    pub fn render(&mut self, ev: &TokenEvent, out: &mut Vec<Value>) {
        match ev.kind() {
            EventKind::Token => self.text(&ev.token, out),
            EventKind::Reasoning | EventKind::Tool => {
                if let Some(part) = ev.part.as_deref() {
                    self.part(part, out);
                }
            }
            EventKind::Citation => {
                if let Some(citation) = ev.part.as_deref().and_then(citation) {
                    let index = match self.open {
                        Some((i, Block::Text)) => i,
                        _ => self.open_block(Block::Text, json!({"type": "text", "text": ""}), out),
                    };
                    out.push(delta(
                        index,
                        json!({"type": "citations_delta", "citation": citation}),
                    ));
                }
            }
            EventKind::Guardrail => {}
            EventKind::Done => {
                self.close(out);
                let usage = ev.usage.unwrap_or_default();
                out.push(json!({
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_reason(ev.stop_reason.as_deref()),
                        "stop_sequence": ev.stop_sequence,
                    },
                    "usage": usage_json(usage),
                }));
                out.push(json!({"type": "message_stop"}));
            }
            EventKind::Error => {
                let (kind, message) = match &ev.error {
                    Some(e) => (error_type(e.error_code()).0, e.message.as_str()),
                    None => ("api_error", "the stream failed"),
                };
                out.push(error_body(kind, message));
            }
        }
    }

    fn text(&mut self, token: &str, out: &mut Vec<Value>) {
        if token.is_empty() {
            return;
        }
        let index = match self.open {
            Some((i, Block::Text)) => i,
            _ => self.open_block(Block::Text, json!({"type": "text", "text": ""}), out),
        };
        out.push(delta(index, json!({"type": "text_delta", "text": token})));
    }

    fn part(&mut self, part: &Part, out: &mut Vec<Value>) {
        match part {
            Part::Reasoning {
                redacted: Some(data),
                ..
            } => {
                let block = json!({"type": "redacted_thinking", "data": data});
                self.open_block(Block::Redacted, block, out);
                self.close(out);
            }
            Part::Reasoning {
                index: part,
                text,
                signature,
                ..
            } => {
                let index = match self.open {
                    Some((i, Block::Thinking { part: p })) if p == *part => i,
                    _ => self.open_block(
                        Block::Thinking { part: *part },
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                        out,
                    ),
                };
                if let Some(t) = text.as_ref().filter(|t| !t.is_empty()) {
                    out.push(delta(
                        index,
                        json!({"type": "thinking_delta", "thinking": t}),
                    ));
                }
                if let Some(s) = signature {
                    out.push(delta(
                        index,
                        json!({"type": "signature_delta", "signature": s}),
                    ));
                }
            }
            Part::ToolCall {
                index: part,
                id,
                name,
                input_delta,
                input,
            } => self.tool(*part, id, name, input_delta, input, out),
            Part::Citation { .. } | Part::Guardrail { .. } => {}
        }
    }

    /// A tool call's start, input delta or end (which closes its block).
    fn tool(
        &mut self,
        part: u32,
        id: &Option<String>,
        name: &Option<String>,
        input_delta: &Option<String>,
        input: &Option<Value>,
        out: &mut Vec<Value>,
    ) {
        let open = match self.open {
            Some((i, Block::Tool { part: p, streamed })) if p == part => Some((i, streamed)),
            _ => None,
        };
        let (index, streamed) = match (open, id, name) {
            (Some(o), _, _) => o,
            // A start, or an end with no start seen: open the block.
            (None, Some(id), Some(name)) => {
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let i = self.open_block(
                    Block::Tool {
                        part,
                        streamed: false,
                    },
                    block,
                    out,
                );
                (i, false)
            }
            // A delta of no open call.
            (None, _, _) => return,
        };
        if let Some(piece) = input_delta.as_ref().filter(|p| !p.is_empty()) {
            out.push(delta(
                index,
                json!({"type": "input_json_delta", "partial_json": piece}),
            ));
            self.open = Some((
                index,
                Block::Tool {
                    part,
                    streamed: true,
                },
            ));
        }
        if let Some(input) = input {
            // The input never streamed: send it whole, so clients see it.
            let empty = input.as_object().is_some_and(|o| o.is_empty());
            if !streamed && !empty {
                out.push(delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": input.to_string()}),
                ));
            }
            self.close(out);
        }
    }

    /// Close the open block and open `block` (its `content_block`); returns
    /// its Anthropic index.
    fn open_block(&mut self, block: Block, content_block: Value, out: &mut Vec<Value>) -> u32 {
        self.close(out);
        let index = self.next;
        self.next += 1;
        self.open = Some((index, block));
        out.push(json!({
            "type": "content_block_start",
            "index": index,
            "content_block": content_block,
        }));
        index
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if let Some((index, _)) = self.open.take() {
            out.push(json!({"type": "content_block_stop", "index": index}));
        }
    }
}

fn delta(index: u32, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

/// The gateway's stop reason (Bedrock Converse's names) as Anthropic's:
/// a filtered answer or a guardrail's intervention is a `refusal`; a session
/// cancelled by its owner ends like any other answer, `end_turn`.
pub fn stop_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "length") => "max_tokens",
        Some("stop_sequence") => "stop_sequence",
        Some("tool_use") => "tool_use",
        Some("pause_turn") => "pause_turn",
        Some("content_filtered" | "guardrail_intervened") => "refusal",
        Some("model_context_window_exceeded") => "model_context_window_exceeded",
        _ => "end_turn",
    }
}

/// Anthropic's `usage`: `input_tokens` are the uncached ones (as Bedrock
/// counts them), the cache counts are there when Bedrock reported them.
fn usage_json(u: Usage) -> Value {
    let mut v = json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens});
    if let Some(n) = u.cache_write_input_tokens {
        v["cache_creation_input_tokens"] = n.into();
    }
    if let Some(n) = u.cache_read_input_tokens {
        v["cache_read_input_tokens"] = n.into();
    }
    v
}

/// The whole answer as one Anthropic `message` object (a non-streaming
/// response): text, `thinking` (signed), `redacted_thinking` and `tool_use`
/// blocks, the stop reason and usage of the final event. A log without a
/// successful final event has `stop_reason: null`: answer a failed session
/// with its error instead.
pub fn message(message_id: &str, model: &str, events: &[Arc<TokenEvent>]) -> Value {
    let mut citations =
        answer::text_citations(events.iter().map(AsRef::as_ref), citation).into_iter();
    let content: Vec<Value> = answer::content(events.iter().map(AsRef::as_ref))
        .into_iter()
        .filter_map(block)
        .map(|mut b| {
            if b["type"] == "text"
                && let Some(cited) = citations.next().filter(|c| !c.is_empty())
            {
                b["citations"] = Value::Array(cited);
            }
            b
        })
        .collect();
    let last = events.last().filter(|e| e.is_complete && e.error.is_none());
    json!({
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": last.map(|e| stop_reason(e.stop_reason.as_deref())),
        "stop_sequence": last.and_then(|e| e.stop_sequence.as_deref()),
        "usage": usage_json(last.and_then(|e| e.usage).unwrap_or_default()),
    })
}

/// A citation part as Claude's citation object (`None` without a
/// document location, which Anthropic's shapes cannot do without).
fn citation(part: &Part) -> Option<Value> {
    let Part::Citation {
        title,
        text,
        location: Some(Value::Object(location)),
        ..
    } = part
    else {
        return None;
    };
    let mut c = location.clone();
    c.insert(
        "cited_text".into(),
        json!(text.as_deref().unwrap_or_default()),
    );
    c.insert("document_title".into(), json!(title));
    Some(Value::Object(c))
}

/// One answer part as an Anthropic content block.
fn block(part: Content) -> Option<Value> {
    Some(match part {
        Content::Text { text } => json!({"type": "text", "text": text}),
        Content::Reasoning(r) => match r.redacted {
            Some(data) => json!({"type": "redacted_thinking", "data": data}),
            None => json!({
                "type": "thinking",
                "thinking": r.text.unwrap_or_default(),
                "signature": r.signature.unwrap_or_default(),
            }),
        },
        Content::ToolCall { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        _ => return None,
    })
}

/// Anthropic's `overloaded_error` status, which its SDKs retry.
const OVERLOADED: u16 = 529;

/// Anthropic's error `type` and the status to answer with, for `code`
/// (`None`: a code from a newer node, or none at all).
///
/// Unknown models are `not_found_error` (`404`), as Anthropic answers them;
/// a gateway or upstream that is at capacity or unavailable is
/// `overloaded_error` (`529`); other server failures keep their status as
/// `api_error`.
pub fn error_type(code: Option<ErrorCode>) -> (&'static str, StatusCode) {
    let Some(code) = code else {
        return ("api_error", StatusCode::INTERNAL_SERVER_ERROR);
    };
    let status = code.status();
    let kind = match code {
        ErrorCode::UnknownModel | ErrorCode::ModelNotFound => {
            return ("not_found_error", StatusCode::NOT_FOUND);
        }
        ErrorCode::TooManySessions
        | ErrorCode::ShuttingDown
        | ErrorCode::RegistryUnavailable
        | ErrorCode::UpstreamUnavailable
        | ErrorCode::NotReady => {
            let overloaded = StatusCode::from_u16(OVERLOADED).unwrap_or(status);
            return ("overloaded_error", overloaded);
        }
        _ => match status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        },
    };
    (kind, status)
}

/// The body of an error: `{"type":"error","error":{"type","message"}}`,
/// also the `data` of a mid-stream `error` event.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::event::EventError;

    fn ev(token: &str, part: Option<Part>) -> TokenEvent {
        TokenEvent {
            session_id: Arc::from("s1"),
            timestamp: "t".into(),
            ..TokenEvent::test_event(token, part)
        }
    }

    fn text(token: &str) -> TokenEvent {
        ev(token, None)
    }

    fn part(p: Part) -> TokenEvent {
        ev("", Some(p))
    }

    fn done(stop: &str, input: u64, output: u64) -> TokenEvent {
        TokenEvent {
            is_complete: true,
            stop_reason: Some(stop.into()),
            usage: Some(Usage {
                input_tokens: input,
                output_tokens: output,
                ..Usage::default()
            }),
            ..ev("", None)
        }
    }

    fn render(events: &[TokenEvent]) -> Vec<Value> {
        let mut r = Renderer::new("msg_1", "claude-x");
        let mut out = vec![r.start(None)];
        for e in events {
            r.render(e, &mut out);
        }
        out
    }

    /// A recorded log: signed reasoning, text, a streamed tool call.
    fn thinking_text_tool() -> Vec<TokenEvent> {
        vec![
            part(Part::reasoning_text(0, "The user wants ".into())),
            part(Part::reasoning_text(0, "the weather.".into())),
            part(Part::reasoning_signature(0, "sig-1".into())),
            text("Checking"),
            text("."),
            part(Part::tool_start(2, "toolu_1".into(), "get_weather".into())),
            part(Part::tool_input(2, "{\"city\":".into())),
            part(Part::tool_input(2, "\"sample\"}".into())),
            part(Part::tool_end(
                2,
                "toolu_1".into(),
                "get_weather".into(),
                json!({"city": "sample"}),
            )),
            done("tool_use", 21, 40),
        ]
    }

    #[test]
    fn reasoning_text_and_a_tool_call() {
        let d = |i: u32, d: Value| delta(i, d);
        assert_eq!(
            render(&thinking_text_tool()),
            vec![
                json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}),
                json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}),
                d(
                    0,
                    json!({"type":"thinking_delta","thinking":"The user wants "})
                ),
                d(
                    0,
                    json!({"type":"thinking_delta","thinking":"the weather."})
                ),
                d(0, json!({"type":"signature_delta","signature":"sig-1"})),
                json!({"type":"content_block_stop","index":0}),
                json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
                d(1, json!({"type":"text_delta","text":"Checking"})),
                d(1, json!({"type":"text_delta","text":"."})),
                json!({"type":"content_block_stop","index":1}),
                json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}),
                d(
                    2,
                    json!({"type":"input_json_delta","partial_json":"{\"city\":"})
                ),
                d(
                    2,
                    json!({"type":"input_json_delta","partial_json":"\"sample\"}"})
                ),
                json!({"type":"content_block_stop","index":2}),
                json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":21,"output_tokens":40}}),
                json!({"type":"message_stop"}),
            ]
        );
    }

    #[test]
    fn the_same_log_as_one_message() {
        let events: Vec<Arc<TokenEvent>> = thinking_text_tool().into_iter().map(Arc::new).collect();
        assert_eq!(
            message("msg_1", "claude-x", &events),
            json!({
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [
                    {"type":"thinking","thinking":"The user wants the weather.","signature":"sig-1"},
                    {"type":"text","text":"Checking."},
                    {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"sample"}}
                ],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": {"input_tokens": 21, "output_tokens": 40}
            })
        );
    }

    #[test]
    fn an_error_final_event_is_an_error_event() {
        let failed = TokenEvent {
            is_complete: true,
            error: Some(EventError::new(ErrorCode::Throttled, "slow down")),
            ..ev("", None)
        };
        let out = render(&[text("a"), failed.clone()]);
        assert_eq!(
            out[3..],
            [json!({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})]
        );
        let odd = TokenEvent {
            error: Some(EventError {
                code: "from_a_newer_node".into(),
                message: "hm".into(),
                retryable: false,
                original_status_code: None,
                original_message: None,
            }),
            ..failed
        };
        assert_eq!(
            render(&[odd])[1],
            json!({"type":"error","error":{"type":"api_error","message":"hm"}})
        );
        let events = [Arc::new(text("a")), Arc::new(failed_final())];
        assert_eq!(message("m", "x", &events)["stop_reason"], Value::Null);
    }

    fn failed_final() -> TokenEvent {
        TokenEvent {
            is_complete: true,
            error: Some(EventError::new(ErrorCode::ModelStreamError, "boom")),
            ..ev("", None)
        }
    }

    #[test]
    fn redacted_reasoning_and_blocks_after_it_are_counted() {
        let out = render(&[
            part(Part::reasoning_redacted(0, "AAAA".into())),
            text("Hi"),
            done("end_turn", 1, 2),
        ]);
        assert_eq!(
            out[1..],
            [
                json!({"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"AAAA"}}),
                json!({"type":"content_block_stop","index":0}),
                json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
                delta(1, json!({"type":"text_delta","text":"Hi"})),
                json!({"type":"content_block_stop","index":1}),
                json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":1,"output_tokens":2}}),
                json!({"type":"message_stop"}),
            ]
        );
    }

    #[test]
    fn a_tool_end_alone_carries_its_input_and_stray_parts_render_nothing() {
        let out = render(&[
            part(Part::tool_input(7, "{}".into())),
            part(Part::Guardrail {
                action: "intervened".into(),
                trace: None,
            }),
            part(Part::Citation {
                index: 0,
                title: None,
                source: None,
                text: None,
                location: None,
            }),
            part(Part::tool_end(3, "t".into(), "f".into(), json!({"a": 1}))),
        ]);
        assert_eq!(
            out[1..],
            [
                json!({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}),
                delta(
                    0,
                    json!({"type":"input_json_delta","partial_json":"{\"a\":1}"})
                ),
                json!({"type":"content_block_stop","index":0}),
            ]
        );
    }

    #[test]
    fn text_around_a_tool_call_is_two_blocks_and_unsigned_thinking_ends_at_the_next_block() {
        let out = render(&[
            part(Part::reasoning_text(0, "hm".into())),
            text("a"),
            part(Part::tool_start(2, "t".into(), "f".into())),
            part(Part::tool_end(2, "t".into(), "f".into(), json!({}))),
            text("b"),
            done("cancelled", 0, 0),
        ]);
        let shape: Vec<String> = out
            .iter()
            .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["index"]))
            .collect();
        assert_eq!(
            shape,
            [
                "message_start null",
                "content_block_start 0",
                "content_block_delta 0",
                "content_block_stop 0",
                "content_block_start 1",
                "content_block_delta 1",
                "content_block_stop 1",
                "content_block_start 2",
                "content_block_stop 2",
                "content_block_start 3",
                "content_block_delta 3",
                "content_block_stop 3",
                "message_delta null",
                "message_stop null",
            ]
        );
        assert_eq!(out[12]["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn stop_reasons() {
        for (ours, theirs) in [
            (Some("end_turn"), "end_turn"),
            (Some("max_tokens"), "max_tokens"),
            (Some("stop_sequence"), "stop_sequence"),
            (Some("tool_use"), "tool_use"),
            (Some("guardrail_intervened"), "refusal"),
            (Some("content_filtered"), "refusal"),
            (Some("cancelled"), "end_turn"),
            (None, "end_turn"),
        ] {
            assert_eq!(stop_reason(ours), theirs, "{ours:?}");
        }
    }
}
