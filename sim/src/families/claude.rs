//! Anthropic Claude: Messages API bodies and Anthropic stream events.

use serde_json::{Value, json};

use super::{BlockKind, CacheUsage, Delta, Finish, Out, Prompt, Shaper, Stop, random_id};
use crate::body::{Obj, as_array, as_object, as_str, max_tokens, required, strings};
use crate::collect::{Block, Collected};
use crate::parts::{Conversation, Role, anthropic};
use crate::wire::SimError;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    as_str(
        required(body, "anthropic_version", "#")?,
        "#/anthropic_version",
    )?;
    let max_tokens = max_tokens(body, "max_tokens", "#", None, model)?;
    let mut conv = Conversation::default();
    if let Some(system) = crate::body::optional(body, "system") {
        anthropic::system(&mut conv, system, "#/system")?;
    }
    let messages = as_array(required(body, "messages", "#")?, "#/messages")?;
    if messages.is_empty() {
        return Err(SimError::validation(
            "messages: at least one message is required",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        let path = format!("#/messages/{i}");
        let message = as_object(message, &path)?;
        let role = as_str(required(message, "role", &path)?, &format!("{path}/role"))?;
        let Some(role) = Role::parse(role) else {
            return Err(SimError::validation(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        };
        conv.turn(role);
        let content = required(message, "content", &path)?;
        anthropic::content(&mut conv, content, &format!("{path}/content"))?;
    }
    anthropic::tools(&mut conv, body)?;
    anthropic::thinking(&mut conv, body, model)?;
    anthropic::no_sampling(body, false, model)?;
    anthropic::sampling_ranges(body)?;
    anthropic::output_config(&mut conv, body)?;
    conv.thinking_turn_fits()?;
    let stop_sequences = strings(body, "stop_sequences", "#")?;
    let (text, parts) = conv.finish();
    Ok(Prompt {
        text,
        max_tokens,
        parts,
        stop_sequences,
    })
}

/// Anthropic stream events: `message_start`, then per content block
/// `content_block_start` / `content_block_delta` … / `content_block_stop`
/// (thinking, text, tool use), then `message_delta` and `message_stop`.
pub(super) struct Chunks {
    model: String,
    input_tokens: u32,
    cache: Option<CacheUsage>,
}

impl Chunks {
    pub(super) fn new(model: &str, input_tokens: u32, cache: Option<CacheUsage>) -> Self {
        Self {
            model: model.to_owned(),
            input_tokens,
            cache,
        }
    }
}

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        vec![Out::Chunk(json!({
            "type": "message_start",
            "message": {
                "id": format!("msg_bdrk_01{}", random_id(22)),
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage(self.input_tokens, 1, self.cache),
            },
        }))]
    }

    fn block_start(&mut self, index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        let content_block = match block {
            BlockKind::Reasoning { .. } => json!({"type": "thinking", "thinking": ""}),
            BlockKind::Text => json!({"type": "text", "text": ""}),
            BlockKind::Tool { name } => json!({
                "type": "tool_use",
                "id": format!("toolu_bdrk_01{}", random_id(22)),
                "name": name,
                "input": {},
            }),
        };
        vec![Out::Chunk(json!({
            "type": "content_block_start",
            "index": index,
            "content_block": content_block,
        }))]
    }

    fn delta(&mut self, index: u32, delta: &Delta<'_>) -> Vec<Out> {
        let delta = match *delta {
            Delta::Reasoning(thinking) => json!({"type": "thinking_delta", "thinking": thinking}),
            Delta::Text(text) => json!({"type": "text_delta", "text": text}),
            Delta::ToolInput(json) => json!({"type": "input_json_delta", "partial_json": json}),
            Delta::Citation {
                document,
                title,
                text,
            } => json!({"type": "citations_delta", "citation": {
                "type": "char_location",
                "cited_text": text,
                "document_index": document,
                "document_title": title,
                "start_char_index": 0,
                "end_char_index": text.chars().count(),
            }}),
        };
        vec![block_delta(index, delta)]
    }

    fn block_stop(&mut self, index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        let mut outs = Vec::new();
        if let BlockKind::Reasoning { signature } = block {
            outs.push(block_delta(
                index,
                json!({"type": "signature_delta", "signature": signature}),
            ));
        }
        outs.push(Out::Chunk(
            json!({"type": "content_block_stop", "index": index}),
        ));
        outs
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let stop_reason = stop_reason(finish.stop);
        vec![
            Out::Chunk(json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": finish.stop_sequence},
                "usage": {"output_tokens": finish.output_tokens},
            })),
            Out::Chunk(json!({
                "type": "message_stop",
                "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
            })),
        ]
    }
}

