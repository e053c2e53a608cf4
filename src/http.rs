//! HTTP helpers every transport shares: JSON bodies with clear errors, and
//! the headers of a streamed answer.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::error::ApiError;

/// Parse a JSON body whatever its content type (curl users forget it), with
/// a clear 400 for bad JSON and 413 past the body limit.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(r.body_text())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
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
