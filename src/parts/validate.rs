//! Request parts checked before any upstream call: what the model can take
//! through the API the request goes by, which role may carry which part,
//! tool results that answer a call, attachments that are what they say.
//! Every refusal is a sentence for a 400.

use std::collections::HashSet;

use super::attachment;
use super::content::{Content, Tool, ToolChoice, ToolResultContent};
use crate::upstream::request::{Role, Turn};

/// What a model can take and give besides text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub tools: bool,
    pub images: bool,
    pub documents: bool,
    /// Extended thinking on request (`reasoning.budgetTokens`).
    pub reasoning: bool,
}

impl Capabilities {
    /// Whether these take the tools, images and documents `parts` carries
    /// (see [`carried`]).
    pub fn take(self, parts: Capabilities) -> bool {
        (self.tools || !parts.tools)
            && (self.images || !parts.images)
            && (self.documents || !parts.documents)
    }
}

/// The model a request goes to, as the checks see it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The model id as the request names it, for messages.
    pub model: &'a str,
    /// What it takes through the API the request goes by.
    pub caps: Capabilities,
    /// What it takes through Converse: a part `caps` refuses and this takes
    /// is refused with the API that serves it.
    pub converse: Capabilities,
}

impl Target<'_> {
    fn need(&self, has: fn(Capabilities) -> bool, what: &str) -> Result<(), String> {
        if has(self.caps) {
            Ok(())
        } else if has(self.converse) {
            Err(format!(
                "{} takes {what} through Converse, not in its own InvokeModel body: send them with api \"converse\"",
                self.model
            ))
        } else {
            Err(format!("{} cannot take {what}", self.model))
        }
    }
}

/// The tools, images and documents a request carries, in any turn (tool
/// results' included), as capabilities it needs.
pub fn carried(turns: &[Turn], tools: &[Tool]) -> Capabilities {
    let mut needs = Capabilities {
        tools: !tools.is_empty(),
        ..Capabilities::default()
    };
    let mut note = |part: &Content| match part {
        Content::Image { .. } => needs.images = true,
        Content::Document { .. } => needs.documents = true,
        Content::ToolCall { .. } | Content::ToolResult { .. } => needs.tools = true,
        _ => {}
    };
    for part in turns.iter().flat_map(|t| &t.content) {
        note(part);
        if let Content::ToolResult {
            content: ToolResultContent::Parts(parts),
            ..
        } = part
        {
            parts.iter().for_each(&mut note);
        }
    }
    needs
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

/// Check the parts of `turns`, the tools and the tool choice against what
/// `target` takes.
pub fn check(
    turns: &[Turn],
    tools: &[Tool],
    choice: &ToolChoice,
    reasoning: Option<u32>,
    target: Target<'_>,
) -> Result<(), String> {
    check_tools(tools, choice)?;
    if !tools.is_empty() {
        target.need(|c| c.tools, "tools")?;
    }
    if reasoning.is_some() {
        target.need(|c| c.reasoning, "a reasoning budget")?;
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
            match (turn.role, part) {
                (_, Content::Text { .. } | Content::CachePoint { .. }) => {}
                (Role::User, Content::GuardContent { text, .. }) if text.trim().is_empty() => {
                    return Err(format!("{}: guardContent needs text", at()));
                }
                (Role::User, Content::GuardContent { .. }) => {}
                (Role::User, Content::Image { media_type, data }) => {
                    target.need(|c| c.images, "images")?;
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
                    target.need(|c| c.documents, "documents")?;
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
                    target.need(|c| c.tools, "tool calls")?;
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
                    target.need(|c| c.tools, "tool results")?;
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
                                    target.need(|c| c.images, "images")?;
                                    attachment::check_image(media_type, data)
                                        .map_err(|e| format!("{}: {e}", at()))?;
                                }
                                Content::Document {
                                    media_type,
                                    name,
                                    data,
                                    ..
                                } => {
                                    target.need(|c| c.documents, "documents")?;
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
    const TEXT: Capabilities = Capabilities {
        tools: false,
        images: false,
        documents: false,
        reasoning: false,
    };

    fn any(caps: Capabilities) -> Target<'static> {
        Target {
            model: "m",
            caps,
            converse: caps,
        }
    }

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
        check(&t, &[tool("w")], &ToolChoice::Auto, Some(2048), any(ALL)).unwrap();
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
            let e = check(&turns(v), &[tool("w")], &ToolChoice::Auto, None, any(ALL)).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let e = check(
            &[],
            &[tool("w")],
            &ToolChoice::Tool("v".into()),
            None,
            any(ALL),
        )
        .unwrap_err();
        assert!(e.contains("not in tools"), "{e}");
        assert!(check(&[], &[tool("bad name")], &ToolChoice::Auto, None, any(ALL)).is_err());
        assert!(check(&[], &[], &ToolChoice::Auto, Some(10), any(ALL)).is_err());
    }

    #[test]
    fn a_part_the_model_cannot_take_is_refused_by_model_and_part() {
        let titan = Target {
            model: "amazon.titan-text-express-v1",
            caps: TEXT,
            converse: Capabilities {
                documents: true,
                ..TEXT
            },
        };
        let e = check(&[], &[tool("w")], &ToolChoice::Auto, None, titan).unwrap_err();
        assert_eq!(e, "amazon.titan-text-express-v1 cannot take tools");
        let e = check(&[], &[], &ToolChoice::Auto, Some(2048), titan).unwrap_err();
        assert_eq!(
            e,
            "amazon.titan-text-express-v1 cannot take a reasoning budget"
        );
    }

    #[test]
    fn a_part_only_converse_takes_is_refused_with_the_api_that_serves_it() {
        let llama = Target {
            model: "us.meta.llama3-2-90b-instruct-v1:0",
            caps: TEXT,
            converse: Capabilities {
                reasoning: false,
                ..ALL
            },
        };
        let image = turns(json!([{"role":"user","content":[
            {"type":"image","mediaType":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEElEQVR4nGNgYGD4D8VoDABH0wX7kHb2kgAAAABJRU5ErkJggg=="}]}]));
        for (t, tools, what) in [
            (&[][..], &[tool("w")][..], "tools"),
            (&image[..], &[][..], "images"),
        ] {
            let e = check(t, tools, &ToolChoice::Auto, None, llama).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "us.meta.llama3-2-90b-instruct-v1:0 takes {what} through Converse, not in its own InvokeModel body: send them with api \"converse\""
                )
            );
        }
        let through_converse = Target {
            caps: llama.converse,
            ..llama
        };
        assert!(
            check(
                &image,
                &[tool("w")],
                &ToolChoice::Auto,
                None,
                through_converse
            )
            .is_ok()
        );
    }

    #[test]
    fn carried_parts_include_tool_results() {
        let t = turns(json!([
            {"role":"user","content":"read it"},
            {"role":"assistant","content":[{"type":"toolCall","id":"t","name":"f","input":{}}]},
            {"role":"user","content":[{"type":"toolResult","toolCallId":"t","content":[
                {"type":"document","mediaType":"text/plain","name":"n","data":"aGk="}]}]}
        ]));
        let needs = carried(&t, &[]);
        assert!(needs.tools && needs.documents && !needs.images, "{needs:?}");
        assert_eq!(
            carried(&turns(json!([{"role":"user","content":"hi"}])), &[]),
            TEXT
        );
        assert!(!TEXT.take(needs));
        assert!(ALL.take(needs));
        assert!(TEXT.take(TEXT));
    }
}
