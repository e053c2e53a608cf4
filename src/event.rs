//! The `TokenEvent`: the one event shape every transport carries.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
}

/// Why a session ended badly, as carried by its final event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// How a transport should label an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Token,
    Done,
    Error,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Token => "token",
            EventKind::Done => "done",
            EventKind::Error => "error",
        }
    }
}

impl TokenEvent {
    pub fn kind(&self) -> EventKind {
        match (self.is_complete, &self.error) {
            (false, _) => EventKind::Token,
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
    fn serialises_every_field_of_the_contract() {
        let ev = TokenEvent {
            session_id: Arc::from("s1"),
            seq: 3,
            token: "Hello".into(),
            is_complete: false,
            timestamp: "2026-11-23T14:00:00.123Z".into(),
            stop_reason: None,
            usage: None,
            error: None,
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"sessionId":"s1","seq":3,"token":"Hello","isComplete":false,"timestamp":"2026-11-23T14:00:00.123Z"})
        );
        assert_eq!(ev.kind(), EventKind::Token);
    }

    #[test]
    fn timestamp_has_milliseconds() {
        let t = now_timestamp();
        assert_eq!(t.len(), "2026-11-23T14:00:00.123Z".len(), "{t}");
        assert!(t.ends_with('Z'));
    }
}
