//! Why a token was refused. Never echoes the token itself.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ErrorCode, Shape};

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
    /// `missing_token`, `token_expired`, or `invalid_token` for every other refusal.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            AuthError::Missing | AuthError::QueryTokenNotAllowed => ErrorCode::MissingToken,
            AuthError::Expired => ErrorCode::TokenExpired,
            _ => ErrorCode::InvalidToken,
        }
    }

    /// The wire string of [`Self::error_code`].
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }
}

impl AuthError {
    /// The refusal in `shape` (the route's: [`Shape::of_route`]), with its
    /// `WWW-Authenticate` challenge.
    pub fn response_in(self, shape: Shape) -> Response {
        let mut res = shape.response(self.error_code(), &self.to_string());
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

impl IntoResponse for AuthError {
    /// In the gateway's own shape.
    fn into_response(self) -> Response {
        self.response_in(Shape::Gateway)
    }
}
