//! Who calls an Anthropic route: the JWT as `x-api-key` (what the SDKs send
//! for an `api_key`) or `Authorization: Bearer` (an `auth_token`, Claude
//! Code's `ANTHROPIC_AUTH_TOKEN`). A refusal is in Anthropic's shape, so the
//! SDKs raise `AuthenticationError`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::AnthropicError;
use crate::auth::Principal;
use crate::auth::extract::{api_key, bearer_token};
use crate::state::AppState;

/// The verified caller of an Anthropic route.
#[derive(Debug)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AnthropicError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = match api_key(parts) {
            Some(key) => key?,
            None => bearer_token(parts)?,
        };
        let principal = state.verifier.verify(&token).await.inspect_err(|e| {
            // The reason only: the token itself never reaches the logs.
            tracing::debug!(reason = %e, "request refused");
        })?;
        Ok(Caller(principal))
    }
}
