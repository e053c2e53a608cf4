//! The session log rendered as UI message stream chunks, the same on SSE and
//! WebSocket: `start`, `start-step`, then each answer block as its part's
//! chunks — text (`text-start` / `-delta` / `-end`), reasoning
//! (`reasoning-start` / `-delta` / `-end`), tool calls (`tool-input-start` /
//! `-delta` / `-available`), sources (`source-url`, `source-document`) —
//! then `finish-step` and `finish`, or `error` / `abort`.
//!
//! The rendering is a pure function of the log, so a chunk's index in it (the
//! WebSocket `sequence`) names the same chunk on every replay.

use std::collections::HashSet;

use futures_util::{Stream, StreamExt, stream};
use serde_json::{Value, json};

use super::chunks::{UiChunk, error_text, finish_reason};
use crate::event::{EventKind, TokenEvent};
use crate::hub::chats::Rendering;
use crate::hub::{Session, Subscription};
use crate::parts::Part;

/// Media type of a cited document: Bedrock's citation names the document,
/// not its type.
const CITED_DOCUMENT_TYPE: &str = "application/octet-stream";

/// Turns a session's events into chunks, one event at a time.
#[derive(Debug, Default)]
pub struct Renderer {
    /// The open text part's id. Text events carry no block index, so text
    /// parts are numbered in order: `text-0`, `text-1`, …
    text: Option<String>,
    texts: u32,
    /// The open reasoning part: its block index and id.
    reasoning: Option<(u32, String)>,
    /// The tool call whose input is streaming: block index, id.
    tool: Option<(u32, String)>,
    /// Sources already sent (a source cited twice is one part).
    sources: HashSet<String>,
}

impl Renderer {
    /// The chunks that open every answer. The assistant message's id is the
    /// message the answer continues, else the session id; either way a
    /// replay (resume) names the same message, so it replaces what it resumes.
    pub fn preamble(message_id: &str) -> [UiChunk; 2] {
        [
            UiChunk::Start {
                message_id: message_id.to_owned(),
            },
            UiChunk::StartStep,
        ]
    }

    /// Append the chunks for `ev` to `out`.
    pub fn render(&mut self, ev: &TokenEvent, out: &mut Vec<UiChunk>) {
        match ev.kind() {
            EventKind::Token => self.text(&ev.token, out),
            EventKind::Reasoning | EventKind::Tool | EventKind::Citation | EventKind::Guardrail => {
                if let Some(part) = ev.part.as_deref() {
                    self.part(part, out);
                }
            }
            EventKind::Done => {
                self.close(out);
                out.push(UiChunk::FinishStep);
                match ev.stop_reason.as_deref() {
                    Some("cancelled") => out.push(UiChunk::Abort {
                        reason: "cancelled",
                    }),
                    reason => out.push(UiChunk::Finish {
                        finish_reason: finish_reason(reason),
                        message_metadata: None,
                    }),
                }
            }
            EventKind::Error => {
                self.close(out);
                let error_text = ev.error.as_ref().map_or_else(
                    || "the stream failed".to_owned(),
                    |e| error_text(&e.code, &e.message),
                );
                out.push(UiChunk::Error { error_text });
                out.push(UiChunk::Finish {
                    finish_reason: "error",
                    message_metadata: None,
                });
            }
        }
    }

    fn text(&mut self, token: &str, out: &mut Vec<UiChunk>) {
        if token.is_empty() {
            return;
        }
        self.close_reasoning(None, out);
        let id = match &self.text {
            Some(id) => id.clone(),
            None => {
                let id = format!("text-{}", self.texts);
                self.texts += 1;
                out.push(UiChunk::TextStart { id: id.clone() });
                self.text = Some(id.clone());
                id
            }
        };
        out.push(UiChunk::TextDelta {
            id,
            delta: token.to_owned(),
        });
    }

