//! HTTP handlers: InvokeModelWithResponseStream, ConverseStream and `/sim/stats`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderName};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::answer::Answer;
use super::body::parse_object;
use super::directive::Directive;
use super::families::{self, Prompt, Shaper};
use super::model::Model;
use super::stream::{Generator, Plan};
use super::wire::{BEDROCK_CONTENT_TYPE_HEADER, EVENTSTREAM_CONTENT_TYPE, SimError};
use super::{SimState, SimStats, converse};

/// Which streaming API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Invoke,
    Converse,
}

pub(super) async fn invoke(
    State(state): State<SimState>,
    model_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    respond(&state, Api::Invoke, model_id, &body)
}

pub(super) async fn converse_stream(
    State(state): State<SimState>,
    model_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    respond(&state, Api::Converse, model_id, &body)
}

pub(super) async fn stats(State(state): State<SimState>) -> Json<SimStats> {
    Json(state.stats())
}

pub(super) async fn unknown_operation() -> SimError {
    SimError::unknown_operation()
}

fn respond(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    body: &[u8],
) -> Response {
    let requested_at = Instant::now();
    match start(state, api, model_id, body, requested_at) {
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

/// Everything up to the `200`: recognise the model, parse the body, apply
/// the throttle, and plan the stream.
fn start(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    body: &[u8],
    requested_at: Instant,
) -> Result<Generator, SimError> {
    let invalid_model = || SimError::validation("The provided model identifier is invalid.");
    let Path(model_id) = model_id.map_err(|_| invalid_model())?;
    let model = Model::recognise(&model_id).ok_or_else(invalid_model)?;
    let body = parse_object(body)?;
    let prompt: Prompt = match api {
        Api::Invoke => families::parse(&model, &body)?,
        Api::Converse => converse::parse(&body, &model.base)?,
    };
    let directive = Directive::from_text(&prompt.text);
    let reasons = match api {
        Api::Invoke => families::reasons(&model),
        Api::Converse => true,
    };
    let answer = Answer::new(&prompt, &directive, reasons)?;
    if state
        .inner
        .throttle
        .refuse(&prompt.text, directive.throttle)
    {
        state.inner.counters.throttled();
        return Err(SimError::throttling());
    }
    let input_tokens = prompt.input_tokens();
    let plan = Plan::new(&directive, answer.deltas(), answer.stop(), input_tokens);
    let shaper: Box<dyn Shaper> = match api {
        Api::Invoke => families::shaper(&model, input_tokens),
        Api::Converse => Box::new(converse::Events),
    };
    tracing::debug!(model = %model.base, ?api, deltas = plan.deltas, "simulator stream starts");
    Ok(Generator::new(
        plan,
        answer,
        shaper,
        requested_at,
        state.inner.counters.clone(),
        state.halt.clone(),
    ))
}
