//! Who calls the Bedrock routes: the JWT as `Authorization: Bearer` (what
//! the AWS SDKs send when `AWS_BEARER_TOKEN_BEDROCK` holds it). A
//! SigV4-signed call is refused with a `401` saying what to do instead.
//! Every refusal is in Bedrock's error shape, so the SDKs raise it as an
//! `AccessDeniedException` with a readable message.
//!
//! These routes are mounted outside the gateway-wide token gate (whose
//! refusals are in the gateway's own shape); this extractor is their gate,
//! and every Bedrock handler takes it.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::{BedrockError, Exception};
use crate::auth::Principal;
use crate::auth::extract::bearer_token;
use crate::state::AppState;

/// What a SigV4-signed call is told.
pub const SIGV4_REFUSED: &str = "Spillway does not take AWS SigV4 signatures: send a bearer \
    token instead (set AWS_BEARER_TOKEN_BEDROCK to a Spillway token; the AWS SDKs then send \
    `Authorization: Bearer`)";

/// The verified caller of a Bedrock route.
pub struct BedrockCaller(pub Principal);

impl FromRequestParts<AppState> for BedrockCaller {
    type Rejection = BedrockError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if is_sigv4(parts) {
            return Err(BedrockError {
                exception: Exception::AccessDenied,
                status: Some(StatusCode::UNAUTHORIZED),
                message: SIGV4_REFUSED.into(),
                retry_after_secs: None,
            });
        }
        let token = bearer_token(parts)?;
        let principal = state.verifier.verify(&token).await.inspect_err(|e| {
            // The reason only: the token itself never reaches the logs.
            tracing::debug!(reason = %e, "bedrock request refused");
        })?;
        Ok(Self(principal))
    }
}

/// `Authorization: AWS4-HMAC-SHA256 Credential=…` (or a presigned URL's
/// `X-Amz-Signature`).
fn is_sigv4(parts: &Parts) -> bool {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("AWS4-"));
    header
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature="))
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(uri: &str, auth: Option<&str>) -> Parts {
        let mut req = Request::builder().uri(uri);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn sigv4_is_recognised() {
        assert!(is_sigv4(&parts(
            "/model/x/invoke",
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=ab"
            )
        )));
        assert!(is_sigv4(&parts("/model/x/invoke?X-Amz-Signature=ab", None)));
        assert!(!is_sigv4(&parts("/model/x/invoke", Some("Bearer abc"))));
        assert!(!is_sigv4(&parts("/model/x/invoke", None)));
    }
}
