//! Amazon Nova: the `messages-v1` body and its Converse-like stream objects.

use serde_json::{Map, Value, json};

use super::nova_content::{messages, system, tool_config};
use super::{ModelFamily, count, push_cached_usage, push_stop, push_text, put_f32, put_strings};
use crate::upstream::reasoning;
use crate::upstream::request::{Delta, InvocationRequest};

/// `{"schemaVersion":"messages-v1","messages":[…],"system":[…],"inferenceConfig":{…}}`,
/// with `toolConfig` and `reasoningConfig` (top level, as InvokeModel takes
/// it) when asked for.
pub(super) fn build_body(req: &InvocationRequest) -> Result<Value, String> {
    let mut config = Map::new();
    config.insert("max_new_tokens".into(), json!(req.body_max_tokens()));
    put_f32(&mut config, "temperature", req.temperature);
    put_f32(&mut config, "top_p", req.top_p);
    put_strings(&mut config, "stopSequences", &req.stop_sequences);

    let mut body = Map::new();
    body.insert("schemaVersion".into(), json!("messages-v1"));
    body.insert("messages".into(), Value::Array(messages(&req.turns)?));
    if let Some(system) = system(&req.system) {
        body.insert("system".into(), system);
    }
    body.insert("inferenceConfig".into(), Value::Object(config));
    if let Some(tools) = tool_config(req) {
        body.insert("toolConfig".into(), tools);
    }
    if let Some(Value::Object(fields)) =
        reasoning::fields(ModelFamily::AmazonNova, &req.model_id, req.reasoning_budget)
    {
        body.extend(fields);
    }
    Ok(Value::Object(body))
}

/// Nova already uses Converse's stop reason names.
fn stop_name(_reason: &str) -> Option<&'static str> {
    None
}

