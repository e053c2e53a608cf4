//! Upstream failures, whatever the API path: one kind per thing a client can act on.

use axum::http::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    Throttled,
    Validation,
    AccessDenied,
    NotFound,
    QuotaExceeded,
    ModelNotReady,
    ModelTimeout,
    ModelError,
    ModelStreamError,
    Internal,
    Unavailable,
    /// The connection was cut mid-stream.
    ConnectionDropped,
    /// No first chunk within the first-token timeout.
    FirstTokenTimeout,
    /// No chunk for the idle timeout after the first one.
    IdleTimeout,
    /// A chunk the adapter could not decode.
    Decode,
    /// The session log reached its bound.
    LogFull,
}

/// A failure talking to Bedrock (or the simulator), before or during a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    pub kind: UpstreamErrorKind,
    pub message: String,
}

impl UpstreamError {
    pub fn new(kind: UpstreamErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The `code` of the final event's `error` and of HTTP error bodies.
    pub fn code(&self) -> &'static str {
        use UpstreamErrorKind::*;
        match self.kind {
            Throttled => "throttled",
            Validation => "validation_error",
            AccessDenied => "access_denied",
            NotFound => "model_not_found",
            QuotaExceeded => "quota_exceeded",
            ModelNotReady => "model_not_ready",
            ModelTimeout => "model_timeout",
            ModelError => "model_error",
            ModelStreamError => "model_stream_error",
            Internal => "upstream_internal_error",
            Unavailable => "upstream_unavailable",
            ConnectionDropped => "upstream_connection_dropped",
            FirstTokenTimeout => "first_token_timeout",
            IdleTimeout => "upstream_idle_timeout",
            Decode => "upstream_decode_error",
            LogFull => "session_too_long",
        }
    }

    /// Whether the same request may succeed if tried again.
    pub fn retryable(&self) -> bool {
        use UpstreamErrorKind::*;
        matches!(
            self.kind,
            Throttled
                | ModelNotReady
                | ModelTimeout
                | ModelStreamError
                | Internal
                | Unavailable
                | ConnectionDropped
                | FirstTokenTimeout
                | IdleTimeout
        )
    }

    /// The HTTP status for this error when it happens before streaming starts.
    pub fn status(&self) -> StatusCode {
        use UpstreamErrorKind::*;
        match self.kind {
            Throttled | ModelNotReady => StatusCode::TOO_MANY_REQUESTS,
            Validation | QuotaExceeded | LogFull => StatusCode::BAD_REQUEST,
            AccessDenied => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            ModelTimeout | FirstTokenTimeout | IdleTimeout => StatusCode::GATEWAY_TIMEOUT,
            ModelError | ModelStreamError | Internal | ConnectionDropped | Decode => {
                StatusCode::BAD_GATEWAY
            }
            Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Kind from a Bedrock error code such as `ThrottlingException`.
    pub fn from_code(code: Option<&str>, message: Option<&str>) -> Self {
        use UpstreamErrorKind::*;
        let kind = match code.unwrap_or("") {
            "ThrottlingException" => Throttled,
            "ValidationException" => Validation,
            "AccessDeniedException" => AccessDenied,
            "ResourceNotFoundException" => NotFound,
            "ServiceQuotaExceededException" => QuotaExceeded,
            "ModelNotReadyException" => ModelNotReady,
            "ModelTimeoutException" => ModelTimeout,
            "ModelErrorException" => ModelError,
            "ModelStreamErrorException" => ModelStreamError,
            "ServiceUnavailableException" => Unavailable,
            _ => Internal,
        };
        let message = message
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| code.unwrap_or("upstream error").to_owned());
        Self { kind, message }
    }
}
