//! The tools a request declares upstream, whatever the API or family.
//!
//! Bedrock refuses a conversation whose history holds tool calls or tool
//! results unless the request declares tools (Converse: "The toolConfig field
//! must be defined when using toolUse and toolResult content blocks"; Claude's
//! Messages API likewise). A request that offers no tools of its own, but
//! replays such a history, therefore declares one stand-in per tool name seen
//! there, with an empty object schema.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::request::{InvocationRequest, Turn};
use crate::parts::{Content, Tool};

/// Whether any turn carries a tool call or a tool result.
pub(crate) fn history_has_tools(turns: &[Turn]) -> bool {
    turns
        .iter()
        .flat_map(|t| &t.content)
        .any(|p| matches!(p, Content::ToolCall { .. } | Content::ToolResult { .. }))
}

/// The tools to declare: the request's own; else, when the history holds
/// tool calls, a stand-in for each name called there (sorted, once each).
/// Empty when neither.
pub(crate) fn declared(req: &InvocationRequest) -> Cow<'_, [Tool]> {
    if !req.tools.is_empty() {
        return Cow::Borrowed(&req.tools);
    }
    let names: BTreeSet<&str> = req
        .turns
        .iter()
        .flat_map(|t| &t.content)
        .filter_map(|p| match p {
            Content::ToolCall { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    Cow::Owned(names.into_iter().map(stand_in).collect())
}

/// Whether the declared tools are stand-ins (the request offered none).
pub(crate) fn are_stand_ins(req: &InvocationRequest) -> bool {
    req.tools.is_empty()
}

/// Whether a cache point follows the declared tools: the request asked for
/// one after its own tools (stand-ins carry none).
pub(crate) fn cache_point_after(req: &InvocationRequest) -> bool {
    req.tools_cache_point && !are_stand_ins(req)
}

fn stand_in(name: &str) -> Tool {
    Tool {
        name: name.to_owned(),
        description: None,
        input_schema: Tool::empty_schema(),
        strict: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::request::Role;
    use serde_json::json;

    fn req(turns: serde_json::Value, tools: Vec<Tool>) -> InvocationRequest {
        InvocationRequest {
            turns: serde_json::from_value(turns).unwrap(),
            tools,
            ..Default::default()
        }
    }

    #[test]
    fn history_tool_calls_get_stand_ins() {
        let r = req(
            json!([
                {"role":"user","content":"hi"},
                {"role":"assistant","content":[
                    {"type":"toolCall","id":"a","name":"w","input":{}},
                    {"type":"toolCall","id":"b","name":"v","input":{}},
                    {"type":"toolCall","id":"c","name":"w","input":{}}]},
                {"role":"user","content":[{"type":"toolResult","toolCallId":"a","content":"x"}]}
            ]),
            vec![],
        );
        assert!(history_has_tools(&r.turns));
        let names: Vec<_> = declared(&r).iter().map(|t| t.name.clone()).collect();
        assert_eq!(names, ["v", "w"]);
        assert_eq!(
            declared(&r)[0].input_schema,
            json!({"type":"object","properties":{}})
        );
    }

    #[test]
    fn request_tools_win_and_plain_history_declares_nothing() {
        let plain = req(json!([{"role":"user","content":"hi"}]), vec![]);
        assert!(!history_has_tools(&plain.turns));
        assert!(declared(&plain).is_empty());
        let mut own = plain.clone();
        own.tools = vec![stand_in("mine")];
        own.turns.push(Turn::text_turn(Role::Assistant, "ok"));
        assert_eq!(declared(&own)[0].name, "mine");
        assert!(!are_stand_ins(&own));
    }
}
