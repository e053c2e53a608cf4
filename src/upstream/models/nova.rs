//! Amazon Nova: the `messages-v1` body and its Converse-like stream objects.

use serde_json::{Map, Value, json};

use super::{count, push_stop, push_text, push_usage, put_f32, put_strings, system_text};
use crate::upstream::request::{Delta, InvocationRequest, Role};

/// `{"schemaVersion":"messages-v1","messages":[…],"system":[…],"inferenceConfig":{…}}`.
pub(super) fn build_body(req: &InvocationRequest) -> Value {
    let messages: Vec<Value> = req
        .turns
        .iter()
        .map(|t| {
            let role = match t.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": [{ "text": t.text() }] })
        })
        .collect();
    let mut config = Map::new();
    config.insert("max_new_tokens".into(), json!(req.max_tokens));
    put_f32(&mut config, "temperature", req.temperature);
    put_f32(&mut config, "top_p", req.top_p);
    put_strings(&mut config, "stopSequences", &req.stop_sequences);

    let mut body = Map::new();
    body.insert("schemaVersion".into(), json!("messages-v1"));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(system) = system_text(req) {
        body.insert("system".into(), json!([{ "text": system }]));
    }
    body.insert("inferenceConfig".into(), Value::Object(config));
    Value::Object(body)
}

/// Nova already uses Converse's stop reason names.
fn stop_name(_reason: &str) -> Option<&'static str> {
    None
}

/// `contentBlockDelta.delta.text`, `messageStop.stopReason`,
/// `metadata.usage.{inputTokens,outputTokens}`; reasoning and tool-use deltas
/// are skipped.
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    push_text(&mut out, v.pointer("/contentBlockDelta/delta/text"));
    push_stop(&mut out, v.pointer("/messageStop/stopReason"), stop_name);
    if let Some(usage) = v.pointer("/metadata/usage") {
        push_usage(
            &mut out,
            count(usage.get("inputTokens")),
            count(usage.get("outputTokens")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::models::ModelFamily;
    use crate::upstream::models::tests::{decode, full, latency, simple, stop, text, usage};

    const FAMILY: ModelFamily = ModelFamily::AmazonNova;

    #[test]
    fn simple_body() {
        assert_eq!(
            FAMILY.build_body(&simple("us.amazon.nova-lite-v1:0", "Hello")),
            json!({
                "schemaVersion": "messages-v1",
                "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
                "inferenceConfig": {"max_new_tokens": 512}
            })
        );
    }

    #[test]
    fn multi_turn_body_with_system_and_options() {
        assert_eq!(
            FAMILY.build_body(&full("amazon.nova-pro-v1:0")),
            json!({
                "schemaVersion": "messages-v1",
                "system": [{"text": "You are terse."}],
                "messages": [
                    {"role": "user", "content": [{"text": "Hi"}]},
                    {"role": "assistant", "content": [{"text": "Hello!"}]},
                    {"role": "user", "content": [{"text": "Name a colour."}]}
                ],
                "inferenceConfig": {
                    "max_new_tokens": 256,
                    "temperature": 0.7,
                    "top_p": 0.9,
                    "stopSequences": ["END"]
                }
            })
        );
    }

    #[test]
    fn recorded_stream() {
        let chunks = [
            r#"{"messageStart":{"role":"assistant"}}"#,
            r#"{"contentBlockDelta":{"delta":{"text":"A \"Hello, World!\""},"contentBlockIndex":0}}"#,
            r#"{"contentBlockDelta":{"delta":{"text":" program prints text."},"contentBlockIndex":0}}"#,
            r#"{"contentBlockStop":{"contentBlockIndex":0}}"#,
            r#"{"messageStop":{"stopReason":"end_turn"}}"#,
            r#"{"metadata":{"usage":{"inputTokens":15,"outputTokens":11},"metrics":{},"trace":{}},"amazon-bedrock-invocationMetrics":{"inputTokenCount":15,"outputTokenCount":11,"invocationLatency":329,"firstByteLatency":141}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                text("A \"Hello, World!\""),
                text(" program prints text."),
                stop("end_turn"),
                usage(Some(15), Some(11)),
                usage(Some(15), Some(11)),
                latency(329, 141),
            ]
        );
    }

    #[test]
    fn stop_reasons_pass_through() {
        for reason in [
            "max_tokens",
            "stop_sequence",
            "tool_use",
            "content_filtered",
        ] {
            let chunk = format!(r#"{{"messageStop":{{"stopReason":"{reason}"}}}}"#);
            assert_eq!(decode(FAMILY, &chunk), vec![stop(reason)]);
        }
    }

    #[test]
    fn tool_use_and_reasoning_are_not_text() {
        for chunk in [
            r#"{"contentBlockStart":{"start":{"toolUse":{"toolUseId":"tooluse_1","name":"top_song"}},"contentBlockIndex":1}}"#,
            r#"{"contentBlockDelta":{"delta":{"toolUse":{"input":"{\"sign\":"}},"contentBlockIndex":1}}"#,
            r#"{"contentBlockDelta":{"delta":{"reasoningContent":{"text":"hmm"}},"contentBlockIndex":0}}"#,
            r#"{"contentBlockDelta":{"delta":{"text":""},"contentBlockIndex":0}}"#,
        ] {
            assert!(decode(FAMILY, chunk).is_empty(), "{chunk}");
        }
    }
}
