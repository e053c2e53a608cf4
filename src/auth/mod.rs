//! Authentication: every request carries a JWT, verified up front.
//!
//! - `verifier`: the one verification path (RS256, issuer, expiry, token_use, audience).
//! - `recent`: tokens verified in the last minute, answered without another signature check.
//! - `jwks`: the key cache behind it (Cognito JWKS URL, or the dev key).
//! - `cognito`: a user pool's issuer and JWKS URL.
//! - `dev`: the local signing key and `spillway token`.
//! - `extract`: the axum extractor that makes auth the default on every route.

pub mod cognito;
pub mod dev;
pub mod error;
pub mod extract;
pub mod gate;
pub mod jwks;
pub mod principal;
mod recent;
pub mod verifier;

pub use error::AuthError;
pub use principal::Principal;
pub use verifier::{TokenUse, Verifier, VerifierConfig};
