//! UI messages as the conversation's turns. An assistant message may hold
//! several steps (text, tool calls with their outputs, more text); it becomes
//! assistant / user / assistant … turns in order, each step's tool results in
//! the user turn right after the calls, as the model expects them.

use serde_json::Value;

use super::ui_part::{self, UiPart};
use crate::error::ApiError;
use crate::parts::Content;
use crate::upstream::request::{Role, Turn};

/// What the messages hold: `system` texts and the turns, in order.
#[derive(Debug, Default)]
pub struct Conversation {
    pub system: Vec<String>,
    pub turns: Vec<Turn>,
}

/// Read `(role, parts)` messages. Text and files of user messages; text,
/// replayable reasoning and finished tool calls of assistant messages; the
/// text of system messages. Everything else is left out.
pub fn conversation(
    messages: impl IntoIterator<Item = (String, Vec<Value>)>,
) -> Result<Conversation, ApiError> {
    let mut c = Conversation::default();
    for (n, (role, parts)) in messages.into_iter().enumerate() {
        let mut read = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            match ui_part::read(part) {
                Ok(Some(p)) => read.push(p),
                Ok(None) => {}
                Err(e) => {
                    return Err(ApiError::BadRequest(format!(
                        "messages[{n}].parts[{i}]: {e}"
                    )));
                }
            }
        }
        match role.as_str() {
            "system" => c.system.push(texts(read).join("")),
            "user" => c.turns.push(user_turn(read)),
            "assistant" => assistant_turns(read, &mut c.turns),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "message role '{other}' is not supported (system, user, assistant)"
                )));
            }
        }
    }
    // A chat may open with the assistant's greeting (`useChat`'s initial
    // messages); the model's conversation starts at the user's first words.
    crate::request::drop_leading_greeting(&mut c.turns);
    Ok(c)
}

