//! The `TokenEvent`: the one event shape every transport carries.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::parts::Part;
use crate::render::sse;
use crate::upstream::UpstreamError;
use crate::upstream::request::Usage;

/// One entry of a session's log, as SSE `data:`, WebSocket message and GraphQL `TokenEvent`.
///
/// The last event of a session has `is_complete == true` and carries either
/// `stop_reason` + `usage` or `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenEvent {
    pub session_id: Arc<str>,
    pub seq: u64,
    pub token: String,
    pub is_complete: bool,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// The stop sequence the model reached, when `stop_reason` is
    /// `stop_sequence` and the model said which (final event only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The model that answered (final event only; after a fallback, not
    /// the one the request named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// What a non-text event carries (reasoning, a tool call, …); `token` is
    /// then `""`. Boxed: most events are text and pay one pointer for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<Box<Part>>,
    /// This event as JSON, written once on first use and shared by every
    /// reader (see [`TokenEvent::json`]). Not part of the event's value.
    #[serde(skip)]
    pub wire: WireJson,
}

/// An event as written on the wire, once: its SSE frame, which holds its
/// JSON. Compares equal to any other, so events compare by their fields
/// alone.
#[derive(Debug, Clone, Default)]
pub struct WireJson(OnceLock<Wire>);

#[derive(Debug, Clone)]
struct Wire {
    /// `event: KIND\nid: SEQ\ndata: JSON\n\n`.
    sse: Bytes,
    /// Where the JSON is in `sse`.
    json: std::ops::Range<usize>,
}

impl PartialEq for WireJson {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Why a session ended badly, as carried by its final event.
///
/// `code` stays a string on the wire and in the log (events come back from
/// other nodes); build it from an [`ErrorCode`] with [`EventError::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
    /// The model's own status behind a `model_stream_error`, when Bedrock
    /// gave it (Bedrock's `originalStatusCode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_status_code: Option<i32>,
    /// The model's own message behind a `model_stream_error`, when Bedrock
    /// gave it (Bedrock's `originalMessage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_message: Option<String>,
}

impl EventError {
    /// The final event's error for `code`: its string and its retryability.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            retryable: code.retryable(),
            original_status_code: None,
            original_message: None,
        }
    }

    /// The code, if it is one this gateway knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }
}

impl From<&UpstreamError> for EventError {
    fn from(e: &UpstreamError) -> Self {
        let original = e.original.clone().unwrap_or_default();
        EventError {
            original_status_code: original.status_code,
            original_message: original.message,
            ..EventError::new(e.error_code(), e.message.clone())
        }
    }
}

/// How a transport should label an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Token,
    Reasoning,
    Tool,
    Citation,
    Guardrail,
    Done,
    Error,
}

impl EventKind {
    /// The SSE event name and WebSocket `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Token => "token",
            EventKind::Reasoning => "reasoning",
            EventKind::Tool => "tool",
            EventKind::Citation => "citation",
            EventKind::Guardrail => "guardrail",
            EventKind::Done => "done",
            EventKind::Error => "error",
        }
    }
}

impl TokenEvent {
    /// The event as JSON (`{"sessionId":…,"seq":…,…}`), serialised on first
    /// use and then shared: a session fanned out to N readers serialises
    /// each event once, not N times. Events are never changed once logged.
    pub fn json(&self) -> &str {
        let wire = self.wire();
        // Written from a `String` below; the check is a few ns per read.
        std::str::from_utf8(&wire.sse[wire.json.clone()]).unwrap_or_default()
    }

    /// The event as one SSE frame (`event:` its kind, `id:` its seq,
    /// `data:` its JSON): the same buffer as [`TokenEvent::json`], so N
    /// readers of `/v1/stream` send one buffer and a hot event keeps one.
    pub fn sse_frame(&self) -> Bytes {
        self.wire().sse.clone()
    }

    fn wire(&self) -> &Wire {
        self.wire.0.get_or_init(|| {
            // A struct of strings, integers and bools: serialising cannot fail.
            let mut json = Vec::with_capacity(160 + self.token.len());
            if serde_json::to_writer(&mut json, self).is_err() {
                json.clear();
            }
            let json = String::from_utf8(json).unwrap_or_default();
            // Compact JSON has no raw line break: one `data:` line, then "\n\n".
            let sse = sse::frame(Some(self.kind().as_str()), self.resume_id(), &json);
            let start = sse.len().saturating_sub(json.len() + 2);
            debug_assert_eq!(sse.get(start..start + json.len()), Some(json.as_bytes()));
            Wire {
                sse,
                json: start..start + json.len(),
            }
        })
    }

    /// A not-final event: text in `token`, or a part with `token` empty;
    /// `timestamp` left empty for the caller to set.
    pub fn text_event(
        session_id: Arc<str>,
        seq: u64,
        token: String,
        part: Option<Box<Part>>,
    ) -> Self {
        TokenEvent {
            session_id,
            seq,
            token,
            is_complete: false,
            timestamp: String::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: None,
            model: None,
            error: None,
            part,
            wire: WireJson::default(),
        }
    }

