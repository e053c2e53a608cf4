//! OpenAI `messages` as the gateway's turns and system prompt.
//!
//! - `system` / `developer`: text (a string or text parts) joined into the system prompt;
//!   a part's `cache_control` is a cache point after it.
//! - `user`: `text` parts, `image_url` parts with `data:` URLs, `file` parts with `file_data`.
//! - `assistant`: LiteLLM's `thinking_blocks` (replayed first, as received), then the text,
//!   then `tool_calls` (`arguments` parsed as JSON). `reasoning_content`, and a thinking
//!   block without a signature, are dropped: Bedrock takes no unsigned reasoning back, and
//!   a client echoing a whole message back should not fail for it.
//! - `tool`: a user turn holding the tool result for `tool_call_id` (text: OpenAI's chat
//!   tool messages take no images or files, so those are refused); consecutive tool
//!   messages land in one user turn (the core joins turns of one role).
//!
//! Content parts are [`super::content`]'s.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use super::content::{Allow, content};
use super::error::{OpenAiError, bad, bad_param};
use crate::parts::{Content, Reasoning, SystemPrompt, ToolResultContent};
use crate::upstream::request::{Role, Turn};

/// What each text-only role takes, as its refusals say.
const SYSTEM: Allow = Allow::Text("a system or developer message takes text");
const ASSISTANT: Allow = Allow::Text("an assistant message takes text");
/// OpenAI's chat tool message takes text parts only (`ChatCompletionToolMessageParam`).
const TOOL: Allow = Allow::Text(
    "a tool message takes text; send what a tool returns as an image or file \
     in a user message after it",
);

/// One entry of `messages`.
#[derive(Debug, Deserialize)]
pub(super) struct ChatMessage {
    role: String,
    /// A string, a list of parts, or null (an assistant turn of tool calls).
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    thinking_blocks: Option<Vec<ThinkingBlock>>,
    /// The reasoning text as streamed; it mends a lone signed block whose
    /// text a client lost (see [`assistant`]).
    #[serde(default)]
    reasoning_content: Option<String>,
}

/// An assistant's `tool_calls[]` entry.
#[derive(Debug, Deserialize)]
struct ToolCall {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: FunctionCall,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    name: String,
    /// The input as a JSON string.
    #[serde(default)]
    arguments: String,
}

/// LiteLLM's replayable reasoning on an assistant message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum ThinkingBlock {
    #[serde(rename = "thinking")]
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    #[serde(rename = "redacted_thinking")]
    Redacted { data: String },
}

/// `messages` as `(system prompt, turns)`.
pub(super) fn to_turns(
    messages: Vec<ChatMessage>,
) -> Result<(SystemPrompt, Vec<Turn>), OpenAiError> {
    let mut system: Vec<Vec<Content>> = Vec::new();
    let mut turns = Vec::with_capacity(messages.len());
    let mut calls: HashSet<String> = HashSet::new();
    for (i, m) in messages.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        match m.role.as_str() {
            "system" | "developer" => {
                system.push(content(&format!("{at}.content"), m.content, SYSTEM)?);
            }
            "user" => turns.push(Turn {
                role: Role::User,
                content: content(&format!("{at}.content"), m.content, Allow::Attachments)?,
            }),
            "assistant" => turns.push(assistant(&at, m, &mut calls)?),
            "tool" => turns.push(tool(&at, m, &calls)?),
            "function" => {
                return Err(bad(format!(
                    "{at}: role 'function' is the legacy API; use `tools` and role 'tool'"
                )));
            }
            other => {
                return Err(bad(format!(
                    "{at}: message role '{other}' is not supported"
                )));
            }
        }
    }
    Ok((system_prompt(system), turns))
}

/// System messages' parts as the system prompt: a message's text parts
/// joined into one text, split where a cache point stands.
pub(super) fn system_prompt(messages: Vec<Vec<Content>>) -> SystemPrompt {
    let mut system = SystemPrompt::default();
    for parts in messages {
        let mut text = String::new();
        for p in parts {
            match p {
                Content::Text { text: t } => text.push_str(&t),
                Content::CachePoint { ttl } => {
                    system.push_text(std::mem::take(&mut text));
                    system.push_cache_point(ttl);
                }
                _ => {}
            }
        }
        if !text.is_empty() {
            system.push_text(text);
        }
    }
    system
}