fn stop_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::End => "end_turn",
        Stop::Length => "max_tokens",
        Stop::ToolUse => "tool_use",
        Stop::Guardrail => "guardrail_intervened",
        Stop::Sequence => "stop_sequence",
    }
}

/// The non-streaming answer: Anthropic's Messages response object.
pub(super) fn whole(model: &str, answer: &Collected) -> Value {
    let content: Vec<Value> = answer
        .blocks
        .iter()
        .map(|block| match block {
            Block::Reasoning { text, signature } => {
                json!({"type": "thinking", "thinking": text, "signature": signature})
            }
            Block::Text(text) => json!({"type": "text", "text": text}),
            Block::Tool { name, input } => json!({
                "type": "tool_use",
                "id": format!("toolu_bdrk_01{}", random_id(22)),
                "name": name,
                "input": input,
            }),
        })
        .collect();
    json!({
        "id": format!("msg_bdrk_01{}", random_id(22)),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(answer.finish.stop),
        "stop_sequence": answer.finish.stop_sequence,
        "usage": usage(
            answer.finish.input_tokens,
            answer.finish.output_tokens,
            answer.finish.cache,
        ),
    })
}

/// Anthropic's `usage`, with the cache counts when the request had cache points.
fn usage(input_tokens: u32, output_tokens: u32, cache: Option<CacheUsage>) -> Value {
    let mut usage = json!({"input_tokens": input_tokens, "output_tokens": output_tokens});
    if let Some(cache) = cache {
        usage["cache_creation_input_tokens"] = cache.write.into();
        usage["cache_read_input_tokens"] = cache.read.into();
    }
    usage
}

