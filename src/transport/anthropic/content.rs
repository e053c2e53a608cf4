//! Anthropic `messages[]` and `system` as the gateway's turns and parts:
//! `text`, `image` and `document` (base64, or a text document), `tool_use`
//! (a tool call), `tool_result`, `thinking` and `redacted_thinking`
//! (replayed reasoning); a block's `cache_control` is a cache point after it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;

use super::error::AnthropicError;
use super::error::bad;
use crate::parts::{CacheTtl, Content, Reasoning, SystemPrompt, ToolResultContent};
use crate::upstream::request::{Role, Turn};

/// One entry of `messages`.
#[derive(Debug, Deserialize)]
pub(super) struct Message {
    role: Role,
    content: Value,
}

/// Name of a document sent without a `title`.
const UNTITLED: &str = "document";

/// `messages` as turns, in order. For Claude (`claude`), whose body goes
/// upstream as sent, a block of a type not read here (server tools' blocks,
/// search results, …) is left out of the checks for Bedrock to judge; for
/// other models it is refused.
pub(super) fn turns(messages: Vec<Message>, claude: bool) -> Result<Vec<Turn>, AnthropicError> {
    messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let at = format!("messages.{i}.content");
            Ok(Turn {
                role: m.role,
                content: blocks(&m.content, &at, claude)?,
            })
        })
        .collect()
}

/// `system`: a string or `text` blocks (a block's `cache_control` is a
/// cache point after it).
pub(super) fn system(system: Option<&Value>, claude: bool) -> Result<SystemPrompt, AnthropicError> {
    let Some(system) = system.filter(|s| !s.is_null()) else {
        return Ok(SystemPrompt::default());
    };
    let parts = blocks(system, "system", claude)?;
    if let Some(other) = parts
        .iter()
        .find(|p| !matches!(p, Content::Text { .. } | Content::CachePoint { .. }))
    {
        return Err(bad(format!(
            "system: takes text blocks, not {}",
            other.kind()
        )));
    }
    SystemPrompt::from_parts(parts).map_err(bad)
}

/// A `content` field: a string, or a list of blocks.
fn blocks(content: &Value, at: &str, claude: bool) -> Result<Vec<Content>, AnthropicError> {
    match content {
        Value::String(t) => Ok(vec![Content::text(t.clone())]),
        Value::Array(list) => {
            let mut out = Vec::with_capacity(list.len());
            for (i, b) in list.iter().enumerate() {
                let at = format!("{at}.{i}");
                if let Some(part) = block(b, &at, claude)? {
                    out.push(part);
                }
                if b.get("cache_control").is_some_and(|c| !c.is_null()) {
                    let ttl =
                        CacheTtl::of_cache_control(b.get("cache_control"), &at).map_err(bad)?;
                    out.push(Content::CachePoint { ttl });
                }
            }
            Ok(out)
        }
        _ => Err(bad(format!("{at}: must be a string or a list of blocks"))),
    }
}