    /// Bytes of this event's wire form (its SSE frame, which holds its
    /// JSON), if it has been written yet (0 if not).
    pub fn json_len(&self) -> usize {
        self.wire.0.get().map_or(0, |w| w.sse.len())
    }

    /// A not-final event of session `s` at seq 0 — text in `token`, or a
    /// part — for the renderers' unit tests.
    #[cfg(test)]
    pub(crate) fn test_event(token: &str, part: Option<Part>) -> Self {
        TokenEvent {
            session_id: Arc::from("s"),
            seq: 0,
            token: token.into(),
            is_complete: false,
            timestamp: String::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: None,
            model: None,
            error: None,
            part: part.map(Box::new),
            wire: WireJson::default(),
        }
    }

    /// The SSE `id:` of this event: its seq, except on the error that ends
    /// a relay from another node (`node_unavailable`). That event is this
    /// node's, not the session's: the seq it takes here is the next real
    /// event's on the node streaming the session, so a client resuming from
    /// it (`EventSource` does, with the last `id:` it saw) would skip that
    /// event. Without an `id:`, the cursor stays on the last real event.
    fn resume_id(&self) -> Option<u64> {
        let relay_broke = self.is_complete
            && self
                .error
                .as_ref()
                .is_some_and(|e| e.error_code() == Some(crate::error::ErrorCode::NodeUnavailable));
        (!relay_broke).then_some(self.seq)
    }

    pub fn kind(&self) -> EventKind {
        match (self.is_complete, &self.error) {
            (false, _) => match self.part.as_deref() {
                None => EventKind::Token,
                Some(Part::Reasoning { .. }) => EventKind::Reasoning,
                Some(Part::ToolCall { .. }) => EventKind::Tool,
                Some(Part::Citation { .. }) => EventKind::Citation,
                Some(Part::Guardrail { .. }) => EventKind::Guardrail,
            },
            (true, None) => EventKind::Done,
            (true, Some(_)) => EventKind::Error,
        }
    }
}

/// Now, as RFC 3339 with milliseconds (`2026-11-23T14:00:00.123Z`).
pub fn now_timestamp() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sse_frame_carries_the_json_once() {
        let mut ev = TokenEvent::test_event("line one\nline \"two\"", None);
        ev.seq = 12;
        let frame = ev.sse_frame();
        let json = ev.json().to_owned();
        assert!(json.starts_with(r#"{"sessionId":"s","seq":12,"token":"line one\nline \"two\"","#));
        assert_eq!(frame, format!("event: token\nid: 12\ndata: {json}\n\n"));
        assert_eq!(ev.json_len(), frame.len());
        // Read again: the same buffer, not a new rendering.
        assert_eq!(ev.sse_frame().as_ptr(), frame.as_ptr());
        let back: TokenEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn serialises_every_field_of_the_contract() {
        let ev = TokenEvent {
            session_id: Arc::from("s1"),
            seq: 3,
            token: "Hello".into(),
            is_complete: false,
            timestamp: "2026-11-23T14:00:00.123Z".into(),
            stop_reason: None,
            stop_sequence: None,
            usage: None,
            model: None,
            error: None,
            part: None,
            wire: WireJson::default(),
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"sessionId":"s1","seq":3,"token":"Hello","isComplete":false,"timestamp":"2026-11-23T14:00:00.123Z"})
        );
        assert_eq!(ev.kind(), EventKind::Token);
        assert_eq!(ev.json(), serde_json::to_string(&ev).unwrap());
        assert_eq!(
            serde_json::from_str::<TokenEvent>(ev.json()).unwrap(),
            ev,
            "the cached JSON reads back as the same event"
        );
    }

    #[test]
    fn event_errors_are_built_from_codes() {
        let e = EventError::new(ErrorCode::NodeUnavailable, "node b is gone");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "node_unavailable", "message": "node b is gone", "retryable": true})
        );
        assert_eq!(e.error_code(), Some(ErrorCode::NodeUnavailable));
        let u = UpstreamError::new(crate::upstream::UpstreamErrorKind::LogFull, "too long");
        let e = EventError::from(&u);
        assert_eq!(
            (e.code.as_str(), e.message.as_str(), e.retryable),
            ("session_too_long", "too long", false)
        );
        let odd = EventError {
            code: "from_a_newer_node".into(),
            message: String::new(),
            retryable: false,
            original_status_code: None,
            original_message: None,
        };
        assert_eq!(odd.error_code(), None);
    }

    #[test]
    fn timestamp_has_milliseconds() {
        let t = now_timestamp();
        assert_eq!(t.len(), "2026-11-23T14:00:00.123Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}
