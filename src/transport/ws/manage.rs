//! The `@connections` management API, compatible with API Gateway's, so a
//! backend that called `post_to_connection` can push through Spillway.
//! Restricted to the admin group.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::mpsc::error::TrySendError;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::http::Path;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/@connections/{id}",
        get(info).post(post_to_connection).delete(disconnect),
    )
}

fn forbidden() -> Response {
    ErrorCode::Forbidden.response("the @connections API is for the admin group")
}

fn gone() -> Response {
    ErrorCode::Gone.response("no such connection")
}

fn not_reading() -> Response {
    ErrorCode::LimitExceeded.response("the client is not reading fast enough")
}

fn registry_unavailable(e: &crate::registry::RegistryError) -> Response {
    tracing::warn!(error = %e, "connection registry unavailable");
    ErrorCode::RegistryUnavailable
        .response("the connection registry is unavailable; try again shortly")
}

/// `POST /@connections/{id}`: deliver the raw body as one message.
async fn post_to_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !principal.in_group(&state.admin_group) {
        return forbidden();
    }
    let limit = state.connections.limits().max_message_bytes;
    let body = match body {
        Ok(b) if b.len() <= limit => b,
        Ok(_) => {
            return ErrorCode::PayloadTooLarge
                .response("data is larger than a WebSocket message may be");
        }
        Err(r) => return ApiError::BadRequest(r.body_text()).into_response(),
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
    Path(id): Path<String>,
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
    Path(id): Path<String>,
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
