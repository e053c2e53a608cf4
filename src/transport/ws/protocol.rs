//! The `/v1/ws` JSON protocol: client actions in, `TokenEvent`s plus `type`
//! and the echoed `requestId` out.

use serde::Deserialize;
use serde_json::Value;

use crate::error::ErrorCode;
use crate::event::TokenEvent;
use crate::request::StreamRequest;

/// A parsed client message.
#[derive(Debug)]
pub enum Action {
    Stream(Box<StreamRequest>),
    Subscribe {
        session_id: String,
        after: Option<u64>,
    },
    Cancel {
        session_id: Option<String>,
    },
    Ping,
    /// A fresh token for a connection whose token is about to expire.
    Auth {
        token: String,
    },
}

/// A client message: its action and the `requestId` to echo.
#[derive(Debug)]
pub struct ClientMessage {
    pub request_id: Option<Value>,
    pub action: Action,
}

/// Why a client message was refused; sent back as an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribeFields {
    session_id: String,
    #[serde(default)]
    after: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelFields {
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Deserialize)]
struct AuthFields {
    token: String,
}

/// Parse one text message. The `requestId` is returned even when the rest is bad,
/// so the error can be matched to the request.
pub fn parse(text: &str) -> Result<ClientMessage, (Option<Value>, ProtocolError)> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        (
            None,
            ProtocolError::new(ErrorCode::InvalidJson, format!("message is not JSON: {e}")),
        )
    })?;
    let Value::Object(obj) = &value else {
        return Err((
            None,
            ProtocolError::new(ErrorCode::InvalidMessage, "message must be a JSON object"),
        ));
    };
    let request_id = obj.get("requestId").cloned();
    let fail = |e: ProtocolError| (request_id.clone(), e);
    let action = match obj.get("action") {
        None => {
            return Err(fail(ProtocolError::new(
                ErrorCode::MissingAction,
                "message has no \"action\"",
            )));
        }
        Some(Value::String(a)) => a.as_str(),
        Some(_) => {
            return Err(fail(ProtocolError::new(
                ErrorCode::InvalidAction,
                "\"action\" must be a string",
            )));
        }
    };
    let fields = |what: &str, e: serde_json::Error| {
        fail(ProtocolError::new(
            ErrorCode::InvalidFields,
            format!("{what}: {e}"),
        ))
    };
    let action = match action {
        "stream" => Action::Stream(Box::new(
            serde_json::from_value(value.clone()).map_err(|e| fields("stream", e))?,
        )),
        "subscribe" => {
            let f: SubscribeFields =
                serde_json::from_value(value.clone()).map_err(|e| fields("subscribe", e))?;
            Action::Subscribe {
                session_id: f.session_id,
                after: f.after,
            }
        }
        "cancel" => {
            let f: CancelFields =
                serde_json::from_value(value.clone()).map_err(|e| fields("cancel", e))?;
            if f.session_id.is_none() && request_id.is_none() {
                return Err(fail(ProtocolError::new(
                    ErrorCode::InvalidFields,
                    "cancel needs a \"requestId\" or a \"sessionId\"",
                )));
            }
            Action::Cancel {
                session_id: f.session_id,
            }
        }
        "ping" => Action::Ping,
        "auth" => {
            let f: AuthFields =
                serde_json::from_value(value.clone()).map_err(|e| fields("auth", e))?;
            Action::Auth { token: f.token }
        }
        other => {
            return Err(fail(ProtocolError::new(
                ErrorCode::UnknownAction,
                format!(
                    "unknown action {other:?}; expected stream, subscribe, cancel, ping or auth"
                ),
            )));
        }
    };
    Ok(ClientMessage { request_id, action })
}

/// A server message carrying a log event.
/// An event as a message: `{"type":KIND,"requestId":ID,` followed by the
/// event's own fields, spliced from its cached JSON (serialised once per
/// event however many sockets carry it).
pub fn event_message(event: &TokenEvent, request_id: Option<&Value>) -> String {
    let json = event.json();
    let fields = json.strip_prefix('{').unwrap_or(json);
    let id = request_id.map(Value::to_string);
    let kind = event.kind().as_str();
    let mut msg = String::with_capacity(json.len() + 40 + id.as_ref().map_or(0, String::len));
    msg.push_str("{\"type\":\"");
    msg.push_str(kind);
    msg.push_str("\",");
    if let Some(id) = &id {
        msg.push_str("\"requestId\":");
        msg.push_str(id);
        msg.push(',');
    }
    msg.push_str(fields);
    msg
}

