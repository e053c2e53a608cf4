//! `/v1/ws` client messages: `protocol::parse` on any text, and the `error`
//! reply built from its refusal.
//!
//! Invariants: a parsed message was a JSON object whose `action` names the
//! action parsed, with its `requestId` echoed; a refusal keeps the
//! `requestId` whenever the text was an object, names a known code, and
//! renders as a JSON `error` message that echoes the id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use spillway::transport::ws::protocol::{self, Action};

const CODES: &[&str] = &[
    "invalid_json",
    "invalid_message",
    "missing_action",
    "invalid_action",
    "invalid_fields",
    "unknown_action",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let json: Option<Value> = serde_json::from_str(text).ok();
    let object = json.as_ref().and_then(Value::as_object);
    match protocol::parse(text) {
        Ok(msg) => {
            let obj = object.expect("a parsed message is a JSON object");
            assert_eq!(msg.request_id.as_ref(), obj.get("requestId"));
            let action = obj.get("action").and_then(Value::as_str);
            let expected = match &msg.action {
                Action::Stream(_) => "stream",
                Action::Subscribe { session_id, after } => {
                    assert_eq!(
                        obj.get("sessionId").and_then(Value::as_str),
                        Some(session_id.as_str())
                    );
                    assert_eq!(obj.get("after").and_then(Value::as_u64), *after);
                    "subscribe"
                }
                Action::Cancel { session_id } => {
                    assert!(
                        session_id.is_some() || msg.request_id.is_some(),
                        "a cancel names a session or a request"
                    );
                    "cancel"
                }
                Action::Ping => "ping",
                Action::Auth { token } => {
                    assert_eq!(
                        obj.get("token").and_then(Value::as_str),
                        Some(token.as_str())
                    );
                    "auth"
                }
            };
            assert_eq!(action, Some(expected));
        }
        Err((request_id, err)) => {
            let code = err.code.as_str();
            assert!(CODES.contains(&code), "unexpected code {code}");
            assert!(!err.message.is_empty());
            match (&json, object) {
                (None, _) => {
                    assert_eq!(code, "invalid_json");
                    assert_eq!(request_id, None);
                }
                (Some(_), None) => {
                    assert_eq!(code, "invalid_message");
                    assert_eq!(request_id, None);
                }
                (Some(_), Some(obj)) => assert_eq!(request_id.as_ref(), obj.get("requestId")),
            }
            let reply: Value = serde_json::from_str(&protocol::error(
                request_id.as_ref(),
                err.code,
                &err.message,
            ))
            .expect("the error reply is JSON");
            assert_eq!(reply["type"], "error");
            assert_eq!(reply["error"]["code"], code);
            assert_eq!(reply.get("requestId"), request_id.as_ref());
        }
    }
});
