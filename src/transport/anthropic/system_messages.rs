//! Mid-conversation system messages (`{"role": "system", …}` among
//! `messages`, the SDKs' `SystemMessageParam`; Claude Code sends them with
//! the `mid-conversation-system-2026-04-07` beta). Bedrock takes only user
//! and assistant turns, so each one is folded into a user turn at its place,
//! in the `<system-reminder>` wrapping Claude Code itself uses for
//! instructions inside user turns: appended to the user message before it
//! (so the cached prefix up to there is unchanged), else put before the
//! user message after it, else a user message of its own.
//!
//! The fold works on the JSON body, so the checks and the Claude body sent
//! upstream see the same conversation.

use serde_json::{Value, json};

use super::error::{AnthropicError, bad};

/// Fold the system messages of `messages` (the body's `messages`, if a
/// list) into user turns. A system message's content is a string or text
/// blocks.
pub(super) fn fold(messages: Option<&mut Value>) -> Result<(), AnthropicError> {
    let Some(Value::Array(list)) = messages else {
        return Ok(());
    };
    if !list.iter().any(is_system) {
        return Ok(());
    }
    let mut out: Vec<Value> = Vec::with_capacity(list.len());
    // Reminders waiting for the next user message (none before them).
    let mut pending: Vec<Value> = Vec::new();
    for (i, mut m) in std::mem::take(list).into_iter().enumerate() {
        if is_system(&m) {
            let block = reminder(&m, i)?;
            match out
                .last_mut()
                .filter(|prev| role(prev) == Some("user"))
                .and_then(blocks_of)
            {
                Some(blocks) => blocks.push(block),
                None => pending.push(block),
            }
            continue;
        }
        if !pending.is_empty() {
            match Some(&mut m)
                .filter(|m| role(m) == Some("user"))
                .and_then(blocks_of)
            {
                Some(blocks) => drop(blocks.splice(0..0, pending.drain(..))),
                None => out.push(json!({"role": "user", "content": std::mem::take(&mut pending)})),
            }
        }
        out.push(m);
    }
    if !pending.is_empty() {
        out.push(json!({"role": "user", "content": pending}));
    }
    *list = out;
    Ok(())
}

fn role(m: &Value) -> Option<&str> {
    m.get("role").and_then(Value::as_str)
}

fn is_system(m: &Value) -> bool {
    role(m) == Some("system")
}

/// A message's `content` as a list of blocks (a string becomes one text
/// block), for adding to; `None` when it is neither (the checks that follow
/// refuse it by its place).
fn blocks_of(m: &mut Value) -> Option<&mut Vec<Value>> {
    let content = m.get_mut("content")?;
    if let Value::String(t) = content {
        *content = json!([{"type": "text", "text": std::mem::take(t)}]);
    }
    content.as_array_mut()
}

/// The system message at `messages[i]` as one wrapped text block.
fn reminder(m: &Value, i: usize) -> Result<Value, AnthropicError> {
    let at = format!("messages.{i}.content");
    let text = match m.get("content") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.iter().enumerate() {
                match (
                    b.get("type").and_then(Value::as_str),
                    b.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => texts.push(t),
                    _ => {
                        return Err(bad(format!(
                            "{at}.{j}: a system message takes text blocks only"
                        )));
                    }
                }
            }
            texts.join("\n\n")
        }
        _ => {
            return Err(bad(format!(
                "{at}: must be a string or a list of text blocks"
            )));
        }
    };
    Ok(json!({"type": "text", "text": format!("<system-reminder>\n{text}\n</system-reminder>")}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(messages: Value) -> Value {
        let mut body = json!({ "messages": messages });
        fold(body.get_mut("messages")).unwrap();
        body["messages"].clone()
    }

    fn wrapped(t: &str) -> Value {
        json!({"type": "text", "text": format!("<system-reminder>\n{t}\n</system-reminder>")})
    }

    #[test]
    fn appended_to_the_user_message_before_it() {
        let out = folded(json!([
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "be brief"},
        ]));
        assert_eq!(
            out,
            json!([{"role": "user", "content": [
                {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                wrapped("be brief"),
            ]}])
        );
    }

    #[test]
    fn before_the_next_user_message_or_on_its_own() {
        let out = folded(json!([
            {"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "system", "content": "now terse"},
            {"role": "assistant", "content": "prefill"},
        ]));
        assert_eq!(
            out,
            json!([
                {"role": "user", "content": [wrapped("a\n\nb"), {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": [wrapped("now terse")]},
                {"role": "assistant", "content": "prefill"},
            ])
        );
        let out = folded(json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "system", "content": "last"},
        ]));
        assert_eq!(
            out[2],
            json!({"role": "user", "content": [wrapped("last")]})
        );
    }

    #[test]
    fn without_system_messages_nothing_changes() {
        let messages = json!([{"role": "user", "content": "hi"}]);
        assert_eq!(folded(messages.clone()), messages);
        fold(None).unwrap();
    }

    #[test]
    fn only_text_in_a_system_message() {
        let mut body = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "image", "source": {}}]},
        ]});
        let e = fold(body.get_mut("messages")).unwrap_err();
        assert!(
            e.message().contains("messages.1.content.0"),
            "{}",
            e.message()
        );
        let mut body = json!({"messages": [{"role": "system", "content": 5}]});
        assert!(fold(body.get_mut("messages")).is_err());
    }
}
