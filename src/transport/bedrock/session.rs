//! The one core every Bedrock route calls: a parsed request validated and
//! started as a session, then its events streamed as frames or gathered
//! for a non-streaming answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use futures_util::{StreamExt, stream};
use serde_json::{Map, Value};

use super::error::{BedrockError, Exception};
use super::frames;
use crate::auth::Principal;
use crate::event::{EventKind, TokenEvent};
use crate::hub::Subscription;
use crate::request::StreamRequest;
use crate::state::AppState;
use crate::upstream::Usage;
use crate::upstream::request::CallOptions;

/// Renders a session's events as event-stream frames, one protocol each.
pub trait Render: Send + 'static {
    /// Frames sent before the first event, which is when they are made: by
    /// then the model has given the prompt's counts (`prompt`), if it gives
    /// them before its answer.
    fn start(&mut self, prompt: Option<Usage>) -> Vec<Bytes>;
    /// The frames an event adds (a failed session's final event is the
    /// caller's: it becomes an exception frame).
    fn render(&mut self, ev: &TokenEvent) -> Vec<Bytes>;
    /// Whether this is a Converse stream (it has no `modelTimeoutException`).
    fn converse(&self) -> bool;
}

/// What a client sent that goes upstream as it came, besides its parts.
#[derive(Debug, Default)]
pub struct AsSent {
    /// An InvokeModel body.
    pub invoke_body: Option<Value>,
    /// Converse's `additionalModelRequestFields`.
    pub converse_fields: Option<Map<String, Value>>,
    /// Bedrock's per-call options.
    pub call_options: CallOptions,
}

/// Validate `req` (allow-list, limits, parts) and start its session; what
/// the client sent in `as_sent` goes upstream as it came.
pub async fn start(
    state: &AppState,
    principal: &Principal,
    req: StreamRequest,
    as_sent: AsSent,
) -> Result<Subscription, BedrockError> {
    let (mut inv, api) = state.models.validate(req)?;
    inv.raw_body = as_sent.invoke_body;
    inv.converse_fields = as_sent.converse_fields;
    inv.call_options = as_sent.call_options;
    let sub = state.hub.start(&principal.sub, inv, api).await?;
    tracing::info!(session = %sub.session().id(), user = %principal.sub, model = %sub.session().model(), ?api, "bedrock call started");
    Ok(sub)
}

/// The session's events as a `200` of frames; a failure mid-stream is an
/// exception frame, after which the stream ends.
pub fn stream_response(state: &AppState, sub: Subscription, mut render: impl Render) -> Response {
    let session = sub.session().clone();
    let session_id = session.id().clone();
    let converse = render.converse();
    let mut started = false;
    let frames = state
        .metrics
        .counted("bedrock", sub.into_stream())
        .flat_map(move |ev| {
            let mut out = Vec::new();
            if !std::mem::replace(&mut started, true) {
                out = render.start(session.prompt_usage());
            }
            match (ev.kind(), &ev.error) {
                (EventKind::Error, Some(e)) => {
                    let exception = e
                        .error_code()
                        .map_or(Exception::InternalServer, Exception::from_code);
                    // Only a model stream error carries the model's own
                    // status and message (Bedrock's other exceptions have
                    // no such members).
                    let model = exception.frame_name(converse) == "modelStreamErrorException";
                    out.push(frames::exception_frame(
                        exception.frame_name(converse),
                        &e.message,
                        e.original_status_code.filter(|_| model),
                        e.original_message.as_deref().filter(|_| model),
                    ));
                }
                _ => out.extend(render.render(&ev)),
            }
            stream::iter(out)
        })
        .filter(|b| std::future::ready(!b.is_empty()))
        .map(Ok::<_, std::convert::Infallible>);
    frames::stream_response(frames, &session_id)
}

/// Every event of the session, once it has finished; a failed session is
/// its error in Bedrock's shape.
pub async fn collect(mut sub: Subscription) -> Result<Vec<Arc<TokenEvent>>, BedrockError> {
    let mut events = Vec::new();
    while let Some(ev) = sub.next().await {
        events.push(ev);
    }
    match events.last() {
        Some(last) if last.is_complete => match &last.error {
            Some(e) => Err(BedrockError::from(e)),
            None => Ok(events),
        },
        _ => Err(BedrockError::new(
            Exception::InternalServer,
            "the session ended without a final event",
        )),
    }
}
