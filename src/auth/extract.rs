//! `Principal` as an axum extractor: a handler that takes a `Principal` is
//! authenticated, so auth is on by default and open routes are the ones that
//! do not ask for one.
//!
//! Token sources, in order: `Authorization: Bearer`, the WebSocket
//! subprotocol `bearer.<JWT>`, and `?token=` (for EventSource and browser
//! WebSockets, which cannot send headers).

use axum::extract::{FromRequestParts, Query};
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::http::request::Parts;
use serde::Deserialize;

use super::{AuthError, Principal};
use crate::state::AppState;

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The bearer token of a request, wherever it came from.
pub fn bearer_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    if let Some(t) = parts
        .headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("bearer."))
    {
        return Some(t.to_owned());
    }
    Query::<TokenQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|q| q.0.token)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Verified once by the gate (`auth::gate`), which runs on every route.
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let token = bearer_token(parts).ok_or(AuthError::Missing)?;
        state.verifier.verify(&token).await.inspect_err(|e| {
            // The reason only: the token itself never reaches the logs.
            tracing::debug!(reason = %e, "request refused");
        })
    }
}
