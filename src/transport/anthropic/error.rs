//! Errors in Anthropic's shape: `{"type":"error","error":{"type","message"}}`,
//! the `type` (and the status Anthropic's SDKs expect) from the gateway's
//! [`ErrorCode`].

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::error::{ApiError, ErrorCode};
use crate::event::EventError;
use crate::hub::StartError;

/// An error answered in Anthropic's shape, with the status and type its
/// SDKs map to their exceptions; the gateway's headers (`Retry-After`,
/// `WWW-Authenticate`) are kept.
#[derive(Debug)]
pub enum AnthropicError {
    Api(ApiError),
    Auth(AuthError),
}

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
        }
    }

    /// What the body's `error.message` says.
    pub fn message(&self) -> String {
        match self {
            Self::Api(e) => e.to_string(),
            Self::Auth(e) => e.to_string(),
        }
    }
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let (kind, status) = error_type(Some(self.code()));
        let message = self.message();
        let gateway = match self {
            Self::Api(e) => e.into_response(),
            Self::Auth(e) => e.into_response(),
        };
        let (mut parts, _) = gateway.into_parts();
        parts.status = status;
        parts.headers.remove(header::CONTENT_LENGTH);
        (parts, Json(error_body(kind, &message))).into_response()
    }
}

/// A `400` (`invalid_request_error`) saying `msg`.
pub fn bad(msg: impl Into<String>) -> AnthropicError {
    AnthropicError::Api(ApiError::BadRequest(msg.into()))
}

/// Anthropic's `overloaded_error` status, which its SDKs retry.
const OVERLOADED: u16 = 529;

/// Anthropic's error `type` and the status to answer with, for `code`
/// (`None`: a code from a newer node, or none at all).
///
/// Unknown models are `not_found_error` (`404`), as Anthropic answers them;
/// a gateway or upstream that is at capacity or unavailable is
/// `overloaded_error` (`529`); other server failures keep their status as
/// `api_error`.
pub fn error_type(code: Option<ErrorCode>) -> (&'static str, StatusCode) {
    let Some(code) = code else {
        return ("api_error", StatusCode::INTERNAL_SERVER_ERROR);
    };
    let status = code.status();
    let kind = match code {
        ErrorCode::UnknownModel | ErrorCode::ModelNotFound => {
            return ("not_found_error", StatusCode::NOT_FOUND);
        }
        ErrorCode::TooManySessions
        | ErrorCode::ShuttingDown
        | ErrorCode::RegistryUnavailable
        | ErrorCode::UpstreamUnavailable
        | ErrorCode::NotReady => {
            let overloaded = StatusCode::from_u16(OVERLOADED).unwrap_or(status);
            return ("overloaded_error", overloaded);
        }
        _ => match status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        },
    };
    (kind, status)
}

/// A session that failed before its answer was complete, as a whole
/// response (non-streaming): its error's status, type and message.
pub fn failed(e: &EventError) -> Response {
    let (kind, status) = error_type(e.error_code());
    (status, Json(error_body(kind, &e.message))).into_response()
}

/// The body of an error: `{"type":"error","error":{"type","message"}}`,
/// also the `data` of a mid-stream `error` event.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
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
