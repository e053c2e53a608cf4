//! Bedrock's exceptions, one for every gateway [`ErrorCode`], so the AWS
//! SDKs raise their own types: the name in `x-amzn-ErrorType`, the HTTP
//! status and the event-stream frame name. Here, below the transports,
//! because an error answered before a route's handler (the edge's `413`,
//! `408`, a `405`) takes the Bedrock routes' shape too ([`super::shape`]).

use axum::http::StatusCode;

use super::ErrorCode;

/// One of Bedrock's exceptions: its name, HTTP status and event-stream name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    Validation,
    AccessDenied,
    ResourceNotFound,
    Throttling,
    ModelNotReady,
    ModelTimeout,
    ServiceQuotaExceeded,
    ServiceUnavailable,
    InternalServer,
    ModelError,
    ModelStreamError,
    /// An operation of the API that the gateway does not serve.
    UnknownOperation,
}

impl Exception {
    /// The exception for a gateway error code.
    pub fn from_code(code: ErrorCode) -> Self {
        use ErrorCode::*;
        match code {
            NotFound | ModelNotFound | Gone => Self::ResourceNotFound,
            Forbidden | OriginNotAllowed | AccessDenied | MissingToken | InvalidToken
            | TokenExpired => Self::AccessDenied,
            Throttled | RateLimited | TooManyConnections | LimitExceeded | TooManyStreams
            | TooManyOperations => Self::Throttling,
            ModelNotReady => Self::ModelNotReady,
            ModelTimeout | FirstTokenTimeout | UpstreamIdleTimeout | Timeout | IdleTimeout => {
                Self::ModelTimeout
            }
            QuotaExceeded => Self::ServiceQuotaExceeded,
            TooManySessions | ShuttingDown | RegistryUnavailable | NotReady
            | UpstreamUnavailable => Self::ServiceUnavailable,
            ModelError => Self::ModelError,
            ModelStreamError => Self::ModelStreamError,
            Internal
            | UpstreamInternalError
            | UpstreamConnectionDropped
            | UpstreamDecodeError
            | NodeUnavailable
            | Cancelled => Self::InternalServer,
            BadRequest | UnknownModel | PayloadTooLarge | MethodNotAllowed
            | UnsupportedMediaType | RequestTimeout | CursorPastEnd | InvalidJson
            | InvalidMessage | MissingAction | InvalidAction | UnknownAction | InvalidFields
            | BinaryNotSupported | NotExternal | SessionFinished | ValidationError
            | SessionTooLong => Self::Validation,
        }
    }

    /// The name in `x-amzn-ErrorType` (`ThrottlingException`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Validation => "ValidationException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::Throttling => "ThrottlingException",
            Self::ModelNotReady => "ModelNotReadyException",
            Self::ModelTimeout => "ModelTimeoutException",
            Self::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::InternalServer => "InternalServerException",
            Self::ModelError => "ModelErrorException",
            Self::ModelStreamError => "ModelStreamErrorException",
            Self::UnknownOperation => "UnknownOperationException",
        }
    }

    /// Bedrock's HTTP status for the exception.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Validation | Self::ServiceQuotaExceeded => StatusCode::BAD_REQUEST,
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::ResourceNotFound | Self::UnknownOperation => StatusCode::NOT_FOUND,
            Self::ModelTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Throttling | Self::ModelNotReady => StatusCode::TOO_MANY_REQUESTS,
            Self::ModelError | Self::ModelStreamError => StatusCode::FAILED_DEPENDENCY,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `:exception-type` of a mid-stream frame. Streams carry only a
    /// few exception types (the rest become `internalServerException`), and
    /// ConverseStream has no `modelTimeoutException`.
    pub fn frame_name(self, converse: bool) -> &'static str {
        match self {
            Self::Validation => "validationException",
            Self::Throttling | Self::ModelNotReady => "throttlingException",
            Self::ModelTimeout if !converse => "modelTimeoutException",
            Self::ModelTimeout | Self::ModelStreamError | Self::ModelError => {
                "modelStreamErrorException"
            }
            Self::ServiceUnavailable => "serviceUnavailableException",
            _ => "internalServerException",
        }
    }
}