/// An assistant message: reasoning, text, tool calls, in that order.
fn assistant(at: &str, m: ChatMessage, calls: &mut HashSet<String>) -> Result<Turn, OpenAiError> {
    let mut out = Vec::new();
    let blocks = m.thinking_blocks.unwrap_or_default();
    // A stream helper that keeps each field's last value (the openai
    // TypeScript SDK's, before blocks came whole) leaves a signed block with
    // no text; with one such block, the streamed `reasoning_content` is its
    // text. Sent as it is, Bedrock would refuse the signature.
    let lone = blocks
        .iter()
        .filter(|b| matches!(b, ThinkingBlock::Thinking { .. }))
        .count()
        == 1;
    let mut streamed = m.reasoning_content.filter(|_| lone);
    for block in blocks {
        let reasoning = match block {
            ThinkingBlock::Thinking {
                thinking,
                signature: Some(signature),
            } if !signature.is_empty() => {
                let text = match streamed.take() {
                    Some(r) if thinking.is_empty() => r,
                    _ => thinking,
                };
                if text.is_empty() {
                    // Nothing the signature can vouch for: not replayable.
                    continue;
                }
                Reasoning {
                    text: Some(text),
                    signature: Some(signature),
                    redacted: None,
                }
            }
            // Unsigned (a model whose reasoning has no signature, or a
            // client that kept only the text): not replayable, dropped.
            ThinkingBlock::Thinking { .. } => continue,
            ThinkingBlock::Redacted { data } => Reasoning {
                text: None,
                signature: None,
                redacted: Some(data),
            },
        };
        out.push(Content::Reasoning(reasoning));
    }
    out.extend(content(&format!("{at}.content"), m.content, ASSISTANT)?);
    for (j, call) in m.tool_calls.into_iter().flatten().enumerate() {
        let at = format!("{at}.tool_calls[{j}]");
        if let Some(kind) = call.kind.filter(|k| k != "function") {
            return Err(bad(format!(
                "{at}: tool calls of type '{kind}' are not supported"
            )));
        }
        let args = call.function.arguments.trim();
        let input: Value = if args.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_str(args)
                .map_err(|e| bad(format!("{at}.function.arguments is not JSON ({e})")))?
        };
        if !input.is_object() {
            return Err(bad(format!(
                "{at}.function.arguments must be a JSON object"
            )));
        }
        calls.insert(call.id.clone());
        out.push(Content::ToolCall {
            id: call.id,
            name: call.function.name,
            input,
        });
    }
    Ok(Turn {
        role: Role::Assistant,
        content: out,
    })
}

