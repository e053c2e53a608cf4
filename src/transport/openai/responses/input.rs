//! `input` as the gateway's turns and system prompt.
//!
//! - A string: one user turn.
//! - Messages (`{"role","content"}`, `type: "message"` or none): `system` and
//!   `developer` text joins the system prompt; `user` takes `input_text`,
//!   `input_image` (a `data:` URL) and `input_file` (`file_data`); `assistant`
//!   takes `output_text`. Parts are rewritten to the chat shapes and read by
//!   [`super::super::content`], so both APIs read (and refuse) alike; a part a
//!   role does not take is refused here, by its Responses name.
//! - `function_call`: an assistant tool call (`arguments` parsed as JSON);
//!   `function_call_output`: a user turn with its result, `output` a string or
//!   `input_text`, `input_image` and `input_file` parts; its `call_id` must
//!   name a `function_call` before it (in `input`, or the previous
//!   response's conversation): a `400` on `input` naming the item otherwise.
//! - `reasoning`: replayed when it carries `encrypted_content` (the signature
//!   of its summary text, or with no summary a redacted block, as
//!   [`super::output`] writes them); dropped otherwise.
//! - `item_reference`: replaced by the item it names before this reads
//!   `input` ([`super::reference`]).
//!
//! Consecutive turns of one role are joined by the core.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::super::content::{Allow, content};
use super::super::error::{OpenAiError, bad, bad_param};
use crate::parts::{Content, Reasoning, ToolResultContent};
use crate::upstream::request::{Role, Turn};

