//! Every error code the gateway emits, one row each: the wire string, the
//! HTTP status, whether a retry may succeed, and the `Retry-After` to send.
//!
//! Each protocol renders from this one table: HTTP bodies ([`super::error_response`]),
//! OpenAI's `error` object, the AI SDK's `errorText`, GraphQL's
//! `extensions.code`, WebSocket `error` messages and the final event's
//! [`EventError`](crate::event::EventError). The wire strings are part of
//! the contract: clients match on them, so a row's string never changes.

use std::fmt;
use std::str::FromStr;

use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`ErrorCode`] from one row per code:
/// `Variant = "wire_string", status, retryable|final [, retry_after N];`.
macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $wire:literal, $status:literal, $retry:ident $(, retry_after $secs:literal)?;
    )*) => {
        /// An error code, as every protocol names it (`error.code`,
        /// `extensions.code`, the final event's `error.code`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The wire string (`"not_found"`, `"throttled"`…).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }

            /// The HTTP status, as a number.
            const fn status_u16(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// Whether the same request may succeed if tried again.
            pub const fn retryable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => error_codes!(@retry $retry),)*
                }
            }

            /// The `Retry-After` (seconds) an HTTP response with this code carries.
            pub const fn retry_after_secs(self) -> Option<u64> {
                match self {
                    $(ErrorCode::$variant => error_codes!(@after $($secs)?),)*
                }
            }
        }
    };
    (@retry retryable) => { true };
    (@retry final) => { false };
    (@after $secs:literal) => { Some($secs) };
    (@after) => { None };
}

