//! A session's events as Responses output items, and the streaming events
//! that build them: one [`Output`] read over the log serves the SSE stream,
//! the non-streamed answer and `GET /v1/responses/{id}` alike.
//!
//! - A text run is a `message` item with one `output_text` part.
//! - A reasoning block is a `reasoning` item: its text is the one
//!   `summary_text`, its signature the `encrypted_content` (a redacted block
//!   is `encrypted_content` with no summary), which [`super::input`] reads back.
//! - A tool call is a `function_call` item: `call_id` is the model's id,
//!   `arguments` the input as a JSON string.
//!
//! Citations and guardrail notes have no item here and add nothing. The
//! call of a JSON `text.format`'s tool is the answer's text: a `message`.

use serde_json::{Value, json};

use super::super::response_format::JsonAnswer;
use super::super::usage::Spent;
use crate::event::TokenEvent;
use crate::parts::Part;

/// The item being streamed.
#[derive(Debug)]
enum Open {
    Message {
        text: String,
    },
    Reasoning {
        block: u32,
        text: String,
        sealed: Option<String>,
    },
    Call {
        block: u32,
        call_id: String,
        name: String,
        args: String,
    },
}

/// Output items so far and the streaming events' numbering.
#[derive(Debug)]
pub(super) struct Output {
    /// The session id, in item ids (`msg_<sid>_<n>`, …).
    sid: String,
    /// Finished items, in order; the open one comes next.
    items: Vec<Value>,
    open: Option<Open>,
    /// The next event's `sequence_number`.
    seq: u64,
    /// The call whose input is the answer's text (a JSON `text.format`).
    json: JsonAnswer,
    /// What the answer streamed, for the reasoning share of its usage.
    spent: Spent,
}

impl Output {
    /// `json_tool`: the tool whose input is the answer's text, if any.
    pub fn new(sid: &str, json_tool: Option<String>) -> Self {
        Self {
            sid: sid.to_owned(),
            items: Vec::new(),
            open: None,
            seq: 0,
            json: JsonAnswer::new(json_tool),
            spent: Spent::default(),
        }
    }

    /// A streaming event of `kind` with `fields`, numbered.
    pub fn event(&mut self, kind: &str, mut fields: Value) -> Value {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(self.seq);
        self.seq += 1;
        fields
    }

    /// The output items: the finished ones, then the open one `in_progress`.
    pub fn items(&self) -> Vec<Value> {
        let mut items = self.items.clone();
        items.extend(self.open.as_ref().map(|o| self.item(o, "in_progress")));
        items
    }

    /// What the answer streamed so far (for `usage`).
    pub fn spent(&self) -> &Spent {
        &self.spent
    }

    /// What a non-final event adds: the events it streams.
    pub fn push(&mut self, ev: &TokenEvent) -> Vec<Value> {
        self.spent.add(ev);
        let mut out = Vec::new();
        if let Some(text) = ev.part.as_deref().and_then(|p| self.json.text(p)) {
            if !text.is_empty() {
                self.text(&mut out, &text);
            }
            return out;
        }
        if matches!(ev.part.as_deref(), Some(Part::ToolCall { .. })) {
            // A client's tool call: text held for a JSON answer was the answer's.
            let held = self.json.release();
            if !held.is_empty() {
                self.text(&mut out, &held);
            }
        }
        match ev.part.as_deref() {
            None if ev.token.is_empty() => {}
            None => {
                if let Some(text) = self.json.plain(&ev.token) {
                    self.text(&mut out, &text);
                }
            }
            Some(Part::Reasoning {
                index,
                text,
                signature,
                redacted,
            }) => {
                if !matches!(self.open, Some(Open::Reasoning { block, .. }) if block == *index) {
                    self.close(&mut out, "completed");
                    self.start(
                        &mut out,
                        Open::Reasoning {
                            block: *index,
                            text: String::new(),
                            sealed: None,
                        },
                    );
                }
                self.reasoning(
                    &mut out,
                    text.as_deref(),
                    signature.as_ref().or(redacted.as_ref()),
                );
            }
            Some(Part::ToolCall {
                index,
                id,
                name,
                input_delta,
                input,
            }) => {
                if !matches!(self.open, Some(Open::Call { block, .. }) if block == *index) {
                    self.close(&mut out, "completed");
                    self.start(
                        &mut out,
                        Open::Call {
                            block: *index,
                            call_id: id.clone().unwrap_or_default(),
                            name: name.clone().unwrap_or_default(),
                            args: String::new(),
                        },
                    );
                }
                let piece = match (input_delta, input) {
                    (Some(d), _) => d.clone(),
                    // The end: all of the input when none of it streamed.
                    (None, Some(input)) if self.args_empty() => input.to_string(),
                    _ => String::new(),
                };
                self.arguments(&mut out, &piece);
                if input.is_some() {
                    self.close(&mut out, "completed");
                }
            }
            Some(Part::Citation { .. } | Part::Guardrail { .. }) => {}
        }
        out
    }