    fn part(&mut self, part: &Part, out: &mut Vec<UiChunk>) {
        match part {
            Part::Reasoning {
                index,
                text,
                signature,
                redacted,
            } => {
                self.close_text(out);
                let id = self.open_reasoning(*index, out);
                if let Some(delta) = text.as_ref().filter(|t| !t.is_empty()) {
                    out.push(UiChunk::ReasoningDelta {
                        id,
                        delta: delta.clone(),
                    });
                }
                // A signature ends its block; a redacted block is one event.
                if let Some(s) = signature {
                    self.close_reasoning(Some(json!({"bedrock": {"signature": s}})), out);
                } else if let Some(r) = redacted {
                    self.close_reasoning(Some(json!({"bedrock": {"redactedData": r}})), out);
                }
            }
            Part::ToolCall {
                index,
                id,
                name,
                input_delta,
                input,
            } => {
                self.close_text(out);
                self.close_reasoning(None, out);
                match (id, name, input) {
                    (Some(id), Some(name), Some(input)) => {
                        self.tool = None;
                        out.push(UiChunk::ToolInputAvailable {
                            tool_call_id: id.clone(),
                            tool_name: name.clone(),
                            input: input.clone(),
                        });
                    }
                    (Some(id), Some(name), None) => {
                        self.tool = Some((*index, id.clone()));
                        out.push(UiChunk::ToolInputStart {
                            tool_call_id: id.clone(),
                            tool_name: name.clone(),
                        });
                    }
                    _ => {
                        if let (Some((open, id)), Some(delta)) = (&self.tool, input_delta)
                            && open == index
                        {
                            out.push(UiChunk::ToolInputDelta {
                                tool_call_id: id.clone(),
                                input_text_delta: delta.clone(),
                            });
                        }
                    }
                }
            }
            Part::Citation {
                title,
                source,
                text,
                ..
            } => self.source(title, source, text, out),
            Part::Guardrail { .. } => {}
        }
    }

    /// A citation as `source-url` (its source is a web address) or
    /// `source-document` (it names a document); nothing when it names
    /// neither, or a source already sent.
    fn source(
        &mut self,
        title: &Option<String>,
        source: &Option<String>,
        text: &Option<String>,
        out: &mut Vec<UiChunk>,
    ) {
        let url = source
            .as_ref()
            .filter(|s| s.starts_with("https://") || s.starts_with("http://"));
        let key = match (url, title, source) {
            (Some(u), _, _) => format!("url:{u}"),
            (None, Some(t), _) | (None, None, Some(t)) => format!("doc:{t}"),
            (None, None, None) => return,
        };
        if self.sources.contains(&key) {
            return;
        }
        let source_id = format!("source-{}", self.sources.len());
        self.sources.insert(key);
        let provider_metadata = text.as_ref().map(|t| json!({"bedrock": {"citedText": t}}));
        out.push(match url {
            Some(url) => UiChunk::SourceUrl {
                source_id,
                url: url.clone(),
                title: title.clone(),
                provider_metadata,
            },
            None => UiChunk::SourceDocument {
                source_id,
                media_type: CITED_DOCUMENT_TYPE.to_owned(),
                title: title.clone().or_else(|| source.clone()).unwrap_or_default(),
                provider_metadata,
            },
        });
    }

    /// The id of the reasoning part of block `index`, opening it (and closing
    /// another one) when needed.
    fn open_reasoning(&mut self, index: u32, out: &mut Vec<UiChunk>) -> String {
        if let Some((open, id)) = &self.reasoning {
            if *open == index {
                return id.clone();
            }
            self.close_reasoning(None, out);
        }
        let id = format!("reasoning-{index}");
        out.push(UiChunk::ReasoningStart { id: id.clone() });
        self.reasoning = Some((index, id.clone()));
        id
    }

    fn close_reasoning(&mut self, provider_metadata: Option<Value>, out: &mut Vec<UiChunk>) {
        if let Some((_, id)) = self.reasoning.take() {
            out.push(UiChunk::ReasoningEnd {
                id,
                provider_metadata,
            });
        }
    }

    fn close_text(&mut self, out: &mut Vec<UiChunk>) {
        if let Some(id) = self.text.take() {
            out.push(UiChunk::TextEnd { id });
        }
    }

    /// Close whatever is open (the answer ended).
    fn close(&mut self, out: &mut Vec<UiChunk>) {
        self.close_text(out);
        self.close_reasoning(None, out);
        self.tool = None;
    }
}