error_codes! {
    // The request itself.
    /// The request is malformed (body, query, fields).
    BadRequest = "bad_request", 400, final;
    /// The model is not one the gateway serves.
    UnknownModel = "unknown_model", 400, final;
    /// The body is larger than the gateway accepts.
    PayloadTooLarge = "payload_too_large", 413, final;
    /// A body in a format the route does not take (GraphQL's `application/graphql`).
    UnsupportedMediaType = "unsupported_media_type", 415, final;
    /// No such session (or one the caller may not see), route or resource.
    NotFound = "not_found", 404, final;
    /// A route that does not take the request's method.
    MethodNotAllowed = "method_not_allowed", 405, final;
    /// A resume cursor past the end of a finished session's log.
    CursorPastEnd = "cursor_past_end", 416, final;
    /// The caller may not do this (wrong group, not loopback).
    Forbidden = "forbidden", 403, final;
    /// A WebSocket upgrade from an origin that is not allowed.
    OriginNotAllowed = "origin_not_allowed", 403, final;
    /// The WebSocket connection named is gone.
    Gone = "gone", 410, final;
    /// The request took too long to start.
    Timeout = "timeout", 504, retryable;
    /// The client did not finish sending its request in time.
    RequestTimeout = "request_timeout", 408, retryable;

    // Authentication.
    /// No bearer token.
    MissingToken = "missing_token", 401, final;
    /// A token that does not verify.
    InvalidToken = "invalid_token", 401, final;
    /// A token past its expiry.
    TokenExpired = "token_expired", 401, final;

    // Capacity and health of the gateway.
    /// The gateway holds as many sessions as it may.
    TooManySessions = "too_many_sessions", 503, retryable, retry_after 1;
    /// The gateway is draining.
    ShuttingDown = "shutting_down", 503, retryable, retry_after 1;
    /// A per-address or per-user limit (requests, streams, tokens per day).
    RateLimited = "rate_limited", 429, retryable, retry_after 1;
    /// The connection registry (memory or DynamoDB) did not answer.
    RegistryUnavailable = "registry_unavailable", 503, retryable, retry_after 1;
    /// `/readyz`: not ready yet (a probe, so no `Retry-After`).
    NotReady = "not_ready", 503, retryable;
    /// The user holds as many WebSocket connections as allowed.
    TooManyConnections = "too_many_connections", 429, retryable, retry_after 5;
    /// `@connections` push: the client is not reading fast enough.
    LimitExceeded = "limit_exceeded", 429, retryable, retry_after 1;
    /// The gateway is misconfigured (a bug, not the caller's fault).
    Internal = "internal", 500, final;

    // WebSocket actions (`/v1/ws`) and GraphQL operations on a socket.
    /// A message that is not JSON.
    InvalidJson = "invalid_json", 400, final;
    /// A message that is not a JSON object.
    InvalidMessage = "invalid_message", 400, final;
    /// A message without `action`.
    MissingAction = "missing_action", 400, final;
    /// An `action` that is not a string.
    InvalidAction = "invalid_action", 400, final;
    /// An `action` the gateway does not know.
    UnknownAction = "unknown_action", 400, final;
    /// An action's fields do not parse.
    InvalidFields = "invalid_fields", 400, final;
    /// A binary frame where JSON text is expected.
    BinaryNotSupported = "binary_not_supported", 400, final;
    /// The connection runs as many streams as it may.
    TooManyStreams = "too_many_streams", 429, retryable, retry_after 1;
    /// The GraphQL socket runs as many operations as it may.
    TooManyOperations = "too_many_operations", 429, retryable, retry_after 1;
    /// The stream was cancelled before it started (499: client closed request).
    Cancelled = "cancelled", 499, final;

    // `publishToken` (external sessions).
    /// The session is not fed by an outside producer.
    NotExternal = "not_external", 409, final;
    /// The session has already ended.
    SessionFinished = "session_finished", 409, final;

    // A session that ended badly (the final event), or failed before streaming.
    /// Bedrock throttled the call.
    Throttled = "throttled", 429, retryable, retry_after 1;
    /// Bedrock refused the request as invalid.
    ValidationError = "validation_error", 400, final;
    /// The gateway's role may not invoke the model.
    AccessDenied = "access_denied", 403, final;
    /// Bedrock does not know the model.
    ModelNotFound = "model_not_found", 404, final;
    /// The account's Bedrock quota is used up.
    QuotaExceeded = "quota_exceeded", 400, final;
    /// The model is not ready yet.
    ModelNotReady = "model_not_ready", 429, retryable, retry_after 1;
    /// The model timed out.
    ModelTimeout = "model_timeout", 504, retryable;
    /// The model failed on this request.
    ModelError = "model_error", 502, final;
    /// The model's stream failed.
    ModelStreamError = "model_stream_error", 502, retryable;
    /// Bedrock failed internally (or answered something unknown).
    UpstreamInternalError = "upstream_internal_error", 502, retryable;
    /// Bedrock is unavailable.
    UpstreamUnavailable = "upstream_unavailable", 503, retryable, retry_after 1;
    /// The connection to Bedrock was cut mid-stream.
    UpstreamConnectionDropped = "upstream_connection_dropped", 502, retryable;
    /// No first chunk within the first-token timeout.
    FirstTokenTimeout = "first_token_timeout", 504, retryable;
    /// No chunk for the idle timeout after the first one.
    UpstreamIdleTimeout = "upstream_idle_timeout", 504, retryable;
    /// A chunk the model adapter could not decode.
    UpstreamDecodeError = "upstream_decode_error", 502, final;
    /// The session log reached its bound.
    SessionTooLong = "session_too_long", 400, final;
    /// An external session's producer published nothing for the idle timeout.
    IdleTimeout = "idle_timeout", 504, final;
    /// The node streaming the session went away (a relayed session).
    NodeUnavailable = "node_unavailable", 502, retryable;
}

impl ErrorCode {
    /// The HTTP status of a response with this code.
    pub const fn status(self) -> StatusCode {
        match StatusCode::from_u16(self.status_u16()) {
            Ok(s) => s,
            // Every row's status is in 100..=999 (a unit test reads them all).
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A string that is no [`ErrorCode`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCode(s.to_owned()))
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_round_trips_through_serde_and_from_str() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
        }
        assert!(serde_json::from_str::<ErrorCode>("\"no_such_code\"").is_err());
        assert_eq!("nope".parse::<ErrorCode>(), Err(UnknownCode("nope".into())));
    }

