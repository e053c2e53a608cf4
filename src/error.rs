//! API errors: one enum for what an HTTP caller is told, status codes mapped
//! in one `match`, bodies shaped `{"error":{"code","message"}}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::hub::{LookupError, StartError};
use crate::upstream::UpstreamError;

/// The JSON error body used everywhere.
pub fn error_body(code: &str, message: &str) -> Json<serde_json::Value> {
    Json(serde_json::json!({"error": {"code": code, "message": message}}))
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnknownModel(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("not found")]
    NotFound,
    /// A resume cursor past the end of a finished session's log.
    #[error("{0}")]
    CursorPastEnd(LookupError),
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    #[error("the gateway holds too many sessions; try again shortly")]
    Full,
    #[error("the gateway is shutting down")]
    ShuttingDown,
    #[error("{what}")]
    Limited { what: String, retry_after_secs: u64 },
    #[error("the registry is unavailable; try again shortly")]
    RegistryUnavailable,
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Upstream(u) => ApiError::Upstream(u),
            StartError::Full => ApiError::Full,
            StartError::ShuttingDown => ApiError::ShuttingDown,
            StartError::Limited {
                what,
                retry_after_secs,
            } => ApiError::Limited {
                what,
                retry_after_secs,
            },
            StartError::Registry(e) => {
                tracing::warn!(error = %e, "registry unavailable");
                ApiError::RegistryUnavailable
            }
        }
    }
}

impl From<LookupError> for ApiError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound => ApiError::NotFound,
            LookupError::CursorPastEnd { .. } => ApiError::CursorPastEnd(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl ApiError {
    /// The `code` of the error body.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::UnknownModel(_) => (StatusCode::BAD_REQUEST, "unknown_model"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::CursorPastEnd(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "cursor_past_end"),
            ApiError::Upstream(u) => (u.status(), u.code()),
            ApiError::Full => (StatusCode::SERVICE_UNAVAILABLE, "too_many_sessions"),
            ApiError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            ApiError::Limited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::RegistryUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "registry_unavailable")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut res = (status, error_body(code, &self.to_string())).into_response();
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}
