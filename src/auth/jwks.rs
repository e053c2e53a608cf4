//! The JWKS cache: public keys by `kid`, fetched once, refetched only for an
//! unknown `kid`, and rate-limited so a flood of forged kids cannot hammer the
//! JWKS endpoint.
//!
//! The rate limit follows aws-jwt-verify's "penalty box": a refetch that does
//! not turn up the wanted `kid` (or fails) blocks further refetches for
//! [`MIN_REFRESH`]. A refetch that finds its key (a genuine rotation) does not,
//! and neither does the start-up warm-up; forged kids are never found, so
//! whatever an attacker sends costs at most one fetch per `MIN_REFRESH`.
//! Concurrent misses queue on one lock, so they share a single fetch.
//! A failed fetch keeps the keys already loaded.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Least time between two JWKS fetches for kids that turn out unknown.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// Limit on one JWKS fetch, connect to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document accepted (Cognito's is well under 2 KB).
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Where keys come from.
enum Source {
    /// Keys known up front (dev mode: the local signing key).
    Static,
    /// A JWKS URL (Cognito: `https://cognito-idp.{region}.amazonaws.com/{pool}/.well-known/jwks.json`).
    Remote {
        url: String,
        client: reqwest::Client,
    },
}

/// Public keys by `kid`.
pub struct KeySet {
    source: Source,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// Held while fetching, so concurrent misses share one fetch. Holds the
    /// instant before which no refetch for an unknown kid is made.
    penalty_until: Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
    #[error("the JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS is not a valid key set: {0}")]
    Invalid(String),
    #[error("the JWKS holds no usable RS256 signing key")]
    Empty,
}

impl KeySet {
    /// Keys known up front; never fetched.
    pub fn from_jwks(set: &JwkSet) -> Self {
        Self::new(Source::Static, usable_keys(set))
    }

    /// Keys fetched from `url`; empty (not warm) until the first fetch succeeds.
    pub fn remote(url: String, client: reqwest::Client) -> Self {
        Self::new(Source::Remote { url, client }, HashMap::new())
    }

    fn new(source: Source, keys: HashMap<String, DecodingKey>) -> Self {
        Self {
            source,
            keys: RwLock::new(keys),
            penalty_until: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// Whether at least one key is loaded (`/readyz`).
    pub fn is_warm(&self) -> bool {
        self.keys.read().map(|k| !k.is_empty()).unwrap_or(false)
    }

    /// How many JWKS fetches were attempted (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// The key for `kid`, refetching the JWKS (rate-limited) when it is unknown.
    pub async fn get(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(k) = self.cached(kid) {
            return Some(k);
        }
        let Source::Remote { .. } = &self.source else {
            return None;
        };
        let mut penalty = self.penalty_until.lock().await;
        // Another caller may have fetched while we waited for the lock.
        if let Some(k) = self.cached(kid) {
            return Some(k);
        }
        if penalty.is_some_and(|until| Instant::now() < until) {
            return None;
        }
        if let Err(e) = self.fetch().await {
            tracing::warn!(error = %e, "JWKS refresh failed; keeping the old keys");
        }
        let key = self.cached(kid);
        if key.is_none() {
            *penalty = Some(Instant::now() + MIN_REFRESH);
        }
        key
    }

    /// Fetch the JWKS now, whatever the rate limit (start-up warm-up).
    /// A failure keeps the old keys and holds off refetches for unknown kids.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        let mut penalty = self.penalty_until.lock().await;
        let result = self.fetch().await;
        *penalty = result.is_err().then(|| Instant::now() + MIN_REFRESH);
        result
    }

    /// Fetch until the cache is warm (backing off up to `MIN_REFRESH`), or until `stop`.
    pub async fn warm_up(&self, stop: CancellationToken) {
        let mut wait = Duration::from_millis(200);
        while !self.is_warm() {
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.refresh() => r,
            };
            match result {
                Ok(()) => {
                    let keys = self.keys.read().map(|k| k.len()).unwrap_or(0);
                    tracing::info!(keys, "JWKS loaded");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "JWKS not loaded yet")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(MIN_REFRESH);
        }
    }

    async fn fetch(&self) -> Result<(), JwksError> {
        let Source::Remote { url, client } = &self.source else {
            return Ok(());
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetch = |e: reqwest::Error| JwksError::Fetch(e.without_url().to_string());
        let mut res = client
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(fetch)?;
        if res
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(JwksError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(fetch)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| JwksError::Invalid(e.to_string()))?;
        let keys = usable_keys(&set);
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        if let Ok(mut map) = self.keys.write() {
            *map = keys;
        }
        Ok(())
    }
}

/// RSA signing keys with a kid, whose `alg` is RS256 or unset and whose
/// `use` is `sig` or unset. Anything else in the set is ignored.
fn usable_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)))
        .filter(|jwk| {
            matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            )
        })
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: serde_json::Value) -> JwkSet {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_rs256_signing_keys_with_a_kid_are_kept() {
        // Building a DecodingKey does not check the modulus, so any base64url will do.
        let n = "AQAB";
        let keys = usable_keys(&set(serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "ok", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "no-alg", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "rs512", "alg": "RS512", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "RSA", "n": n, "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        ]})));
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["no-alg", "ok"]);
    }

    #[tokio::test]
    async fn static_sets_never_fetch() {
        let ks = KeySet::from_jwks(&JwkSet { keys: vec![] });
        assert!(!ks.is_warm());
        assert!(ks.get("anything").await.is_none());
        assert_eq!(ks.fetch_count(), 0);
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_penalised_not_hammered() {
        // Nothing listens on this port once the listener is dropped.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let ks = KeySet::remote(format!("http://{addr}/jwks.json"), reqwest::Client::new());
        assert!(ks.refresh().await.is_err());
        assert_eq!(ks.fetch_count(), 1);
        for kid in ["a", "b", "c"] {
            assert!(ks.get(kid).await.is_none());
        }
        assert_eq!(ks.fetch_count(), 1, "a failed fetch holds off refetches");
        assert!(!ks.is_warm());
    }
}