/// The `messageMetadata` of an answer's `finish`: the session, the model
/// that answered (a fallback's, if one stood in) and the final usage.
fn message_metadata_of(session: &Session, last: &TokenEvent) -> Value {
    let mut m = json!({
        "sessionId": session.id().as_ref(),
        "model": last.model.as_deref().unwrap_or(session.model()),
    });
    if let Some(usage) = last.usage {
        m["usage"] = serde_json::to_value(usage).unwrap_or_default();
    }
    m
}

/// Every chunk of a subscription from its start: the preamble, then each
/// event's chunks as the event arrives; ends after the final event's.
pub fn chunk_stream(
    sub: Subscription,
    rendering: Rendering,
) -> impl Stream<Item = UiChunk> + Send + 'static {
    let preamble = Renderer::preamble(&rendering.message_id);
    let metadata = rendering.metadata;
    let rest = stream::unfold(
        (sub, Renderer::default()),
        move |(mut sub, mut r)| async move {
            let ev = sub.next().await?;
            let mut out = Vec::with_capacity(2);
            r.render(&ev, &mut out);
            if metadata {
                for chunk in &mut out {
                    if let UiChunk::Finish {
                        message_metadata, ..
                    } = chunk
                    {
                        *message_metadata = Some(message_metadata_of(sub.session(), &ev));
                    }
                }
            }
            Some((stream::iter(out), (sub, r)))
        },
    );
    stream::iter(preamble).chain(rest.flatten())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

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

    fn done(stop: &str) -> TokenEvent {
        TokenEvent {
            is_complete: true,
            stop_reason: Some(stop.into()),
            ..ev("", None)
        }
    }

    fn failed() -> TokenEvent {
        TokenEvent {
            is_complete: true,
            error: Some(EventError::new(ErrorCode::ModelStreamError, "boom")),
            ..ev("", None)
        }
    }

    fn render(events: &[TokenEvent]) -> Vec<Value> {
        let mut r = Renderer::default();
        let mut out = Renderer::preamble("s1").to_vec();
        for e in events {
            r.render(e, &mut out);
        }
        out.iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect()
    }

    #[test]
    fn a_complete_answer() {
        let chunks = render(&[text("Hel"), text("lo"), done("max_tokens")]);
        assert_eq!(
            chunks,
            vec![
                json!({"type":"start","messageId":"s1"}),
                json!({"type":"start-step"}),
                json!({"type":"text-start","id":"text-0"}),
                json!({"type":"text-delta","id":"text-0","delta":"Hel"}),
                json!({"type":"text-delta","id":"text-0","delta":"lo"}),
                json!({"type":"text-end","id":"text-0"}),
                json!({"type":"finish-step"}),
                json!({"type":"finish","finishReason":"length"}),
            ]
        );
    }

    #[test]
    fn errors_and_cancels_close_the_text_part() {
        let chunks = render(&[text("a"), failed()]);
        assert_eq!(chunks[4], json!({"type":"text-end","id":"text-0"}));
        assert_eq!(
            chunks[5],
            json!({"type":"error","errorText":"model_stream_error: boom"})
        );
        assert_eq!(chunks[6], json!({"type":"finish","finishReason":"error"}));
        let chunks = render(&[done("cancelled")]);
        assert_eq!(
            chunks[2..],
            [
                json!({"type":"finish-step"}),
                json!({"type":"abort","reason":"cancelled"})
            ]
        );
    }

    #[test]
    fn reasoning_text_and_a_tool_call() {
        let chunks = render(&[
            part(Part::reasoning_text(0, "Let me ".into())),
            part(Part::reasoning_text(0, "think.".into())),
            part(Part::reasoning_signature(0, "sig-1".into())),
            text("Checking"),
            text("."),
            part(Part::tool_start(2, "t1".into(), "get_weather".into())),
            part(Part::tool_input(2, "{\"city\":".into())),
            part(Part::tool_input(2, "\"sample\"}".into())),
            part(Part::tool_end(
                2,
                "t1".into(),
                "get_weather".into(),
                json!({"city":"sample"}),
            )),
            done("tool_use"),
        ]);
        assert_eq!(
            chunks[2..],
            [
                json!({"type":"reasoning-start","id":"reasoning-0"}),
                json!({"type":"reasoning-delta","id":"reasoning-0","delta":"Let me "}),
                json!({"type":"reasoning-delta","id":"reasoning-0","delta":"think."}),
                json!({"type":"reasoning-end","id":"reasoning-0","providerMetadata":{"bedrock":{"signature":"sig-1"}}}),
                json!({"type":"text-start","id":"text-0"}),
                json!({"type":"text-delta","id":"text-0","delta":"Checking"}),
                json!({"type":"text-delta","id":"text-0","delta":"."}),
                json!({"type":"text-end","id":"text-0"}),
                json!({"type":"tool-input-start","toolCallId":"t1","toolName":"get_weather"}),
                json!({"type":"tool-input-delta","toolCallId":"t1","inputTextDelta":"{\"city\":"}),
                json!({"type":"tool-input-delta","toolCallId":"t1","inputTextDelta":"\"sample\"}"}),
                json!({"type":"tool-input-available","toolCallId":"t1","toolName":"get_weather","input":{"city":"sample"}}),
                json!({"type":"finish-step"}),
                json!({"type":"finish","finishReason":"tool-calls"}),
            ]
        );
    }

    #[test]
    fn text_after_a_tool_call_or_reasoning_is_a_new_part() {
        let chunks = render(&[
            text("a"),
            part(Part::tool_start(1, "t1".into(), "f".into())),
            part(Part::tool_end(1, "t1".into(), "f".into(), json!({}))),
            text("b"),
            part(Part::reasoning_text(3, "hm".into())),
            text("c"),
            done("end_turn"),
        ]);
        let kinds: Vec<String> = chunks[2..]
            .iter()
            .map(|c| {
                let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                format!("{} {id}", c["type"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "text-start text-0",
                "text-delta text-0",
                "text-end text-0",
                "tool-input-start ",
                "tool-input-available ",
                "text-start text-1",
                "text-delta text-1",
                "text-end text-1",
                "reasoning-start reasoning-3",
                "reasoning-delta reasoning-3",
                // Unsigned reasoning ends where the next block begins.
                "reasoning-end reasoning-3",
                "text-start text-2",
                "text-delta text-2",
                "text-end text-2",
                "finish-step ",
                "finish ",
            ]
        );
        assert_eq!(
            chunks[2 + 10],
            json!({"type":"reasoning-end","id":"reasoning-3"})
        );
    }

    #[test]
    fn redacted_reasoning_is_one_empty_part_with_its_data() {
        let chunks = render(&[
            part(Part::reasoning_redacted(0, "AAAA".into())),
            done("end_turn"),
        ]);
        assert_eq!(
            chunks[2..4],
            [
                json!({"type":"reasoning-start","id":"reasoning-0"}),
                json!({"type":"reasoning-end","id":"reasoning-0","providerMetadata":{"bedrock":{"redactedData":"AAAA"}}}),
            ]
        );
    }

    #[test]
    fn citations_become_sources_once_each() {
        let cite = |title: Option<&str>, source: Option<&str>| {
            part(Part::Citation {
                index: 0,
                title: title.map(str::to_owned),
                source: source.map(str::to_owned),
                text: Some("quoted".into()),
                location: None,
            })
        };
        let chunks = render(&[
            text("x"),
            cite(Some("Rivers"), Some("https://example.com/rivers")),
            cite(Some("notes"), None),
            cite(Some("notes"), None),
            cite(None, None),
            text("y"),
            done("end_turn"),
        ]);
        assert_eq!(
            chunks[3..7],
            [
                json!({"type":"text-delta","id":"text-0","delta":"x"}),
                json!({"type":"source-url","sourceId":"source-0","url":"https://example.com/rivers","title":"Rivers","providerMetadata":{"bedrock":{"citedText":"quoted"}}}),
                json!({"type":"source-document","sourceId":"source-1","mediaType":"application/octet-stream","title":"notes","providerMetadata":{"bedrock":{"citedText":"quoted"}}}),
                // A citation does not end the text it belongs to.
                json!({"type":"text-delta","id":"text-0","delta":"y"}),
            ]
        );
    }

    #[test]
    fn a_delta_of_no_open_call_and_a_guardrail_render_nothing() {
        let chunks = render(&[
            part(Part::tool_input(4, "{}".into())),
            part(Part::Guardrail {
                action: "intervened".into(),
                trace: None,
            }),
        ]);
        assert_eq!(chunks.len(), 2);
    }
}
