//! Claude's Messages API content: parts as content blocks, tools and the
//! tool choice.
//!
//! - `image`: `{"type":"image","source":{"type":"base64","media_type","data"}}`.
//! - `document`: PDF as `{"type":"document","source":{"type":"base64",…},"title"}`;
//!   text types (plain, Markdown, CSV, HTML) as a `text` source of
//!   `text/plain` (Claude's Messages API takes these two sources; the office
//!   formats only through Converse, which converts them — refused here).
//! - `toolCall` → `tool_use`, `toolResult` → `tool_result` (text and image
//!   blocks, `is_error`), `reasoning` → `thinking` / `redacted_thinking`.
//! - `cachePoint` → `cache_control: {"type":"ephemeral"}` on the block before
//!   it (not a thinking block, which Anthropic does not let be marked); a
//!   cache point with nothing before it marks nothing. The same after the
//!   system prompt (its text parts become text blocks) and after the tools
//!   (the last tool is marked).

use serde_json::{Map, Value, json};

use crate::parts::{CacheTtl, Content, SystemPrompt, Tool, ToolChoice, ToolResultContent};
use crate::upstream::attach;
use crate::upstream::request::{InvocationRequest, Role, Turn};
use crate::upstream::tools;

use super::GUARD_CONVERSE_ONLY;

/// Document types Claude's own body takes: PDF as a base64 source, the text
/// types as a text source. The office formats go through Converse only.
pub(super) const DOCUMENT_TYPES: &[&str] = &[
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "text/html",
];

/// Every turn as a message. A turn of one text part stays a plain string.
pub(super) fn messages(turns: &[Turn]) -> Result<Vec<Value>, String> {
    let mut messages: Vec<(Role, Vec<Value>)> = Vec::with_capacity(turns.len());
    for (n, turn) in turns.iter().enumerate() {
        let mut blocks = Vec::with_capacity(turn.content.len());
        let only_part = turn.content.len() == 1;
        for part in &turn.content {
            if let Content::CachePoint { ttl } = part {
                mark_last(&mut messages, &mut blocks, *ttl);
            } else if !only_part && matches!(part, Content::Text { text } if text.is_empty()) {
                // Anthropic refuses empty text blocks.
            } else {
                blocks.push(block(part).map_err(|e| format!("messages[{n}]: {e}"))?);
            }
        }
        messages.push((turn.role, blocks));
    }
    Ok(messages
        .into_iter()
        .map(|(role, blocks)| {
            let role = match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": plain_or_blocks(blocks)})
        })
        .collect())
}

/// One text block with nothing else on it becomes a plain string.
fn plain_or_blocks(mut blocks: Vec<Value>) -> Value {
    if let [only] = blocks.as_mut_slice()
        && only.get("type").and_then(Value::as_str) == Some("text")
        && only.get("cache_control").is_none()
        && let Some(text) = only.get_mut("text").map(Value::take)
    {
        return text;
    }
    Value::Array(blocks)
}

/// Put a cache mark on the last markable block: in `current`, else in the
/// turns before it.
fn mark_last(before: &mut [(Role, Vec<Value>)], current: &mut [Value], ttl: Option<CacheTtl>) {
    let markable = |b: &&mut Value| {
        !matches!(
            b.get("type").and_then(Value::as_str),
            Some("thinking" | "redacted_thinking")
        )
    };
    let target = current.iter_mut().rev().find(markable).or_else(|| {
        before
            .iter_mut()
            .rev()
            .flat_map(|(_, blocks)| blocks.iter_mut().rev())
            .find(markable)
    });
    if let Some(block) = target {
        cache_mark(block, ttl);
    }
}

/// Put `cache_control: {"type":"ephemeral"}` on a block (also the hook for a
/// cache point after the system prompt or the tools), with the point's `ttl`
/// when it named one.
pub(super) fn cache_mark(block: &mut Value, ttl: Option<CacheTtl>) {
    if let Some(o) = block.as_object_mut() {
        let mut mark = json!({"type": "ephemeral"});
        if let Some(ttl) = ttl {
            mark["ttl"] = json!(ttl.as_str());
        }
        o.insert("cache_control".into(), mark);
    }
}

