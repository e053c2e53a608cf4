//! `"stream": true`: the session's events as Anthropic's SSE, each event
//! named for its `type` (`event: content_block_delta` + `data: {…}`), and
//! `ping` events while nothing else is sent.

use std::time::Duration;

use axum::response::Response;
use futures_util::{StreamExt, stream};
use serde_json::Value;

use crate::hub::Subscription;
use crate::render::anthropic::Renderer;
use crate::render::sse;

/// `message_start`, then what each event renders to; ends after
/// `message_stop` (or the `error` event). `message_start` waits for the
/// first event, or half a heartbeat if that comes first, so that it carries
/// the prompt's counts when the model gives them up front (Claude's own
/// `message_start`); `ping`s come only after it.
pub(super) fn response(
    mut sub: Subscription,
    message_id: &str,
    model: &str,
    heartbeat: Duration,
    metrics: &crate::metrics::Metrics,
) -> Response {
    let session = sub.session().clone();
    let mut renderer = Renderer::new(message_id, model);
    let head = async move {
        let first = tokio::time::timeout(heartbeat / 2, sub.next()).await;
        (first.ok().flatten(), sub)
    };
    // `None` is the moment for `message_start`, then every event.
    let items = stream::once(head).flat_map(|(first, sub)| {
        stream::iter([None]).chain(stream::iter(first).chain(sub.into_stream()).map(Some))
    });
    let frames = metrics
        .counted("anthropic", items)
        .flat_map(move |item| {
            let mut out = Vec::with_capacity(2);
            match item {
                None => out.push(renderer.start(session.prompt_usage())),
                Some(ev) => renderer.render(&ev, &mut out),
            }
            stream::iter(out)
        })
        .map(|v| {
            let name = v.get("type").and_then(Value::as_str).unwrap_or("error");
            sse::json_frame(Some(name), &v)
        });
    let ping = sse::frame(Some("ping"), None, r#"{"type":"ping"}"#);
    sse::response(frames, heartbeat, ping)
}
