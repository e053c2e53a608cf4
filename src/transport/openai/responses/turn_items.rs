//! The conversation a response was asked, as Responses input items (what
//! `GET /v1/responses/{id}/input_items` lists): the request's system
//! messages, then the turns kept beside its session ([`Kept`]), oldest
//! first. With `previous_response_id` the earlier conversation and its
//! answer come first, as the model read them. The reverse of
//! [`super::input`]:
//!
//! - system messages: `message` items of role `developer` (a `system` item
//!   was read the same way); `instructions` are not items, as at OpenAI.
//! - a run of content parts: a `message` item; a user's as `input_text`,
//!   `input_image` (its `data:` URL only when `include` asks for
//!   `message.input_image.image_url`, as at OpenAI) and `input_file` (with
//!   its `file_data`); an assistant's as `output_text`.
//! - a tool call: a `function_call` item; a tool result: a
//!   `function_call_output` item (`output` a string, or a list of parts).
//! - reasoning: a `reasoning` item whose summary is its text; its
//!   signature (or a redacted block's data) is `encrypted_content` only when
//!   `include` asks for `reasoning.encrypted_content`.
//!
//! Cache points are not items. Turns of one role sent apart were joined
//! before the model read them, and are listed joined. Each item's id is
//! `<kind>_<session id>_in<n>`, `n` its place in the list.

use serde_json::{Value, json};

use crate::hub::Kept;
use crate::parts::{Content, ToolResultContent};
use crate::upstream::request::Role;

/// What the listing adds when asked (`include`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Include {
    /// `message.input_image.image_url`: an image's `data:` URL.
    pub image_urls: bool,
    /// `reasoning.encrypted_content`: reasoning's signature or redacted data.
    pub encrypted_content: bool,
}

/// The items of `kept` (session `sid`), oldest first.
pub(super) fn items(sid: &str, kept: &Kept, include: Include) -> Vec<Value> {
    let mut list = List {
        sid,
        include,
        items: Vec::new(),
    };
    for parts in &kept.system {
        list.message("developer", parts.iter());
    }
    for turn in &kept.turns {
        let role = match turn.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut run: Vec<&Content> = Vec::new();
        for part in &turn.content {
            match part {
                Content::ToolCall { .. } | Content::ToolResult { .. } | Content::Reasoning(_) => {
                    list.message(role, run.drain(..));
                    list.item(part);
                }
                Content::CachePoint { .. } => {}
                _ => run.push(part),
            }
        }
        list.message(role, run.into_iter());
    }
    list.items
}

/// The items so far.
struct List<'a> {
    sid: &'a str,
    include: Include,
    items: Vec<Value>,
}