/// `system`: a string, or text blocks when a cache point marks one of
/// them; `None` when there is no text.
pub(super) fn system(system: &SystemPrompt) -> Option<Value> {
    let text = system.text()?;
    if !system.has_cache_point() {
        return Some(json!(text));
    }
    let mut blocks: Vec<Value> = Vec::new();
    for part in system.parts() {
        match part {
            Content::Text { text } if text.trim().is_empty() => {}
            Content::Text { text } => blocks.push(json!({"type": "text", "text": text})),
            Content::CachePoint { ttl } => {
                if let Some(last) = blocks.last_mut() {
                    cache_mark(last, *ttl);
                }
            }
            _ => {}
        }
    }
    Some(Value::Array(blocks))
}

fn block(part: &Content) -> Result<Value, String> {
    Ok(match part {
        Content::Text { text } => json!({"type": "text", "text": text}),
        Content::Image { media_type, data } => image(media_type, data),
        Content::Document {
            media_type,
            name,
            data,
            citations,
            ..
        } => document(media_type, name, data, *citations)?,
        Content::Reasoning(r) => match (&r.redacted, &r.text) {
            (Some(data), _) => json!({"type": "redacted_thinking", "data": data}),
            (None, text) => json!({
                "type": "thinking",
                "thinking": text.as_deref().unwrap_or_default(),
                "signature": r.signature.as_deref().unwrap_or_default(),
            }),
        },
        Content::ToolCall { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        Content::ToolResult {
            tool_call_id,
            content,
            is_error,
        } => {
            let mut b = Map::new();
            b.insert("type".into(), json!("tool_result"));
            b.insert("tool_use_id".into(), json!(tool_call_id));
            let content = tool_result_content(content)?;
            if !content.is_empty() {
                b.insert("content".into(), Value::Array(content));
            }
            if *is_error {
                b.insert("is_error".into(), json!(true));
            }
            Value::Object(b)
        }
        // Handled by the caller: a mark, not a block.
        Content::CachePoint { .. } => Value::Null,
        Content::GuardContent { .. } => return Err(GUARD_CONVERSE_ONLY.into()),
    })
}

fn image(media_type: &str, data: &str) -> Value {
    json!({
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": data.trim()}
    })
}

fn document(media_type: &str, name: &str, data: &str, citations: bool) -> Result<Value, String> {
    let source = match media_type {
        "application/pdf" => {
            json!({"type": "base64", "media_type": media_type, "data": data.trim()})
        }
        text if DOCUMENT_TYPES.contains(&text) => {
            let bytes = attach::bytes(data, "document")?;
            json!({
                "type": "text",
                "media_type": "text/plain",
                "data": String::from_utf8_lossy(&bytes),
            })
        }
        other => {
            return Err(format!(
                "Claude's InvokeModel body takes PDF and text documents, not {other}; \
                 send it with api \"converse\""
            ));
        }
    };
    let mut doc = json!({"type": "document", "source": source, "title": name});
    if citations {
        doc["citations"] = json!({"enabled": true});
    }
    Ok(doc)
}

/// A tool result's text (non-empty) and image blocks.
fn tool_result_content(content: &ToolResultContent) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for p in content.parts().iter() {
        match p {
            Content::Text { text } if !text.is_empty() => {
                out.push(json!({"type": "text", "text": text}));
            }
            Content::Image { media_type, data } => out.push(image(media_type, data)),
            Content::Document {
                media_type,
                name,
                data,
                citations,
                ..
            } => out.push(document(media_type, name, data, *citations)?),
            _ => {}
        }
    }
    Ok(out)
}

