//! HTTP helpers every transport shares: JSON bodies and path parameters
//! with clear errors, and the headers of a streamed answer.

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::rejection::BytesRejection;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::error::ApiError;
use crate::hub::Subscription;
use crate::state::AppState;

/// Parse a JSON body whatever its content type (curl users forget it), with
/// a clear 400 for bad JSON and 413 past the body limit.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    serde_json::from_slice(&body_bytes(body)?)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// A body read within the body limit: `413` past it, `400` if it could not be read.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(r.body_text())
        }
    })
}

/// A path parameter (`/v1/sessions/{id}`), refused as an [`ApiError`]: a
/// `400` in the gateway's JSON shape, not axum's plain-text rejection
/// (`Invalid URL: Invalid UTF-8 in `id``). Every route of the gateway's own
/// API takes its path parameters through this; a drop-in API renders the
/// same `ApiError` in its protocol's shape (`OpenAiError::from`, …). The
/// fleet-internal routes keep axum's: they answer bare statuses to their
/// one client, another node.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(t) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from)?;
        Ok(Self(t))
    }
}

/// Headers that keep proxies from buffering or caching a stream, and the session id.
pub fn stream_headers(res: &mut Response, session_id: &str) {
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Ok(v) = HeaderValue::from_str(session_id) {
        h.insert("x-session-id", v);
    }
}

/// `sub` as an HTTP reader of `user`'s own session (an attach or resume on
/// any route): it holds a connection for as long as it reads, so it counts
/// in the user's connection budget with their sockets, and is refused
/// (`429 too_many_connections`) past it.
pub async fn http_reader(
    state: &AppState,
    user: &str,
    sub: Subscription,
) -> Result<Subscription, ApiError> {
    let slot = state.connections.admit_reader(user).await?;
    Ok(sub.holding(slot))
}
