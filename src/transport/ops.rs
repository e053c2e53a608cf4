//! Open routes: `/healthz`, `/readyz`, and in dev auth mode the JWKS and the
//! loopback-only sign-in that mints dev tokens.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::edge::client_ip::Peer;
use crate::error::{ApiError, ErrorCode};
use crate::http::parse_json;
use crate::state::AppState;

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
        ErrorCode::NotReady.response("the registry is not answering")
    } else if state.verifier.keys().is_warm() {
        (StatusCode::OK, "ready").into_response()
    } else {
        ErrorCode::NotReady.response("signing keys not loaded yet")
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

#[derive(Deserialize)]
struct DevSignIn {
    username: String,
    /// Refused unless empty: the dev sign-in cannot grant groups (`spillway token --groups` can).
    #[serde(default)]
    groups: Option<serde_json::Value>,
}

/// `POST /v1/dev/token {"username"}`: a dev token without groups, for
/// loopback clients that name the server by a loopback `Host` only (a
/// DNS-rebound page sends its own name).
async fn dev_token(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(dev) = &state.dev else {
        return Err(ApiError::NotFound);
    };
    if !peer.is_some_and(|p| p.ip().is_loopback()) {
        return Ok(ErrorCode::Forbidden.response("dev sign-in is for loopback clients only"));
    }
    // Every name the request gives for the server must be a loopback one, and there must be one.
    let hosts: Vec<&str> = headers
        .get_all(axum::http::header::HOST)
        .iter()
        .map(|h| h.to_str().unwrap_or_default())
        .chain(uri.authority().map(|a| a.as_str()))
        .collect();
    if hosts.is_empty() || !hosts.iter().all(|h| crate::auth::dev::is_loopback_host(h)) {
        return Ok(ErrorCode::Forbidden.response(
            "dev sign-in answers only requests whose Host is localhost, 127.0.0.0/8 or [::1]",
        ));
    }
    let req: DevSignIn = parse_json(body)?;
    if req
        .groups
        .as_ref()
        .is_some_and(|g| !(g.is_null() || g.as_array().is_some_and(Vec::is_empty)))
    {
        return Err(ApiError::BadRequest(
            "dev sign-in cannot grant groups; use `spillway token --groups`".into(),
        ));
    }
    let username = req.username.trim();
    if username.is_empty() || username.len() > 128 {
        return Err(ApiError::BadRequest(
            "username must be 1 to 128 characters".into(),
        ));
    }
    let token = dev
        .mint(username, &[], DEV_TOKEN_TTL_SECS)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(serde_json::json!({"token": token, "expiresIn": DEV_TOKEN_TTL_SECS})).into_response())
}