fn block_delta(index: u32, delta: serde_json::Value) -> Out {
    Out::Chunk(json!({
        "type": "content_block_delta",
        "index": index,
        "delta": delta,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run, run_blocks};

    const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

    #[test]
    fn content_as_string() {
        let body = obj(json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 300,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Tell me about rivers [[sim tokens=3]]"}],
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(
            prompt.text,
            "Be brief.\nTell me about rivers [[sim tokens=3]]"
        );
        assert_eq!(prompt.max_tokens, 300);
    }

    #[test]
    fn content_and_system_as_blocks() {
        let body = obj(json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "First"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png_base64(2, 2)}},
                    {"type": "text", "text": "Second", "cache_control": {"type": "ephemeral"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Reply"},
                    {"type": "tool_use", "id": "t", "name": "look", "input": {}},
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "tool says"}]},
            ],
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "Be brief.\nFirst\nSecond\nReply\ntool says");
        assert_eq!(prompt.max_tokens, 10);
        assert_eq!(prompt.parts.tool_results, ["tool says"]);
        assert!(
            prompt.parts.attachments.is_empty(),
            "the image was in an earlier turn"
        );
        assert_eq!(prompt.parts.extra_input_tokens, 1);
    }

    fn png_base64(w: u32, h: u32) -> String {
        aws_smithy_types::base64::encode(crate::attachments::samples::png(w, h))
    }

    #[test]
    fn tools_thinking_attachments_and_tool_results() {
        let signature = crate::signature::sign("Hmm.");
        let body = obj(json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 2000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
            "tool_choice": {"type": "auto"},
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Hmm.", "signature": signature},
                    {"type": "redacted_thinking", "data": "c2VjcmV0"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "rain"}, {"type": "text", "text": "9C"}]},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png_base64(64, 48)}},
                    {"type": "document", "title": "notes.txt", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
                ]},
            ],
        }));
        let prompt = parse(&body, MODEL).unwrap();
        let parts = &prompt.parts;
        assert!(parts.reasoning);
        assert_eq!(parts.tools[0].name, "get_weather");
        assert_eq!(parts.tool_results, ["rain\n9C"]);
        let lines: Vec<String> = parts.attachments.iter().map(|a| a.line()).collect();
        assert_eq!(lines, ["[image/png 64x48]", "[document notes.txt 5 bytes]"]);
        assert!(prompt.input_tokens() > 3 + 4 + 1);
    }

    #[test]
    fn refuses_forged_signatures_unknown_tool_results_and_bad_images() {
        let with = |messages: serde_json::Value| {
            parse(
                &obj(
                    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": messages}),
                ),
                MODEL,
            )
        };
        let forged = with(json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "Zm9yZ2Vk"}]},
            {"role": "user", "content": "go on"},
        ]));
        assert!(forged.unwrap_err().message.contains("Invalid signature"));
        let orphan = with(json!([
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}]},
        ]));
        assert!(orphan.unwrap_err().message.contains("toolu_x"));
        let jpeg_as_png = with(json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "/9j/4AAQ"}},
        ]}]));
        let err = jpeg_as_png.unwrap_err();
        assert_eq!(
            err.message,
            "#/messages/0/content/0: the image data does not match its media type image/png"
        );
        let url = with(json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        ]}]));
        assert!(url.unwrap_err().message.contains("fetches nothing"));
        let empty_doc = with(json!([{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": ""}},
        ]}]));
        assert!(empty_doc.unwrap_err().message.contains("empty"));
        let bad_base64 = with(json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}},
        ]}]));
        assert!(bad_base64.unwrap_err().message.contains("invalid base64"));
    }

    #[test]
    fn thinking_and_tool_use_chunks() {
        let chunks = run_blocks(
            Box::new(Chunks::new("claude-x", 3, None)),
            &[
                (
                    BlockKind::Reasoning { signature: "c2ln" },
                    &[Delta::Reasoning("Let")],
                ),
                (BlockKind::Text, &[Delta::Text("Hi")]),
                (
                    BlockKind::Tool {
                        name: "get_weather",
                    },
                    &[Delta::ToolInput("{\"a\""), Delta::ToolInput(":1}")],
                ),
            ],
            Stop::ToolUse,
        );
        assert_eq!(
            chunks[1],
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}})
        );
        assert_eq!(
            chunks[2]["delta"],
            json!({"type": "thinking_delta", "thinking": "Let"})
        );
        assert_eq!(
            chunks[3],
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}})
        );
        assert_eq!(chunks[4], json!({"type": "content_block_stop", "index": 0}));
        assert_eq!(chunks[5]["index"], 1);
        assert_eq!(
            chunks[6]["delta"],
            json!({"type": "text_delta", "text": "Hi"})
        );
        let start = &chunks[8];
        assert_eq!(start["index"], 2);
        assert_eq!(start["content_block"]["type"], "tool_use");
        assert_eq!(start["content_block"]["name"], "get_weather");
        assert_eq!(start["content_block"]["input"], json!({}));
        assert!(
            start["content_block"]["id"]
                .as_str()
                .unwrap()
                .starts_with("toolu_")
        );
        assert_eq!(
            chunks[9]["delta"],
            json!({"type": "input_json_delta", "partial_json": "{\"a\""})
        );
        assert_eq!(
            chunks[11],
            json!({"type": "content_block_stop", "index": 2})
        );
        assert_eq!(chunks[12]["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn required_fields_and_limits() {
        let missing_version =
            obj(json!({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}));
        let err = parse(&missing_version, MODEL).unwrap_err();
        assert!(
            err.message
                .contains("required key [anthropic_version] not found"),
            "{}",
            err.message
        );
        let missing_max = obj(json!({"anthropic_version": "bedrock-2023-05-31", "messages": []}));
        assert!(
            parse(&missing_max, MODEL)
                .unwrap_err()
                .message
                .contains("[max_tokens]")
        );
        let missing_messages =
            obj(json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5}));
        assert!(
            parse(&missing_messages, MODEL)
                .unwrap_err()
                .message
                .contains("[messages]")
        );
        let too_many = obj(json!({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 100000,
            "messages": [{"role": "user", "content": "hi"}],
        }));
        assert_eq!(
            parse(&too_many, MODEL).unwrap_err().message,
            format!(
                "max_tokens: 100000 > 8192, which is the maximum allowed number of output tokens for {MODEL}"
            )
        );
        let bad_role = obj(json!({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
            "messages": [{"role": "robot", "content": "hi"}],
        }));
        assert!(parse(&bad_role, MODEL).is_err());
        let bad_content = obj(json!({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
            "messages": [{"role": "user", "content": 7}],
        }));
        assert!(parse(&bad_content, MODEL).is_err());
    }

    #[test]
    fn opus_4_7_and_later_think_adaptively_and_take_no_sampling_knob() {
        let with = |model: &str, extra: Value| {
            let mut body = json!({
                "anthropic_version": "bedrock-2023-05-31", "max_tokens": 2000,
                "messages": [{"role": "user", "content": "hi"}],
            });
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse(&obj(body), model)
        };
        let opus = "anthropic.claude-opus-4-7";
        for knob in ["temperature", "top_p", "top_k"] {
            let err = with(opus, json!({knob: 0.5})).unwrap_err();
            assert_eq!(
                err.message,
                format!(
                    "The model returned the following errors: `{knob}` is deprecated for this model."
                )
            );
        }
        let budget = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
        assert!(
            with(opus, budget.clone())
                .unwrap_err()
                .message
                .contains("thinking.type.enabled is not supported")
        );
        // Adaptive: the text left out unless asked for.
        let adaptive = with(opus, json!({"thinking": {"type": "adaptive"}})).unwrap();
        assert!(adaptive.parts.reasoning && adaptive.parts.reasoning_omitted);
        let shown = with(
            opus,
            json!({"thinking": {"type": "adaptive", "display": "summarized"}, "output_config": {"effort": "low"}}),
        )
        .unwrap();
        assert!(shown.parts.reasoning && !shown.parts.reasoning_omitted);
        // Earlier models: sampling and budgets as before; adaptive from 4.6 on.
        assert!(with(MODEL, json!({"temperature": 0.5, "top_p": 0.9})).is_ok());
        assert_eq!(
            with(MODEL, json!({"temperature": 1.5}))
                .unwrap_err()
                .message,
            "Malformed input request: #/temperature: 1.5 is not less or equal to 1, please reformat your input and try again."
        );
        assert!(with("anthropic.claude-sonnet-4-6", budget).is_ok());
        assert!(
            with(
                "anthropic.claude-sonnet-4-6",
                json!({"thinking": {"type": "adaptive"}})
            )
            .is_ok()
        );
        assert!(
            with(
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                json!({"thinking": {"type": "adaptive"}})
            )
            .unwrap_err()
            .message
            .contains("thinking.type.adaptive is not supported")
        );
    }

    #[test]
    fn chunks_follow_the_anthropic_event_sequence() {
        let chunks = run(Box::new(Chunks::new("claude-x", 3, None)), Stop::End);
        let types: Vec<&str> = chunks.iter().map(|c| c["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(chunks[0]["message"]["model"], "claude-x");
        assert_eq!(chunks[0]["message"]["usage"]["input_tokens"], 3);
        assert_eq!(
            chunks[1]["content_block"],
            json!({"type": "text", "text": ""})
        );
        assert_eq!(
            chunks[3]["delta"],
            json!({"type": "text_delta", "text": " world"})
        );
        assert_eq!(chunks[5]["delta"]["stop_reason"], "end_turn");
        assert_eq!(chunks[5]["usage"]["output_tokens"], 2);
        assert_eq!(chunks[6]["amazon-bedrock-invocationMetrics"], metrics());
        let chunks = run(Box::new(Chunks::new("claude-x", 3, None)), Stop::Length);
        assert_eq!(chunks[5]["delta"]["stop_reason"], "max_tokens");
    }
}