    #[test]
    fn wire_strings_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }

    #[test]
    fn every_status_is_a_real_one() {
        for &code in ErrorCode::ALL {
            assert_eq!(code.status().as_u16(), code.status_u16(), "{code}");
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    /// The table as clients see it: a change here is a change of contract.
    #[test]
    fn status_retryable_and_retry_after_table() {
        use ErrorCode::*;
        let table: &[(ErrorCode, &str, u16, bool, Option<u64>)] = &[
            (BadRequest, "bad_request", 400, false, None),
            (UnknownModel, "unknown_model", 400, false, None),
            (PayloadTooLarge, "payload_too_large", 413, false, None),
            (
                UnsupportedMediaType,
                "unsupported_media_type",
                415,
                false,
                None,
            ),
            (NotFound, "not_found", 404, false, None),
            (MethodNotAllowed, "method_not_allowed", 405, false, None),
            (CursorPastEnd, "cursor_past_end", 416, false, None),
            (Forbidden, "forbidden", 403, false, None),
            (OriginNotAllowed, "origin_not_allowed", 403, false, None),
            (Gone, "gone", 410, false, None),
            (Timeout, "timeout", 504, true, None),
            (RequestTimeout, "request_timeout", 408, true, None),
            (MissingToken, "missing_token", 401, false, None),
            (InvalidToken, "invalid_token", 401, false, None),
            (TokenExpired, "token_expired", 401, false, None),
            (TooManySessions, "too_many_sessions", 503, true, Some(1)),
            (ShuttingDown, "shutting_down", 503, true, Some(1)),
            (RateLimited, "rate_limited", 429, true, Some(1)),
            (
                RegistryUnavailable,
                "registry_unavailable",
                503,
                true,
                Some(1),
            ),
            (NotReady, "not_ready", 503, true, None),
            (
                TooManyConnections,
                "too_many_connections",
                429,
                true,
                Some(5),
            ),
            (LimitExceeded, "limit_exceeded", 429, true, Some(1)),
            (Internal, "internal", 500, false, None),
            (InvalidJson, "invalid_json", 400, false, None),
            (InvalidMessage, "invalid_message", 400, false, None),
            (MissingAction, "missing_action", 400, false, None),
            (InvalidAction, "invalid_action", 400, false, None),
            (UnknownAction, "unknown_action", 400, false, None),
            (InvalidFields, "invalid_fields", 400, false, None),
            (BinaryNotSupported, "binary_not_supported", 400, false, None),
            (TooManyStreams, "too_many_streams", 429, true, Some(1)),
            (TooManyOperations, "too_many_operations", 429, true, Some(1)),
            (Cancelled, "cancelled", 499, false, None),
            (NotExternal, "not_external", 409, false, None),
            (SessionFinished, "session_finished", 409, false, None),
            (Throttled, "throttled", 429, true, Some(1)),
            (ValidationError, "validation_error", 400, false, None),
            (AccessDenied, "access_denied", 403, false, None),
            (ModelNotFound, "model_not_found", 404, false, None),
            (QuotaExceeded, "quota_exceeded", 400, false, None),
            (ModelNotReady, "model_not_ready", 429, true, Some(1)),
            (ModelTimeout, "model_timeout", 504, true, None),
            (ModelError, "model_error", 502, false, None),
            (ModelStreamError, "model_stream_error", 502, true, None),
            (
                UpstreamInternalError,
                "upstream_internal_error",
                502,
                true,
                None,
            ),
            (
                UpstreamUnavailable,
                "upstream_unavailable",
                503,
                true,
                Some(1),
            ),
            (
                UpstreamConnectionDropped,
                "upstream_connection_dropped",
                502,
                true,
                None,
            ),
            (FirstTokenTimeout, "first_token_timeout", 504, true, None),
            (
                UpstreamIdleTimeout,
                "upstream_idle_timeout",
                504,
                true,
                None,
            ),
            (
                UpstreamDecodeError,
                "upstream_decode_error",
                502,
                false,
                None,
            ),
            (SessionTooLong, "session_too_long", 400, false, None),
            (IdleTimeout, "idle_timeout", 504, false, None),
            (NodeUnavailable, "node_unavailable", 502, true, None),
        ];
        assert_eq!(table.len(), ErrorCode::ALL.len(), "a row per code");
        for &(code, wire, status, retryable, after) in table {
            assert_eq!(
                (
                    code.as_str(),
                    code.status().as_u16(),
                    code.retryable(),
                    code.retry_after_secs()
                ),
                (wire, status, retryable, after),
                "{code:?}"
            );
        }
    }

    /// Today's HTTP rule, kept: every 429 and 503 carries a `Retry-After`
    /// (but the readiness probe's), and nothing else does.
    #[test]
    fn retry_after_goes_with_429_and_503() {
        for &code in ErrorCode::ALL {
            let busy = matches!(code.status().as_u16(), 429 | 503) && code != ErrorCode::NotReady;
            assert_eq!(code.retry_after_secs().is_some(), busy, "{code}");
            if busy {
                assert!(code.retryable(), "{code}");
            }
        }
    }
}
