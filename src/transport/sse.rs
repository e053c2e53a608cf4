//! HTTP streaming: `POST /v1/stream` as Server-Sent Events (or bare text for
//! `Accept: text/plain`), and `GET /v1/sessions/{id}/stream` to attach or
//! resume from `Last-Event-ID` / `?after=`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::event::EventKind;
use crate::http::{Path, http_reader, parse_json, stream_headers};
use crate::hub::{Access, Subscription};
use crate::metrics::Metrics;
use crate::render::sse;
use crate::request::StreamRequest;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/stream", post(start_stream))
        .route("/v1/sessions/{id}/stream", get(attach))
}

/// `POST /v1/stream`: start an invocation and stream it.
async fn start_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: StreamRequest = parse_json(body)?;
    let (inv, api) = state.models.validate(req)?;
    let sub = state.hub.start(&principal.sub, inv, api).await?;
    tracing::info!(session = %sub.session().id(), user = %principal.sub, model = %sub.session().model(), "stream started");
    Ok(if wants_plain_text(&headers) {
        text_response(sub, &state.metrics)
    } else {
        sse_response(sub, state.heartbeat, &state.metrics)
    })
}

#[derive(Deserialize)]
struct AttachQuery {
    after: Option<u64>,
}

/// `GET /v1/sessions/{id}/stream`: attach from the start, or resume after a
/// seq; `416` for a cursor past the end of a finished session's log.
async fn attach(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    query: Result<Query<AttachQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let from = resume_from(headers.get("last-event-id").map(|v| v.as_bytes()), q.after)?;
    let sub = state
        .hub
        .subscribe(&id, &Access::user(&principal), from)
        .await?;
    if sub.at_end_of_finished_log() {
        // Nothing will ever follow: `204` is what tells an EventSource to stop
        // reconnecting (an empty `200` would have it retry forever).
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let sub = http_reader(&state, &principal.sub, sub).await?;
    Ok(if wants_plain_text(&headers) {
        text_response(sub, &state.metrics)
    } else {
        sse_response(sub, state.heartbeat, &state.metrics)
    })
}

/// The first seq to send to a reader resuming after `Last-Event-ID` (raw
/// header bytes) or `?after=`. A reconnecting EventSource sends
/// Last-Event-ID; it wins over the URL's `after`. Neither: from 0.
pub fn resume_from(last_event_id: Option<&[u8]>, after: Option<u64>) -> Result<u64, ApiError> {
    let last = match last_event_id {
        None => None,
        Some(raw) => Some(
            std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be a seq number".into()))?,
        ),
    };
    Ok(last.or(after).map_or(0, |n| n.saturating_add(1)))
}

fn wants_plain_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/plain") && !a.contains("text/event-stream"))
}

/// Each event as its SSE frame (`event:` kind, `id:` seq, `data:` the
/// TokenEvent), rendered once per event for all its readers.
fn sse_response(sub: Subscription, heartbeat: Duration, metrics: &Metrics) -> Response {
    let id: Arc<str> = sub.session().id().clone();
    let guard = metrics.stream_guard("sse");
    let frames = sub.into_stream().map(move |ev| {
        let _active = &guard;
        ev.sse_frame()
    });
    let mut res = sse::response(frames, heartbeat, sse::comment("heartbeat"));
    stream_headers(&mut res, &id);
    res
}

/// The bare token text, one chunk per token, for `curl --no-buffer`.
fn text_response(sub: Subscription, metrics: &Metrics) -> Response {
    let id: Arc<str> = sub.session().id().clone();
    let guard = metrics.stream_guard("text");
    let chunks = sub.into_stream().filter_map(move |ev| {
        let _active = &guard;
        async move {
            let text = match ev.kind() {
                EventKind::Token => ev.token.clone(),
                // `text/plain` streams text only.
                EventKind::Reasoning
                | EventKind::Tool
                | EventKind::Citation
                | EventKind::Guardrail => String::new(),
                EventKind::Done => "\n".to_owned(),
                EventKind::Error => {
                    let e = ev.error.as_ref();
                    format!(
                        "\n[error {}: {}]\n",
                        e.map_or("unknown", |e| e.code.as_str()),
                        e.map_or("", |e| e.message.as_str())
                    )
                }
            };
            (!text.is_empty()).then(|| Ok::<_, Infallible>(Bytes::from(text)))
        }
    });
    let mut res = Response::new(Body::from_stream(chunks));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    stream_headers(&mut res, &id);
    res
}
