//! OpenAI's Responses API, rendered from the session log: `POST
//! /v1/responses` (one `response` object, or with `stream: true` the
//! Responses streaming events over SSE), `GET /v1/responses/{id}` (the
//! object, or with `stream=true` its events again, from `starting_after`:
//! a stream resumed where it broke), `GET /v1/responses/{id}/input_items`
//! (the conversation it was asked, as input items) and `POST
//! /v1/responses/{id}/cancel`.
//!
//! A response's id is `resp_<session id>`: `GET` finds the session through
//! [`Hub::find`](crate::hub::Hub::find) (the caller's own, while retained),
//! and so does `previous_response_id`, whose conversation (the earlier
//! request's turns, kept beside its session, then its answer) comes before
//! the new `input`; in a fleet, from whichever node streamed it
//! ([`Hub::kept`](crate::hub::Hub::kept)). Instructions are not carried over, as at OpenAI. The
//! session id is also in `X-Session-Id`; the session is watchable on every
//! transport like any other.
//!
//! # Layout
//!
//! - [`request`]: the body's options, flat `tools`, `tool_choice`, `reasoning.effort`.
//! - [`input`]: `input` items as the gateway's turns; [`reference`]: an
//!   `item_reference` as the earlier output item it names.
//! - [`retained`]: a finished response read again (`previous_response_id`,
//!   `item_reference`).
//! - [`input_items`]: its input listed a page at a time; [`turn_items`]: the
//!   kept conversation as input items.
//! - [`output`]: events as output items and the streaming events that build them.
//! - [`object`]: the `response` object around them.
//! - [`stream`]: the SSE stream.

mod input;
mod input_items;
mod object;
mod output;
mod reference;
mod request;
mod retained;
mod stream;
mod turn_items;

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::error::{OpenAiError, OpenAiPath, error_object, failed_status, stream_error};
use super::response_format;
use super::unix_now;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::{http_reader, parse_json, stream_headers};
use crate::hub::{Access, Kept, Session, StartError, Subscription};
use crate::parts::{Content, answer};
use crate::state::AppState;
use crate::upstream::request::{Role, Turn};
use object::Head;
use request::ResponsesRequest;
use retained::{Unavailable, whole_log};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1/responses", post(create))
        .route("/v1/responses/{id}", get(retrieve).delete(delete))
        .route("/v1/responses/{id}/cancel", post(cancel))
        .route("/v1/responses/{id}/input_items", get(input_items::list))
}

/// `POST /v1/responses`.
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let mut req: ResponsesRequest = parse_json(body).map_err(OpenAiError::from)?;
    req.check()?;
    let mut options = req.options()?;
    reference::resolve(&state.hub, &principal, &mut req.input).await?;
    let mut turns = match &req.previous_response_id {
        Some(id) => previous(&state, &principal, id).await?,
        None => Vec::new(),
    };
    let (mut system, input) = input::to_turns(std::mem::take(&mut req.input), &turns)?;
    turns.extend(input);
    // A chat UI's opening greeting (the assistant's, before the user spoke).
    crate::request::drop_leading_greeting(&mut turns);
    let input_system = system.clone();
    if let Some(i) = req.instructions.clone() {
        system.insert(0, vec![crate::parts::Content::text(i)]);
    }
    options.system = super::messages::system_prompt(system);
    options.messages = turns;
    let streaming = req.stream.unwrap_or(false);
    let echo = req.echo(unix_now());
    let (inv, api) = state.models.validate(options).map_err(OpenAiError::from)?;
    let turns = inv.turns.clone();
    let sub = state.hub.start(&principal.sub, inv, api).await?;
    let session = sub.session().clone();
    session.keep(Kept {
        turns,
        system: input_system,
        echo: echo.clone(),
    });
    tracing::info!(session = %session.id(), user = %principal.sub, model = %session.model(), streaming, "response started");
    let head = Head {
        id: response_id(session.id()),
        model: session.model().to_owned(),
        echo,
    };
    let mut res = if streaming {
        stream::stream_response(sub, head, None, state.heartbeat, &state.metrics)
    } else {
        let mut sub = sub;
        let mut events = Vec::new();
        while let Some(ev) = sub.next().await {
            events.push(ev);
        }
        match events.last().filter(|e| e.is_complete) {
            None => return Err(OpenAiError::from(ApiError::NotFound).into()),
            Some(last) if last.error.is_some() => {
                let e = last.error.as_ref().map(stream_error);
                let status = failed_status(last.error.as_ref().and_then(|e| e.error_code()));
                (status, Json(json!({ "error": e }))).into_response()
            }
            Some(_) => Json(head.render(events.iter().map(|e| &**e))).into_response(),
        }
    };
    stream_headers(&mut res, session.id());
    Ok(res)
}