    /// Text of the answer: into the open message item, or a new one.
    fn text(&mut self, out: &mut Vec<Value>, token: &str) {
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close(out, "completed");
            self.start(
                out,
                Open::Message {
                    text: String::new(),
                },
            );
            let (id, n) = self.here("msg");
            out.push(self.event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": n, "content_index": 0, "part": text_part("")}),
            ));
        }
        let (id, n) = self.here("msg");
        if let Some(Open::Message { text }) = &mut self.open {
            text.push_str(token);
        }
        out.push(self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": n, "content_index": 0, "delta": token, "logprobs": []}),
        ));
    }

    /// The end of the answer: the open item's closing events.
    pub fn finish(&mut self, status: &str) -> Vec<Value> {
        let mut out = Vec::new();
        // Text held for a JSON answer that never came was the answer's own.
        let held = self.json.release();
        if !held.is_empty() {
            self.text(&mut out, &held);
        }
        self.close(&mut out, status);
        out
    }

    /// The open item's id and output index (`prefix` names its kind).
    fn here(&self, prefix: &str) -> (String, usize) {
        let n = self.items.len();
        (format!("{prefix}_{}_{n}", self.sid), n)
    }

    fn args_empty(&self) -> bool {
        matches!(&self.open, Some(Open::Call { args, .. }) if args.is_empty())
    }

    /// Open `item`: `response.output_item.added`.
    fn start(&mut self, out: &mut Vec<Value>, item: Open) {
        let added = self.item(&item, "in_progress");
        self.open = Some(item);
        let n = self.items.len();
        out.push(self.event(
            "response.output_item.added",
            json!({"output_index": n, "item": added}),
        ));
    }

    /// A reasoning text piece, or the block's seal (signature or redacted data).
    fn reasoning(&mut self, out: &mut Vec<Value>, piece: Option<&str>, seal: Option<&String>) {
        let (id, n) = self.here("rs");
        let Some(Open::Reasoning { text, sealed, .. }) = &mut self.open else {
            return;
        };
        if let Some(seal) = seal {
            *sealed = Some(seal.clone());
        }
        let Some(piece) = piece.filter(|p| !p.is_empty()) else {
            return;
        };
        let first = text.is_empty();
        text.push_str(piece);
        if first {
            out.push(self.event(
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": n, "summary_index": 0, "part": summary_part("")}),
            ));
        }
        out.push(self.event(
            "response.reasoning_summary_text.delta",
            json!({"item_id": id, "output_index": n, "summary_index": 0, "delta": piece}),
        ));
    }

    /// A piece of a tool call's arguments.
    fn arguments(&mut self, out: &mut Vec<Value>, piece: &str) {
        let (id, n) = self.here("fc");
        let Some(Open::Call { args, .. }) = &mut self.open else {
            return;
        };
        if piece.is_empty() {
            return;
        }
        args.push_str(piece);
        out.push(self.event(
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": n, "delta": piece}),
        ));
    }

    /// Close the open item, if any: its `…done` events, then `response.output_item.done`.
    fn close(&mut self, out: &mut Vec<Value>, status: &str) {
        let Some(open) = self.open.take() else {
            return;
        };
        let n = self.items.len();
        match &open {
            Open::Message { text } => {
                let id = format!("msg_{}_{n}", self.sid);
                out.push(self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "text": text, "logprobs": []}),
                ));
                out.push(self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "part": text_part(text)}),
                ));
            }
            Open::Reasoning { text, .. } if !text.is_empty() => {
                let id = format!("rs_{}_{n}", self.sid);
                out.push(self.event(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": n, "summary_index": 0, "text": text}),
                ));
                out.push(self.event(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": n, "summary_index": 0, "part": summary_part(text)}),
                ));
            }
            Open::Reasoning { .. } => {}
            Open::Call { args, .. } => {
                let id = format!("fc_{}_{n}", self.sid);
                let args = if args.is_empty() { "{}" } else { args };
                out.push(self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": n, "arguments": args}),
                ));
            }
        }
        let item = self.item(&open, status);
        self.items.push(item.clone());
        out.push(self.event(
            "response.output_item.done",
            json!({"output_index": n, "item": item}),
        ));
    }

    /// `open` as an output item at the next index, with `status`.
    fn item(&self, open: &Open, status: &str) -> Value {
        let n = self.items.len();
        match open {
            Open::Message { text } => json!({
                "type": "message",
                "id": format!("msg_{}_{n}", self.sid),
                "status": status,
                "role": "assistant",
                "content": if status == "in_progress" && text.is_empty() { vec![] } else { vec![text_part(text)] },
            }),
            Open::Reasoning { text, sealed, .. } => {
                let summary = if text.is_empty() {
                    vec![]
                } else {
                    vec![summary_part(text)]
                };
                let mut item = json!({"type": "reasoning", "id": format!("rs_{}_{n}", self.sid), "summary": summary});
                if let Some(sealed) = sealed {
                    item["encrypted_content"] = json!(sealed);
                }
                item
            }
            Open::Call {
                call_id,
                name,
                args,
                ..
            } => json!({
                "type": "function_call",
                "id": format!("fc_{}_{n}", self.sid),
                "call_id": call_id,
                "name": name,
                "arguments": if status == "in_progress" || !args.is_empty() { args.as_str() } else { "{}" },
                "status": status,
            }),
        }
    }
}

fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

fn summary_part(text: &str) -> Value {
    json!({"type": "summary_text", "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(token: &str, part: Option<Part>) -> TokenEvent {
        TokenEvent::test_event(token, part)
    }

    fn run(events: &[TokenEvent]) -> (Vec<Value>, Output) {
        let mut o = Output::new("s", None);
        let mut out: Vec<Value> = events.iter().flat_map(|e| o.push(e)).collect();
        out.extend(o.finish("completed"));
        (out, o)
    }

    fn kinds(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn a_json_answer_is_a_message() {
        let mut o = Output::new("s", Some("place".into()));
        let events = [
            // What the model says before the JSON answer is not part of it.
            ev("Let me see. ", None),
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
        ];
        let mut out: Vec<Value> = events.iter().flat_map(|e| o.push(e)).collect();
        out.extend(o.finish("completed"));
        assert!(
            !kinds(&out).iter().any(|k| k.contains("function_call")),
            "{out:?}"
        );
        let items = o.items();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[0]["content"][0]["text"], "{\"city\":\"Oslo\"}");
    }

    #[test]
    fn text_held_for_a_json_answer_is_let_out_when_another_part_comes() {
        // Before a client's tool call: the text is the answer's own.
        let mut o = Output::new("s", Some("place".into()));
        for e in [
            ev("Checking.", None),
            ev(
                "",
                Some(Part::tool_end(1, "c1".into(), "w".into(), json!({}))),
            ),
        ] {
            o.push(&e);
        }
        o.finish("completed");
        let items = o.items();
        assert_eq!(items[0]["content"][0]["text"], "Checking.");
        assert_eq!(items[1]["type"], "function_call");
        // No JSON answer at all: the text, at the end.
        let mut o = Output::new("s", Some("place".into()));
        assert!(o.push(&ev("Sorry.", None)).is_empty());
        o.finish("completed");
        assert_eq!(o.items()[0]["content"][0]["text"], "Sorry.");
    }

    #[test]
    fn reasoning_text_and_a_tool_call() {
        let (events, o) = run(&[
            ev("", Some(Part::reasoning_text(0, "hm".into()))),
            ev("", Some(Part::reasoning_signature(0, "sig".into()))),
            ev("Let me ", None),
            ev("look.", None),
            ev("", Some(Part::tool_start(2, "c1".into(), "w".into()))),
            ev("", Some(Part::tool_input(2, "{\"city\":".into()))),
            ev("", Some(Part::tool_input(2, "\"Oslo\"}".into()))),
            ev(
                "",
                Some(Part::tool_end(
                    2,
                    "c1".into(),
                    "w".into(),
                    json!({"city": "Oslo"}),
                )),
            ),
        ]);
        assert_eq!(
            kinds(&events),
            [
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
            ]
        );
        let seqs: Vec<u64> = events
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (0..18).collect::<Vec<_>>());
        assert_eq!(
            o.items(),
            [
                json!({"type": "reasoning", "id": "rs_s_0", "summary": [{"type": "summary_text", "text": "hm"}], "encrypted_content": "sig"}),
                json!({"type": "message", "id": "msg_s_1", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]}),
                json!({"type": "function_call", "id": "fc_s_2", "call_id": "c1", "name": "w",
                       "arguments": "{\"city\":\"Oslo\"}", "status": "completed"}),
            ]
        );
        assert_eq!(events[16]["arguments"], "{\"city\":\"Oslo\"}");
        assert_eq!(events[8]["item_id"], "msg_s_1");
    }

    #[test]
    fn a_call_with_no_streamed_input_and_a_redacted_block() {
        let (events, o) = run(&[
            ev("", Some(Part::reasoning_redacted(0, "AAAA".into()))),
            ev(
                "",
                Some(Part::tool_end(1, "c1".into(), "now".into(), json!({}))),
            ),
        ]);
        assert_eq!(
            kinds(&events),
            [
                "response.output_item.added",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
            ]
        );
        let items = o.items();
        assert_eq!(items[0]["encrypted_content"], "AAAA");
        assert_eq!(items[0]["summary"], json!([]));
        assert_eq!(items[1]["arguments"], "{}");
    }

    #[test]
    fn an_open_item_is_in_progress() {
        let mut o = Output::new("s", None);
        o.push(&ev("Hi", None));
        assert_eq!(o.items()[0]["status"], "in_progress");
        assert_eq!(o.items()[0]["content"][0]["text"], "Hi");
    }
}
