//! HTTP handlers, one file per kind: streams, whole answers, listings; and `/sim/stats`.
//!
//! The runtime APIs share [`accept`]: recognise the model, parse the body,
//! plan the answer, apply the throttle. Streams then pace the answer out as
//! frames; whole answers collect it.

mod count;
mod listing;
mod stream;
mod whole;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

pub(super) use count::count_tokens;
pub(super) use listing::{foundation_models, inference_profiles};
pub(super) use stream::{converse_stream, invoke_stream};
pub(super) use whole::{converse, invoke};

use super::answer::Answer;
use super::body::parse_object;
use super::cache::{self, CacheUsage, Marks};
use super::call_options;
use super::directive::Directive;
use super::families::{self, Prompt};
use super::guardrail;
use super::model::{Family, Model, is_application_profile};
use super::wire::SimError;
use super::{SimState, SimStats, converse};

/// Which runtime API a request came in on: the family's own body, or Converse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Invoke,
    Converse,
}

/// How the answer is shaped: the family's own chunks, or Converse events.
enum Shape {
    Invoke(Model),
    Converse(converse::ResponseFields),
}

/// A request accepted, its answer planned.
struct Accepted {
    shape: Shape,
    /// The model as recognised (the foundation-model id), or the
    /// application-inference-profile ARN as named; for logs.
    name: String,
    directive: Directive,
    answer: Answer,
    /// Input tokens not read from or written to the prompt cache.
    input_tokens: u32,
    /// With cache points: tokens read from and written to the prompt cache.
    cache: Option<CacheUsage>,
}

/// Everything up to the `200`: recognise the model, parse the body, plan
/// the answer, refuse a model `unavailable=` names, apply the throttle.
/// Converse also answers application-inference-profile ARNs, as a generic
/// model; InvokeModel answers one with a Claude body (`anthropic_version`)
/// as [`PROFILE_CLAUDE`], the model the simulated account's profiles route
/// Claude bodies to.
/// What an application inference profile invoked with a Claude body runs.
pub(crate) const PROFILE_CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

fn accept(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Accepted, SimError> {
    let invalid_model = || SimError::validation("The provided model identifier is invalid.");
    let Path(model_id) = model_id.map_err(|_| invalid_model())?;
    let body = parse_object(body)?;
    let operation = match api {
        Api::Invoke => "InvokeModel",
        Api::Converse => "Converse",
    };
    state.inner.recorded.record(operation, &model_id, &body);
    let model = Model::recognise(&model_id).or_else(|| {
        (api == Api::Invoke
            && is_application_profile(&model_id)
            && body.contains_key("anthropic_version"))
        .then(|| Model::recognise(PROFILE_CLAUDE))
        .flatten()
    });
    let converse_profile = api == Api::Converse && is_application_profile(&model_id);
    let name = match (&model, converse_profile) {
        (Some(m), _) => m.base.clone(),
        (None, true) => model_id.clone(),
        (None, false) => return Err(invalid_model()),
    };
    let (mut prompt, shape): (Prompt, Shape) = match (api, model) {
        (Api::Invoke, Some(model)) => (families::parse(&model, &body)?, Shape::Invoke(model)),
        (Api::Invoke, None) => return Err(invalid_model()),
        (Api::Converse, _) => (
            converse::parse(&body, &name)?,
            Shape::Converse(converse::ResponseFields::parse(&body, &name)?),
        ),
    };
    match (&shape, api) {
        (Shape::Invoke(model), _) => call_options::from_invoke(headers, &model.base)?,
        (_, _) => call_options::from_converse(&body, &name)?,
    };
    prompt.parts.guardrail = match api {
        Api::Invoke => guardrail::from_invoke(headers, &body)?,
        Api::Converse => guardrail::from_converse(&body)?,
    };
    let directive = Directive::from_text(&prompt.text);
    let reasons = match &shape {
        Shape::Invoke(model) => families::reasons(model),
        Shape::Converse(_) => true,
    };
    let answer = Answer::new(&prompt, &directive, reasons)?;
    if directive.refuses_model(&model_id) {
        return Err(SimError::model_unavailable(&model_id));
    }
    if state
        .inner
        .throttle
        .refuse(&prompt.text, directive.throttle)
    {
        state.inner.counters.throttled();
        return Err(SimError::throttling());
    }
    let marks = match &shape {
        Shape::Converse(_) => Some(Marks::CachePoint),
        Shape::Invoke(model) => match model.family {
            Family::Nova => Some(Marks::CachePoint),
            Family::Claude => Some(Marks::CacheControl),
            _ => None,
        },
    };
    let input_tokens = prompt.input_tokens();
    let cache = marks.and_then(|marks| {
        let prefixes = cache::prefixes(marks, &name, &body);
        state.inner.cache.account(&prefixes, input_tokens)
    });
    let cached = cache.map_or(0, |c| c.read + c.write);
    Ok(Accepted {
        shape,
        name,
        directive,
        answer,
        input_tokens: input_tokens - cached,
        cache,
    })
}

pub(super) async fn stats(State(state): State<SimState>) -> Json<SimStats> {
    Json(state.stats())
}

/// `GET /sim/requests`: the last request bodies, oldest first.
pub(super) async fn requests(State(state): State<SimState>) -> Json<Vec<serde_json::Value>> {
    Json(state.inner.recorded.snapshot())
}

pub(super) async fn unknown_operation() -> SimError {
    SimError::unknown_operation()
}
