//! `Principal` as an axum extractor: a handler that takes a `Principal` is
//! authenticated, so auth is on by default and open routes are the ones that
//! do not ask for one.
//!
//! Token sources, in order: `Authorization: Bearer`, the WebSocket
//! subprotocol `bearer.<JWT>`, and `?token=`. The query form is taken only
//! where a header cannot be sent (browser WebSockets and EventSource): on
//! WebSocket upgrades and on the `GET` attach routes. Anywhere else a URL
//! token would only end up in proxy and browser logs, so it is refused.

use axum::extract::{FromRequestParts, Query};
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use serde::Deserialize;

use super::{AuthError, Principal};
use crate::state::AppState;

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The key header of Anthropic's API: what its SDKs send for an `api_key`.
pub const API_KEY: &str = "x-api-key";

/// The token in `x-api-key`, when there is one (blank counts as none).
pub fn api_key(parts: &Parts) -> Option<Result<String, AuthError>> {
    let v = parts.headers.get(API_KEY)?;
    Some(
        v.to_str()
            .ok()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or(AuthError::Missing),
    )
}

/// The bearer token of a request, wherever it came from: `Missing` when
/// there is none, `QueryTokenNotAllowed` when there is only a `?token=` on a
/// route that must use the header.
pub fn bearer_token(parts: &Parts) -> Result<String, AuthError> {
    if let Some(v) = parts.headers.get(AUTHORIZATION) {
        // A header that is not `Bearer <token>` counts as no token.
        return v
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .ok_or(AuthError::Missing);
    }
    if let Some(t) = parts
        .headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("bearer."))
    {
        return Ok(t.to_owned());
    }
    let query = Query::<TokenQuery>::try_from_uri(&parts.uri)
        .ok()
        .and_then(|q| q.0.token)
        .ok_or(AuthError::Missing)?;
    if query_token_allowed(&parts.method, parts.uri.path(), &parts.headers) {
        Ok(query)
    } else {
        Err(AuthError::QueryTokenNotAllowed)
    }
}

/// Where `?token=` is accepted: WebSocket upgrades, and `GET` on the attach
/// routes (`/v1/sessions/{id}/stream`, `/v1/ai-sdk/chat/{chatId}/stream`),
/// which EventSource opens without headers.
pub fn query_token_allowed(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    is_websocket_upgrade(headers) || (method == Method::GET && is_attach_route(path))
}

/// `Upgrade: websocket` (any case, possibly in a list).
fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
}

fn is_attach_route(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["", "v1", "sessions", id, "stream"] | ["", "v1", "ai-sdk", "chat", id, "stream"] => {
            !id.is_empty()
        }
        _ => false,
    }
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
        let token = bearer_token(parts)?;
        state.verifier.verify(&token).await.inspect_err(|e| {
            // The reason only: the token itself never reaches the logs.
            tracing::debug!(reason = %e, "request refused");
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn query_tokens_only_on_upgrades_and_get_attach_routes() {
        let ws = [("upgrade", "websocket")];
        for (m, uri, h) in [
            ("GET", "/v1/sessions/abc/stream?token=t", &[][..]),
            ("GET", "/v1/ai-sdk/chat/c1/stream?token=t", &[][..]),
            ("GET", "/v1/ws?token=t", &ws[..]),
            (
                "GET",
                "/v1/ai-sdk/ws?token=t",
                &[("upgrade", "WebSocket")][..],
            ),
            (
                "GET",
                "/graphql?token=t",
                &[("upgrade", "foo, websocket")][..],
            ),
        ] {
            assert_eq!(bearer_token(&parts(m, uri, h)), Ok("t".into()), "{m} {uri}");
        }
        for (m, uri) in [
            ("POST", "/v1/stream?token=t"),
            ("POST", "/v1/chat/completions?token=t"),
            ("POST", "/v1/sessions/abc/stream?token=t"),
            ("GET", "/v1/sessions/abc?token=t"),
            ("GET", "/v1/sessions//stream?token=t"),
            ("GET", "/v1/sessions/abc/stream/more?token=t"),
            ("POST", "/v1/sessions/abc/cancel?token=t"),
            ("GET", "/v1/models?token=t"),
            ("POST", "/graphql?token=t"),
        ] {
            assert_eq!(
                bearer_token(&parts(m, uri, &[])),
                Err(AuthError::QueryTokenNotAllowed),
                "{m} {uri}"
            );
        }
        assert_eq!(
            bearer_token(&parts("POST", "/v1/stream", &[])),
            Err(AuthError::Missing)
        );
        // The header wins wherever it is sent.
        assert_eq!(
            bearer_token(&parts(
                "POST",
                "/v1/stream?token=q",
                &[("authorization", "Bearer h")]
            )),
            Ok("h".into())
        );
    }
}