/// `input` as `(system messages' parts, turns)`; `earlier` is the
/// conversation it continues (`previous_response_id`'s), whose calls a
/// `function_call_output` may answer.
pub(super) fn to_turns(
    input: Value,
    earlier: &[Turn],
) -> Result<(Vec<Vec<Content>>, Vec<Turn>), OpenAiError> {
    let items = match input {
        Value::String(text) => return Ok((vec![], vec![Turn::text_turn(Role::User, text)])),
        Value::Array(items) => items,
        _ => return Err(bad("input must be a string or a list of items")),
    };
    let mut system = Vec::new();
    let mut turns = Vec::with_capacity(items.len());
    let mut calls: HashSet<String> = earlier
        .iter()
        .flat_map(|t| &t.content)
        .filter_map(|c| match c {
            Content::ToolCall { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        match kind {
            "message" => message(&at, item, &mut system, &mut turns)?,
            "function_call" => {
                let call = function_call(&at, &item)?;
                if let Content::ToolCall { id, .. } = &call {
                    calls.insert(id.clone());
                }
                turns.push(Turn {
                    role: Role::Assistant,
                    content: vec![call],
                });
            }
            "function_call_output" => turns.push(Turn {
                role: Role::User,
                content: vec![function_call_output(&at, &item, &calls)?],
            }),
            "reasoning" => turns.extend(reasoning(&item).map(|r| Turn {
                role: Role::Assistant,
                content: vec![Content::Reasoning(r)],
            })),
            other => {
                return Err(bad(format!(
                    "{at}: input items of type '{other}' are not supported"
                )));
            }
        }
    }
    Ok((system, turns))
}

/// A message item: its parts as chat content parts, by role.
fn message(
    at: &str,
    item: Value,
    system: &mut Vec<Vec<Content>>,
    turns: &mut Vec<Turn>,
) -> Result<(), OpenAiError> {
    let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
    let (role, allow) = match role {
        "system" | "developer" => (
            None,
            Allow::Text("a system or developer message takes input_text"),
        ),
        "user" => (Some(Role::User), Allow::Attachments),
        "assistant" => (
            Some(Role::Assistant),
            Allow::Text("an assistant message takes output_text"),
        ),
        "" => return Err(bad(format!("{at}: a message needs `role`"))),
        other => {
            return Err(bad(format!(
                "{at}: message role '{other}' is not supported"
            )));
        }
    };
    let at = format!("{at}.content");
    let parts = match item.get("content") {
        Some(Value::Array(parts)) => Some(chat_parts(&at, parts, allow)?),
        other => other.cloned(),
    };
    let parts = content(&at, parts, allow)?;
    match role {
        None => system.push(parts),
        Some(role) => turns.push(Turn {
            role,
            content: parts,
        }),
    }
    Ok(())
}

/// Responses content parts (the list at `at`) in the chat completions' shape.
fn chat_parts(at: &str, parts: &[Value], allow: Allow) -> Result<Value, OpenAiError> {
    parts
        .iter()
        .enumerate()
        .map(|(j, p)| chat_part(&format!("{at}[{j}]"), p, allow))
        .collect()
}

/// A Responses content part in the chat completions' shape; an image or a
/// file where `allow` takes none is refused by its Responses name.
fn chat_part(at: &str, p: &Value, allow: Allow) -> Result<Value, OpenAiError> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
    if matches!(kind, "input_image" | "input_file")
        && let Some(refused) = allow.refuse(at, kind)
    {
        return Err(refused);
    }
    let field = |name: &str| p.get(name).cloned().unwrap_or(Value::Null);
    Ok(match kind {
        "input_text" | "output_text" => match p.get("cache_control").filter(|c| !c.is_null()) {
            // A cache point after the part, as on chat content parts.
            Some(c) => json!({"type": "text", "text": field("text"), "cache_control": c}),
            None => json!({"type": "text", "text": field("text")}),
        },
        "input_image" => match p.get("image_url").and_then(Value::as_str) {
            Some(url) => json!({"type": "image_url", "image_url": {"url": url}}),
            None if p.get("file_id").is_some() => {
                return Err(bad(format!(
                    "{at}: the gateway keeps no files; send the image as a data: URL in `image_url`"
                )));
            }
            None => return Err(bad(format!("{at}: an input_image part needs `image_url`"))),
        },
        "input_file" => json!({"type": "file", "file": {
            "file_data": field("file_data"),
            "filename": field("filename"),
            "file_id": field("file_id"),
            "file_url": field("file_url"),
        }}),
        "refusal" => json!({"type": "text", "text": field("refusal")}),
        other => {
            return Err(bad(format!(
                "{at}: content parts of type '{other}' are not supported"
            )));
        }
    })
}

/// A string field of an item, or a 400 naming it.
fn string<'a>(at: &str, item: &'a Value, name: &str) -> Result<&'a str, OpenAiError> {
    item.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{at}: `{name}` must be a string")))
}

/// A `function_call` item as the assistant's tool call.
fn function_call(at: &str, item: &Value) -> Result<Content, OpenAiError> {
    let args = string(at, item, "arguments")?.trim();
    let input: Value = if args.is_empty() {
        json!({})
    } else {
        serde_json::from_str(args).map_err(|e| bad(format!("{at}.arguments is not JSON ({e})")))?
    };
    if !input.is_object() {
        return Err(bad(format!("{at}.arguments must be a JSON object")));
    }
    Ok(Content::ToolCall {
        id: string(at, item, "call_id")?.to_owned(),
        name: string(at, item, "name")?.to_owned(),
        input,
    })
}

/// A `function_call_output` item as a tool result: `output` is a string or
/// a list of `input_text`, `input_image` and `input_file` parts (what the
/// AI SDK sends for a tool whose `toModelOutput` returns images); `call_id`
/// one of `calls`.
fn function_call_output(
    at: &str,
    item: &Value,
    calls: &HashSet<String>,
) -> Result<Content, OpenAiError> {
    let id = string(at, item, "call_id")?.to_owned();
    if !calls.contains(&id) {
        return Err(bad_param(
            "input",
            format!(
                "{at} (a function_call_output): call_id '{id}' answers no function_call before it \
                 (in input, or the conversation of previous_response_id)"
            ),
        ));
    }
    let content = match item.get("output") {
        Some(Value::String(s)) => ToolResultContent::Text(s.clone()),
        Some(Value::Array(parts)) => {
            let at = format!("{at}.output");
            let parts = chat_parts(&at, parts, Allow::Attachments)?;
            ToolResultContent::Parts(content(&at, Some(parts), Allow::Attachments)?)
        }
        _ => {
            return Err(bad(format!(
                "{at}: `output` must be a string or a list of parts"
            )));
        }
    };
    Ok(Content::ToolResult {
        tool_call_id: id,
        content,
        is_error: false,
    })
}

