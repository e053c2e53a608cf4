//! InvokeModelWithResponseStream and ConverseStream: the answer paced out as event-stream frames.

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{self, HeaderName};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::{Accepted, Api, Shape, accept};
use crate::families::{self, Shaper};
use crate::stream::{Generator, Plan};
use crate::wire::{BEDROCK_CONTENT_TYPE_HEADER, EVENTSTREAM_CONTENT_TYPE, SimError};
use crate::{SimState, converse};

pub(crate) async fn invoke_stream(
    State(state): State<SimState>,
    model_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&state, Api::Invoke, model_id, &headers, &body)
}

pub(crate) async fn converse_stream(
    State(state): State<SimState>,
    model_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&state, Api::Converse, model_id, &headers, &body)
}

fn respond(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let requested_at = Instant::now();
    match start(state, api, model_id, headers, body, requested_at) {
        Ok(generator) => (
            [
                (header::CONTENT_TYPE, EVENTSTREAM_CONTENT_TYPE),
                (
                    HeaderName::from_static(BEDROCK_CONTENT_TYPE_HEADER),
                    "application/json",
                ),
            ],
            Body::from_stream(generator.into_stream()),
        )
            .into_response(),
        Err(error) => {
            tracing::debug!(%error, "simulator refused a request");
            error.into_response()
        }
    }
}

/// Accepts the request and plans its stream.
fn start(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &[u8],
    requested_at: Instant,
) -> Result<Generator, SimError> {
    let Accepted {
        shape,
        name,
        directive,
        answer,
        input_tokens,
        cache,
    } = accept(state, api, model_id, headers, body)?;
    let mut plan = Plan::new(&directive, answer.deltas(), answer.stop(), input_tokens);
    plan.cache = cache;
    let shaper: Box<dyn Shaper> = match &shape {
        Shape::Invoke(model) => families::shaper(model, input_tokens, cache),
        Shape::Converse(fields) => Box::new(converse::Events(fields.clone())),
    };
    tracing::debug!(model = %name, ?api, deltas = plan.deltas, "simulator stream starts");
    Ok(Generator::new(
        plan,
        answer,
        shaper,
        requested_at,
        state.inner.counters.clone(),
        state.halt.clone(),
    ))
}