/// `tools` and `tool_choice` for `req`: none when no tools are declared.
/// `auto` is the default and left unsaid; stand-in tools (declared only
/// because the history has tool calls) get `{"type":"none"}`.
pub(super) fn tools(req: &InvocationRequest) -> Option<(Value, Option<Value>)> {
    let declared = tools::declared(req);
    if declared.is_empty() {
        return None;
    }
    let mut list: Vec<Value> = declared.iter().map(tool).collect();
    if tools::cache_point_after(req)
        && let Some(last) = list.last_mut()
    {
        cache_mark(last, req.tools_cache_ttl);
    }
    let mut choice = match &req.tool_choice {
        ToolChoice::Auto if tools::are_stand_ins(req) => Some(json!({"type": "none"})),
        ToolChoice::Auto if req.one_tool_call => Some(json!({"type": "auto"})),
        ToolChoice::Auto => None,
        ToolChoice::Any => Some(json!({"type": "any"})),
        ToolChoice::None => Some(json!({"type": "none"})),
        ToolChoice::Tool(name) => Some(json!({"type": "tool", "name": name})),
    };
    if let Some(c) = choice
        .as_mut()
        .filter(|c| req.one_tool_call && c["type"] != "none")
    {
        c["disable_parallel_tool_use"] = json!(true);
    }
    Some((Value::Array(list), choice))
}

