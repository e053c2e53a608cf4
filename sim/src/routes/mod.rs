//! HTTP handlers, one file per kind: streams, whole answers, listings; and `/sim/stats`.
//!
//! The runtime APIs share [`accept`]: recognise the model, parse the body,
//! plan the answer, apply the throttle. Streams then pace the answer out as
//! frames; whole answers collect it.

mod listing;
mod stream;
mod whole;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

pub(super) use listing::{foundation_models, inference_profiles};
pub(super) use stream::{converse_stream, invoke_stream};
pub(super) use whole::{converse, invoke};

use super::answer::Answer;
use super::body::parse_object;
use super::directive::Directive;
use super::families::{self, Prompt};
use super::guardrail;
use super::model::Model;
use super::wire::SimError;
use super::{SimState, SimStats, converse};

/// Which runtime API a request came in on: the family's own body, or Converse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Invoke,
    Converse,
}

/// A request accepted, its answer planned.
struct Accepted {
    model: Model,
    directive: Directive,
    answer: Answer,
    input_tokens: u32,
}

/// Everything up to the `200`: recognise the model, parse the body, plan
/// the answer, apply the throttle.
fn accept(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Accepted, SimError> {
    let invalid_model = || SimError::validation("The provided model identifier is invalid.");
    let Path(model_id) = model_id.map_err(|_| invalid_model())?;
    let model = Model::recognise(&model_id).ok_or_else(invalid_model)?;
    let body = parse_object(body)?;
    let mut prompt: Prompt = match api {
        Api::Invoke => families::parse(&model, &body)?,
        Api::Converse => converse::parse(&body, &model.base)?,
    };
    prompt.parts.guardrail = match api {
        Api::Invoke => guardrail::from_invoke(headers, &body)?,
        Api::Converse => guardrail::from_converse(&body)?,
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
    Ok(Accepted {
        model,
        directive,
        answer,
        input_tokens: prompt.input_tokens(),
    })
}

pub(super) async fn stats(State(state): State<SimState>) -> Json<SimStats> {
    Json(state.stats())
}

pub(super) async fn unknown_operation() -> SimError {
    SimError::unknown_operation()
}