pub fn connected(connection_id: &str) -> String {
    serde_json::json!({"type": "connected", "connectionId": connection_id}).to_string()
}

pub fn started(request_id: Option<&Value>, session_id: &str, model: &str) -> String {
    let mut v = serde_json::json!({"type": "started", "sessionId": session_id, "model": model});
    with_request_id(&mut v, request_id);
    v.to_string()
}

pub fn pong(request_id: Option<&Value>) -> String {
    let mut v = serde_json::json!({"type": "pong"});
    with_request_id(&mut v, request_id);
    v.to_string()
}

/// An `error` message about a request (not a log event).
pub fn error(request_id: Option<&Value>, code: ErrorCode, message: &str) -> String {
    let mut v =
        serde_json::json!({"type": "error", "error": {"code": code.as_str(), "message": message}});
    with_request_id(&mut v, request_id);
    v.to_string()
}

fn with_request_id(v: &mut Value, request_id: Option<&Value>) {
    if let (Some(id), Value::Object(o)) = (request_id, v) {
        o.insert("requestId".into(), id.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_action_and_keeps_the_request_id() {
        let m = parse(r#"{"action":"stream","prompt":"hi","requestId":7}"#).unwrap();
        assert_eq!(m.request_id, Some(serde_json::json!(7)));
        assert!(matches!(m.action, Action::Stream(r) if r.prompt.as_deref() == Some("hi")));
        let m = parse(r#"{"action":"subscribe","sessionId":"s","after":3}"#).unwrap();
        assert!(
            matches!(m.action, Action::Subscribe { session_id, after: Some(3) } if session_id == "s")
        );
        assert!(matches!(
            parse(r#"{"action":"ping"}"#).unwrap().action,
            Action::Ping
        ));
    }

    #[test]
    fn a_stream_takes_system_parts_and_a_tools_cache_point() {
        let m = parse(
            r#"{"action":"stream","prompt":"hi","system":[{"type":"text","text":"Rules"},{"type":"cachePoint"}],"tools":[{"name":"f"},{"type":"cachePoint"}]}"#,
        )
        .unwrap();
        let Action::Stream(r) = m.action else {
            panic!("{m:?}")
        };
        assert!(r.system.has_cache_point());
        assert!(r.tools.cache_point && r.tools.tools.len() == 1);
        let (_, e) = parse(
            r#"{"action":"stream","prompt":"hi","system":[{"type":"text","text":"a"},{"type":"toolCall","id":"t","name":"f"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code.as_str(), "invalid_fields");
        assert!(e.message.contains("system[1]"), "{}", e.message);
    }

    #[test]
    fn event_messages_are_the_event_plus_type_and_request_id() {
        let ev = TokenEvent {
            session_id: "s\"1".into(),
            seq: 2,
            token: "h\u{e9}llo\n".into(),
            is_complete: false,
            timestamp: "t".into(),
            stop_reason: None,
            stop_sequence: None,
            usage: None,
            model: None,
            error: None,
            part: None,
            wire: Default::default(),
        };
        for rid in [
            None,
            Some(serde_json::json!(7)),
            Some(serde_json::json!("r\"x")),
        ] {
            let msg: Value = serde_json::from_str(&event_message(&ev, rid.as_ref())).unwrap();
            let mut want = serde_json::to_value(&ev).unwrap();
            want["type"] = "token".into();
            if let Some(id) = &rid {
                want["requestId"] = id.clone();
            }
            assert_eq!(msg, want);
        }
    }

    #[test]
    fn bad_messages_name_the_problem() {
        let code = |s: &str| parse(s).unwrap_err().1.code.as_str();
        assert_eq!(code("nope"), "invalid_json");
        assert_eq!(code("[1]"), "invalid_message");
        assert_eq!(code(r#"{"prompt":"x"}"#), "missing_action");
        assert_eq!(code(r#"{"action":5}"#), "invalid_action");
        assert_eq!(code(r#"{"action":"dance"}"#), "unknown_action");
        assert_eq!(code(r#"{"action":"subscribe"}"#), "invalid_fields");
        assert_eq!(code(r#"{"action":"stream","prompt":1}"#), "invalid_fields");
        assert_eq!(code(r#"{"action":"cancel"}"#), "invalid_fields");
        let (rid, _) = parse(r#"{"action":"dance","requestId":"r1"}"#).unwrap_err();
        assert_eq!(rid, Some(serde_json::json!("r1")));
    }
}