/// `GET /v1/responses/{id}`'s query: `stream=true` asks for the events,
/// after `starting_after` (a `sequence_number`) when given.
#[derive(Debug, Default, Deserialize)]
struct RetrieveQuery {
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    starting_after: Option<u64>,
}

/// `GET /v1/responses/{id}`: the caller's response while its session is
/// retained; with `stream=true`, its streaming events (all of them again,
/// or those after `starting_after`), live while it is still streaming.
async fn retrieve(
    State(state): State<AppState>,
    principal: Principal,
    OpenAiPath(id): OpenAiPath<String>,
    query: Result<Query<RetrieveQuery>, QueryRejection>,
) -> Result<Response, OpenAiError> {
    let Query(query) = query.map_err(|e| OpenAiError::from(ApiError::BadRequest(e.body_text())))?;
    let session = find_response(&state, &principal, &id).await?;
    let kept = state.hub.kept(&session).await;
    let echo = kept
        .as_ref()
        .map_or_else(|| json!({"created_at": 0}), |(k, _)| k.echo.clone());
    let head = Head {
        id: response_id(session.id()),
        model: session.model().to_owned(),
        echo,
    };
    if query.stream {
        // The events are rendered again from the log's start, so each has
        // the `sequence_number` it had the first time; those up to the
        // cursor are left out.
        let sub = Subscription::from_start(Arc::clone(&session));
        let sub = http_reader(&state, &principal.sub, sub).await?;
        let mut res = stream::stream_response(
            sub,
            head,
            query.starting_after,
            state.heartbeat,
            &state.metrics,
        );
        stream_headers(&mut res, session.id());
        return Ok(res);
    }
    let events = match kept {
        // Finished: the whole log (a mirror's once relayed to its end).
        Some((_, true)) => whole_log(session.clone()).await,
        _ => None,
    }
    .unwrap_or_else(|| session.events_from(0, usize::MAX));
    Ok(Json(head.render(events.iter().map(|e| &**e))).into_response())
}

/// `POST /v1/responses/{id}/cancel`: stop the answer now (Bedrock stops
/// generating) and return the response as it ended.
async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    OpenAiPath(id): OpenAiPath<String>,
) -> Result<Response, OpenAiError> {
    let session = find_response(&state, &principal, &id).await?;
    session.cancel();
    // The upstream task writes the final event as soon as it sees the cancel.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), session.finished()).await;
    retrieve(
        State(state),
        principal,
        OpenAiPath(id),
        Ok(Query(RetrieveQuery::default())),
    )
    .await
}

/// `DELETE /v1/responses/{id}`: refused, saying why (a response is
/// dropped when its session is, after the retention or under the memory
/// budget; until then every node can still serve it).
async fn delete(_principal: Principal, OpenAiPath(_id): OpenAiPath<String>) -> OpenAiError {
    OpenAiError::from(ApiError::BadRequest(
        "responses are not deleted on request here: each is dropped with its session, \
         after SPILLWAY_SESSION_RETENTION_SECS or earlier under the session memory budget"
            .into(),
    ))
}