/// One content block; `None` for Claude's blocks not read here (see [`turns`]).
fn block(b: &Value, at: &str, claude: bool) -> Result<Option<Content>, AnthropicError> {
    let s = |key: &str| -> Result<String, AnthropicError> {
        b.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{at}.{key}: a string is required")))
    };
    let kind = b
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{at}.type: a string is required")))?;
    // A document of a source not read here (`content`, …): Claude's to judge.
    let unread_source = || {
        !matches!(
            b.get("source")
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str),
            Some("base64" | "text" | "url")
        )
    };
    Ok(Some(match kind {
        "text" => Content::Text { text: s("text")? },
        "document" if claude && unread_source() => return Ok(None),
        "image" => {
            let (media_type, data) = source(b, at, false)?;
            Content::Image { media_type, data }
        }
        "document" => {
            let (media_type, data) = source(b, at, true)?;
            let name = b
                .get("title")
                .and_then(Value::as_str)
                .filter(|t| !t.trim().is_empty())
                .unwrap_or(UNTITLED)
                .to_owned();
            Content::Document {
                media_type,
                name,
                data,
                citations: crate::parts::content::citations_enabled(b),
                context: None,
            }
        }
        "tool_use" => Content::ToolCall {
            id: s("id")?,
            name: s("name")?,
            input: b
                .get("input")
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
        },
        "tool_result" => {
            let content = match b.get("content") {
                None | Some(Value::Null) => ToolResultContent::Text(String::new()),
                Some(Value::String(t)) => ToolResultContent::Text(t.clone()),
                Some(c) => ToolResultContent::Parts(
                    blocks(c, &format!("{at}.content"), claude)?
                        .into_iter()
                        .filter(|p| !matches!(p, Content::CachePoint { .. }))
                        .collect(),
                ),
            };
            Content::ToolResult {
                tool_call_id: s("tool_use_id")?,
                content,
                is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        "thinking" => Content::Reasoning(Reasoning {
            text: Some(s("thinking")?),
            signature: Some(s("signature")?),
            redacted: None,
        }),
        "redacted_thinking" => Content::Reasoning(Reasoning {
            text: None,
            signature: None,
            redacted: Some(s("data")?),
        }),
        _ if claude => return Ok(None),
        other => {
            return Err(bad(format!(
                "{at}: content blocks of type '{other}' are not supported here"
            )));
        }
    }))
}

/// `source` of an image or document: `(media type, base64)`. A text
/// document's text is encoded; URLs and file ids are refused (the gateway
/// fetches nothing and keeps no files).
fn source(b: &Value, at: &str, document: bool) -> Result<(String, String), AnthropicError> {
    let src = b
        .get("source")
        .ok_or_else(|| bad(format!("{at}.source: required")))?;
    let field = |key: &str| {
        src.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{at}.source.{key}: a string is required")))
    };
    match src.get("type").and_then(Value::as_str) {
        Some("base64") => Ok((field("media_type")?, field("data")?)),
        Some("text") if document => {
            let media_type = field("media_type").unwrap_or_else(|_| "text/plain".into());
            Ok((media_type, STANDARD.encode(field("data")?)))
        }
        Some("url") => Err(bad(format!(
            "{at}.source: URLs are not fetched; send the bytes as base64"
        ))),
        Some(other) => Err(bad(format!(
            "{at}.source.type '{other}' is not supported; use base64"
        ))),
        None => Err(bad(format!("{at}.source.type: a string is required"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(messages: Value) -> Result<Vec<Turn>, AnthropicError> {
        turns(serde_json::from_value(messages).unwrap(), false)
    }

    #[test]
    fn blocks_become_parts() {
        let t = parse(json!([
            {"role": "user", "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                {"type": "document", "title": "a.txt", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "AAAA"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok"}], "is_error": true},
                {"type": "tool_result", "tool_use_id": "t1", "content": "fine"}
            ]}
        ]))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "cachePoint"},
                    {"type": "image", "mediaType": "image/png", "data": "iVBO"},
                    {"type": "document", "mediaType": "text/plain", "name": "a.txt", "data": "aGk="}
                ]},
                {"role": "assistant", "content": [
                    {"type": "reasoning", "text": "hm", "signature": "sig"},
                    {"type": "reasoning", "redacted": "AAAA"},
                    {"type": "toolCall", "id": "t1", "name": "f", "input": {"a": 1}}
                ]},
                {"role": "user", "content": [
                    {"type": "toolResult", "toolCallId": "t1", "content": [{"type": "text", "text": "ok"}], "isError": true},
                    {"type": "toolResult", "toolCallId": "t1", "content": "fine"}
                ]}
            ])
        );
    }

    #[test]
    fn system_as_string_or_blocks() {
        assert_eq!(
            system(Some(&json!("be brief")), false).unwrap(),
            "be brief".into()
        );
        let s = system(
            Some(&json!([
                {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "b"}
            ])),
            false,
        )
        .unwrap();
        assert_eq!(s.text().as_deref(), Some("a\n\nb"));
        assert_eq!(
            s.parts(),
            [Content::text("a"), Content::CACHE_POINT, Content::text("b")].as_slice()
        );
        assert_eq!(system(None, false).unwrap(), SystemPrompt::default());
        assert!(system(Some(&json!(3)), false).is_err());
    }

    #[test]
    fn claudes_blocks_not_read_here_are_left_for_bedrock() {
        let messages = json!([
            {"role": "user", "content": "find the weather tool"},
            {"role": "assistant", "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "tool_search_tool_regex", "input": {}},
                {"type": "tool_search_tool_result", "tool_use_id": "srvtoolu_1", "content": {}},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [
                    {"type": "search_result", "source": "s", "title": "t", "content": []}]},
                {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "x"}]}}
            ]}
        ]);
        let t = turns(serde_json::from_value(messages.clone()).unwrap(), true).unwrap();
        assert!(
            matches!(t[1].content[..], [Content::ToolCall { .. }]),
            "{:?}",
            t[1]
        );
        assert!(
            matches!(t[2].content[..], [Content::ToolResult { .. }]),
            "{:?}",
            t[2]
        );
        // Other models get a clear refusal.
        let e = turns(serde_json::from_value(messages).unwrap(), false).unwrap_err();
        assert!(e.message().contains("server_tool_use"), "{}", e.message());
    }

    #[test]
    fn what_cannot_be_read_is_refused_with_its_place() {
        for (bad, says) in [
            (
                json!([{"role": "user", "content": 3}]),
                "messages.0.content",
            ),
            (
                json!([{"role": "user", "content": [{"text": "x"}]}]),
                "messages.0.content.0.type",
            ),
            (
                json!([{"role": "user", "content": [{"type": "web_search_tool_result"}]}]),
                "not supported",
            ),
            (
                json!([{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]),
                "not fetched",
            ),
            (
                json!([{"role": "user", "content": [{"type": "thinking", "thinking": "x"}]}]),
                "signature",
            ),
        ] {
            let e = parse(bad.clone()).unwrap_err();
            assert!(e.message().contains(says), "{bad}: {}", e.message());
        }
    }
}