/// A tool message: a user turn with one tool result (and a cache point
/// after it when a part asked for one).
fn tool(at: &str, m: ChatMessage, calls: &HashSet<String>) -> Result<Turn, OpenAiError> {
    let Some(id) = m.tool_call_id else {
        return Err(bad(format!("{at}: a tool message needs `tool_call_id`")));
    };
    if !calls.contains(&id) {
        return Err(bad_param(
            "messages",
            format!(
                "{at} (a tool message): tool_call_id '{id}' answers no tool_calls entry of an earlier assistant message"
            ),
        ));
    }
    let string = matches!(m.content, Some(Value::String(_)));
    let parts = content(&format!("{at}.content"), m.content, TOOL)?;
    let cache = parts
        .iter()
        .any(|p| matches!(p, Content::CachePoint { .. }));
    let texts: Vec<Content> = parts
        .into_iter()
        .filter(|p| !matches!(p, Content::CachePoint { .. }))
        .collect();
    let result = match texts.as_slice() {
        [Content::Text { text }] if string => ToolResultContent::Text(text.clone()),
        [] => ToolResultContent::Text(String::new()),
        _ => ToolResultContent::Parts(texts),
    };
    let mut content = vec![Content::ToolResult {
        tool_call_id: id,
        content: result,
        is_error: false,
    }];
    if cache {
        content.push(Content::CACHE_POINT);
    }
    Ok(Turn {
        role: Role::User,
        content,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn turns(messages: Value) -> Result<(SystemPrompt, Vec<Turn>), OpenAiError> {
        to_turns(serde_json::from_value(messages).unwrap())
    }

    fn wire(turns: &[Turn]) -> Value {
        serde_json::to_value(
            turns
                .iter()
                .map(|t| serde_json::to_value(&t.content).unwrap())
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn system_and_text() {
        let (system, t) = turns(json!([
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "No lists.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello", "name": "bot"},
            {"role": "user", "content": "More"}
        ]))
        .unwrap();
        assert_eq!(system.text().as_deref(), Some("Be brief.\n\nNo lists."));
        assert_eq!(
            system.parts(),
            [
                Content::text("Be brief."),
                Content::text("No lists."),
                Content::CACHE_POINT
            ]
            .as_slice(),
            "a system part's cache_control is a cache point after it"
        );
        let texts: Vec<_> = t.iter().map(Turn::text).collect();
        assert_eq!(texts, ["Hi \n\nthere", "Hello", "More"]);
        assert_eq!(t[1].role, Role::Assistant);
    }

    #[test]
    fn a_lone_signed_block_without_its_text_takes_the_streamed_reasoning() {
        let replay = |blocks: Value, reasoning: Value| {
            let (_, t) = turns(json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello", "reasoning_content": reasoning,
                 "thinking_blocks": blocks},
                {"role": "user", "content": "More"}
            ]))
            .unwrap();
            wire(&t)[1].clone()
        };
        let empty = json!([{"type": "thinking", "thinking": "", "signature": "sig"}]);
        assert_eq!(
            replay(empty.clone(), json!("the whole thought")),
            json!([
                {"type": "reasoning", "text": "the whole thought", "signature": "sig"},
                {"type": "text", "text": "Hello"}
            ])
        );
        // With no text to vouch for, the signature is not sent.
        assert_eq!(
            replay(empty, Value::Null),
            json!([{"type": "text", "text": "Hello"}])
        );
        // A block with its text keeps it.
        let whole = json!([{"type": "thinking", "thinking": "mine", "signature": "sig"}]);
        assert_eq!(
            replay(whole, json!("other"))[0],
            json!({"type": "reasoning", "text": "mine", "signature": "sig"})
        );
    }

    #[test]
    fn a_tool_loop_with_reasoning_replayed() {
        let (_, t) = turns(json!([
            {"role": "user", "content": "Weather in Paris and Oslo?"},
            {"role": "assistant", "content": null,
             "reasoning_content": "dropped: no signature here",
             "thinking_blocks": [
                {"type": "thinking", "thinking": "two cities", "signature": "sig"},
                {"type": "thinking", "thinking": "dropped: unsigned", "signature": null},
                {"type": "redacted_thinking", "data": "AAAA"}],
             "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "w", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "rain", "cache_control": {"type": "ephemeral"}}]}
        ]))
        .unwrap();
        assert_eq!(
            wire(&t),
            json!([
                [{"type": "text", "text": "Weather in Paris and Oslo?"}],
                [
                    {"type": "reasoning", "text": "two cities", "signature": "sig"},
                    {"type": "reasoning", "redacted": "AAAA"},
                    {"type": "toolCall", "id": "c1", "name": "w", "input": {"city": "Paris"}},
                    {"type": "toolCall", "id": "c2", "name": "w", "input": {}}
                ],
                [{"type": "toolResult", "toolCallId": "c1", "content": "sunny"}],
                [
                    {"type": "toolResult", "toolCallId": "c2", "content": [{"type": "text", "text": "rain"}]},
                    {"type": "cachePoint"}
                ]
            ])
        );
        assert_eq!([t[2].role, t[3].role], [Role::User, Role::User]);
    }

    #[test]
    fn refusals_say_what_and_where() {
        let user_then = |m: Value| json!([{"role": "user", "content": "x"}, m]);
        let cases = [
            (
                json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]),
                "fetches nothing",
            ),
            (
                json!([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
                "'input_audio' are not supported",
            ),
            (
                json!([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]),
                "'image_url' are not taken here: a system or developer message takes text",
            ),
            (
                json!([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]),
                "keeps no files",
            ),
            (
                json!([{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "persistent"}}]}]),
                "only 'ephemeral'",
            ),
            (
                json!([{"role": "tool", "tool_call_id": "nope", "content": "x"}]),
                "messages[0] (a tool message): tool_call_id 'nope' answers no tool_calls entry",
            ),
            (
                json!([{"role": "tool", "content": "x"}]),
                "needs `tool_call_id`",
            ),
            (
                user_then(json!({"role": "assistant", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "w", "arguments": "{}"}}]}))
                .as_array()
                .unwrap()
                .iter()
                .cloned()
                .chain([json!({"role": "tool", "tool_call_id": "c", "content": [
                    {"type": "text", "text": "chart:"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]})])
                .collect(),
                "messages[2].content[1]: content parts of type 'image_url' are not taken here: \
                 a tool message takes text; send what a tool returns as an image or file in a user message after it",
            ),
            (
                user_then(
                    json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "w", "arguments": "{oops"}}]}),
                ),
                "messages[1].tool_calls[0].function.arguments is not JSON",
            ),
            (
                user_then(
                    json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "w", "arguments": "[1]"}}]}),
                ),
                "must be a JSON object",
            ),
            (
                json!([{"role": "function", "name": "f", "content": "x"}]),
                "legacy",
            ),
            (
                json!([{"role": "user", "content": 7}]),
                "a string or a list",
            ),
        ];
        for (messages, want) in cases {
            match turns(messages.clone()) {
                Err(OpenAiError {
                    error: crate::error::ApiError::BadRequest(e),
                    ..
                }) => {
                    assert!(e.contains(want), "{messages}: {e}")
                }
                Err(other) => panic!("{messages}: {other:?}"),
                Ok(_) => panic!("{messages} should be refused"),
            }
        }
    }
}
