//! `POST /model/{modelId}/converse-stream` and `/converse`: a Converse body
//! read into parts, run as a session (`api: converse`), answered as
//! Converse stream events or one Converse response.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::BedrockCaller;
use super::call_options;
use super::converse_parse;
use super::converse_render::{self, ConverseEvents};
use super::error::BedrockError;
use super::frames::event_frame;
use super::guardrail::Verdict;
use super::response_fields::ResponseFields;
use super::session::{self, AsSent, Render};
use super::{Body, ModelId};
use crate::event::TokenEvent;
use crate::request::StreamRequest;
use crate::state::AppState;
use crate::upstream::Usage;

/// `POST /model/{modelId}/converse-stream`.
pub async fn converse_stream(
    State(state): State<AppState>,
    BedrockCaller(caller): BedrockCaller,
    ModelId(model_id): ModelId,
    Body(body): Body,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let (req, as_sent, fields) = parse(&state, &model_id, &body)?;
    let sub = session::start(&state, &caller, req, as_sent).await?;
    Ok(session::stream_response(
        &state,
        sub,
        ConverseFrames(ConverseEvents::new(started), Verdict::default(), fields),
    ))
}

/// `POST /model/{modelId}/converse`.
pub async fn converse(
    State(state): State<AppState>,
    BedrockCaller(caller): BedrockCaller,
    ModelId(model_id): ModelId,
    Body(body): Body,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let (req, as_sent, fields) = parse(&state, &model_id, &body)?;
    let sub = session::start(&state, &caller, req, as_sent).await?;
    let session_id = sub.session().id().clone();
    let events = session::collect(sub).await?;
    let events: Vec<&TokenEvent> = events.iter().map(|e| &**e).collect();
    let mut body: Value = converse_render::response(&events, started);
    Verdict::of(events.iter().copied()).mark_converse(&mut body);
    let stop_sequence = events.last().and_then(|e| e.stop_sequence.as_deref());
    if let Some(asked) = fields.render(stop_sequence) {
        body["additionalModelResponseFields"] = asked;
    }
    let mut res = Json(body).into_response();
    crate::http::stream_headers(&mut res, &session_id);
    Ok(res)
}

/// The body's parts, the fields that go upstream as they came, and the
/// response fields it asks for.
fn parse(
    state: &AppState,
    model_id: &str,
    body: &Value,
) -> Result<(StreamRequest, AsSent, ResponseFields), BedrockError> {
    let req = converse_parse::stream_request(model_id, body).map_err(BedrockError::validation)?;
    let fields = ResponseFields::parse(
        body.get("additionalModelResponseFieldPaths"),
        state.models.family_of(model_id),
    )
    .map_err(BedrockError::validation)?;
    let converse_fields =
        converse_parse::additional_fields(body.get("additionalModelRequestFields"))
            .map_err(BedrockError::validation)?;
    let call_options = call_options::from_converse(body).map_err(BedrockError::validation)?;
    Ok((
        req,
        AsSent {
            converse_fields,
            call_options,
            ..AsSent::default()
        },
        fields,
    ))
}

/// Converse stream events as `:event-type` frames; a guardrail's trace
/// goes in `metadata`, the response fields asked for in `messageStop`.
struct ConverseFrames(ConverseEvents, Verdict, ResponseFields);

impl Render for ConverseFrames {
    fn start(&mut self, _prompt: Option<Usage>) -> Vec<Bytes> {
        let (name, payload) = ConverseEvents::start();
        vec![event_frame(name, &payload)]
    }

    fn render(&mut self, ev: &TokenEvent) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.0.render(ev, &mut out);
        self.1.note(ev);
        out.iter_mut()
            .map(|(name, payload)| {
                if *name == "metadata" {
                    self.1.mark_converse(payload);
                }
                if *name == "messageStop"
                    && let Some(asked) = self.2.render(ev.stop_sequence.as_deref())
                {
                    payload["additionalModelResponseFields"] = asked;
                }
                event_frame(name, payload)
            })
            .collect()
    }

    fn converse(&self) -> bool {
        true
    }
}