impl List<'_> {
    /// The next item's id.
    fn id(&self, kind: &str) -> String {
        format!("{kind}_{}_in{}", self.sid, self.items.len())
    }

    /// A message of `parts` by `role`, if any part is one a message shows.
    fn message<'c>(&mut self, role: &str, parts: impl Iterator<Item = &'c Content>) {
        let content: Vec<Value> = parts.filter_map(|p| self.part(role, p)).collect();
        if content.is_empty() {
            return;
        }
        let id = self.id("msg");
        self.items.push(json!({
            "type": "message",
            "id": id,
            "role": role,
            "content": content,
            "status": "completed",
        }));
    }

    /// A call, a result or reasoning as its own item.
    fn item(&mut self, part: &Content) {
        let item = match part {
            Content::ToolCall { id, name, input } => json!({
                "type": "function_call",
                "id": self.id("fc"),
                "call_id": id,
                "name": name,
                "arguments": input.to_string(),
                "status": "completed",
            }),
            Content::ToolResult {
                tool_call_id,
                content,
                ..
            } => {
                let output = match content {
                    ToolResultContent::Text(text) => json!(text),
                    ToolResultContent::Parts(parts) => {
                        Value::Array(parts.iter().filter_map(|p| self.part("user", p)).collect())
                    }
                };
                json!({
                    "type": "function_call_output",
                    "id": self.id("fco"),
                    "call_id": tool_call_id,
                    "output": output,
                    "status": "completed",
                })
            }
            Content::Reasoning(r) => {
                let summary: Vec<Value> = r
                    .text
                    .iter()
                    .map(|t| json!({"type": "summary_text", "text": t}))
                    .collect();
                let mut item =
                    json!({"type": "reasoning", "id": self.id("rs"), "summary": summary});
                let sealed = r.signature.as_ref().or(r.redacted.as_ref());
                if let Some(sealed) = sealed.filter(|_| self.include.encrypted_content) {
                    item["encrypted_content"] = json!(sealed);
                }
                item
            }
            _ => return,
        };
        self.items.push(item);
    }

    /// A content part of a `role`'s message, if a message shows it.
    fn part(&self, role: &str, part: &Content) -> Option<Value> {
        Some(match part {
            Content::Text { text } if role == "assistant" => {
                json!({"type": "output_text", "text": text, "annotations": []})
            }
            Content::Text { text } | Content::GuardContent { text, .. } => {
                json!({"type": "input_text", "text": text})
            }
            Content::Image { media_type, data } => json!({
                "type": "input_image",
                "detail": "auto",
                "image_url": self.include.image_urls.then(|| format!("data:{media_type};base64,{data}")),
            }),
            Content::Document {
                media_type,
                name,
                data,
                ..
            } => json!({
                "type": "input_file",
                "filename": name,
                "file_data": format!("data:{media_type};base64,{data}"),
            }),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parts::Reasoning;
    use crate::upstream::request::Turn;

    fn kept(turns: Vec<Turn>, system: Vec<Vec<Content>>) -> Kept {
        Kept {
            turns,
            system,
            echo: json!({}),
        }
    }

    fn turn(role: Role, content: Vec<Content>) -> Turn {
        Turn { role, content }
    }

    #[test]
    fn a_tool_loop_with_reasoning_and_an_image() {
        let image = Content::Image {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        };
        let k = kept(
            vec![
                turn(
                    Role::User,
                    vec![Content::text("Look"), Content::CACHE_POINT, image],
                ),
                turn(
                    Role::Assistant,
                    vec![
                        Content::Reasoning(Reasoning {
                            text: Some("hm".into()),
                            signature: Some("sig".into()),
                            redacted: None,
                        }),
                        Content::text("Checking."),
                        Content::ToolCall {
                            id: "c1".into(),
                            name: "w".into(),
                            input: json!({"city": "Oslo"}),
                        },
                    ],
                ),
                turn(
                    Role::User,
                    vec![
                        Content::ToolResult {
                            tool_call_id: "c1".into(),
                            content: ToolResultContent::Text("sunny".into()),
                            is_error: false,
                        },
                        Content::text("And tomorrow?"),
                    ],
                ),
            ],
            vec![vec![Content::text("Be brief."), Content::CACHE_POINT]],
        );
        let items = items("s", &k, Include::default());
        assert_eq!(
            items,
            [
                json!({"type": "message", "id": "msg_s_in0", "role": "developer", "status": "completed",
                       "content": [{"type": "input_text", "text": "Be brief."}]}),
                json!({"type": "message", "id": "msg_s_in1", "role": "user", "status": "completed",
                       "content": [{"type": "input_text", "text": "Look"},
                                   {"type": "input_image", "detail": "auto", "image_url": null}]}),
                json!({"type": "reasoning", "id": "rs_s_in2", "summary": [{"type": "summary_text", "text": "hm"}]}),
                json!({"type": "message", "id": "msg_s_in3", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]}),
                json!({"type": "function_call", "id": "fc_s_in4", "call_id": "c1", "name": "w",
                       "arguments": "{\"city\":\"Oslo\"}", "status": "completed"}),
                json!({"type": "function_call_output", "id": "fco_s_in5", "call_id": "c1",
                       "output": "sunny", "status": "completed"}),
                json!({"type": "message", "id": "msg_s_in6", "role": "user", "status": "completed",
                       "content": [{"type": "input_text", "text": "And tomorrow?"}]}),
            ]
        );
        let all = Include {
            image_urls: true,
            encrypted_content: true,
        };
        let items = super::items("s", &k, all);
        assert_eq!(
            items[1]["content"][1]["image_url"],
            "data:image/png;base64,iVBORw0KGgo="
        );
        assert_eq!(items[2]["encrypted_content"], "sig");
    }

    #[test]
    fn redacted_reasoning_and_result_parts() {
        let k = kept(
            vec![
                turn(
                    Role::Assistant,
                    vec![Content::Reasoning(Reasoning {
                        text: None,
                        signature: None,
                        redacted: Some("AAAA".into()),
                    })],
                ),
                turn(
                    Role::User,
                    vec![Content::ToolResult {
                        tool_call_id: "c".into(),
                        content: ToolResultContent::Parts(vec![Content::text("rain")]),
                        is_error: false,
                    }],
                ),
            ],
            vec![],
        );
        let all = Include {
            image_urls: true,
            encrypted_content: true,
        };
        let items = items("s", &k, all);
        assert_eq!(
            items[0],
            json!({"type": "reasoning", "id": "rs_s_in0", "summary": [], "encrypted_content": "AAAA"})
        );
        assert_eq!(
            items[1]["output"],
            json!([{"type": "input_text", "text": "rain"}])
        );
    }
}
