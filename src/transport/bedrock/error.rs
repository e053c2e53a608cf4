//! Errors in Bedrock's shape: before streaming an HTTP status, the
//! `x-amzn-ErrorType` header and `{"message"}`; mid-stream an exception
//! frame (`:exception-type: throttlingException`, …). Every gateway
//! [`ErrorCode`] maps to one Bedrock exception here, so the AWS SDKs raise
//! their own exception types.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::error::{ApiError, ErrorCode};
use crate::event::EventError;
use crate::hub::StartError;

pub use crate::error::bedrock::Exception;

/// An error answered before streaming, in Bedrock's shape.
#[derive(Debug)]
pub struct BedrockError {
    pub exception: Exception,
    /// Overrides the exception's own status (the SigV4 refusal is a 401).
    pub status: Option<StatusCode>,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl BedrockError {
    pub fn new(exception: Exception, message: impl Into<String>) -> Self {
        Self {
            exception,
            status: None,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// A `400 ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Exception::Validation, message)
    }
}

impl From<ApiError> for BedrockError {
    fn from(e: ApiError) -> Self {
        let exception = match e {
            // A spent daily budget is Bedrock's spent quota, which the SDKs
            // do not retry: as a throttle they would retry for seconds a
            // call that cannot succeed before the next UTC day.
            ApiError::Spent { .. } => Exception::ServiceQuotaExceeded,
            _ => Exception::from_code(e.error_code()),
        };
        Self {
            exception,
            status: None,
            retry_after_secs: e.retry_after_secs(),
            message: e.to_string(),
        }
    }
}

impl From<StartError> for BedrockError {
    fn from(e: StartError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<AuthError> for BedrockError {
    /// A refused token: `401`, as the gateway answers every refused token.
    fn from(e: AuthError) -> Self {
        Self {
            exception: Exception::AccessDenied,
            status: Some(StatusCode::UNAUTHORIZED),
            message: e.to_string(),
            retry_after_secs: None,
        }
    }
}

impl From<&EventError> for BedrockError {
    /// A session that failed before any output (non-streaming calls).
    fn from(e: &EventError) -> Self {
        let code = match e.error_code().unwrap_or(ErrorCode::UpstreamInternalError) {
            // A whole answer has no stream: Converse and InvokeModel name
            // the model's failure `ModelErrorException`.
            ErrorCode::ModelStreamError => ErrorCode::ModelError,
            code => code,
        };
        Self {
            exception: Exception::from_code(code),
            status: None,
            message: e.message.clone(),
            retry_after_secs: code.retry_after_secs(),
        }
    }
}

impl IntoResponse for BedrockError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| self.exception.status());
        let mut res = (status, Json(json!({"message": self.message}))).into_response();
        let h = res.headers_mut();
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.exception.name()),
        );
        if let Some(secs) = self.retry_after_secs {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_bedrock_exceptions() {
        let cases = [
            (ErrorCode::BadRequest, "ValidationException", 400),
            (ErrorCode::Throttled, "ThrottlingException", 429),
            (ErrorCode::NotFound, "ResourceNotFoundException", 404),
            (ErrorCode::AccessDenied, "AccessDeniedException", 403),
            (
                ErrorCode::TooManySessions,
                "ServiceUnavailableException",
                503,
            ),
            (
                ErrorCode::UpstreamInternalError,
                "InternalServerException",
                500,
            ),
            (
                ErrorCode::ModelStreamError,
                "ModelStreamErrorException",
                424,
            ),
        ];
        for (code, name, status) in cases {
            let e = Exception::from_code(code);
            assert_eq!((e.name(), e.status().as_u16()), (name, status), "{code}");
        }
        assert_eq!(
            Exception::from_code(ErrorCode::Throttled).frame_name(false),
            "throttlingException"
        );
        assert_eq!(
            Exception::ModelTimeout.frame_name(true),
            "modelStreamErrorException"
        );
        assert_eq!(
            Exception::AccessDenied.frame_name(true),
            "internalServerException"
        );
    }

    #[test]
    fn renders_status_header_and_message() {
        let res = BedrockError::validation("bad body").into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()["x-amzn-errortype"], "ValidationException");
    }
}
