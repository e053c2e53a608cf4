//! Anthropic Claude: Messages API bodies and Anthropic stream events.

use serde_json::{Value, json};

use super::{Finish, Out, Prompt, Shaper, Stop, random_id};
use crate::body::{Obj, PromptText, as_array, as_object, as_str, max_tokens, optional, required};
use crate::wire::SimError;

pub(super) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    as_str(
        required(body, "anthropic_version", "#")?,
        "#/anthropic_version",
    )?;
    let max_tokens = max_tokens(body, "max_tokens", "#", None, model)?;
    let mut text = PromptText::default();
    if let Some(system) = optional(body, "system") {
        collect_content(system, "#/system", &mut text)?;
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
        if role != "user" && role != "assistant" {
            return Err(SimError::validation(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        let content = required(message, "content", &path)?;
        collect_content(content, &format!("{path}/content"), &mut text)?;
    }
    Ok(Prompt {
        text: text.joined(),
        max_tokens,
    })
}

/// Content is a string or an array of blocks; text lives in `text` blocks
/// (and in the `content` of `tool_result` blocks).
fn collect_content(content: &Value, path: &str, text: &mut PromptText) -> Result<(), SimError> {
    if let Some(s) = content.as_str() {
        text.push(s);
        return Ok(());
    }
    let Some(blocks) = content.as_array() else {
        return Err(crate::body::malformed(format!(
            "{path}: expected type: String or JSONArray"
        )));
    };
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("{path}/{i}");
        let block = as_object(block, &path)?;
        let kind = as_str(required(block, "type", &path)?, &format!("{path}/type"))?;
        match kind {
            "text" => text.push(as_str(
                required(block, "text", &path)?,
                &format!("{path}/text"),
            )?),
            "tool_result" => {
                if let Some(inner) = optional(block, "content") {
                    collect_content(inner, &format!("{path}/content"), text)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub(super) struct Chunks {
    model: String,
    input_tokens: u32,
}

impl Chunks {
    pub(super) fn new(model: &str, input_tokens: u32) -> Self {
        Self {
            model: model.to_owned(),
            input_tokens,
        }
    }
}

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        vec![
            Out::Chunk(json!({
                "type": "message_start",
                "message": {
                    "id": format!("msg_bdrk_01{}", random_id(22)),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": self.input_tokens, "output_tokens": 1},
                },
            })),
            Out::Chunk(json!({
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            })),
        ]
    }

    fn token(&mut self, text: &str) -> Vec<Out> {
        vec![Out::Chunk(json!({
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text},
        }))]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let stop_reason = match finish.stop {
            Stop::End => "end_turn",
            Stop::Length => "max_tokens",
        };
        vec![
            Out::Chunk(json!({"type": "content_block_stop", "index": 0})),
            Out::Chunk(json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": finish.output_tokens},
            })),
            Out::Chunk(json!({
                "type": "message_stop",
                "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
            })),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run};

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
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}},
                    {"type": "text", "text": "Second"},
                ]},
                {"role": "assistant", "content": [{"type": "text", "text": "Reply"}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "tool says"}]},
            ],
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "Be brief.\nFirst\nSecond\nReply\ntool says");
        assert_eq!(prompt.max_tokens, 10);
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
    fn chunks_follow_the_anthropic_event_sequence() {
        let chunks = run(Box::new(Chunks::new("claude-x", 3)), Stop::End);
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
        let chunks = run(Box::new(Chunks::new("claude-x", 3)), Stop::Length);
        assert_eq!(chunks[5]["delta"]["stop_reason"], "max_tokens");
    }
}
