//! Open routes: `/healthz`, `/readyz`, and in dev auth mode the JWKS and the
//! loopback-only sign-in that mints dev tokens.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::error::{ApiError, error_body};
use crate::state::AppState;
use crate::transport::sse::parse_json;

/// Lifetime of tokens from the dev sign-in.
const DEV_TOKEN_TTL_SECS: u64 = 3600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/dev/token", post(dev_token))
}

async fn ready(State(state): State<AppState>) -> Response {
    if !state.cluster.registry_healthy() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("not_ready", "the registry is not answering"),
        )
            .into_response()
    } else if state.verifier.keys().is_warm() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("not_ready", "signing keys not loaded yet"),
        )
            .into_response()
    }
}

/// Prometheus scrape (open route).
async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    m.sessions_held
        .set(i64::try_from(state.hub.len()).unwrap_or(i64::MAX));
    let fetched = state.verifier.keys().fetch_count();
    m.jwks_fetches
        .inc_by(fetched.saturating_sub(m.jwks_fetches.get()));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

async fn jwks(State(state): State<AppState>) -> Response {
    match &state.dev {
        Some(dev) => Json(dev.jwks()).into_response(),
        None => ApiError::NotFound.into_response(),
    }
}

/// The client's address: the TCP peer, or behind a trusted proxy the address
/// it forwarded (`crate::edge::client_ip`; port 0 then, the proxy keeps it).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(crate::edge::client_ip::client_of(&parts.extensions)))
    }
}

#[derive(Deserialize)]
struct DevSignIn {
    username: String,
    #[serde(default)]
    groups: Vec<String>,
}

/// `POST /v1/dev/token {"username"}`: a dev token, for loopback clients only.
async fn dev_token(
    State(state): State<AppState>,
    Peer(peer): Peer,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(dev) = &state.dev else {
        return Err(ApiError::NotFound);
    };
    if !peer.is_some_and(|p| p.ip().is_loopback()) {
        return Ok((
            StatusCode::FORBIDDEN,
            error_body("forbidden", "dev sign-in is for loopback clients only"),
        )
            .into_response());
    }
    let req: DevSignIn = parse_json(body)?;
    let username = req.username.trim();
    if username.is_empty() || username.len() > 128 {
        return Err(ApiError::BadRequest(
            "username must be 1 to 128 characters".into(),
        ));
    }
    let token = dev
        .mint(username, &req.groups, DEV_TOKEN_TTL_SECS)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(serde_json::json!({"token": token, "expiresIn": DEV_TOKEN_TTL_SECS})).into_response())
}
