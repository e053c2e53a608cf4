//! Claude's InvokeModel body (Anthropic's Messages API on Bedrock) read as
//! a stream request, so the gateway's checks (allow-list, limits, parts,
//! tools, thinking) apply before the body goes upstream as it was sent.
//! The reverse of `upstream::models::anthropic_content`.
//!
//! Blocks read: `text` (a `cache_control` adds a cache point after it),
//! `image` and `document` with a `base64` source (a document's `text`
//! source too), `tool_use`, `tool_result`, `thinking`, `redacted_thinking`.
//! Other block types (server tools, search results, …) are left for
//! Bedrock to judge: they travel in the body, unchecked here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::converse_parse::{float, strings, uint};
use crate::parts::{
    CacheTtl, Content, Reasoning, SystemPrompt, Tool, ToolChoice, ToolList, ToolResultContent,
};
use crate::request::{ReasoningRequest, StreamRequest};
use crate::upstream::Api;
use crate::upstream::request::{Role, Turn};

/// The body as a stream request for `model_id`.
pub fn stream_request(model_id: &str, body: &Value) -> Result<StreamRequest, String> {
    let body = body.as_object().ok_or("the body must be a JSON object")?;
    if body
        .get("anthropic_version")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err("Claude's body needs `anthropic_version` (\"bedrock-2023-05-31\")".into());
    }
    let max_tokens = uint(body, "max_tokens")
        .ok_or("Claude's body needs `max_tokens`")?
        .map_err(|e| e.to_string())?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("Claude's body needs `messages`, a list")?;
    let messages = messages
        .iter()
        .enumerate()
        .map(|(n, m)| turn(m).map_err(|e| format!("messages[{n}]: {e}")))
        .collect::<Result<_, _>>()?;
    let (tools, tool_choice) = tools(body)?;
    Ok(StreamRequest {
        model: Some(model_id.to_owned()),
        system: system(body.get("system"))?,
        messages,
        max_tokens: Some(max_tokens),
        temperature: float(body, "temperature").transpose()?,
        top_p: float(body, "top_p").transpose()?,
        stop_sequences: strings(body, "stop_sequences")?,
        api: Some(Api::Invoke),
        tools,
        tool_choice,
        reasoning: thinking(body.get("thinking"))?,
        ..Default::default()
    })
}

fn turn(m: &Value) -> Result<Turn, String> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => return Err("role must be \"user\" or \"assistant\"".into()),
    };
    let content = match m.get("content") {
        Some(Value::String(t)) => vec![Content::text(t.clone())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                block(b, &mut parts).map_err(|e| format!("content[{i}]: {e}"))?;
            }
            parts
        }
        _ => return Err("content must be a string or a list of blocks".into()),
    };
    Ok(Turn { role, content })
}

/// One block as parts (a marked block adds a cache point after it).
fn block(b: &Value, out: &mut Vec<Content>) -> Result<(), String> {
    let kind = b
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a block needs a `type`")?;
    let part = match kind {
        "text" => Content::text(field(b, "text")?),
        "image" => image(b)?,
        "document" => document(b)?,
        "tool_use" => Content::ToolCall {
            id: field(b, "id")?.to_owned(),
            name: field(b, "name")?.to_owned(),
            input: b.get("input").cloned().unwrap_or_else(|| json!({})),
        },
        "tool_result" => tool_result(b)?,
        "thinking" => Content::Reasoning(Reasoning {
            text: Some(field(b, "thinking")?.to_owned()),
            signature: b
                .get("signature")
                .and_then(Value::as_str)
                .map(str::to_owned),
            redacted: None,
        }),
        "redacted_thinking" => Content::Reasoning(Reasoning {
            text: None,
            signature: None,
            redacted: Some(field(b, "data")?.to_owned()),
        }),
        _ => return Ok(()),
    };
    out.push(part);
    if b.get("cache_control").is_some() {
        out.push(Content::CachePoint {
            ttl: CacheTtl::of_cache_control(b.get("cache_control"), "a content block")?,
        });
    }
    Ok(())
}

fn image(b: &Value) -> Result<Content, String> {
    let source = b.get("source").ok_or("an image needs a `source`")?;
    if source.get("type").and_then(Value::as_str) != Some("base64") {
        return Err("image sources must be base64 (the gateway fetches nothing)".into());
    }
    Ok(Content::Image {
        media_type: field(source, "media_type")?.to_owned(),
        data: field(source, "data")?.to_owned(),
    })
}

fn document(b: &Value) -> Result<Content, String> {
    let source = b.get("source").ok_or("a document needs a `source`")?;
    let name = b
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("document")
        .to_owned();
    let (media_type, data) = match source.get("type").and_then(Value::as_str) {
        Some("base64") => (
            field(source, "media_type")?.to_owned(),
            field(source, "data")?.to_owned(),
        ),
        Some("text") => (
            "text/plain".to_owned(),
            STANDARD.encode(field(source, "data")?),
        ),
        _ => {
            return Err(
                "document sources must be base64 or text (the gateway fetches nothing)".into(),
            );
        }
    };
    Ok(Content::Document {
        media_type,
        name,
        data,
        citations: crate::parts::content::citations_enabled(b),
        context: None,
    })
}