/// The conversation of response `id`: its request's turns, then its answer.
async fn previous(state: &AppState, principal: &Principal, id: &str) -> Result<Vec<Turn>, Refusal> {
    let gone = || Refusal::PreviousNotFound(id.to_owned());
    let sid = session_id(id).ok_or_else(gone)?;
    let retained = match retained::finished(&state.hub, principal, sid).await {
        Ok(r) => r,
        Err(Unavailable::NotFound) => return Err(gone()),
        Err(Unavailable::InProgress) => {
            return Err(OpenAiError::from(ApiError::BadRequest(format!(
                "previous response '{id}' is still in progress"
            )))
            .into());
        }
    };
    let kept = &retained.kept;
    let json_tool = response_format::text_format_tool_name(&kept.echo["text"]["format"]);
    let mut turns = kept.turns.clone();
    turns.push(Turn {
        role: Role::Assistant,
        content: replayed(
            answer::content(retained.events.iter().map(|e| &**e)),
            json_tool.as_deref(),
        ),
    });
    Ok(turns)
}

/// An earlier answer as the assistant turn that replays it: only the
/// reasoning Bedrock takes back (signed text, or a redacted blob), and the
/// call of a JSON `text.format`'s tool (`json_tool`) as the text it was
/// shown as, not a call waiting for its result.
fn replayed(answer: Vec<Content>, json_tool: Option<&str>) -> Vec<Content> {
    answer
        .into_iter()
        .filter_map(|c| match c {
            Content::Reasoning(r)
                if r.redacted.is_none() && (r.text.is_none() || r.signature.is_none()) =>
            {
                None
            }
            Content::ToolCall { name, input, .. } if json_tool == Some(name.as_str()) => {
                Some(Content::text(input.to_string()))
            }
            c => Some(c),
        })
        .collect()
}

/// `resp_<session id>`.
fn response_id(session: &str) -> String {
    format!("resp_{session}")
}

/// The session id of a response id.
fn session_id(response: &str) -> Option<&str> {
    response.strip_prefix("resp_").filter(|s| !s.is_empty())
}

/// The session of `principal`'s response `id` (on any node), else a `404`.
async fn find_response(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Arc<Session>, OpenAiError> {
    let not_found = || OpenAiError::from(ApiError::NotFound);
    let sid = session_id(id).ok_or_else(not_found)?;
    state
        .hub
        .find(sid, &Access::user(principal))
        .await
        .map_err(|_| not_found())
}

/// Why a create is refused: the gateway's errors in OpenAI's shape, or an
/// earlier response that is not (or no longer) here.
#[derive(Debug)]
enum Refusal {
    Api(OpenAiError),
    PreviousNotFound(String),
}

impl From<OpenAiError> for Refusal {
    fn from(e: OpenAiError) -> Self {
        Self::Api(e)
    }
}

impl From<StartError> for Refusal {
    fn from(e: StartError) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(e) => e.into_response(),
            Refusal::PreviousNotFound(id) => {
                let message = format!(
                    "previous response '{id}' was not found: it is not yours, or no longer retained"
                );
                let mut error = error_object(
                    StatusCode::BAD_REQUEST,
                    "previous_response_not_found",
                    &message,
                );
                error["param"] = json!("previous_response_id");
                (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reverse() {
        assert_eq!(session_id(&response_id("abc")), Some("abc"));
        assert_eq!(session_id("resp_"), None);
        assert_eq!(session_id("chatcmpl-abc"), None);
    }

    #[test]
    fn a_json_answer_is_replayed_as_its_text() {
        let call = |id: &str, name: &str| Content::ToolCall {
            id: id.into(),
            name: name.into(),
            input: json!({"city": "Paris"}),
        };
        let unsigned = Content::Reasoning(crate::parts::Reasoning {
            text: Some("hm".into()),
            signature: None,
            redacted: None,
        });
        let answer = vec![unsigned, call("c1", "get_weather"), call("c2", "place")];
        assert_eq!(
            replayed(answer.clone(), Some("place")),
            [
                call("c1", "get_weather"),
                Content::text("{\"city\":\"Paris\"}")
            ]
        );
        assert_eq!(
            replayed(answer, None),
            [call("c1", "get_weather"), call("c2", "place")]
        );
    }
}
