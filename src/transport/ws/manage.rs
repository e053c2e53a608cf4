//! The `@connections` management API, compatible with API Gateway's, so a
//! backend that called `post_to_connection` can push through Spillway.
//! Restricted to the admin group. Errors are API Gateway's
//! (`x-amzn-ErrorType: GoneException`, `{"message"}`: `Shape::ApiGateway`,
//! the token gate's `401` included), so boto3's `apigatewaymanagementapi`
//! raises `GoneException`, `ForbiddenException`, `PayloadTooLargeException`
//! and `LimitExceededException` as it does against API Gateway.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::mpsc::error::TrySendError;

use crate::auth::Principal;
use crate::error::{ErrorCode, Shape};
use crate::http::Path;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/@connections/{id}",
        get(info).post(post_to_connection).delete(disconnect),
    )
}

/// The connection id in the path; one that does not decode is refused in
/// API Gateway's shape.
struct ConnectionId(String);

impl<S: Send + Sync> FromRequestParts<S> for ConnectionId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(Self(id)),
            Err(e) => Err(refuse(e.error_code(), &e.to_string())),
        }
    }
}

/// An error in API Gateway's shape.
fn refuse(code: ErrorCode, message: &str) -> Response {
    Shape::ApiGateway.response(code, message)
}

fn forbidden() -> Response {
    refuse(
        ErrorCode::Forbidden,
        "the @connections API is for the admin group",
    )
}

fn gone() -> Response {
    refuse(ErrorCode::Gone, "no such connection")
}

fn not_reading() -> Response {
    refuse(
        ErrorCode::LimitExceeded,
        "the client is not reading fast enough",
    )
}

fn registry_unavailable(e: &crate::registry::RegistryError) -> Response {
    tracing::warn!(error = %e, "connection registry unavailable");
    refuse(
        ErrorCode::RegistryUnavailable,
        "the connection registry is unavailable; try again shortly",
    )
}

/// `POST /@connections/{id}`: deliver the raw body as one message.
async fn post_to_connection(
    State(state): State<AppState>,
    principal: Principal,
    ConnectionId(id): ConnectionId,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !principal.in_group(&state.admin_group) {
        return forbidden();
    }
    let limit = state.connections.limits().max_message_bytes;
    let body = match crate::http::body_bytes(body) {
        Ok(b) if b.len() <= limit => b,
        // Past the message limit, or past the request body limit.
        Ok(_) | Err(crate::error::ApiError::PayloadTooLarge) => {
            return refuse(
                ErrorCode::PayloadTooLarge,
                &format!("data is larger than a WebSocket message may be ({limit} bytes)"),
            );
        }
        Err(e) => return refuse(e.error_code(), &e.to_string()),
    };
    let Some(handle) = state.connections.handle(&id) else {
        return forward(&state, &id, reqwest::Method::POST, Some(body)).await;
    };
    let msg = crate::socket::push_message(&body);
    match handle.outbound.try_send(msg) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(TrySendError::Full(_)) => not_reading(),
        Err(TrySendError::Closed(_)) => gone(),
    }
}

/// `GET /@connections/{id}`: when and from where the client connected.
async fn info(
    State(state): State<AppState>,
    principal: Principal,
    ConnectionId(id): ConnectionId,
) -> Response {
    if !principal.in_group(&state.admin_group) {
        return forbidden();
    }
    let record = match state.connections.registry().get(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return gone(),
        Err(e) => return registry_unavailable(&e),
    };
    let last_active = state
        .connections
        .handle(&id)
        .map(|h| h.last_active())
        .unwrap_or(record.last_active_at);
    axum::Json(serde_json::json!({
        "connectedAt": record.connected_at,
        "identity": {"sourceIp": record.source_ip, "userAgent": record.user_agent},
        "lastActiveAt": last_active,
    }))
    .into_response()
}

/// `DELETE /@connections/{id}`: close the socket.
async fn disconnect(
    State(state): State<AppState>,
    principal: Principal,
    ConnectionId(id): ConnectionId,
) -> Response {
    if !principal.in_group(&state.admin_group) {
        return forbidden();
    }
    match state.connections.handle(&id) {
        Some(h) => {
            h.close.cancel();
            StatusCode::NO_CONTENT.into_response()
        }
        None => forward(&state, &id, reqwest::Method::DELETE, None).await,
    }
}

/// A connection held by another node: pass the call on. The registry drops
/// entries of dead nodes as it reads them, so those answer 410.
async fn forward(
    state: &AppState,
    id: &str,
    method: reqwest::Method,
    body: Option<Bytes>,
) -> Response {
    let cluster = &state.cluster;
    let record = match cluster.registry.connections.get(id).await {
        Ok(Some(r)) if r.node != cluster.node => r,
        Ok(_) => return gone(),
        Err(e) => return registry_unavailable(&e),
    };
    let Some(url) = cluster.node_url(&record.node).await else {
        let _ = cluster.registry.connections.remove(id).await;
        return gone();
    };
    let mut req = cluster.internal(method, format!("{url}/internal/v1/connections/{id}"));
    if let Some(b) = body {
        req = req.body(b);
    }
    match req.send().await {
        Ok(r) => match r.status().as_u16() {
            200 => StatusCode::OK.into_response(),
            204 => StatusCode::NO_CONTENT.into_response(),
            429 => not_reading(),
            401 => ErrorCode::NodeUnavailable.response(&cluster.refused_by(&record.node)),
            _ => gone(),
        },
        Err(e) => {
            tracing::warn!(connection = id, error = %e, "could not reach the node holding a connection");
            gone()
        }
    }
}
