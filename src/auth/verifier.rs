//! JWT verification, the one code path for Cognito and dev tokens alike:
//! RS256 pinned, `kid` looked up in the JWKS, then issuer, expiry,
//! `token_use` and audience / `client_id` checked as Cognito's guide says.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::error::AuthError;
use super::jwks::KeySet;
use super::principal::Principal;
use super::recent::Recent;

/// Largest token accepted; a real Cognito token is a few KB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Which Cognito token kinds are accepted (`SPILLWAY_COGNITO_TOKEN_USE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenUse {
    Id,
    Access,
    Any,
}

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub issuer: String,
    /// Accepted `aud` (id tokens) or `client_id` (access tokens).
    pub client_ids: Vec<String>,
    pub token_use: TokenUse,
    /// Clock-skew allowance for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

/// Verifies bearer tokens against a key set. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<KeySet>,
    config: Arc<VerifierConfig>,
    validation: Arc<Validation>,
    /// Tokens verified in the last minute (`auth::recent`).
    recent: Arc<Recent>,
}

/// The claims read from a token whose signature checked out. `sub`, `exp`
/// and `iss` default here only so that their absence is reported by
/// `Validation` (which requires them) as a missing claim, not a parse error.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: String,
    #[serde(default)]
    exp: u64,
    /// Compared by `Validation`; a string here so an array `iss` is refused.
    #[serde(default, rename = "iss")]
    _iss: Option<String>,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default, rename = "cognito:username")]
    cognito_username: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains_any(&self, accepted: &[String]) -> bool {
        match self {
            Audience::One(a) => accepted.contains(a),
            Audience::Many(v) => v.iter().any(|a| accepted.contains(a)),
        }
    }
}

impl Verifier {
    pub fn new(keys: Arc<KeySet>, config: VerifierConfig) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = config.leeway_secs;
        validation.validate_nbf = true;
        // `aud` is checked below: id tokens carry it, access tokens carry `client_id` instead.
        validation.validate_aud = false;
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Self {
            keys,
            config: Arc::new(config),
            validation: Arc::new(validation),
            recent: Arc::default(),
        }
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The last second (since the epoch) at which `principal`'s token is
    /// still accepted: its `exp` plus the clock-skew leeway, as [`Self::verify`]
    /// allows. A socket's token-expiry deadline.
    pub fn accepted_until(&self, principal: &Principal) -> u64 {
        principal.expires_at.saturating_add(self.config.leeway_secs)
    }

    /// Verify `token` and say who it belongs to.
    ///
    /// Cheap checks first (size, header, `alg`, `kid`), so garbage never
    /// reaches the key cache; with a warm cache this does not wait on anything.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        if let Some(p) = self.recent.get(token, self.config.leeway_secs) {
            return Ok(p);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(AuthError::MissingKid)?;
        let key = self.keys.get(&kid).await.ok_or(AuthError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| map_jwt_error(e.kind()))?;
        let principal = self.check_claims(data.claims)?;
        self.recent.insert(token, &principal);
        Ok(principal)
    }

    fn check_claims(&self, claims: Claims) -> Result<Principal, AuthError> {
        // Sessions belong to `sub`: an empty one would be everybody's.
        if claims.sub.is_empty() {
            return Err(AuthError::MissingClaim);
        }
        let token_use = claims.token_use.as_deref();
        let accepted = match (self.config.token_use, token_use) {
            (TokenUse::Id | TokenUse::Any, Some("id")) => claims
                .aud
                .as_ref()
                .is_some_and(|a| a.contains_any(&self.config.client_ids)),
            (TokenUse::Access | TokenUse::Any, Some("access")) => claims
                .client_id
                .as_ref()
                .is_some_and(|c| self.config.client_ids.contains(c)),
            _ => return Err(AuthError::WrongTokenUse),
        };
        if !accepted {
            return Err(AuthError::WrongAudience);
        }
        let username = claims
            .cognito_username
            .or(claims.username)
            .unwrap_or_else(|| claims.sub.clone());
        Ok(Principal {
            sub: claims.sub,
            username,
            groups: claims.groups,
            expires_at: claims.exp,
        })
    }
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
        ErrorKind::MissingRequiredClaim(_) => AuthError::MissingClaim,
        _ => AuthError::Malformed,
    }
}
