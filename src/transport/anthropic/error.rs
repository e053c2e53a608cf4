//! Errors in Anthropic's shape: `{"type":"error","error":{"type","message"}}`,
//! the `type` (and the status Anthropic's SDKs expect) from the gateway's
//! [`ErrorCode`].

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::error::{ApiError, ErrorCode};
use crate::event::EventError;
use crate::hub::StartError;
pub use crate::render::anthropic::{error_body, error_type};

/// An error answered in Anthropic's shape, with the status and type its
/// SDKs map to their exceptions; the gateway's headers (`Retry-After`,
/// `WWW-Authenticate`) are kept.
#[derive(Debug)]
pub enum AnthropicError {
    Api(ApiError),
    Auth(AuthError),
    /// A request with `thread` (message threads): refused with the
    /// `error.details` the SDKs read as "send it again, unthreaded".
    ThreadUnsupported,
}

/// What a refused `thread` says.
const THREAD_UNSUPPORTED: &str = "thread: message threads are not served here (Bedrock keeps no \
    conversation); send the whole history in messages";

impl From<ApiError> for AnthropicError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<AuthError> for AnthropicError {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl From<StartError> for AnthropicError {
    fn from(e: StartError) -> Self {
        Self::Api(e.into())
    }
}

impl AnthropicError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Api(e) => e.error_code(),
            Self::Auth(e) => e.error_code(),
            Self::ThreadUnsupported => ErrorCode::BadRequest,
        }
    }

    /// What the body's `error.message` says.
    pub fn message(&self) -> String {
        match self {
            Self::Api(e) => e.to_string(),
            Self::Auth(e) => e.to_string(),
            Self::ThreadUnsupported => THREAD_UNSUPPORTED.to_owned(),
        }
    }
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let (kind, status) = error_type(Some(self.code()));
        let message = self.message();
        let spent = matches!(self, Self::Api(ApiError::Spent { .. }));
        let gateway = match self {
            Self::Api(e) => e.into_response(),
            Self::Auth(e) => e.into_response(),
            Self::ThreadUnsupported => {
                // Anthropic's SDKs (`_thread_state.py`, `ThreadState.ts`)
                // resend without `thread` on this `error_code`.
                let mut body = error_body(kind, &message);
                body["error"]["details"] = serde_json::json!({
                    "error_code": "thread_unsupported_request",
                    "unsupported": ["thread"],
                });
                return (status, Json(body)).into_response();
            }
        };
        let (mut parts, _) = gateway.into_parts();
        parts.status = status;
        parts.headers.remove(header::CONTENT_LENGTH);
        if spent {
            // Anthropic's only limit error is `rate_limit_error`, which its
            // SDKs retry; a spent daily budget frees up at the next UTC day,
            // so `x-should-retry: false` (read before their own rules) says
            // not to.
            parts.headers.insert(
                "x-should-retry",
                axum::http::HeaderValue::from_static("false"),
            );
        }
        (parts, Json(error_body(kind, &message))).into_response()
    }
}

/// A `400` (`invalid_request_error`) saying `msg`.
pub fn bad(msg: impl Into<String>) -> AnthropicError {
    AnthropicError::Api(ApiError::BadRequest(msg.into()))
}

/// A session that failed before its answer was complete, as a whole
/// response (non-streaming): its error's status, type and message.
pub fn failed(e: &EventError) -> Response {
    let (kind, status) = error_type(e.error_code());
    (status, Json(error_body(kind, &e.message))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_anthropic_types() {
        let t = |c: ErrorCode| {
            let (kind, status) = error_type(Some(c));
            (kind, status.as_u16())
        };
        assert_eq!(t(ErrorCode::BadRequest), ("invalid_request_error", 400));
        assert_eq!(
            t(ErrorCode::ValidationError),
            ("invalid_request_error", 400)
        );
        assert_eq!(t(ErrorCode::MissingToken), ("authentication_error", 401));
        assert_eq!(t(ErrorCode::TokenExpired), ("authentication_error", 401));
        assert_eq!(t(ErrorCode::Forbidden), ("permission_error", 403));
        assert_eq!(t(ErrorCode::UnknownModel), ("not_found_error", 404));
        assert_eq!(t(ErrorCode::NotFound), ("not_found_error", 404));
        assert_eq!(t(ErrorCode::PayloadTooLarge), ("request_too_large", 413));
        assert_eq!(t(ErrorCode::Throttled), ("rate_limit_error", 429));
        assert_eq!(t(ErrorCode::RateLimited), ("rate_limit_error", 429));
        assert_eq!(t(ErrorCode::TooManySessions), ("overloaded_error", 529));
        assert_eq!(t(ErrorCode::UpstreamUnavailable), ("overloaded_error", 529));
        assert_eq!(t(ErrorCode::Internal), ("api_error", 500));
        assert_eq!(t(ErrorCode::ModelStreamError), ("api_error", 502));
        assert_eq!(t(ErrorCode::FirstTokenTimeout), ("api_error", 504));
        assert_eq!(error_type(None).0, "api_error");
    }
}
