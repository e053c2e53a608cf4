//! Amazon Nova: `messages-v1` bodies and Converse-like chunk objects.
//!
//! Content blocks, `toolConfig` and tool results are Converse's; a top-level
//! `reasoningConfig` `{"type": "enabled", …}` turns reasoning on. Chunks are
//! the Converse objects wrapped by name: `{"contentBlockDelta": {…}}`.

use serde_json::{Value, json};

use super::{BlockKind, Delta, Finish, Out, Prompt, Shaper};
use crate::body::{Obj, as_array, as_object, as_str, max_tokens, optional, required};
use crate::collect::Collected;
use crate::converse::{block_objects, content, stop_reason, stop_sequences};
use crate::parts::{self, Conversation, Role};
use crate::wire::SimError;

/// Nova's default `max_new_tokens`.
const DEFAULT_MAX_TOKENS: u32 = 5000;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    if let Some(version) = optional(body, "schemaVersion") {
        let version = as_str(version, "#/schemaVersion")?;
        if version != "messages-v1" {
            return Err(SimError::validation(format!(
                "Invalid schemaVersion '{version}': expected 'messages-v1'"
            )));
        }
    }
    let max_tokens = match optional(body, "inferenceConfig") {
        Some(config) => {
            let config = as_object(config, "#/inferenceConfig")?;
            max_tokens(
                config,
                "max_new_tokens",
                "#/inferenceConfig",
                Some(DEFAULT_MAX_TOKENS),
                model,
            )?
        }
        None => DEFAULT_MAX_TOKENS,
    };
    let mut conv = Conversation::default();
    if let Some(system) = optional(body, "system") {
        parts::converse::system(&mut conv, system, "#/system")?;
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
                "messages.{i}.role: expected 'user' or 'assistant', found '{role}'"
            )));
        };
        conv.turn(role);
        parts::converse::content(
            &mut conv,
            required(message, "content", &path)?,
            &format!("{path}/content"),
        )?;
    }
    parts::converse::tool_config(&mut conv, body)?;
    if let Some(config) = optional(body, "reasoningConfig") {
        as_object(config, "#/reasoningConfig")?;
        if parts::converse::enabled(Some(config)) {
            conv.reasoning_on();
        }
    }
    let stop_sequences = stop_sequences(body)?;
    let (text, parts) = conv.finish();
    Ok(Prompt {
        text,
        max_tokens,
        parts,
        stop_sequences,
    })
}

pub(super) struct Chunks;

fn chunks(objects: Vec<(&'static str, Value)>) -> Vec<Out> {
    objects
        .into_iter()
        .map(|(name, payload)| Out::Chunk(json!({ name: payload })))
        .collect()
}

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        vec![Out::Chunk(json!({"messageStart": {"role": "assistant"}}))]
    }

    fn block_start(&mut self, index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        chunks(block_objects::start(index, block))
    }

    fn delta(&mut self, index: u32, delta: &Delta<'_>) -> Vec<Out> {
        chunks(block_objects::delta(index, delta))
    }

    fn block_stop(&mut self, index: u32, block: &BlockKind<'_>) -> Vec<Out> {
        chunks(block_objects::stop(index, block))
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        vec![
            Out::Chunk(json!({"messageStop": {"stopReason": stop_reason(finish.stop)}})),
            Out::Chunk(json!({
                "metadata": {
                    "usage": usage(finish),
                    "metrics": {},
                    "trace": {},
                },
                "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
            })),
        ]
    }
}

/// The non-streaming answer: the Converse-like `output.message`, with
/// Nova's cache counts in the usage.
pub(super) fn whole(answer: &Collected) -> Value {
    let finish = &answer.finish;
    json!({
        "output": {"message": {"role": "assistant", "content": content(&answer.blocks)}},
        "stopReason": stop_reason(finish.stop),
        "usage": {
            "inputTokens": finish.input_tokens,
            "outputTokens": finish.output_tokens,
            "totalTokens": finish.all_input_tokens() + u64::from(finish.output_tokens),
            "cacheReadInputTokenCount": finish.cache.map_or(0, |c| c.read),
            "cacheWriteInputTokenCount": finish.cache.map_or(0, |c| c.write),
        },
    })
}

