//! Why a token was refused. Never echoes the token itself.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::error_body;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    /// Only a `?token=` on a route that can send headers.
    #[error(
        "send the token in the Authorization header (a token in the query string is accepted only on WebSocket upgrades and GET stream attach routes)"
    )]
    QueryTokenNotAllowed,
    #[error("token is too large")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm is not RS256")]
    WrongAlgorithm,
    #[error("token has no key id")]
    MissingKid,
    #[error("token is signed with an unknown key")]
    UnknownKey,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience or client id is not accepted")]
    WrongAudience,
    #[error("token_use is not accepted")]
    WrongTokenUse,
    #[error("token is missing a required claim")]
    MissingClaim,
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing | AuthError::QueryTokenNotAllowed => "missing_token",
            AuthError::Expired => "token_expired",
            _ => "invalid_token",
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let mut res = (
            StatusCode::UNAUTHORIZED,
            error_body(self.code(), &self.to_string()),
        )
            .into_response();
        // RFC 6750 §3: no error code when no token was sent.
        let challenge = match self {
            AuthError::Missing => "Bearer",
            AuthError::QueryTokenNotAllowed => "Bearer error=\"invalid_request\"",
            _ => "Bearer error=\"invalid_token\"",
        };
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        res
    }
}
