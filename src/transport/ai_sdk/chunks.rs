//! The session log rendered as UI message stream chunks (protocol v1), the
//! same on SSE and WebSocket: `start`, `start-step`, then `text-start`,
//! `text-delta`… `text-end`, `finish-step`, `finish` — or `error` / `abort`.
//!
//! The rendering is a pure function of the log, so a chunk's index in it (the
//! WebSocket `sequence`) names the same chunk on every replay.

use futures_util::{Stream, StreamExt, stream};
use serde::Serialize;

use crate::event::{EventKind, TokenEvent};
use crate::hub::Subscription;

/// The id of the one text part of every answer.
const TEXT_ID: &str = "text-0";

/// One chunk, exactly as the `ai` package's `uiMessageChunkSchema` allows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum UiChunk {
    Start {
        #[serde(rename = "messageId")]
        message_id: String,
    },
    StartStep,
    TextStart {
        id: &'static str,
    },
    TextDelta {
        id: &'static str,
        delta: String,
    },
    TextEnd {
        id: &'static str,
    },
    FinishStep,
    Finish {
        #[serde(rename = "finishReason")]
        finish_reason: &'static str,
    },
    Error {
        #[serde(rename = "errorText")]
        error_text: String,
    },
    Abort {
        reason: &'static str,
    },
}

/// The AI SDK's rendering of an error: `errorText` is `"{code}: {message}"`,
/// `code` an [`ErrorCode`](crate::error::ErrorCode)'s string.
pub fn error_text(code: &str, message: &str) -> String {
    format!("{code}: {message}")
}

/// Turns a session's events into chunks, one event at a time.
#[derive(Debug, Default)]
pub struct Renderer {
    text_open: bool,
}

impl Renderer {
    /// The chunks that open every answer. The assistant message's id is the
    /// session id, so a replay (resume) replaces the message it resumes.
    pub fn preamble(session_id: &str) -> [UiChunk; 2] {
        [
            UiChunk::Start {
                message_id: session_id.to_owned(),
            },
            UiChunk::StartStep,
        ]
    }

    /// Append the chunks for `ev` to `out`.
    pub fn render(&mut self, ev: &TokenEvent, out: &mut Vec<UiChunk>) {
        match ev.kind() {
            EventKind::Token => {
                if ev.token.is_empty() {
                    return;
                }
                if !self.text_open {
                    self.text_open = true;
                    out.push(UiChunk::TextStart { id: TEXT_ID });
                }
                out.push(UiChunk::TextDelta {
                    id: TEXT_ID,
                    delta: ev.token.clone(),
                });
            }
            EventKind::Reasoning | EventKind::Tool | EventKind::Citation | EventKind::Guardrail => {
            }
            EventKind::Done => {
                self.close_text(out);
                out.push(UiChunk::FinishStep);
                match ev.stop_reason.as_deref() {
                    Some("cancelled") => out.push(UiChunk::Abort {
                        reason: "cancelled",
                    }),
                    reason => out.push(UiChunk::Finish {
                        finish_reason: finish_reason(reason),
                    }),
                }
            }
            EventKind::Error => {
                self.close_text(out);
                let error_text = ev.error.as_ref().map_or_else(
                    || "the stream failed".to_owned(),
                    |e| error_text(&e.code, &e.message),
                );
                out.push(UiChunk::Error { error_text });
                out.push(UiChunk::Finish {
                    finish_reason: "error",
                });
            }
        }
    }

    fn close_text(&mut self, out: &mut Vec<UiChunk>) {
        if std::mem::take(&mut self.text_open) {
            out.push(UiChunk::TextEnd { id: TEXT_ID });
        }
    }
}

/// Every chunk of a subscription from its start: the preamble, then each
/// event's chunks as the event arrives; ends after the final event's.
pub fn chunk_stream(sub: Subscription) -> impl Stream<Item = UiChunk> + Send + 'static {
    let preamble = Renderer::preamble(sub.session().id());
    let rest = stream::unfold((sub, Renderer::default()), |(mut sub, mut r)| async move {
        let ev = sub.next().await?;
        let mut out = Vec::with_capacity(2);
        r.render(&ev, &mut out);
        Some((stream::iter(out), (sub, r)))
    });
    stream::iter(preamble).chain(rest.flatten())
}

/// Bedrock's stop reason (Converse names) as the SDK's `finishReason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        None | Some("end_turn" | "stop_sequence" | "stop" | "complete") => "stop",
        Some("max_tokens" | "length") => "length",
        Some("content_filtered" | "guardrail_intervened") => "content-filter",
        Some("tool_use") => "tool-calls",
        Some(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::error::ErrorCode;
    use crate::event::EventError;

    fn ev(seq: u64, token: &str, end: Option<&str>, error: bool) -> TokenEvent {
        TokenEvent {
            session_id: Arc::from("s1"),
            seq,
            token: token.into(),
            is_complete: end.is_some() || error,
            timestamp: "t".into(),
            stop_reason: end.map(str::to_owned),
            usage: None,
            error: error.then(|| EventError::new(ErrorCode::ModelStreamError, "boom")),
            part: None,
            wire: Default::default(),
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
        let chunks = render(&[
            ev(0, "Hel", None, false),
            ev(1, "lo", None, false),
            ev(2, "", Some("max_tokens"), false),
        ]);
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
        let chunks = render(&[ev(0, "a", None, false), ev(1, "", None, true)]);
        assert_eq!(chunks[4], json!({"type":"text-end","id":"text-0"}));
        assert_eq!(
            chunks[5],
            json!({"type":"error","errorText":"model_stream_error: boom"})
        );
        assert_eq!(chunks[6], json!({"type":"finish","finishReason":"error"}));
        let chunks = render(&[ev(0, "", Some("cancelled"), false)]);
        assert_eq!(
            chunks[2..],
            [
                json!({"type":"finish-step"}),
                json!({"type":"abort","reason":"cancelled"})
            ]
        );
    }
}