/// The stream's `metadata.usage`: Nova names its cache counts like the
/// invocation metrics do, and sends them when the request had cache points.
fn usage(finish: &Finish) -> Value {
    let mut usage =
        json!({"inputTokens": finish.input_tokens, "outputTokens": finish.output_tokens});
    if let Some(cache) = finish.cache {
        usage["cacheReadInputTokenCount"] = cache.read.into();
        usage["cacheWriteInputTokenCount"] = cache.write.into();
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::Stop;
    use crate::families::test_support::{metrics, obj, run, run_blocks};

    const MODEL: &str = "amazon.nova-lite-v1:0";

    #[test]
    fn parses_messages_v1() {
        let body = obj(json!({
            "schemaVersion": "messages-v1",
            "system": [{"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "Rivers"}, {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]},
                {"role": "assistant", "content": [{"text": "Yes"}]},
                {"role": "user", "content": [{"text": "More"}]},
            ],
            "inferenceConfig": {"max_new_tokens": 64, "temperature": 0.5},
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "Be brief.\nRivers\nYes\nMore");
        assert_eq!(prompt.max_tokens, 64);
        let bare = obj(json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}));
        assert_eq!(parse(&bare, MODEL).unwrap().max_tokens, DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(
            parse(&obj(json!({})), MODEL)
                .unwrap_err()
                .message
                .contains("[messages]")
        );
        let string_content = obj(json!({"messages": [{"role": "user", "content": "x"}]}));
        assert!(parse(&string_content, MODEL).is_err());
        let too_many = obj(json!({
            "messages": [{"role": "user", "content": [{"text": "x"}]}],
            "inferenceConfig": {"max_new_tokens": 10001},
        }));
        assert!(
            parse(&too_many, MODEL)
                .unwrap_err()
                .message
                .starts_with("max_new_tokens: 10001 > 10000")
        );
    }

    #[test]
    fn chunks() {
        let chunks = run(Box::new(Chunks), Stop::Length);
        assert_eq!(chunks[0], json!({"messageStart": {"role": "assistant"}}));
        assert_eq!(chunks[1]["contentBlockDelta"]["delta"]["text"], "Hello");
        assert_eq!(
            chunks[3],
            json!({"contentBlockStop": {"contentBlockIndex": 0}})
        );
        assert_eq!(
            chunks[4],
            json!({"messageStop": {"stopReason": "max_tokens"}})
        );
        assert_eq!(
            chunks[5]["metadata"]["usage"],
            json!({"inputTokens": 3, "outputTokens": 2})
        );
        assert_eq!(chunks[5]["amazon-bedrock-invocationMetrics"], metrics());
    }

    #[test]
    fn tools_reasoning_and_attachments() {
        let body = obj(json!({
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [
                {"text": "weather?"},
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/4AAQ"}}},
            ]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]},
            "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"},
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert!(prompt.parts.reasoning);
        assert_eq!(prompt.parts.tools[0].name, "get_weather");
        assert_eq!(prompt.parts.attachments[0].line(), "[image/jpeg 6 bytes]");
        let bad = obj(json!({"messages": [{"role": "user", "content": [
            {"image": {"format": "webp", "source": {"bytes": "/9j/4AAQ"}}},
        ]}]}));
        assert!(
            parse(&bad, MODEL)
                .unwrap_err()
                .message
                .contains("image/webp")
        );
    }

    #[test]
    fn tool_and_reasoning_chunks() {
        let chunks = run_blocks(
            Box::new(Chunks),
            &[
                (
                    BlockKind::Reasoning { signature: "c2ln" },
                    &[Delta::Reasoning("Let")],
                ),
                (
                    BlockKind::Tool {
                        name: "get_weather",
                    },
                    &[Delta::ToolInput("{}")],
                ),
            ],
            Stop::ToolUse,
        );
        assert_eq!(
            chunks[1],
            json!({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let"}}}})
        );
        assert_eq!(
            chunks[2]["contentBlockDelta"]["delta"]["reasoningContent"]["signature"],
            "c2ln"
        );
        assert_eq!(
            chunks[4]["contentBlockStart"]["start"]["toolUse"]["name"],
            "get_weather"
        );
        assert_eq!(
            chunks[5],
            json!({"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}})
        );
        assert_eq!(
            chunks[7],
            json!({"messageStop": {"stopReason": "tool_use"}})
        );
    }
}
