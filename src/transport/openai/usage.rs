//! OpenAI's `usage` from Bedrock's counts: chat's (`prompt_tokens`,
//! `completion_tokens`, `completion_tokens_details`) and the Responses
//! API's (`input_tokens`, `output_tokens`, `output_tokens_details`).
//! Prompt counts include cached tokens (OpenAI's meaning); the ones read
//! from Bedrock's prompt cache are also in `cached_tokens`, the ones written
//! to it in `cache_write_tokens`.
//!
//! # Reasoning tokens
//!
//! Bedrock counts a model's reasoning inside its output tokens and never
//! apart: no family's body, nor Converse's `metadata.usage`, carries a
//! split. `reasoning_tokens` is therefore an estimate, made one way:
//! Bedrock's output count shared out by characters, the reasoning text's
//! share of all the text the answer streamed (its text, its reasoning, the
//! input of its tool calls) ([`Spent`]). It is exact at the ends (0 when
//! no reasoning text streamed, the whole output when nothing else did) and
//! never more than the output count. Redacted reasoning has no text to
//! count and adds nothing. When Bedrock sent no counts the output count is
//! itself the gateway's stand-in (one per text event), and so is its share.

use serde_json::{Value, json};

use crate::event::TokenEvent;
use crate::parts::Part;
use crate::upstream::Usage;

/// Characters of an answer so far: its reasoning text, and everything else
/// it streamed (text, tool-call input).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Spent {
    reasoning: u64,
    other: u64,
}

impl Spent {
    /// Count what `ev` streamed. A tool call counts once, its whole input
    /// at its end.
    pub fn add(&mut self, ev: &TokenEvent) {
        let chars = |s: &str| s.chars().count() as u64;
        match ev.part.as_deref() {
            None => self.other += chars(&ev.token),
            Some(Part::Reasoning { text: Some(t), .. }) => self.reasoning += chars(t),
            Some(Part::ToolCall {
                input: Some(input), ..
            }) => self.other += chars(&input.to_string()),
            Some(_) => {}
        }
    }

    /// The reasoning share of `output_tokens` (the estimate above).
    pub fn reasoning_tokens(&self, output_tokens: u64) -> u64 {
        if self.reasoning == 0 {
            return 0;
        }
        let all = u128::from(self.reasoning + self.other);
        let share = (u128::from(output_tokens) * u128::from(self.reasoning) + all / 2) / all;
        // Some reasoning streamed: at least one token of it, if any was counted.
        u64::try_from(share)
            .unwrap_or(output_tokens)
            .clamp(output_tokens.min(1), output_tokens)
    }
}

/// Chat's `usage`.
pub(super) fn chat(u: Option<Usage>, spent: &Spent) -> Value {
    let u = u.unwrap_or_default();
    let prompt = u.prompt_tokens();
    let mut v = json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "completion_tokens_details": {"reasoning_tokens": spent.reasoning_tokens(u.output_tokens)},
    });
    // Always there, as at OpenAI: cost code reads
    // `usage.prompt_tokens_details.cached_tokens` unguarded.
    v["prompt_tokens_details"] = json!({"cached_tokens": u.cache_read_input_tokens.unwrap_or(0)});
    if let Some(written) = u.cache_write_input_tokens {
        v["prompt_tokens_details"]["cache_write_tokens"] = json!(written);
    }
    v
}

/// The Responses API's `usage`.
pub(super) fn responses(u: Option<Usage>, spent: &Spent) -> Value {
    let u = u.unwrap_or_default();
    let input = u.prompt_tokens();
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_input_tokens.unwrap_or(0),
            "cache_write_tokens": u.cache_write_input_tokens.unwrap_or(0),
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": spent.reasoning_tokens(u.output_tokens)},
        "total_tokens": input + u.output_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(events: &[TokenEvent]) -> Spent {
        let mut s = Spent::default();
        for ev in events {
            s.add(ev);
        }
        s
    }

    fn ev(token: &str, part: Option<Part>) -> TokenEvent {
        TokenEvent::test_event(token, part)
    }

    #[test]
    fn reasoning_gets_its_share_of_the_output_count() {
        let none = spent(&[ev("Hello there", None)]);
        assert_eq!(none.reasoning_tokens(40), 0);
        // 30 characters of reasoning, 10 of text: three quarters.
        let mixed = spent(&[
            ev("", Some(Part::reasoning_text(0, "a".repeat(20)))),
            ev("", Some(Part::reasoning_text(0, "b".repeat(10)))),
            ev("", Some(Part::reasoning_signature(0, "sig".repeat(50)))),
            ev("0123456789", None),
        ]);
        assert_eq!(mixed.reasoning_tokens(40), 30);
        assert_eq!(mixed.reasoning_tokens(0), 0);
        assert_eq!(mixed.reasoning_tokens(1), 1);
        // A tool call counts its whole input once, at its end.
        let call = spent(&[
            ev("", Some(Part::reasoning_text(0, "abcd".into()))),
            ev("", Some(Part::tool_start(1, "c".into(), "w".into()))),
            ev("", Some(Part::tool_input(1, "{\"a\":".into()))),
            ev(
                "",
                Some(Part::tool_end(1, "c".into(), "w".into(), json!({"a": 1}))),
            ),
        ]);
        assert_eq!(call.reasoning_tokens(20), 7, "4 of 11 characters");
        // Only reasoning: all of it; a sliver of it: still one token.
        let only = spent(&[ev("", Some(Part::reasoning_text(0, "hm".into())))]);
        assert_eq!(only.reasoning_tokens(9), 9);
        let sliver = spent(&[
            ev("", Some(Part::reasoning_text(0, "h".into()))),
            ev(&"x".repeat(1000), None),
        ]);
        assert_eq!(sliver.reasoning_tokens(100), 1);
        // Redacted reasoning has no text to count.
        let sealed = spent(&[
            ev("", Some(Part::reasoning_redacted(0, "AAAA".into()))),
            ev("hi", None),
        ]);
        assert_eq!(sealed.reasoning_tokens(5), 0);
    }

    #[test]
    fn the_details_carry_the_share() {
        let u = Usage {
            input_tokens: 6,
            output_tokens: 8,
            ..Default::default()
        };
        let s = spent(&[
            ev("", Some(Part::reasoning_text(0, "think".into()))),
            ev("words", None),
        ]);
        let c = chat(Some(u), &s);
        assert_eq!(c["completion_tokens_details"]["reasoning_tokens"], 4);
        assert_eq!(c["completion_tokens"], 8);
        assert_eq!(
            c["prompt_tokens_details"],
            json!({"cached_tokens": 0}),
            "always there"
        );
        let r = responses(Some(u), &s);
        assert_eq!(r["output_tokens_details"]["reasoning_tokens"], 4);
        assert_eq!(r["total_tokens"], 14);
    }
}
