//! Anthropic Claude: the Messages API body and Anthropic's streaming events.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::anthropic_content::{messages, system, tools};
use super::{
    ClaudeGeneration, ModelFamily, claude_generation, count, push_cached_usage, push_stop,
    push_text, push_usage, put_f32, put_strings,
};
use crate::upstream::reasoning;
use crate::upstream::request::{Delta, InvocationRequest};

/// `{"anthropic_version":"bedrock-2023-05-31","max_tokens","messages",…}`,
/// with `tools`, `tool_choice` and `thinking` when asked for.
///
/// Claude Opus 4.1 and later models refuse `temperature` together with
/// `top_p`; for them, when both are set, only `temperature` is sent. With
/// thinking, neither is sent (Anthropic refuses them then), nor to the
/// models that take none ([`ClaudeGeneration::AdaptiveOnly`]); those get
/// adaptive thinking and an effort for a budget (see [`reasoning`]).
pub(super) fn build_body(req: &InvocationRequest) -> Result<Value, String> {
    let mut body = Map::new();
    body.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
    body.insert("max_tokens".into(), json!(req.body_max_tokens()));
    body.insert("messages".into(), Value::Array(messages(&req.turns)?));
    if let Some(system) = system(&req.system) {
        body.insert("system".into(), system);
    }
    let claude = ModelFamily::AnthropicClaude;
    if !reasoning::drops_sampling(claude, &req.model_id, req.reasoning_budget) {
        put_f32(&mut body, "temperature", req.temperature);
        let one_knob = claude_generation(&req.model_id) == ClaudeGeneration::OneSamplingKnob;
        let top_p = if req.temperature.is_some() && one_knob {
            None
        } else {
            req.top_p
        };
        put_f32(&mut body, "top_p", top_p);
    }
    put_strings(&mut body, "stop_sequences", &req.stop_sequences);
    if let Some((list, choice)) = tools(req) {
        body.insert("tools".into(), list);
        if let Some(choice) = choice {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(Value::Object(fields)) =
        reasoning::fields(claude, &req.model_id, req.reasoning_budget)
    {
        body.extend(fields);
    }
    let output_config = reasoning::with_effort(claude, req);
    if output_config.is_set() {
        body.insert("output_config".into(), output_config.claude_json());
    }
    Ok(Value::Object(body))
}

/// Claude's stop reasons are Converse's, except `refusal`.
fn stop_name(reason: &str) -> Option<&'static str> {
    match reason {
        "refusal" => Some("content_filtered"),
        _ => None,
    }
}

/// Anthropic streaming events by `type`: text, tool calls (`tool_use`
/// blocks and `input_json_delta`), thinking (`thinking_delta`,
/// `signature_delta`, `redacted_thinking` blocks) and citations; the end of
/// each block; stop reason and usage.
/// A `content_block_delta` chunk with a `text_delta` and nothing else, the
/// bulk of a Claude stream: read into borrowed fields, without a `Value`
/// tree (one allocation for the text instead of a map per level, seen in
/// the per-event profile). Any other chunk — another delta type, or a key
/// beyond these (invocation metrics, a guardrail trace) — is `None`, and
/// the general path reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextDeltaChunk<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    #[allow(dead_code, reason = "a known key, so deny_unknown_fields accepts it")]
    index: Option<u64>,
    #[serde(borrow)]
    delta: TextDelta<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextDelta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// The deltas of `chunk` if it is a plain text delta (see [`TextDeltaChunk`]).
///
/// A chunk that does not mention `"text_delta"` is not tried: reading it
/// would stop at its first other key with a formatted error. That was the
/// cost of every start, stop and usage chunk (~0.6% of a one-token stream's
/// CPU in a profile; too little to see in scenario 9's totals).
pub(super) fn decode_text_delta(chunk: &[u8]) -> Option<Vec<Delta>> {
    memchr::memmem::find(chunk, br#""text_delta""#)?;
    let c: TextDeltaChunk<'_> = serde_json::from_slice(chunk).ok()?;
    if c.kind != "content_block_delta" || c.delta.kind != "text_delta" {
        return None;
    }
    // As `block_delta` does: an empty text is no delta.
    Some(if c.delta.text.is_empty() {
        Vec::new()
    } else {
        vec![Delta::Text(c.delta.text.into_owned())]
    })
}

pub(super) fn decode_chunk(v: &Value) -> Vec<Delta> {
    let mut out = Vec::new();
    match v.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            let usage = |k: &str| count(v.pointer("/message/usage").and_then(|u| u.get(k)));
            push_cached_usage(
                &mut out,
                [
                    usage("input_tokens"),
                    None,
                    usage("cache_read_input_tokens"),
                    usage("cache_creation_input_tokens"),
                ],
            );
        }
        Some("content_block_start") => block_start(v, &mut out),
        Some("content_block_delta") => block_delta(v, &mut out),
        Some("content_block_stop") => out.push(Delta::BlockEnd),
        Some("message_delta") => {
            push_stop(&mut out, v.pointer("/delta/stop_reason"), stop_name);
            if let Some(seq) = v
                .pointer("/delta/stop_sequence")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                out.push(Delta::StopSequence(seq.to_owned()));
            }
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

fn block_start(v: &Value, out: &mut Vec<Delta>) {
    match str_at(v, "/content_block/type") {
        Some("text") => push_text(out, v.pointer("/content_block/text")),
        Some("tool_use") => {
            if let (Some(id), Some(name)) = (
                str_at(v, "/content_block/id"),
                str_at(v, "/content_block/name"),
            ) {
                out.push(Delta::ToolStart {
                    id: id.to_owned(),
                    name: name.to_owned(),
                });
            }
        }
        Some("thinking") => {
            if let Some(t) = str_at(v, "/content_block/thinking").filter(|t| !t.is_empty()) {
                out.push(Delta::Reasoning(t.to_owned()));
            }
        }
        Some("redacted_thinking") => {
            if let Some(data) = str_at(v, "/content_block/data") {
                out.push(Delta::ReasoningRedacted(data.to_owned()));
            }
        }
        _ => {}
    }
}

/// A Claude citation's location: the object without its text and title.
fn citation_location(c: &Value) -> Option<Value> {
    let mut location = c.as_object()?.clone();
    location.remove("cited_text");
    location.remove("document_title");
    location
        .contains_key("type")
        .then_some(Value::Object(location))
}

fn block_delta(v: &Value, out: &mut Vec<Delta>) {
    let non_empty = |pointer: &str| {
        str_at(v, pointer)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let delta = match str_at(v, "/delta/type") {
        Some("text_delta") => non_empty("/delta/text").map(Delta::Text),
        Some("input_json_delta") => non_empty("/delta/partial_json").map(Delta::ToolInput),
        Some("thinking_delta") => non_empty("/delta/thinking").map(Delta::Reasoning),
        Some("signature_delta") => non_empty("/delta/signature").map(Delta::ReasoningSignature),
        Some("citations_delta") => v.pointer("/delta/citation").map(|c| Delta::Citation {
            title: c
                .get("document_title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            source: None,
            text: c
                .get("cited_text")
                .and_then(Value::as_str)
                .map(str::to_owned),
            location: citation_location(c),
        }),
        _ => None,
    };
    out.extend(delta);
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

    /// The typed path reads text deltas exactly as the general path does,
    /// and leaves every other chunk to it.
    #[test]
    fn text_deltas_take_the_typed_path_with_the_same_result() {
        let general = |chunk: &str| decode_chunk(&serde_json::from_str(chunk).unwrap());
        for chunk in [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            r#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"a \"quoted\" \u00e9\n"}}"#,
            r#"{"delta":{"text":" x","type":"text_delta"},"type":"content_block_delta"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
        ] {
            let fast = decode_text_delta(chunk.as_bytes()).expect(chunk);
            assert_eq!(fast, general(chunk), "{chunk}");
        }
        for chunk in [
            // Another delta type, another event, and a text delta carrying
            // more than its text (the last chunk's metrics, a guardrail).
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"amazon-bedrock-invocationMetrics":{"inputTokenCount":1}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","extra":1}}"#,
            r#"not json"#,
        ] {
            assert_eq!(decode_text_delta(chunk.as_bytes()), None, "{chunk}");
        }
        // Through the family's decoder, the metrics are still read.
        let with_metrics = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"amazon-bedrock-invocationMetrics":{"inputTokenCount":3,"outputTokenCount":1,"invocationLatency":5,"firstByteLatency":2}}"#;
        let all = ModelFamily::AnthropicClaude
            .decode_chunk(with_metrics.as_bytes())
            .unwrap();
        assert_eq!(all[0], Delta::Text("x".into()));
        assert!(all.len() > 1, "{all:?}");
    }

    fn body(req: &InvocationRequest) -> Value {
        build_body(req).unwrap()
    }

    #[test]
    fn cache_counts_in_message_start() {
        let chunk = r#"{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"cache_creation_input_tokens":1500,"cache_read_input_tokens":0,"output_tokens":1}}}"#;
        assert_eq!(
            decode(FAMILY, chunk),
            vec![Delta::Usage {
                input_tokens: Some(5),
                output_tokens: None,
                cache_read_input_tokens: Some(0),
                cache_write_input_tokens: Some(1500),
            }]
        );
    }

    #[test]
    fn simple_body() {
        let body = body(&simple("anthropic.claude-3-5-haiku-20241022-v1:0", "Hello"));
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
        let body = body(&full("anthropic.claude-3-5-haiku-20241022-v1:0"));
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
            let b = body(&full(id));
            assert_eq!(b["temperature"], json!(0.7), "{id}");
            assert!(b.get("top_p").is_none(), "{id}");
            let mut req = full(id);
            req.temperature = None;
            assert_eq!(body(&req)["top_p"], json!(0.9), "{id}");
        }
        for id in [
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-opus-4-20250514-v1:0",
        ] {
            assert_eq!(body(&full(id))["top_p"], json!(0.9), "{id}");
        }
    }

    #[test]
    fn tools_and_thinking_in_the_body() {
        let mut req = full("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        req.tools = serde_json::from_value(
            json!([{"name":"w","inputSchema":{"type":"object","properties":{}}}]),
        )
        .unwrap();
        req.tool_choice = crate::parts::ToolChoice::Any;
        req.reasoning_budget = Some(2048);
        let b = body(&req);
        assert_eq!(
            b["tools"],
            json!([{"name":"w","input_schema":{"type":"object","properties":{}}}])
        );
        assert_eq!(b["tool_choice"], json!({"type":"any"}));
        assert_eq!(
            b["thinking"],
            json!({"type":"enabled","budget_tokens":2048})
        );
        assert!(b.get("temperature").is_none() && b.get("top_p").is_none());
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["messages"][0]["content"], json!("Hi"));
    }

    #[test]
    fn adaptive_only_claude_gets_no_sampling_and_thinks_adaptively() {
        let mut req = full("us.anthropic.claude-opus-4-7");
        let b = body(&req);
        assert!(
            b.get("temperature").is_none() && b.get("top_p").is_none(),
            "{b}"
        );
        assert!(
            b.get("thinking").is_none() && b.get("output_config").is_none(),
            "{b}"
        );
        req.reasoning_budget = Some(16384);
        let b = body(&req);
        assert_eq!(
            b["thinking"],
            json!({"type":"adaptive","display":"summarized"})
        );
        assert_eq!(b["output_config"], json!({"effort":"high"}));
        // Structured output keeps its format beside the effort.
        req.output_config.format = Some(crate::parts::output::JsonFormat {
            schema: json!({"type":"object"}),
            name: None,
            description: None,
        });
        let b = body(&req);
        assert_eq!(b["output_config"]["effort"], json!("high"));
        assert_eq!(
            b["output_config"]["format"]["schema"],
            json!({"type":"object"})
        );
    }

    fn cached(model: &str) -> InvocationRequest {
        let mut req = simple(model, "Hi");
        req.system = serde_json::from_value(json!([
            {"type":"text","text":"Rules"},{"type":"cachePoint"},{"type":"text","text":"Today"}
        ]))
        .unwrap();
        req.tools = serde_json::from_value(json!([{"name":"a"},{"name":"b"}])).unwrap();
        req.tools_cache_point = true;
        req
    }

    #[test]
    fn system_and_tools_cache_points_mark_the_block_before() {
        let b = body(&cached("anthropic.claude-3-5-haiku-20241022-v1:0"));
        assert_eq!(
            b["system"],
            json!([
                {"type":"text","text":"Rules","cache_control":{"type":"ephemeral"}},
                {"type":"text","text":"Today"}
            ])
        );
        assert!(b["tools"][0].get("cache_control").is_none());
        assert_eq!(b["tools"][1]["cache_control"], json!({"type":"ephemeral"}));
        // No cache point: a plain string and unmarked tools.
        let mut req = cached("anthropic.claude-3-5-haiku-20241022-v1:0");
        req.system = "Rules".into();
        req.tools_cache_point = false;
        let b = body(&req);
        assert_eq!(b["system"], json!("Rules"));
        assert!(b["tools"][1].get("cache_control").is_none());
    }

    #[test]
    fn blank_system_is_omitted() {
        let mut req = simple("anthropic.claude-3-haiku-20240307-v1:0", "Hi");
        req.system = "  ".into();
        assert!(body(&req).get("system").is_none());
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
                Delta::BlockEnd,
                stop("end_turn"),
                usage(None, Some(14)),
                usage(Some(21), Some(14)),
                latency(612, 389),
            ]
        );
    }

    #[test]
    fn recorded_thinking_and_tool_call() {
        let chunks = [
            r#"{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":512,"output_tokens":4}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants the weather."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" Call the tool."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_bdrk_01A","name":"get_weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":61}}"#,
            r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":512,"outputTokenCount":61,"invocationLatency":2210,"firstByteLatency":840}}"#,
        ];
        let deltas: Vec<Delta> = chunks.iter().flat_map(|c| decode(FAMILY, c)).collect();
        assert_eq!(
            deltas,
            vec![
                usage(Some(512), None),
                Delta::Reasoning("The user wants the weather.".into()),
                Delta::Reasoning(" Call the tool.".into()),
                Delta::ReasoningSignature("EqQBCgIYAhIM1gbcDa9GJwZA2b3h".into()),
                Delta::BlockEnd,
                Delta::ToolStart {
                    id: "toolu_bdrk_01A".into(),
                    name: "get_weather".into()
                },
                Delta::ToolInput("{\"city\": \"Par".into()),
                Delta::ToolInput("is\"}".into()),
                Delta::BlockEnd,
                stop("tool_use"),
                usage(None, Some(61)),
                usage(Some(512), Some(61)),
                latency(2210, 840),
            ]
        );
    }

    #[test]
    fn redacted_thinking_and_citations() {
        assert_eq!(
            decode(
                FAMILY,
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}}"#
            ),
            vec![Delta::ReasoningRedacted("EmwKAhgBEgy3va3pzix".into())]
        );
        assert_eq!(
            decode(
                FAMILY,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"Sales rose 4%.","document_index":0,"document_title":"Q3 report","start_char_index":0,"end_char_index":14}}}"#
            ),
            vec![Delta::Citation {
                title: Some("Q3 report".into()),
                source: None,
                text: Some("Sales rose 4%.".into()),
                location: Some(json!({"type": "char_location", "document_index": 0,
                    "start_char_index": 0, "end_char_index": 14}))
            }]
        );
    }

    #[test]
    fn frames_with_nothing_to_show_decode_to_nothing() {
        for chunk in [
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta"}}"#,
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
            vec![
                stop("stop_sequence"),
                Delta::StopSequence("END".into()),
                usage(None, Some(9))
            ]
        );
    }
}
