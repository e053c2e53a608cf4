//! The JWKS cache: public keys by `kid`, fetched once, refetched only for an
//! unknown `kid`, at most once per `MIN_REFRESH` however many forged kids arrive.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Least time between two JWKS fetches triggered by unknown kids.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);

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
    /// Held while fetching, so concurrent misses share one fetch; holds the last fetch time.
    last_fetch: Mutex<Option<Instant>>,
    fetches: std::sync::atomic::AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS failed: {0}")]
    Fetch(String),
    #[error("the JWKS holds no usable RS256 key")]
    Empty,
}

impl KeySet {
    pub fn from_jwks(set: &JwkSet) -> Self {
        Self {
            source: Source::Static,
            keys: RwLock::new(usable_keys(set)),
            last_fetch: Mutex::new(None),
            fetches: Default::default(),
        }
    }

    pub fn remote(url: String, client: reqwest::Client) -> Self {
        Self {
            source: Source::Remote { url, client },
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            fetches: Default::default(),
        }
    }

    /// Whether at least one key is loaded (`/readyz`).
    pub fn is_warm(&self) -> bool {
        self.keys.read().map(|k| !k.is_empty()).unwrap_or(false)
    }

    /// How many JWKS fetches were made (for tests and metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
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
        let mut last = self.last_fetch.lock().await;
        // Another caller may have fetched while we waited for the lock.
        if let Some(k) = self.cached(kid) {
            return Some(k);
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH) {
            return None;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.fetch().await {
            tracing::warn!(error = %e, "JWKS refresh failed; keeping the old keys");
        }
        self.cached(kid)
    }

    /// Fetch the JWKS now (start-up warm-up). A failure keeps the old keys.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        let mut last = self.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch().await
    }

    async fn fetch(&self) -> Result<(), JwksError> {
        let Source::Remote { url, client } = &self.source else {
            return Ok(());
        };
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let set: JwkSet = client
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| JwksError::Fetch(e.to_string()))?
            .json()
            .await
            .map_err(|e| JwksError::Fetch(e.to_string()))?;
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

/// RSA keys with a kid whose `alg` is RS256 or unset.
fn usable_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, key))
        })
        .collect()
}
