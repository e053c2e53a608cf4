//! Request parts checked before any upstream call: what a model family can
//! take, which role may carry which part, tool results that answer a call,
//! attachments that are what they say. Every refusal is a sentence for a 400.

use std::collections::HashSet;

use super::attachment;
use super::content::{Content, Tool, ToolChoice, ToolResultContent};
use crate::upstream::request::{Role, Turn};

/// What a model family can take and give besides text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub tools: bool,
    pub images: bool,
    pub documents: bool,
    /// Extended thinking on request (`reasoning.budgetTokens`).
    pub reasoning: bool,
}

/// Smallest thinking budget Bedrock's models take.
pub const MIN_REASONING_BUDGET: u32 = 1024;
const MAX_TOOLS: usize = 128;

/// A document's name and bytes, wherever it stands.
fn check_document(media_type: &str, name: &str, data: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("a document needs a name".into());
    }
    attachment::check_document(media_type, data)
}

/// Check the parts of `turns`, the tools and the tool choice against `caps`.
/// `family` names the model family in messages.
pub fn check(
    turns: &[Turn],
    tools: &[Tool],
    choice: &ToolChoice,
    reasoning: Option<u32>,
    caps: Capabilities,
    family: &str,
) -> Result<(), String> {
    check_tools(tools, choice)?;
    let cannot = |what: &str| format!("{family} models cannot take {what}");
    if !tools.is_empty() && !caps.tools {
        return Err(cannot("tools"));
    }
    if reasoning.is_some() && !caps.reasoning {
        return Err(cannot("a reasoning budget"));
    }
    if let Some(b) = reasoning.filter(|b| *b < MIN_REASONING_BUDGET) {
        return Err(format!(
            "reasoning.budgetTokens is {b}; the smallest budget is {MIN_REASONING_BUDGET}"
        ));
    }
    let mut calls: HashSet<&str> = HashSet::new();
    for (n, turn) in turns.iter().enumerate() {
        for part in &turn.content {
            let at = || format!("messages[{n}] ({}): {}", role_name(turn.role), part.kind());
            let need = |ok: bool, what: &str| if ok { Ok(()) } else { Err(cannot(what)) };
            match (turn.role, part) {
                (_, Content::Text { .. } | Content::CachePoint) => {}
                (Role::User, Content::GuardContent { text, .. }) if text.trim().is_empty() => {
                    return Err(format!("{}: guardContent needs text", at()));
                }
                (Role::User, Content::GuardContent { .. }) => {}
                (Role::User, Content::Image { media_type, data }) => {
                    need(caps.images, "images")?;
                    attachment::check_image(media_type, data)
                        .map_err(|e| format!("{}: {e}", at()))?;
                }
                (
                    Role::User,
                    Content::Document {
                        media_type,
                        data,
                        name,
                        ..
                    },
                ) => {
                    need(caps.documents, "documents")?;
                    check_document(media_type, name, data).map_err(|e| format!("{}: {e}", at()))?;
                }
                (Role::Assistant, Content::Reasoning(r)) => {
                    let signed = r.text.is_some() && r.signature.is_some() && r.redacted.is_none();
                    let redacted =
                        r.redacted.is_some() && r.text.is_none() && r.signature.is_none();
                    if !signed && !redacted {
                        return Err(format!(
                            "{}: give `text` and `signature`, or `redacted` alone, as received",
                            at()
                        ));
                    }
                }
                (Role::Assistant, Content::ToolCall { id, name, input }) => {
                    need(caps.tools, "tool calls")?;
                    if id.is_empty() || name.is_empty() || !input.is_object() {
                        return Err(format!(
                            "{}: needs an `id`, a `name` and an object `input`",
                            at()
                        ));
                    }
                    calls.insert(id);
                }
                (
                    Role::User,
                    Content::ToolResult {
                        tool_call_id,
                        content,
                        ..
                    },
                ) => {
                    need(caps.tools, "tool results")?;
                    if !calls.contains(tool_call_id.as_str()) {
                        return Err(format!(
                            "{}: toolCallId '{tool_call_id}' answers no toolCall of an earlier assistant turn",
                            at()
                        ));
                    }
                    if let ToolResultContent::Parts(parts) = content {
                        for p in parts {
                            match p {
                                Content::Text { .. } => {}
                                Content::Image { media_type, data } => {
                                    need(caps.images, "images")?;
                                    attachment::check_image(media_type, data)
                                        .map_err(|e| format!("{}: {e}", at()))?;
                                }
                                Content::Document {
                                    media_type,
                                    name,
                                    data,
                                    ..
                                } => {
                                    need(caps.documents, "documents")?;
                                    check_document(media_type, name, data)
                                        .map_err(|e| format!("{}: {e}", at()))?;
                                }
                                other => {
                                    return Err(format!(
                                        "{}: a tool result holds text, image and document parts, not {}",
                                        at(),
                                        other.kind()
                                    ));
                                }
                            }
                        }
                    }
                }
                (role, part) => {
                    return Err(format!(
                        "messages[{n}]: a {} turn cannot carry a {} part",
                        role_name(role),
                        part.kind()
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_tools(tools: &[Tool], choice: &ToolChoice) -> Result<(), String> {
    if tools.len() > MAX_TOOLS {
        return Err(format!("at most {MAX_TOOLS} tools"));
    }
    let mut names = HashSet::new();
    for t in tools {
        let ok = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(format!(
                "tool name '{}' must be 1-64 letters, digits, '_' or '-'",
                t.name
            ));
        }
        if !names.insert(t.name.as_str()) {
            return Err(format!("tool '{}' is listed twice", t.name));
        }
        let schema_ok = t
            .input_schema
            .as_object()
            .is_some_and(|o| o.get("type").is_none_or(|ty| ty.as_str() == Some("object")));
        if !schema_ok {
            return Err(format!(
                "tool '{}': inputSchema must be a JSON Schema of type object",
                t.name
            ));
        }
    }
    match choice {
        ToolChoice::Tool(name) if !names.contains(name.as_str()) => {
            Err(format!("toolChoice names '{name}', which is not in tools"))
        }
        ToolChoice::Any | ToolChoice::Tool(_) if tools.is_empty() => {
            Err("toolChoice asks for a tool call but no tools are given".into())
        }
        _ => Ok(()),
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: Capabilities = Capabilities {
        tools: true,
        images: true,
        documents: true,
        reasoning: true,
    };

    fn turns(v: serde_json::Value) -> Vec<Turn> {
        serde_json::from_value(v).unwrap()
    }

    fn tool(name: &str) -> Tool {
        serde_json::from_value(json!({"name": name, "inputSchema": {"type":"object"}})).unwrap()
    }

    #[test]
    fn a_tool_loop_passes() {
        let t = turns(json!([
            {"role":"user","content":"weather?"},
            {"role":"assistant","content":[
                {"type":"reasoning","text":"hm","signature":"s"},
                {"type":"toolCall","id":"t1","name":"w","input":{}}]},
            {"role":"user","content":[{"type":"toolResult","toolCallId":"t1","content":"sunny"}]}
        ]));
        check(&t, &[tool("w")], &ToolChoice::Auto, Some(2048), ALL, "x").unwrap();
    }

    #[test]
    fn bad_parts_are_refused_with_a_reason() {
        let png_as_jpeg = json!([{"role":"user","content":[
            {"type":"image","mediaType":"image/jpeg","data":"iVBORw0KGgo="}]}]);
        let unknown_result = json!([{"role":"user","content":[
            {"type":"toolResult","toolCallId":"nope","content":"x"}]}]);
        let user_tool_call = json!([{"role":"user","content":[
            {"type":"toolCall","id":"a","name":"w","input":{}}]}]);
        for (v, want) in [
            (png_as_jpeg, "not image/jpeg"),
            (unknown_result, "answers no toolCall"),
            (user_tool_call, "cannot carry a toolCall"),
        ] {
            let e = check(&turns(v), &[tool("w")], &ToolChoice::Auto, None, ALL, "x").unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let text_only = Capabilities::default();
        let e = check(
            &[],
            &[tool("w")],
            &ToolChoice::Auto,
            None,
            text_only,
            "amazon-titan-text",
        )
        .unwrap_err();
        assert_eq!(e, "amazon-titan-text models cannot take tools");
        let e = check(
            &[],
            &[tool("w")],
            &ToolChoice::Tool("v".into()),
            None,
            ALL,
            "x",
        )
        .unwrap_err();
        assert!(e.contains("not in tools"), "{e}");
        assert!(check(&[], &[tool("bad name")], &ToolChoice::Auto, None, ALL, "x").is_err());
        assert!(check(&[], &[], &ToolChoice::Auto, Some(10), ALL, "x").is_err());
    }
}
