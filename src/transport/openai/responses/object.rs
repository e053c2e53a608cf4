//! The `response` object: the request's echo, the status a final event
//! tells, the output items ([`super::output`]) and `usage`
//! ([`super::super::usage`]: reasoning's share of the output is an estimate).

use serde_json::{Value, json};

use super::super::{response_format, usage};
use super::output::Output;
use crate::error::ErrorCode;
use crate::event::TokenEvent;
use crate::upstream::Usage;

/// What every rendering of one response repeats.
pub(super) struct Head {
    pub id: String,
    pub model: String,
    /// The request's options, as [`super::request::ResponsesRequest::echo`] wrote them.
    pub echo: Value,
}

impl Head {
    /// The tool whose call is the answer's text, when the request's
    /// `text.format` (echoed) asks for JSON.
    pub fn json_tool(&self) -> Option<String> {
        response_format::text_format_tool_name(&self.echo["text"]["format"])
    }

    /// The `response` object with `outcome` and `output`'s items.
    pub fn response(&self, outcome: &Outcome, output: &Output) -> Value {
        let usage_json = |u: Option<Usage>| usage::responses(u, output.spent());
        let mut r = self.echo.clone();
        let (status, error, incomplete, usage) = match outcome {
            Outcome::Running => ("in_progress", Value::Null, Value::Null, Value::Null),
            Outcome::Completed(u) => ("completed", Value::Null, Value::Null, usage_json(*u)),
            Outcome::Cancelled(u) => ("cancelled", Value::Null, Value::Null, usage_json(*u)),
            Outcome::Incomplete(reason, u) => (
                "incomplete",
                Value::Null,
                json!({ "reason": reason }),
                usage_json(*u),
            ),
            Outcome::Failed(e) => ("failed", e.clone(), Value::Null, Value::Null),
        };
        for (k, v) in [
            ("id", json!(self.id)),
            ("object", json!("response")),
            ("model", json!(self.model)),
            ("status", json!(status)),
            ("error", error),
            ("incomplete_details", incomplete),
            ("output", Value::Array(output.items())),
            ("usage", usage),
        ] {
            r[k] = v;
        }
        r
    }

    /// The response object of a log (finished or not).
    pub fn render<'a>(&self, events: impl Iterator<Item = &'a TokenEvent>) -> Value {
        let mut output = Output::new(self.id.trim_start_matches("resp_"), self.json_tool());
        let mut outcome = Outcome::Running;
        for ev in events {
            if ev.is_complete {
                outcome = Outcome::of(ev);
                output.finish(outcome.item_status());
            } else {
                output.push(ev);
            }
        }
        self.response(&outcome, &output)
    }
}

/// How a response stands.
pub(super) enum Outcome {
    Running,
    Completed(Option<Usage>),
    /// Cancelled (`POST /v1/responses/{id}/cancel`, or every reader left).
    Cancelled(Option<Usage>),
    /// Stopped short: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str, Option<Usage>),
    /// The session failed: the `error` object.
    Failed(Value),
}

impl Outcome {
    /// The outcome a final event tells.
    pub fn of(ev: &TokenEvent) -> Self {
        if let Some(e) = &ev.error {
            let code = match e.error_code() {
                Some(ErrorCode::Throttled) => "rate_limit_exceeded",
                _ => "server_error",
            };
            return Outcome::Failed(json!({"code": code, "message": e.message}));
        }
        match ev.stop_reason.as_deref() {
            Some("max_tokens" | "length") => Outcome::Incomplete("max_output_tokens", ev.usage),
            Some("content_filtered" | "guardrail_intervened") => {
                Outcome::Incomplete("content_filter", ev.usage)
            }
            Some("cancelled") => Outcome::Cancelled(ev.usage),
            _ => Outcome::Completed(ev.usage),
        }
    }

    /// The last item's status.
    pub fn item_status(&self) -> &'static str {
        match self {
            Outcome::Running | Outcome::Completed(_) => "completed",
            Outcome::Cancelled(_) | Outcome::Incomplete(..) | Outcome::Failed(_) => "incomplete",
        }
    }

    /// The final streaming event's type.
    pub fn event(&self) -> &'static str {
        match self {
            Outcome::Running | Outcome::Completed(_) => "response.completed",
            // The streaming API has no event of its own for it.
            Outcome::Cancelled(_) | Outcome::Incomplete(..) => "response.incomplete",
            Outcome::Failed(_) => "response.failed",
        }
    }
}
