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

/// `message_start` at once, then what each event renders to; ends after
/// `message_stop` (or the `error` event).
pub(super) fn response(
    sub: Subscription,
    message_id: &str,
    model: &str,
    heartbeat: Duration,
    metrics: &crate::metrics::Metrics,
) -> Response {
    let mut renderer = Renderer::new(message_id, model);
    let start = renderer.start();
    let rest = metrics
        .counted("anthropic", sub.into_stream())
        .flat_map(move |ev| {
            let mut out = Vec::with_capacity(2);
            renderer.render(&ev, &mut out);
            stream::iter(out)
        });
    let frames = stream::once(async { start }).chain(rest).map(|v| {
        let name = v.get("type").and_then(Value::as_str).unwrap_or("error");
        sse::json_frame(Some(name), &v)
    });
    let ping = sse::frame(Some("ping"), None, r#"{"type":"ping"}"#);
    sse::response(frames, heartbeat, ping)
}