fn tool_result(b: &Value) -> Result<Content, String> {
    let content = match b.get("content") {
        None | Some(Value::Null) => ToolResultContent::Parts(Vec::new()),
        Some(Value::String(t)) => ToolResultContent::Text(t.clone()),
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::new();
            for c in blocks {
                match c.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(Content::text(field(c, "text")?)),
                    Some("image") => parts.push(image(c)?),
                    _ => {}
                }
            }
            ToolResultContent::Parts(parts)
        }
        Some(_) => return Err("tool_result content must be a string or a list".into()),
    };
    Ok(Content::ToolResult {
        tool_call_id: field(b, "tool_use_id")?.to_owned(),
        content,
        is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// `system` as a string or text blocks, joined by a blank line.
fn system(v: Option<&Value>) -> Result<SystemPrompt, String> {
    let mut system = SystemPrompt::default();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => system.push_text(s.as_str()),
        Some(Value::Array(blocks)) => {
            for b in blocks {
                if let Some(text) = b.get("text").and_then(Value::as_str) {
                    system.push_text(text);
                    if b.get("cache_control").is_some_and(|c| !c.is_null()) {
                        system.push_cache_point(CacheTtl::of_cache_control(
                            b.get("cache_control"),
                            "system",
                        )?);
                    }
                }
            }
        }
        Some(_) => return Err("system must be a string or a list of text blocks".into()),
    }
    Ok(system)
}

/// `tools` (custom tools with `input_schema`; Anthropic-defined tools keep
/// their name) and `tool_choice`.
fn tools(body: &Map<String, Value>) -> Result<(ToolList, ToolChoice), String> {
    let mut tools = Vec::new();
    let mut cache_point = false;
    let mut cache_ttl = None;
    if let Some(list) = body.get("tools").filter(|v| !v.is_null()) {
        let list = list.as_array().ok_or("tools must be a list")?;
        for (i, t) in list.iter().enumerate() {
            cache_point |= t.get("cache_control").is_some_and(|c| !c.is_null());
            cache_ttl = cache_ttl.or(CacheTtl::of_cache_control(
                t.get("cache_control"),
                &format!("tools[{i}]"),
            )?);
            tools.push(Tool {
                name: field(t, "name")
                    .map_err(|e| format!("tools[{i}]: {e}"))?
                    .to_owned(),
                description: t
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                input_schema: t
                    .get("input_schema")
                    .cloned()
                    .unwrap_or_else(Tool::empty_schema),
                strict: None,
            });
        }
    }
    let choice = match body.get("tool_choice") {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(c) => match c.get("type").and_then(Value::as_str) {
            Some("auto") => ToolChoice::Auto,
            Some("any") => ToolChoice::Any,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Tool(field(c, "name")?.to_owned()),
            _ => return Err("tool_choice.type must be auto, any, tool or none".into()),
        },
    };
    Ok((
        ToolList::new(tools, cache_point).with_cache_ttl(cache_ttl),
        choice,
    ))
}

/// `thinking: {"type":"enabled","budget_tokens"}` (`adaptive` and
/// `disabled` ask for no budget).
fn thinking(v: Option<&Value>) -> Result<Option<ReasoningRequest>, String> {
    let Some(t) = v.filter(|t| t.get("type").and_then(Value::as_str) == Some("enabled")) else {
        return Ok(None);
    };
    let budget = t
        .get("budget_tokens")
        .and_then(Value::as_u64)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or("thinking.budget_tokens must be a positive integer")?;
    Ok(Some(ReasoningRequest {
        budget_tokens: budget,
    }))
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` must be a string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_body_becomes_parts() {
        let body = json!({
            "anthropic_version": "bedrock-2023-05-31",
            "anthropic_beta": ["x"],
            "max_tokens": 2000,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "tool_use", "id": "t1", "name": "w", "input": {"c": 1}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "sun", "is_error": true},
                    {"type": "text", "text": "and?", "cache_control": {"type": "ephemeral"}}]}
            ],
            "tools": [{"name": "w", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any"},
            "thinking": {"type": "enabled", "budget_tokens": 1024}
        });
        let r = stream_request("m", &body).unwrap();
        assert_eq!(
            r.system.parts(),
            [Content::text("Be brief."), Content::CACHE_POINT].as_slice()
        );
        assert!(r.tools.cache_point);
        assert_eq!(r.max_tokens, Some(2000));
        assert_eq!(r.tool_choice, ToolChoice::Any);
        assert_eq!(r.reasoning.map(|r| r.budget_tokens), Some(1024));
        assert_eq!(
            serde_json::to_value(&r.messages).unwrap(),
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                {"role": "assistant", "content": [
                    {"type": "reasoning", "text": "hm", "signature": "sig"},
                    {"type": "toolCall", "id": "t1", "name": "w", "input": {"c": 1}}]},
                {"role": "user", "content": [
                    {"type": "toolResult", "toolCallId": "t1", "content": "sun", "isError": true},
                    {"type": "text", "text": "and?"},
                    {"type": "cachePoint"}]}
            ])
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for (body, says) in [
            (
                json!({"max_tokens": 5, "messages": []}),
                "anthropic_version",
            ),
            (
                json!({"anthropic_version": "v", "messages": []}),
                "max_tokens",
            ),
            (
                json!({"anthropic_version": "v", "max_tokens": 5, "messages": "hi"}),
                "messages",
            ),
            (
                json!({"anthropic_version": "v", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}]}),
                "messages[0]: content[0]: image sources",
            ),
        ] {
            let e = stream_request("m", &body).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
