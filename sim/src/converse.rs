//! ConverseStream: Converse request bodies and `messageStart` … `metadata` events.

use serde_json::{Value, json};

use super::body::{Obj, PromptText, as_array, as_object, as_str, max_tokens, optional, required};
use super::families::{Finish, Out, Prompt, Shaper, Stop};
use super::wire::SimError;

/// `maxTokens` when `inferenceConfig` names none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Parses a Converse body for `model` (the id as recognised).
pub(crate) fn parse(body: &Obj, model: &str) -> Result<Prompt, SimError> {
    let max_tokens = match optional(body, "inferenceConfig") {
        Some(config) => max_tokens(
            as_object(config, "#/inferenceConfig")?,
            "maxTokens",
            "#/inferenceConfig",
            Some(DEFAULT_MAX_TOKENS),
            model,
        )?,
        None => DEFAULT_MAX_TOKENS,
    };
    let mut text = PromptText::default();
    if let Some(system) = optional(body, "system") {
        collect_blocks(system, "#/system", &mut text)?;
    }
    let messages = as_array(required(body, "messages", "#")?, "#/messages")?;
    if messages.is_empty() {
        return Err(SimError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    for (i, message) in messages.iter().enumerate() {
        let path = format!("#/messages/{i}");
        let message = as_object(message, &path)?;
        let role = as_str(required(message, "role", &path)?, &format!("{path}/role"))?;
        if role != "user" && role != "assistant" {
            return Err(SimError::validation(format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                i + 1
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

/// Content blocks: `{"text"}`, and the text inside `toolResult` content.
fn collect_blocks(blocks: &Value, path: &str, text: &mut PromptText) -> Result<(), SimError> {
    for (i, block) in as_array(blocks, path)?.iter().enumerate() {
        let path = format!("{path}/{i}");
        let block = as_object(block, &path)?;
        if let Some(t) = optional(block, "text") {
            text.push(as_str(t, &format!("{path}/text"))?);
        }
        let tool_content = optional(block, "toolResult")
            .and_then(Value::as_object)
            .and_then(|result| optional(result, "content"));
        if let Some(content) = tool_content {
            collect_blocks(content, &format!("{path}/toolResult/content"), text)?;
        }
    }
    Ok(())
}

/// ConverseStream events. No `contentBlockStart` for text: the SDK's decoder
/// rejects one without a `start` union member.
pub(crate) struct Events;

impl Shaper for Events {
    fn start(&mut self) -> Vec<Out> {
        vec![Out::Event("messageStart", json!({"role": "assistant"}))]
    }

    fn token(&mut self, text: &str) -> Vec<Out> {
        vec![Out::Event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": text}}),
        )]
    }

    fn finish(&mut self, finish: &Finish) -> Vec<Out> {
        let stop_reason = match finish.stop {
            Stop::End => "end_turn",
            Stop::Length => "max_tokens",
        };
        vec![
            Out::Event("contentBlockStop", json!({"contentBlockIndex": 0})),
            Out::Event("messageStop", json!({"stopReason": stop_reason})),
            Out::Event(
                "metadata",
                json!({
                    "usage": {
                        "inputTokens": finish.input_tokens,
                        "outputTokens": finish.output_tokens,
                        "totalTokens": u64::from(finish.input_tokens) + u64::from(finish.output_tokens),
                    },
                    "metrics": {"latencyMs": finish.latency_ms},
                }),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::test_support::{finish, obj};

    const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

    #[test]
    fn parses_converse_bodies() {
        let body = obj(json!({
            "messages": [
                {"role": "user", "content": [{"text": "Rivers"}, {"image": {"format": "png", "source": {"bytes": ""}}}]},
                {"role": "assistant", "content": [{"text": "Yes"}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "tool out"}]}}]},
            ],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 12, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        }));
        let prompt = parse(&body, MODEL).unwrap();
        assert_eq!(prompt.text, "Be brief.\nRivers\nYes\ntool out");
        assert_eq!(prompt.max_tokens, 12);
        let bare = obj(json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}));
        assert_eq!(parse(&bare, MODEL).unwrap().max_tokens, DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn rejects_bad_converse_bodies() {
        assert!(
            parse(&obj(json!({})), MODEL)
                .unwrap_err()
                .message
                .contains("[messages]")
        );
        assert!(parse(&obj(json!({"messages": []})), MODEL).is_err());
        let too_many = obj(json!({
            "messages": [{"role": "user", "content": [{"text": "x"}]}],
            "inferenceConfig": {"maxTokens": 20000},
        }));
        assert!(
            parse(&too_many, MODEL)
                .unwrap_err()
                .message
                .starts_with("maxTokens: 20000 > 8192")
        );
        let bad_role = obj(json!({"messages": [{"role": "system", "content": [{"text": "x"}]}]}));
        assert!(parse(&bad_role, MODEL).is_err());
    }

    #[test]
    fn events() {
        let mut events = Events;
        let mut out = events.start();
        out.extend(events.token("Hi"));
        out.extend(events.finish(&finish(Stop::Length)));
        assert_eq!(
            out,
            [
                Out::Event("messageStart", json!({"role": "assistant"})),
                Out::Event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}})
                ),
                Out::Event("contentBlockStop", json!({"contentBlockIndex": 0})),
                Out::Event("messageStop", json!({"stopReason": "max_tokens"})),
                Out::Event(
                    "metadata",
                    json!({"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 40}})
                ),
            ]
        );
    }
}