/// A `reasoning` item as replayable reasoning, if it carries `encrypted_content`.
fn reasoning(item: &Value) -> Option<Reasoning> {
    let sealed = item
        .get("encrypted_content")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let text: String = item
        .get("summary")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("text").and_then(Value::as_str))
        .collect();
    Some(if text.is_empty() {
        Reasoning {
            text: None,
            signature: None,
            redacted: Some(sealed.to_owned()),
        }
    } else {
        Reasoning {
            text: Some(text),
            signature: Some(sealed.to_owned()),
            redacted: None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_turns_alone(input: Value) -> Result<(Vec<Vec<Content>>, Vec<Turn>), OpenAiError> {
        to_turns(input, &[])
    }

    fn wire(turns: &[Turn]) -> Value {
        serde_json::to_value(
            turns
                .iter()
                .map(|t| (t.role, &t.content))
                .map(|(r, c)| json!({"role": r, "content": c}))
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn an_input_text_cache_control_is_a_cache_point_after_it() {
        let (system, t) = to_turns_alone(json!([
            {"role": "developer", "content": [{"type": "input_text", "text": "Rules", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "input_text", "text": "Long", "cache_control": {"type": "ephemeral"}}, {"type": "input_text", "text": "Q"}]}
        ]))
        .unwrap();
        assert_eq!(system, [vec![Content::text("Rules"), Content::CACHE_POINT]]);
        assert_eq!(
            wire(&t),
            json!([{"role": "user", "content": [
                {"type": "text", "text": "Long"}, {"type": "cachePoint"}, {"type": "text", "text": "Q"}
            ]}])
        );
    }

    #[test]
    fn a_string_is_one_user_turn() {
        let (system, t) = to_turns_alone(json!("hi")).unwrap();
        assert!(system.is_empty());
        assert_eq!(
            wire(&t),
            json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
        );
    }

    #[test]
    fn items_become_turns() {
        let (system, t) = to_turns_alone(json!([
            {"role": "developer", "content": "Be brief."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Look"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}], "encrypted_content": "sig"},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "AAAA"},
            {"type": "reasoning", "id": "rs_3", "summary": [{"type": "summary_text", "text": "unsigned"}]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "w", "arguments": "{\"city\":\"Oslo\"}", "status": "completed"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
        ]))
        .unwrap();
        assert_eq!(system, [vec![Content::text("Be brief.")]]);
        assert_eq!(
            wire(&t),
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image", "mediaType": "image/png", "data": "iVBORw0KGgo="}]},
                {"role": "assistant", "content": [{"type": "reasoning", "text": "hm", "signature": "sig"}]},
                {"role": "assistant", "content": [{"type": "reasoning", "redacted": "AAAA"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Checking."}]},
                {"role": "assistant", "content": [{"type": "toolCall", "id": "c1", "name": "w", "input": {"city": "Oslo"}}]},
                {"role": "user", "content": [{"type": "toolResult", "toolCallId": "c1", "content": "sunny"}]}
            ])
        );
    }

    #[test]
    fn a_function_call_output_carries_images_and_files() {
        let (_, t) = to_turns(
            json!([
                {"type": "function_call", "call_id": "call_1", "name": "chart", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": [
                    {"type": "input_text", "text": "chart:"},
                    {"type": "input_image", "image_url": "data:image/jpeg;base64,iVBORw0KGgo="},
                    {"type": "input_file", "filename": "a.pdf", "file_data": "JVBERi0x"}
                ]}
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            wire(&t),
            json!([{"role": "assistant", "content": [{"type": "toolCall", "id": "call_1", "name": "chart", "input": {}}]},
                {"role": "user", "content": [{"type": "toolResult", "toolCallId": "call_1", "content": [
                {"type": "text", "text": "chart:"},
                {"type": "image", "mediaType": "image/png", "data": "iVBORw0KGgo="},
                {"type": "document", "mediaType": "application/pdf", "name": "a.pdf", "data": "JVBERi0x"}
            ]}]}])
        );
    }

    #[test]
    fn an_output_may_answer_a_call_of_the_earlier_conversation() {
        let earlier = [Turn {
            role: Role::Assistant,
            content: vec![Content::ToolCall {
                id: "c0".into(),
                name: "w".into(),
                input: json!({}),
            }],
        }];
        let output = json!([{"type": "function_call_output", "call_id": "c0", "output": "sunny"}]);
        assert!(to_turns(output.clone(), &earlier).is_ok());
        let Err(e) = to_turns(output, &[]) else {
            panic!("no call to answer")
        };
        assert_eq!(e.param, Some("input"));
    }

    #[test]
    fn refusals_say_what_and_where() {
        let cases = [
            (json!(7), "a string or a list"),
            (
                json!([{"type": "web_search_call", "id": "x"}]),
                "'web_search_call'",
            ),
            (json!([{"content": "x"}]), "needs `role`"),
            (json!([{"role": "tool", "content": "x"}]), "role 'tool'"),
            (
                json!([{"role": "user", "content": [{"type": "input_audio"}]}]),
                "input[0].content[0]: content parts of type 'input_audio'",
            ),
            (
                json!([{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]),
                "fetches nothing",
            ),
            (
                json!([{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]),
                "keeps no files",
            ),
            (
                json!([{"type": "function_call", "call_id": "c", "name": "w", "arguments": "{oops"}]),
                "input[0].arguments is not JSON",
            ),
            (
                json!([{"type": "function_call", "name": "w", "arguments": "{}"}]),
                "`call_id` must be a string",
            ),
            (
                json!([
                    {"type": "function_call", "call_id": "c", "name": "w", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c", "output": 3}
                ]),
                "`output` must be",
            ),
            (
                json!([
                    {"type": "function_call", "call_id": "c", "name": "w", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c", "output": [
                        {"type": "input_image", "image_url": "https://x/y.png"}]}]),
                "input[1].output[0]: URLs are not fetched",
            ),
            (
                json!([
                    {"type": "function_call", "call_id": "c", "name": "w", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c", "output": [{"type": "input_audio"}]}]),
                "input[1].output[0]: content parts of type 'input_audio'",
            ),
            (
                json!([{"role": "assistant", "content": [
                    {"type": "output_text", "text": "x"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}]),
                "input[0].content[1]: content parts of type 'input_image' are not taken here: \
                 an assistant message takes output_text",
            ),
            (
                json!([{"role": "developer", "content": [{"type": "input_file", "file_data": "JVBERi0x"}]}]),
                "input[0].content[0]: content parts of type 'input_file'",
            ),
            (
                json!([
                    {"role": "user", "content": "x"},
                    {"type": "function_call_output", "call_id": "nobody", "output": "x"}
                ]),
                "input[1] (a function_call_output): call_id 'nobody' answers no function_call",
            ),
            (
                json!([
                    {"type": "function_call_output", "call_id": "c", "output": "early"},
                    {"type": "function_call", "call_id": "c", "name": "w", "arguments": "{}"}
                ]),
                "input[0] (a function_call_output): call_id 'c'",
            ),
        ];
        for (input, want) in cases {
            match to_turns_alone(input.clone()) {
                Err(OpenAiError {
                    error: crate::error::ApiError::BadRequest(e),
                    ..
                }) => {
                    assert!(e.contains(want), "{input}: {e}")
                }
                Err(other) => panic!("{input}: {other:?}"),
                Ok(_) => panic!("{input} should be refused"),
            }
        }
    }
}
