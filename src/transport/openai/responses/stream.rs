//! `stream: true`: the session's events as Responses streaming events over
//! SSE (`event: <type>` and `data:` with the same `type` and a
//! `sequence_number`): `response.created`, `response.in_progress`, the
//! items' events ([`super::output`]), then `response.completed` (or
//! `response.incomplete`) with usage, or `response.failed`.

use std::time::Duration;

use axum::response::Response;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use super::object::{Head, Outcome};
use super::output::Output;
use crate::hub::Subscription;
use crate::render::sse;

/// The SSE response of one answer: every event, or those whose
/// `sequence_number` is past `starting_after`.
pub(super) fn stream_response(
    sub: Subscription,
    head: Head,
    starting_after: Option<u64>,
    heartbeat: Duration,
    metrics: &crate::metrics::Metrics,
) -> Response {
    let mut output = Output::new(sub.session().id(), head.json_tool());
    let created = head.response(&Outcome::Running, &output);
    let first = vec![
        output.event("response.created", json!({ "response": created.clone() })),
        output.event("response.in_progress", json!({ "response": created })),
    ];
    let rest = metrics
        .counted("openai", sub.into_stream())
        .flat_map(move |ev| {
            let events = if ev.is_complete {
                let outcome = Outcome::of(&ev);
                let mut out = output.finish(outcome.item_status());
                let response = head.response(&outcome, &output);
                out.push(output.event(outcome.event(), json!({ "response": response })));
                out
            } else {
                output.push(&ev)
            };
            stream::iter(events)
        });
    let after = move |v: &Value| {
        starting_after.is_none_or(|n| v["sequence_number"].as_u64().is_some_and(|s| s > n))
    };
    let frames = stream::iter(first)
        .chain(rest)
        .filter(move |v| std::future::ready(after(v)))
        .map(|v: Value| {
            let kind = v["type"].as_str().unwrap_or("message");
            sse::json_frame(Some(kind), &v)
        });
    sse::response(frames, heartbeat, sse::comment("heartbeat"))
}
