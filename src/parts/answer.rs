//! A session's events read back as the answer's content, in request shape,
//! so a client can append it as the assistant turn of its next request.

use super::content::{Content, Reasoning};
use super::event::Part;
use crate::event::TokenEvent;

/// The answer's parts in order: text runs, reasoning (text + signature, or
/// redacted), and finished tool calls. Citations and guardrail notes are not
/// content and are left out.
pub fn content<'a>(events: impl IntoIterator<Item = &'a TokenEvent>) -> Vec<Content> {
    let mut out: Vec<Content> = Vec::new();
    // The reasoning block being gathered: its index in the answer and place in `out`.
    let mut reasoning: Option<(u32, usize)> = None;
    let mut text_open = false;
    for ev in events {
        let Some(part) = ev.part.as_deref() else {
            if ev.token.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(Content::Text { text }) if text_open => text.push_str(&ev.token),
                _ => out.push(Content::text(ev.token.clone())),
            }
            text_open = true;
            continue;
        };
        match part {
            Part::Reasoning {
                index,
                text,
                signature,
                redacted,
            } => {
                text_open = false;
                let at = match reasoning {
                    Some((i, at)) if i == *index => at,
                    _ => {
                        out.push(Content::Reasoning(Reasoning {
                            text: None,
                            signature: None,
                            redacted: None,
                        }));
                        reasoning = Some((*index, out.len() - 1));
                        out.len() - 1
                    }
                };
                if let Some(Content::Reasoning(r)) = out.get_mut(at) {
                    if let Some(t) = text {
                        r.text.get_or_insert_with(String::new).push_str(t);
                    }
                    if signature.is_some() {
                        r.signature.clone_from(signature);
                    }
                    if redacted.is_some() {
                        r.redacted.clone_from(redacted);
                    }
                }
            }
            Part::ToolCall {
                id: Some(id),
                name: Some(name),
                input: Some(input),
                ..
            } => {
                text_open = false;
                out.push(Content::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    input: input.clone(),
                });
            }
            Part::ToolCall { .. } => text_open = false,
            Part::Citation { .. } | Part::Guardrail { .. } => {}
        }
    }
    out
}

/// The citations of each text run of [`content`], in order, each made by
/// `render` (an API's citation object; `None` leaves one out): a run takes
/// those among it, and those just before it (Claude opens a cited block
/// with its citations).
pub fn text_citations<'a, T>(
    events: impl IntoIterator<Item = &'a TokenEvent>,
    render: impl Fn(&Part) -> Option<T>,
) -> Vec<Vec<T>> {
    let mut runs: Vec<Vec<T>> = Vec::new();
    let mut pending = Vec::new();
    let mut open = false;
    for ev in events {
        match ev.part.as_deref() {
            None if ev.token.is_empty() => {}
            None => {
                if !open {
                    runs.push(std::mem::take(&mut pending));
                    open = true;
                }
            }
            Some(p @ Part::Citation { .. }) => match (render(p), runs.last_mut()) {
                (Some(c), Some(run)) if open => run.push(c),
                (Some(c), _) => pending.push(c),
                (None, _) => {}
            },
            Some(Part::Guardrail { .. }) => {}
            Some(_) => open = false,
        }
    }
    if let Some(run) = runs.last_mut() {
        run.append(&mut pending);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(token: &str, part: Option<Part>) -> TokenEvent {
        TokenEvent::test_event(token, part)
    }

    #[test]
    fn events_become_request_parts() {
        let events = [
            ev("", Some(Part::reasoning_text(0, "think ".into()))),
            ev("", Some(Part::reasoning_text(0, "more".into()))),
            ev("", Some(Part::reasoning_signature(0, "sig".into()))),
            ev("Let me ", None),
            ev("check.", None),
            ev("", Some(Part::tool_start(2, "t1".into(), "f".into()))),
            ev("", Some(Part::tool_input(2, "{}".into()))),
            ev(
                "",
                Some(Part::tool_end(2, "t1".into(), "f".into(), json!({"a":1}))),
            ),
        ];
        let content = content(events.iter());
        assert_eq!(
            serde_json::to_value(&content).unwrap(),
            json!([
                {"type":"reasoning","text":"think more","signature":"sig"},
                {"type":"text","text":"Let me check."},
                {"type":"toolCall","id":"t1","name":"f","input":{"a":1}}
            ])
        );
    }
}
