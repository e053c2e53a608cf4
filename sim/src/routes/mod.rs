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

pub(super) use listing::{foundation_models, inference_profiles};
pub(super) use stream::{converse_stream, invoke_stream};
pub(super) use whole::{converse, invoke};

use super::answer::Answer;
use super::body::parse_object;
use super::cache::{self, CacheUsage, Marks};
use super::directive::Directive;
use super::families::{self, Prompt};
use super::model::{Family, Model};
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
    /// Input tokens not read from or written to the prompt cache.
    input_tokens: u32,
    /// With cache points: tokens read from and written to the prompt cache.
    cache: Option<CacheUsage>,
}

/// Everything up to the `200`: recognise the model, parse the body, plan
/// the answer, apply the throttle.
fn accept(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    body: &[u8],
) -> Result<Accepted, SimError> {
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
    let marks = match (api, model.family) {
        (Api::Converse, _) | (Api::Invoke, Family::Nova) => Some(Marks::CachePoint),
        (Api::Invoke, Family::Claude) => Some(Marks::CacheControl),
        (Api::Invoke, _) => None,
    };
    let input_tokens = prompt.input_tokens();
    let cache = marks.and_then(|marks| {
        let prefixes = cache::prefixes(marks, &model.base, &body);
        state.inner.cache.account(&prefixes, input_tokens)
    });
    let cached = cache.map_or(0, |c| c.read + c.write);
    Ok(Accepted {
        model,
        directive,
        answer,
        input_tokens: input_tokens - cached,
        cache,
    })
}

pub(super) async fn stats(State(state): State<SimState>) -> Json<SimStats> {
    Json(state.stats())
}

pub(super) async fn unknown_operation() -> SimError {
    SimError::unknown_operation()
}