/// Converse's events as JSON objects: `contentBlockStart` (a tool call),
/// `contentBlockDelta` (`text`, `toolUse.input`, `reasoningContent`),
/// `contentBlockStop`, `messageStop.stopReason`,
/// `metadata.usage.{inputTokens,outputTokens,cacheReadInputTokenCount,cacheWriteInputTokenCount}`.
pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    if let Some(tool) = v.pointer("/contentBlockStart/start/toolUse") {
        let field = |k: &str| tool.get(k).and_then(Value::as_str);
        if let (Some(id), Some(name)) = (field("toolUseId"), field("name")) {
            out.push(Delta::ToolStart {
                id: id.to_owned(),
                name: name.to_owned(),
            });
        }
    }
    if let Some(delta) = v.pointer("/contentBlockDelta/delta") {
        push_text(&mut out, delta.get("text"));
        let piece = |pointer: &str| {
            delta
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        out.extend(piece("/toolUse/input").map(Delta::ToolInput));
        out.extend(piece("/reasoningContent/text").map(Delta::Reasoning));
        out.extend(piece("/reasoningContent/signature").map(Delta::ReasoningSignature));
        out.extend(piece("/reasoningContent/redactedContent").map(Delta::ReasoningRedacted));
    }
    if v.get("contentBlockStop").is_some() {
        out.push(Delta::BlockEnd);
    }
    push_stop(&mut out, v.pointer("/messageStop/stopReason"), stop_name);
    if let Some(usage) = v.pointer("/metadata/usage") {
        // Nova names its cache counts like the invocation metrics; Converse's names are read too.
        let either = |a: &str, b: &str| count(usage.get(a)).or_else(|| count(usage.get(b)));
        push_cached_usage(
            &mut out,
            [
                count(usage.get("inputTokens")),
                count(usage.get("outputTokens")),
                either("cacheReadInputTokenCount", "cacheReadInputTokens"),
                either("cacheWriteInputTokenCount", "cacheWriteInputTokens"),
            ],
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

    fn body(req: &InvocationRequest) -> Value {
        build_body(req).unwrap()
    }

    #[test]
    fn simple_body() {
        assert_eq!(
            body(&simple("us.amazon.nova-lite-v1:0", "Hello")),
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
            body(&full("amazon.nova-pro-v1:0")),
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
                Delta::BlockEnd,
                stop("end_turn"),
                usage(Some(15), Some(11)),
                usage(Some(15), Some(11)),
                latency(329, 141),
            ]
        );
    }

    #[test]
    fn cache_counts_in_metadata_usage() {
        let cached = |read, write| Delta::Usage {
            input_tokens: Some(4),
            output_tokens: Some(2),
            cache_read_input_tokens: Some(read),
            cache_write_input_tokens: Some(write),
        };
        assert_eq!(
            decode(
                FAMILY,
                r#"{"metadata":{"usage":{"inputTokens":4,"outputTokens":2,"cacheReadInputTokenCount":0,"cacheWriteInputTokenCount":1200}}}"#
            ),
            vec![cached(0, 1200)]
        );
        assert_eq!(
            decode(
                FAMILY,
                r#"{"metadata":{"usage":{"inputTokens":4,"outputTokens":2,"cacheReadInputTokens":1200,"cacheWriteInputTokens":0}}}"#
            ),
            vec![cached(1200, 0)]
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
    fn recorded_reasoning_and_tool_call() {
        let chunks = [
            r#"{"messageStart":{"role":"assistant"}}"#,
            r#"{"contentBlockDelta":{"delta":{"reasoningContent":{"text":"Need the sign."}},"contentBlockIndex":0}}"#,
            r#"{"contentBlockDelta":{"delta":{"reasoningContent":{"signature":"c2ln"}},"contentBlockIndex":0}}"#,
            r#"{"contentBlockStop":{"contentBlockIndex":0}}"#,
            r#"{"contentBlockStart":{"start":{"toolUse":{"toolUseId":"tooluse_1","name":"top_song"}},"contentBlockIndex":1}}"#,
            r#"{"contentBlockDelta":{"delta":{"toolUse":{"input":"{\"sign\":"}},"contentBlockIndex":1}}"#,
            r#"{"contentBlockDelta":{"delta":{"toolUse":{"input":"\"WZPZ\"}"}},"contentBlockIndex":1}}"#,
            r#"{"contentBlockStop":{"contentBlockIndex":1}}"#,
            r#"{"messageStop":{"stopReason":"tool_use"}}"#,
            r#"{"metadata":{"usage":{"inputTokens":420,"outputTokens":38}}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                Delta::Reasoning("Need the sign.".into()),
                Delta::ReasoningSignature("c2ln".into()),
                Delta::BlockEnd,
                Delta::ToolStart {
                    id: "tooluse_1".into(),
                    name: "top_song".into()
                },
                Delta::ToolInput("{\"sign\":".into()),
                Delta::ToolInput("\"WZPZ\"}".into()),
                Delta::BlockEnd,
                stop("tool_use"),
                usage(Some(420), Some(38)),
            ]
        );
        assert_eq!(
            decode(
                FAMILY,
                r#"{"contentBlockDelta":{"delta":{"reasoningContent":{"redactedContent":"AQID"}},"contentBlockIndex":0}}"#
            ),
            vec![Delta::ReasoningRedacted("AQID".into())]
        );
        assert!(
            decode(
                FAMILY,
                r#"{"contentBlockDelta":{"delta":{"text":""},"contentBlockIndex":0}}"#
            )
            .is_empty()
        );
    }

    #[test]
    fn system_and_tools_cache_points() {
        let mut req = simple("us.amazon.nova-lite-v1:0", "Hi");
        req.system = serde_json::from_value(json!([
            {"type":"text","text":"Rules"},{"type":"cachePoint"},{"type":"text","text":"Today"}
        ]))
        .unwrap();
        req.tools = serde_json::from_value(json!([{"name":"w"}])).unwrap();
        req.tools_cache_point = true;
        let b = body(&req);
        assert_eq!(
            b["system"],
            json!([{"text":"Rules"},{"cachePoint":{"type":"default"}},{"text":"Today"}])
        );
        assert_eq!(
            b["toolConfig"]["tools"][1],
            json!({"cachePoint":{"type":"default"}})
        );
        assert_eq!(b["toolConfig"]["tools"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn body_with_tools_and_reasoning() {
        let mut req = simple("us.amazon.nova-2-lite-v1:0", "Weather?");
        req.tools =
            serde_json::from_value(json!([{"name":"w","inputSchema":{"type":"object"}}])).unwrap();
        req.reasoning_budget = Some(2048);
        let b = body(&req);
        assert_eq!(
            b["toolConfig"],
            json!({"tools":[{"toolSpec":{"name":"w","inputSchema":{"json":{"type":"object"}}}}]})
        );
        assert_eq!(
            b["reasoningConfig"],
            json!({"type":"enabled","maxReasoningEffort":"low"})
        );
    }
}