fn tool(t: &Tool) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(t.name));
    if let Some(d) = &t.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("input_schema".into(), t.input_schema.clone());
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn turns(v: Value) -> Vec<Turn> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parts_become_claude_blocks() {
        let txt = STANDARD.encode("Sales rose 4%.");
        let m = messages(&turns(json!([
            {"role":"user","content":[
                {"type":"text","text":"Compare"},
                {"type":"image","mediaType":"image/png","data":"iVBORw0KGgo="},
                {"type":"document","mediaType":"application/pdf","name":"q3.pdf","data":"JVBERi0="},
                {"type":"document","mediaType":"text/markdown","name":"notes.md","data":txt}]},
            {"role":"assistant","content":[
                {"type":"reasoning","text":"hm","signature":"sig"},
                {"type":"reasoning","redacted":"EmwK"},
                {"type":"text","text":""},
                {"type":"toolCall","id":"toolu_1","name":"w","input":{"city":"Paris"}}]},
            {"role":"user","content":[
                {"type":"toolResult","toolCallId":"toolu_1","content":"sunny","isError":true}]},
            {"role":"assistant","content":[{"type":"text","text":"Sunny."}]},
            {"role":"user","content":[
                {"type":"toolResult","toolCallId":"toolu_1","content":[
                    {"type":"text","text":""},
                    {"type":"image","mediaType":"image/png","data":"iVBORw0KGgo="}]}]}
        ])))
        .unwrap();
        assert_eq!(
            m,
            vec![
                json!({"role":"user","content":[
                    {"type":"text","text":"Compare"},
                    {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
                    {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},"title":"q3.pdf"},
                    {"type":"document","source":{"type":"text","media_type":"text/plain","data":"Sales rose 4%."},"title":"notes.md"}]}),
                json!({"role":"assistant","content":[
                    {"type":"thinking","thinking":"hm","signature":"sig"},
                    {"type":"redacted_thinking","data":"EmwK"},
                    {"type":"tool_use","id":"toolu_1","name":"w","input":{"city":"Paris"}}]}),
                json!({"role":"user","content":[
                    {"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}],"is_error":true}]}),
                json!({"role":"assistant","content":"Sunny."}),
                json!({"role":"user","content":[
                    {"type":"tool_result","tool_use_id":"toolu_1","content":[
                        {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}),
            ]
        );
    }

    #[test]
    fn cache_points_mark_the_block_before() {
        let m = messages(&turns(json!([
            {"role":"user","content":[{"type":"text","text":"Long context"},{"type":"cachePoint"},{"type":"text","text":"Q1"}]},
            {"role":"assistant","content":[{"type":"reasoning","text":"t","signature":"s"},{"type":"text","text":"A1"}]},
            {"role":"user","content":[{"type":"cachePoint"},{"type":"text","text":"Q2"}]},
            {"role":"assistant","content":[{"type":"cachePoint"}]}
        ])))
        .unwrap();
        assert_eq!(
            m[0]["content"],
            json!([
                {"type":"text","text":"Long context","cache_control":{"type":"ephemeral"}},
                {"type":"text","text":"Q1"}
            ])
        );
        assert_eq!(
            m[1]["content"][1],
            json!({"type":"text","text":"A1","cache_control":{"type":"ephemeral"}}),
            "a cache point opening a turn marks the previous turn's last block"
        );
        assert_eq!(
            m[2]["content"],
            json!([{"type":"text","text":"Q2","cache_control":{"type":"ephemeral"}}]),
            "marked by the next turn's cache point, so no longer a plain string"
        );
        assert_eq!(
            m[1]["content"][0].get("cache_control"),
            None,
            "thinking blocks are never marked"
        );
    }

    #[test]
    fn office_documents_are_refused_on_invoke() {
        let e = messages(&turns(json!([{"role":"user","content":[
            {"type":"document","mediaType":"application/msword","name":"a.doc","data":"AAAA"}]}])))
        .unwrap_err();
        assert!(
            e.starts_with("messages[0]:") && e.contains("converse"),
            "{e}"
        );
    }

    fn req(tools: Value, choice: Value, turns_v: Value) -> InvocationRequest {
        InvocationRequest {
            turns: turns(turns_v),
            tools: serde_json::from_value(tools).unwrap(),
            tool_choice: serde_json::from_value(choice).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn one_tool_call_is_claudes_disable_parallel_tool_use() {
        let weather = json!([{"name":"w","inputSchema":{"type":"object"}}]);
        let hi = json!([{"role":"user","content":"hi"}]);
        for (wire, want) in [
            (
                json!("auto"),
                Some(json!({"type":"auto","disable_parallel_tool_use":true})),
            ),
            (
                json!("any"),
                Some(json!({"type":"any","disable_parallel_tool_use":true})),
            ),
            (json!("none"), Some(json!({"type":"none"}))),
        ] {
            let mut r = req(weather.clone(), wire, hi.clone());
            r.one_tool_call = true;
            assert_eq!(tools(&r).unwrap().1, want);
        }
    }

    #[test]
    fn tools_and_tool_choice() {
        let weather = json!([{"name":"w","description":"Weather now","inputSchema":{"type":"object","properties":{"city":{"type":"string"}}}}]);
        let hi = json!([{"role":"user","content":"hi"}]);
        let (list, choice) = tools(&req(weather.clone(), json!("auto"), hi.clone())).unwrap();
        assert_eq!(
            list,
            json!([{"name":"w","description":"Weather now","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}])
        );
        assert_eq!(choice, None);
        for (wire, want) in [
            (json!("any"), json!({"type":"any"})),
            (json!("none"), json!({"type":"none"})),
            (json!({"name":"w"}), json!({"type":"tool","name":"w"})),
        ] {
            let (_, choice) = tools(&req(weather.clone(), wire, hi.clone())).unwrap();
            assert_eq!(choice, Some(want));
        }
        assert!(tools(&req(json!([]), json!("auto"), hi)).is_none());
        let history = json!([
            {"role":"user","content":"hi"},
            {"role":"assistant","content":[{"type":"toolCall","id":"t","name":"w","input":{}}]},
            {"role":"user","content":[{"type":"toolResult","toolCallId":"t","content":"x"}]}
        ]);
        let (list, choice) = tools(&req(json!([]), json!("auto"), history)).unwrap();
        assert_eq!(
            list,
            json!([{"name":"w","input_schema":{"type":"object","properties":{}}}])
        );
        assert_eq!(choice, Some(json!({"type":"none"})));
    }
}