fn texts(parts: Vec<UiPart>) -> Vec<String> {
    parts
        .into_iter()
        .filter_map(|p| match p {
            UiPart::Text(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// A user message's text and files.
fn user_turn(parts: Vec<UiPart>) -> Turn {
    let content = parts
        .into_iter()
        .filter_map(|p| match p {
            UiPart::Text(text) => Some(Content::Text { text }),
            UiPart::File(file) => Some(file),
            _ => None,
        })
        .collect();
    Turn {
        role: Role::User,
        content,
    }
}

/// An assistant message's steps as turns. The results of a step's tool
/// calls close its assistant turn and open a user turn; the next step
/// (a `step-start`, or any content after the results) opens a new
/// assistant turn. Files the model made cannot go back to it.
fn assistant_turns(parts: Vec<UiPart>, turns: &mut Vec<Turn>) {
    let mut said: Vec<Content> = Vec::new();
    let mut results: Vec<Content> = Vec::new();
    for part in parts {
        if !results.is_empty() && !matches!(part, UiPart::Tool(_) | UiPart::File(_)) {
            close_step(&mut said, &mut results, turns);
        }
        match part {
            UiPart::Text(text) => said.push(Content::Text { text }),
            UiPart::Reasoning(r) => said.push(Content::Reasoning(r)),
            UiPart::Tool(o) => {
                said.push(o.call);
                results.push(o.result);
            }
            UiPart::File(_) | UiPart::StepStart => {}
        }
    }
    close_step(&mut said, &mut results, turns);
}

fn close_step(said: &mut Vec<Content>, results: &mut Vec<Content>, turns: &mut Vec<Turn>) {
    if !said.is_empty() {
        turns.push(Turn {
            role: Role::Assistant,
            content: std::mem::take(said),
        });
    }
    if !results.is_empty() {
        turns.push(Turn {
            role: Role::User,
            content: std::mem::take(results),
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(messages: Value) -> Result<Conversation, ApiError> {
        let messages: Vec<(String, Vec<Value>)> = messages
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["parts"].as_array().unwrap().clone(),
                )
            })
            .collect();
        conversation(messages)
    }

    /// Each turn as `role: kinds`.
    fn shape(c: &Conversation) -> Vec<String> {
        c.turns
            .iter()
            .map(|t| {
                let kinds: Vec<&str> = t.content.iter().map(Content::kind).collect();
                format!("{:?}: {}", t.role, kinds.join(" "))
            })
            .collect()
    }

    fn tool(id: &str, output: &str) -> Value {
        json!({"type":"tool-get_weather","toolCallId":id,"state":"output-available",
            "input":{"city":"sample"},"output":output})
    }

    #[test]
    fn an_assistant_message_of_several_steps_alternates_turns() {
        let c = read(json!([
            {"role":"system","parts":[{"type":"text","text":"Be brief."}]},
            {"role":"user","parts":[{"type":"text","text":"Weather?"}]},
            {"role":"assistant","parts":[
                {"type":"step-start"},
                {"type":"reasoning","text":"hm","providerMetadata":{"bedrock":{"signature":"sig"}}},
                {"type":"text","text":"Checking."},
                tool("t1", "sunny"),
                tool("t2", "windy"),
                {"type":"step-start"},
                tool("t3", "dry"),
                {"type":"step-start"},
                {"type":"text","text":"Sunny, windy and dry."}
            ]},
            {"role":"user","parts":[{"type":"text","text":"Thanks"}]}
        ]))
        .unwrap();
        assert_eq!(c.system, ["Be brief."]);
        assert_eq!(
            shape(&c),
            [
                "User: text",
                "Assistant: reasoning text toolCall toolCall",
                "User: toolResult toolResult",
                "Assistant: toolCall",
                "User: toolResult",
                "Assistant: text",
                "User: text",
            ]
        );
    }

    #[test]
    fn a_conversation_may_end_with_tool_results() {
        let c = read(json!([
            {"role":"user","parts":[{"type":"text","text":"Weather?"}]},
            {"role":"assistant","parts":[{"type":"step-start"}, tool("t1", "sunny")]}
        ]))
        .unwrap();
        assert_eq!(
            shape(&c),
            ["User: text", "Assistant: toolCall", "User: toolResult"]
        );
        assert_eq!(
            serde_json::to_value(&c.turns[2].content).unwrap(),
            json!([{"type":"toolResult","toolCallId":"t1","content":"sunny"}])
        );
    }

    #[test]
    fn content_after_results_without_a_step_marker_starts_a_new_turn() {
        let c = read(json!([
            {"role":"user","parts":[{"type":"text","text":"Go"}]},
            {"role":"assistant","parts":[tool("t1", "a"), {"type":"text","text":"Done."}]}
        ]))
        .unwrap();
        assert_eq!(
            shape(&c),
            [
                "User: text",
                "Assistant: toolCall",
                "User: toolResult",
                "Assistant: text"
            ]
        );
    }

    #[test]
    fn user_files_and_refusals_name_the_part() {
        let c = read(json!([
            {"role":"user","parts":[
                {"type":"text","text":"What is this?"},
                {"type":"file","mediaType":"image/png","url":"data:image/png;base64,iVBO"}
            ]}
        ]))
        .unwrap();
        assert_eq!(shape(&c), ["User: text image"]);
        let err = read(json!([
            {"role":"user","parts":[{"type":"text","text":"Go"}]},
            {"role":"assistant","parts":[{"type":"step-start"},
                {"type":"tool-f","toolCallId":"t1","state":"unknown"}]}
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("messages[1].parts[1]"), "{err}");
        // A greeting before the user's first message is left out.
        let c = read(json!([
            {"role":"assistant","parts":[{"type":"text","text":"Hi! Ask me anything."}]},
            {"role":"user","parts":[{"type":"text","text":"Go"}]}
        ]))
        .unwrap();
        assert_eq!(shape(&c), ["User: text"]);
        // A call the user stopped before it ran is left out, its text kept.
        let c = read(json!([
            {"role":"user","parts":[{"type":"text","text":"Go"}]},
            {"role":"assistant","parts":[{"type":"step-start"},{"type":"text","text":"Let me"},
                {"type":"tool-f","toolCallId":"t1","state":"input-available","input":{}}]},
            {"role":"user","parts":[{"type":"text","text":"Never mind"}]}
        ]))
        .unwrap();
        assert_eq!(shape(&c), ["User: text", "Assistant: text", "User: text"]);
        assert!(
            read(json!([{"role":"tool","parts":[]}]))
                .unwrap_err()
                .to_string()
                .contains("role 'tool'")
        );
    }
}
