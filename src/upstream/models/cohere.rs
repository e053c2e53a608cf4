//! Cohere Command R / R+: the chat body (`message`, `chat_history`) and its events.

use serde_json::{Map, Value, json};

use super::{count, push_stop, push_text, push_usage, put_f32, put_strings, system_text};
use crate::upstream::request::{Delta, InvocationRequest, Role};

/// `{"message","chat_history","preamble","max_tokens","temperature","p","stop_sequences"}`.
pub(super) fn build_body(req: &InvocationRequest) -> Value {
    let (message, history) = match req.turns.split_last() {
        Some((last, earlier)) if last.role == Role::User => (last.text(), earlier),
        _ => (String::new(), req.turns.as_slice()),
    };
    let mut body = Map::new();
    body.insert("message".into(), json!(message));
    if !history.is_empty() {
        let history: Vec<Value> = history
            .iter()
            .map(|t| {
                let role = match t.role {
                    Role::User => "USER",
                    Role::Assistant => "CHATBOT",
                };
                json!({ "role": role, "message": t.text() })
            })
            .collect();
        body.insert("chat_history".into(), Value::Array(history));
    }
    if let Some(system) = system_text(req) {
        body.insert("preamble".into(), json!(system));
    }
    body.insert("max_tokens".into(), json!(req.body_max_tokens()));
    put_f32(&mut body, "temperature", req.temperature);
    put_f32(&mut body, "p", req.top_p);
    put_strings(&mut body, "stop_sequences", &req.stop_sequences);
    Value::Object(body)
}

fn stop_name(reason: &str) -> Option<&'static str> {
    match reason {
        "COMPLETE" => Some("end_turn"),
        "MAX_TOKENS" => Some("max_tokens"),
        "STOP_SEQUENCE" => Some("stop_sequence"),
        "TOOL_CALL" => Some("tool_use"),
        "ERROR_TOXIC" => Some("content_filtered"),
        "ERROR_LIMIT" => Some("model_context_window_exceeded"),
        _ => None,
    }
}

/// Events by `event_type`: `text-generation` carries `text`; `stream-end`
/// carries `finish_reason` and the full `response` with token counts.
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    match v.get("event_type").and_then(Value::as_str) {
        Some("text-generation") => push_text(&mut out, v.get("text")),
        Some("stream-end") => {
            let reason = v
                .get("finish_reason")
                .filter(|r| r.is_string())
                .or_else(|| v.pointer("/response/finish_reason"));
            push_stop(&mut out, reason, stop_name);
            let units = v
                .pointer("/response/meta/billed_units")
                .or_else(|| v.pointer("/response/meta/tokens"));
            if let Some(units) = units {
                push_usage(
                    &mut out,
                    count(units.get("input_tokens")),
                    count(units.get("output_tokens")),
                );
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::models::ModelFamily;
    use crate::upstream::models::tests::{decode, full, latency, simple, stop, text, usage};

    const FAMILY: ModelFamily = ModelFamily::CohereCommandR;

    #[test]
    fn simple_body() {
        assert_eq!(
            build_body(&simple("cohere.command-r-v1:0", "Hello")),
            json!({"message": "Hello", "max_tokens": 512})
        );
    }

    #[test]
    fn multi_turn_body_with_system_and_options() {
        assert_eq!(
            build_body(&full("cohere.command-r-plus-v1:0")),
            json!({
                "message": "Name a colour.",
                "chat_history": [
                    {"role": "USER", "message": "Hi"},
                    {"role": "CHATBOT", "message": "Hello!"}
                ],
                "preamble": "You are terse.",
                "max_tokens": 256,
                "temperature": 0.7,
                "p": 0.9,
                "stop_sequences": ["END"]
            })
        );
    }

    #[test]
    fn recorded_stream() {
        let chunks = [
            r#"{"is_finished":false,"event_type":"stream-start","generation_id":"0b8a4c5e-52b4-4f3a-9d1b-1c2f3e4d5a6b"}"#,
            r#"{"is_finished":false,"event_type":"text-generation","text":"A"}"#,
            r#"{"is_finished":false,"event_type":"text-generation","text":" \"Hello, World!\" program prints text."}"#,
            r#"{"is_finished":true,"event_type":"stream-end","response":{"response_id":"8d2f1e7a-3c4b-4a59-8e6f-7a1b2c3d4e5f","text":"A \"Hello, World!\" program prints text.","generation_id":"0b8a4c5e-52b4-4f3a-9d1b-1c2f3e4d5a6b","chat_history":[{"role":"USER","message":"Describe a hello world program."},{"role":"CHATBOT","message":"A \"Hello, World!\" program prints text."}],"finish_reason":"COMPLETE","meta":{"api_version":{"version":"1"},"billed_units":{"input_tokens":8,"output_tokens":9},"tokens":{"input_tokens":74,"output_tokens":9}}},"finish_reason":"COMPLETE","amazon-bedrock-invocationMetrics":{"inputTokenCount":8,"outputTokenCount":9,"invocationLatency":512,"firstByteLatency":188}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                text("A"),
                text(" \"Hello, World!\" program prints text."),
                stop("end_turn"),
                usage(Some(8), Some(9)),
                usage(Some(8), Some(9)),
                latency(512, 188),
            ]
        );
    }

    #[test]
    fn finish_reasons() {
        for (raw, want) in [
            ("COMPLETE", "end_turn"),
            ("MAX_TOKENS", "max_tokens"),
            ("ERROR_TOXIC", "content_filtered"),
            ("STOP_SEQUENCE", "stop_sequence"),
            ("ERROR", "error"),
        ] {
            let chunk = format!(
                r#"{{"is_finished":true,"event_type":"stream-end","finish_reason":"{raw}"}}"#
            );
            assert_eq!(decode(FAMILY, &chunk), vec![stop(want)], "{raw}");
        }
    }

    #[test]
    fn other_events_are_ignored() {
        for chunk in [
            r#"{"is_finished":false,"event_type":"search-queries-generation","search_queries":[]}"#,
            r#"{"is_finished":false,"event_type":"citation-generation","citations":[]}"#,
            r#"{"is_finished":false,"event_type":"tool-calls-chunk","tool_call_delta":{"index":0,"name":"x"}}"#,
            r#"{"is_finished":false,"event_type":"text-generation","text":""}"#,
        ] {
            assert!(decode(FAMILY, chunk).is_empty(), "{chunk}");
        }
    }
}
