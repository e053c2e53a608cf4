//! Routes other nodes call. Every one needs the cluster secret: a call
//! without one gets the `404` of a route that does not exist (as does every
//! call to a node with no secret), and one with another secret a `401`, so
//! that its node can say the two disagree ([`super::secret`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::error::TrySendError;

use super::secret::{self, Verdict};
use crate::edge::client_ip::Peer;
use crate::hub::{Access, Kept, LookupError, Publish, Session, SessionStatus};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/sessions/{id}/events", get(events))
        .route("/internal/v1/sessions/{id}/cancel", post(cancel))
        .route("/internal/v1/sessions/{id}/kept", get(kept))
        .route("/internal/v1/sessions/{id}/publish", post(publish))
        .route(
            "/internal/v1/connections/{id}",
            post(push).delete(disconnect),
        )
}

/// Why an internal call is not served.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// No secret, or no such session: `404`.
    NotFound,
    /// Another cluster secret than this node's: `401`.
    OtherSecret,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotFound => not_found(),
            Refused::OtherSecret => (
                StatusCode::UNAUTHORIZED,
                "another cluster secret than this node's",
            )
                .into_response(),
        }
    }
}

/// `Ok` when the call carries this node's cluster secret; else why not (a
/// call with another secret is logged).
fn authorise(state: &AppState, headers: &HeaderMap, peer: &Peer) -> Result<(), Refused> {
    match secret::check(state.cluster.secret.as_deref(), headers) {
        Verdict::Authorised => Ok(()),
        Verdict::Anonymous => Err(Refused::NotFound),
        Verdict::OtherSecret => {
            state.cluster.other_secret_called(peer.0);
            Err(Refused::OtherSecret)
        }
    }
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

#[derive(Deserialize)]
struct From {
    #[serde(default)]
    from: u64,
}

/// A session's log from `from` on, one JSON event per line, blank lines as heartbeats.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
    Query(q): Query<From>,
) -> Response {
    if let Err(refused) = authorise(&state, &headers, &peer) {
        return refused.into_response();
    }
    let sub = match state.hub.subscribe(&id, &Access::Node, q.from).await {
        Ok(sub) => sub,
        // A node caller finds only what this node holds: no relay of a relay.
        Err(
            LookupError::NotFound
            | LookupError::NodeUnavailable(_)
            | LookupError::RegistryUnavailable,
        ) => return not_found(),
        Err(LookupError::CursorPastEnd { .. }) => {
            return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        }
        Err(LookupError::Gone | LookupError::Lost(_)) => return StatusCode::GONE.into_response(),
    };
    // How many events the log holds now: the mirror is caught up once it has
    // them (a status read on the other node waits for that).
    let backlog = sub.session().len();
    let beat = state.heartbeat.min(Duration::from_secs(5));
    let lines = futures_util::stream::unfold(Some(sub), move |sub| async move {
        let mut sub = sub?;
        let line = tokio::select! {
            ev = sub.next() => match ev {
                Some(ev) => {
                    let last = ev.is_complete;
                    let mut line = ev.json().to_owned();
                    line.push('\n');
                    return Some((Ok::<_, Infallible>(Bytes::from(line)), (!last).then_some(sub)));
                }
                None => return None,
            },
            _ = tokio::time::sleep(beat) => Bytes::from_static(b"\n"),
        };
        Some((Ok(line), Some(sub)))
    });
    let mut res = Response::new(Body::from_stream(lines));
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    res.headers_mut()
        .insert(BACKLOG_HEADER, axum::http::HeaderValue::from(backlog));
    res
}

/// The relay response's header saying how many events the log held when
/// the relay began.
pub const BACKLOG_HEADER: &str = "x-spillway-backlog";

/// Session `id` of this node, for a caller with the secret.
async fn held(
    state: &AppState,
    headers: &HeaderMap,
    peer: &Peer,
    id: &str,
) -> Result<Arc<Session>, Refused> {
    authorise(state, headers, peer)?;
    state
        .hub
        .find(id, &Access::Node)
        .await
        .map_err(|_| Refused::NotFound)
}

async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
) -> Response {
    let session = match held(&state, &headers, &peer, &id).await {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    session.cancel();
    StatusCode::NO_CONTENT.into_response()
}

/// What a drop-in API kept beside a session, and whether it is finished
/// (`GET /internal/v1/sessions/{id}/kept`).
#[derive(Serialize, Deserialize)]
pub(super) struct KeptReply {
    pub kept: Kept,
    pub finished: bool,
}

/// What was kept beside a session this node streams; `404` when it holds
/// none or nothing was kept.
async fn kept(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
) -> Response {
    let session = match held(&state, &headers, &peer, &id).await {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let Some(kept) = session.kept() else {
        return not_found();
    };
    axum::Json(KeptReply {
        kept: Kept::clone(&kept),
        finished: session.status() != SessionStatus::Streaming,
    })
    .into_response()
}

/// A refusal of a forwarded publish: the code and words the caller gets.
#[derive(Serialize, Deserialize)]
pub(super) struct PublishRefusal {
    pub code: String,
    pub message: String,
}

/// A `publishToken` another node forwarded for a session this node holds:
/// the event written, or `409` with the refusal.
async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
    axum::Json(p): axum::Json<Publish>,
) -> Response {
    if let Err(refused) = authorise(&state, &headers, &peer) {
        return refused.into_response();
    }
    if p.id != id {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match state.hub.publish(&p.id, &p.owner, p.token, p.is_complete) {
        Ok(ev) => axum::Json(&*ev).into_response(),
        Err(e) => (
            StatusCode::CONFLICT,
            axum::Json(PublishRefusal {
                code: e.error_code().as_str().to_owned(),
                message: e.to_string(),
            }),
        )
            .into_response(),
    }
}

/// Deliver an `@connections` push to a socket on this node.
async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refused) = authorise(&state, &headers, &peer) {
        return refused.into_response();
    }
    let Some(handle) = state.connections.handle(&id) else {
        return StatusCode::GONE.into_response();
    };
    let msg = crate::socket::push_message(&body);
    match handle.outbound.try_send(msg) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(TrySendError::Full(_)) => StatusCode::TOO_MANY_REQUESTS.into_response(),
        Err(TrySendError::Closed(_)) => StatusCode::GONE.into_response(),
    }
}

async fn disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = authorise(&state, &headers, &peer) {
        return refused.into_response();
    }
    match state.connections.handle(&id) {
        Some(h) => {
            h.close.cancel();
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::GONE.into_response(),
    }
}
