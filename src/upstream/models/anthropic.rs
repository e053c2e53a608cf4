//! Anthropic Claude: the Messages API body and Anthropic's streaming events.

use serde_json::{Map, Value, json};

use super::{
    base_model_id, count, push_stop, push_text, push_usage, put_f32, put_strings, system_text,
};
use crate::upstream::request::{Delta, InvocationRequest, Role};

/// `{"anthropic_version":"bedrock-2023-05-31","max_tokens","messages",…}`.
///
/// Claude Opus 4.1 and later models refuse `temperature` together with
/// `top_p`; for them, when both are set, only `temperature` is sent.
pub(super) fn build_body(req: &InvocationRequest) -> Value {
    let messages: Vec<Value> = req
        .turns
        .iter()
        .map(|t| {
            let role = match t.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": t.text() })
        })
        .collect();
    let mut body = Map::new();
    body.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
    body.insert("max_tokens".into(), json!(req.max_tokens));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(system) = system_text(req) {
        body.insert("system".into(), json!(system));
    }
    put_f32(&mut body, "temperature", req.temperature);
    let top_p = if req.temperature.is_some() && one_sampling_knob_only(&req.model_id) {
        None
    } else {
        req.top_p
    };
    put_f32(&mut body, "top_p", top_p);
    put_strings(&mut body, "stop_sequences", &req.stop_sequences);
    Value::Object(body)
}

/// Whether the model rejects `temperature` and `top_p` together: the
/// new-style ids (`claude-<tier>-<major>[-<minor>]-…`) from version 4.1 on.
fn one_sampling_knob_only(model_id: &str) -> bool {
    let Some(id) = base_model_id(model_id) else {
        return false;
    };
    let id = id.to_ascii_lowercase();
    let Some(rest) = id.strip_prefix("anthropic.claude-") else {
        return false;
    };
    let mut parts = rest.split('-');
    if !matches!(parts.next(), Some("opus" | "sonnet" | "haiku")) {
        return false; // old style, e.g. claude-3-5-sonnet-…
    }
    let Some(major) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    // The minor version is a short number; an 8-digit date means `.0`.
    let minor = parts
        .next()
        .filter(|p| p.len() <= 2)
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    (major, minor) >= (4, 1)
}

/// Claude's stop reasons are Converse's, except `refusal`.
fn stop_name(reason: &str) -> Option<&'static str> {
    match reason {
        "refusal" => Some("content_filtered"),
        _ => None,
    }
}

/// Anthropic streaming events by `type`; tool-input and thinking deltas are
/// not text for the user and are skipped.
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    match v.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            push_usage(
                &mut out,
                count(v.pointer("/message/usage/input_tokens")),
                None,
            );
        }
        Some("content_block_start") if str_at(v, "/content_block/type") == Some("text") => {
            push_text(&mut out, v.pointer("/content_block/text"));
        }
        Some("content_block_delta") if str_at(v, "/delta/type") == Some("text_delta") => {
            push_text(&mut out, v.pointer("/delta/text"));
        }
        Some("message_delta") => {
            push_stop(&mut out, v.pointer("/delta/stop_reason"), stop_name);
            push_usage(
                &mut out,
                count(v.pointer("/usage/input_tokens")),
                count(v.pointer("/usage/output_tokens")),
            );
        }
        _ => {}
    }
    out
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::models::ModelFamily;
    use crate::upstream::models::tests::{decode, full, latency, simple, stop, text, usage};

    const FAMILY: ModelFamily = ModelFamily::AnthropicClaude;

    #[test]
    fn simple_body() {
        let body = FAMILY.build_body(&simple("anthropic.claude-3-5-haiku-20241022-v1:0", "Hello"));
        assert_eq!(
            body,
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 512,
                "messages": [{"role": "user", "content": "Hello"}]
            })
        );
    }

    #[test]
    fn multi_turn_body_with_system_and_options() {
        let body = FAMILY.build_body(&full("anthropic.claude-3-5-haiku-20241022-v1:0"));
        assert_eq!(
            body,
            json!({
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 256,
                "system": "You are terse.",
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "Name a colour."}
                ],
                "temperature": 0.7,
                "top_p": 0.9,
                "stop_sequences": ["END"]
            })
        );
    }

    #[test]
    fn newer_claude_gets_temperature_or_top_p_not_both() {
        for id in [
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-opus-4-1-20250805-v1:0",
            "anthropic.claude-sonnet-4-6",
        ] {
            let body = FAMILY.build_body(&full(id));
            assert_eq!(body["temperature"], json!(0.7), "{id}");
            assert!(body.get("top_p").is_none(), "{id}");
            let mut req = full(id);
            req.temperature = None;
            assert_eq!(FAMILY.build_body(&req)["top_p"], json!(0.9), "{id}");
        }
        for id in [
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-opus-4-20250514-v1:0",
        ] {
            assert_eq!(FAMILY.build_body(&full(id))["top_p"], json!(0.9), "{id}");
        }
    }

    #[test]
    fn blank_system_is_omitted() {
        let mut req = simple("anthropic.claude-3-haiku-20240307-v1:0", "Hi");
        req.system = Some("  ".into());
        assert!(FAMILY.build_body(&req).get("system").is_none());
    }

    #[test]
    fn recorded_stream() {
        let chunks = [
            r#"{"type":"message_start","message":{"id":"msg_bdrk_01Hx6kWzQ3dPSw8bT2yE9Hqf","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"A \"Hello, World!\" program"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" prints a greeting."}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":14}}"#,
            r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":21,"outputTokenCount":14,"invocationLatency":612,"firstByteLatency":389}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                usage(Some(21), None),
                text("A \"Hello, World!\" program"),
                text(" prints a greeting."),
                stop("end_turn"),
                usage(None, Some(14)),
                usage(Some(21), Some(14)),
                latency(612, 389),
            ]
        );
    }

    #[test]
    fn tool_input_thinking_and_ping_are_not_text() {
        for chunk in [
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
        ] {
            assert!(decode(FAMILY, chunk).is_empty(), "{chunk}");
        }
    }

    #[test]
    fn stop_reasons() {
        let md = |r: &str| {
            format!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":"{r}","stop_sequence":null}},"usage":{{"output_tokens":3}}}}"#
            )
        };
        for (raw, want) in [
            ("end_turn", "end_turn"),
            ("max_tokens", "max_tokens"),
            ("stop_sequence", "stop_sequence"),
            ("tool_use", "tool_use"),
            ("refusal", "content_filtered"),
            ("pause_turn", "pause_turn"),
        ] {
            assert_eq!(
                decode(FAMILY, &md(raw)),
                vec![stop(want), usage(None, Some(3))],
                "{raw}"
            );
        }
    }

    #[test]
    fn stop_sequence_hit() {
        let chunk = r#"{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":9}}"#;
        assert_eq!(
            decode(FAMILY, chunk),
            vec![stop("stop_sequence"), usage(None, Some(9))]
        );
    }
}
