//! Amazon Nova: `messages-v1` bodies and Converse-like chunk objects.

use serde_json::{Value, json};

use super::{Finish, Out, Prompt, Shaper, Stop};
use crate::body::{Obj, PromptText, as_array, as_object, as_str, max_tokens, optional, required};
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
    let mut text = PromptText::default();
    if let Some(system) = optional(body, "system") {
        collect_blocks(system, "#/system", &mut text)?;
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
                "messages.{i}.role: expected 'user' or 'assistant', found '{role}'"
            )));
        }
        collect_blocks(
            required(message, "content", &path)?,
            &format!("{path}/content"),
            &mut text,
        )?;
    }
    Ok(Prompt {
        text: text.joined(),
        max_tokens,
    })
}

/// Content blocks `[{"text": …}, {"image": …}, …]`; only text is kept.
fn collect_blocks(blocks: &Value, path: &str, text: &mut PromptText) -> Result<(), SimError> {
    for (i, block) in as_array(blocks, path)?.iter().enumerate() {
        let path = format!("{path}/{i}");
        if let Some(t) = optional(as_object(block, &path)?, "text") {
            text.push(as_str(t, &format!("{path}/text"))?);
        }
    }
    Ok(())
}

pub(super) struct Chunks;

impl Shaper for Chunks {
    fn start(&mut self) -> Vec<Out> {
        vec![Out::Chunk(json!({"messageStart": {"role": "assistant"}}))]
    }

    fn token(&mut self, text: &str) -> Vec<Out> {
        vec![Out::Chunk(json!({
            "contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0},
        }))]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let stop_reason = match finish.stop {
            Stop::End => "end_turn",
            Stop::Length => "max_tokens",
        };
        vec![
            Out::Chunk(json!({"contentBlockStop": {"contentBlockIndex": 0}})),
            Out::Chunk(json!({"messageStop": {"stopReason": stop_reason}})),
            Out::Chunk(json!({
                "metadata": {
                    "usage": {"inputTokens": finish.input_tokens, "outputTokens": finish.output_tokens},
                    "metrics": {},
                    "trace": {},
                },
                "amazon-bedrock-invocationMetrics": finish.invocation_metrics(),
            })),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{metrics, obj, run};

    const MODEL: &str = "amazon.nova-lite-v1:0";

    #[test]
    fn parses_messages_v1() {
        let body = obj(json!({
            "schemaVersion": "messages-v1",
            "system": [{"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "Rivers"}, {"image": {"format": "png"}}]},
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
            "inferenceConfig": {"max_new_tokens": 9000},
        }));
        assert!(
            parse(&too_many, MODEL)
                .unwrap_err()
                .message
                .starts_with("max_new_tokens: 9000 > 8192")
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
}
