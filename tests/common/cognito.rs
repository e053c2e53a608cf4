//! A stand-in Cognito user pool: RSA keys made by the test, a local JWKS
//! server that counts its fetches, a gateway in `--auth cognito` mode pointed
//! at it, and tokens shaped like Cognito's — the good ones and every kind of
//! bad one a transport must refuse (`refused_tokens`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use axum::response::IntoResponse;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use spillway::config::AuthMode;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::Gateway;

pub const POOL_ID: &str = "us-east-1_TestPool";
/// The issuer the gateway derives from `POOL_ID`.
pub const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool";
/// App clients the gateway accepts (`--cognito-client-id` is a comma list).
pub const CLIENT_ID: &str = "spillwaytestclient1";
pub const SECOND_CLIENT_ID: &str = "spillwaytestclient2";
/// Lifetime of the good tokens made here.
pub const TTL: u64 = 600;

/// An RSA signing key of the test pool.
pub struct TestKey {
    pub kid: String,
    pub jwk: Jwk,
    encoding: EncodingKey,
    /// The public key as PEM, what an attacker would use as an HS256 secret.
    public_pem: String,
}

impl TestKey {
    /// A fresh RSA-2048 key published under `kid`.
    pub fn generate(kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let private = pem("PRIVATE KEY", pair.as_der().expect("PKCS#8").as_ref());
        let public_pem = pem(
            "PUBLIC KEY",
            pair.public_key().as_der().expect("SPKI").as_ref(),
        );
        let encoding = EncodingKey::from_rsa_pem(private.as_bytes()).expect("encoding key");
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).expect("JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Self {
            kid: kid.to_owned(),
            jwk,
            encoding,
            public_pem,
        }
    }

    /// `claims`, RS256-signed with this key, its kid in the header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(Some(&self.kid), claims)
    }

    /// `claims`, RS256-signed with this key, whatever `kid` the header should claim.
    pub fn sign_as(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    /// The classic confusion attack: HS256 keyed with this RSA public key.
    pub fn hs256_with_public_key(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let secret = EncodingKey::from_secret(self.public_pem.as_bytes());
        jsonwebtoken::encode(&header, claims, &secret).expect("sign HS256")
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = aws_smithy_types::base64::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Unpadded base64url, as JWTs use.
pub fn b64url(bytes: &[u8]) -> String {
    aws_smithy_types::base64::encode(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims of a Cognito id token for `sub`, from `CLIENT_ID`, valid for `TTL`.
pub fn id_claims(sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "cognito:username": sub,
        "cognito:groups": ["readers"],
        "email_verified": true,
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "auth_time": now,
        "iat": now,
        "exp": now + TTL,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// Claims of a Cognito access token for `sub`, from `CLIENT_ID`, valid for `TTL`.
pub fn access_claims(sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub,
        "username": sub,
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + TTL,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// `claims` with `changes` merged in (a `null` value removes the claim).
pub fn with(mut claims: Value, changes: Value) -> Value {
    let map = claims.as_object_mut().expect("claims object");
    for (k, v) in changes.as_object().expect("changes object") {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    claims
}

/// Every token a transport must refuse, named. `key` is in the gateway's
/// JWKS; `stranger` is not. All are for `sub`, so only the flaw differs.
pub fn refused_tokens(key: &TestKey, stranger: &TestKey, sub: &str) -> Vec<(&'static str, String)> {
    let id = id_claims(sub);
    let access = access_claims(sub);
    // 30 s either side: past the gateway's few seconds of leeway, inside
    // jsonwebtoken's default 60 (which must not be in force).
    let past = now() - 30;
    let good = key.sign(&id);
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let payload = b64url(
            &serde_json::to_vec(&with(id.clone(), json!({"sub": "mallory"}))).expect("json"),
        );
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let alg_none = {
        let header = json!({"alg": "none", "typ": "JWT", "kid": key.kid});
        format!(
            "{}.{}.",
            b64url(header.to_string().as_bytes()),
            b64url(id.to_string().as_bytes())
        )
    };
    // Correctly signed, but about 60 KB: refused for its size alone.
    let huge = key.sign(&with(id.clone(), json!({"pad": "x".repeat(45_000)})));
    assert!(
        (58 * 1024..62 * 1024).contains(&huge.len()),
        "{}",
        huge.len()
    );
    vec![
        (
            "expired",
            key.sign(&with(id.clone(), json!({"exp": past, "iat": past - 600}))),
        ),
        (
            "not yet valid (nbf)",
            key.sign(&with(id.clone(), json!({"nbf": now() + 30}))),
        ),
        (
            "wrong issuer",
            key.sign(&with(
                id.clone(),
                json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"}),
            )),
        ),
        (
            "issuer as an array",
            key.sign(&with(id.clone(), json!({"iss": [ISSUER]}))),
        ),
        (
            "missing issuer",
            key.sign(&with(id.clone(), json!({"iss": null}))),
        ),
        (
            "wrong audience",
            key.sign(&with(id.clone(), json!({"aud": "someoneelse"}))),
        ),
        (
            "id token without aud",
            key.sign(&with(id.clone(), json!({"aud": null}))),
        ),
        (
            "access token with wrong client_id",
            key.sign(&with(access.clone(), json!({"client_id": "someoneelse"}))),
        ),
        (
            "access token with aud instead of client_id",
            key.sign(&with(
                access.clone(),
                json!({"client_id": null, "aud": CLIENT_ID}),
            )),
        ),
        (
            "wrong token_use",
            key.sign(&with(id.clone(), json!({"token_use": "refresh"}))),
        ),
        (
            "id claims with token_use access",
            key.sign(&with(id.clone(), json!({"token_use": "access"}))),
        ),
        (
            "missing token_use",
            key.sign(&with(id.clone(), json!({"token_use": null}))),
        ),
        (
            "missing exp",
            key.sign(&with(id.clone(), json!({"exp": null}))),
        ),
        (
            "exp as a string",
            key.sign(&with(id.clone(), json!({"exp": (now() + TTL).to_string()}))),
        ),
        (
            "missing sub",
            key.sign(&with(id.clone(), json!({"sub": null}))),
        ),
        ("empty sub", key.sign(&with(id.clone(), json!({"sub": ""})))),
        ("alg none", alg_none),
        (
            "HS256 signed with the public key",
            key.hs256_with_public_key(&id),
        ),
        ("unknown kid", stranger.sign(&id)),
        ("missing kid", key.sign_as(None, &id)),
        (
            "another key under a known kid",
            stranger.sign_as(Some(&key.kid), &id),
        ),
        ("tampered payload", tampered),
        (
            "signature stripped",
            format!("{}.", good.rsplit_once('.').expect("jwt").0),
        ),
        ("garbage", "this is not a token".to_owned()),
        ("garbage with dots", "eyJ.eyJ.sig".to_owned()),
        ("empty", String::new()),
        ("60 KB", huge),
    ]
}

/// A local JWKS endpoint serving the test pool's keys, counting fetches.
pub struct JwksServer {
    pub addr: SocketAddr,
    pub url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    _stop: DropGuard,
}

impl JwksServer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind JWKS server");
        Self::serve(listener, keys)
    }

    /// Serve on `addr` (one picked earlier, e.g. to start "unreachable").
    pub async fn start_at(addr: SocketAddr, keys: &[&TestKey]) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("rebind the JWKS address");
        Self::serve(listener, keys)
    }

    fn serve(listener: tokio::net::TcpListener, keys: &[&TestKey]) -> Self {
        let addr = listener.local_addr().expect("addr");
        let keys = Arc::new(Mutex::new(
            keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let (k, f, down) = (keys.clone(), fetches.clone(), failing.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            get(move || {
                let (k, f, down) = (k.clone(), f.clone(), down.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    if down.load(Ordering::SeqCst) {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let keys = k.lock().expect("keys").clone();
                    axum::Json(JwkSet { keys }).into_response()
                }
            }),
        );
        let stop = CancellationToken::new();
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        Self {
            addr,
            url: format!("http://{addr}/.well-known/jwks.json"),
            keys,
            fetches,
            failing,
            _stop: stop.drop_guard(),
        }
    }

    /// Publish one more key (a rotation).
    pub fn add(&self, key: &TestKey) {
        self.keys.lock().expect("keys").push(key.jwk.clone());
    }

    /// Replace the published keys (an empty list publishes an empty set).
    pub fn set_keys(&self, keys: &[&TestKey]) {
        *self.keys.lock().expect("keys") = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// Answer `503` instead of the keys while `failing`.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// An address nothing listens on (until a `JwksServer::start_at` takes it).
pub fn unused_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

impl Gateway {
    /// A gateway with `--auth cognito` for the test pool, accepting `CLIENT_ID`
    /// and `SECOND_CLIENT_ID`, fetching keys from `jwks_url`.
    pub async fn cognito(jwks_url: &str) -> Self {
        Self::cognito_with(jwks_url, |_| {}).await
    }

    pub async fn cognito_with(
        jwks_url: &str,
        tweak: impl FnOnce(&mut spillway::config::Config),
    ) -> Self {
        let url = jwks_url.to_owned();
        Self::with(move |c| {
            c.auth = AuthMode::Cognito;
            c.cognito_user_pool_id = Some(POOL_ID.into());
            c.cognito_client_id = vec![CLIENT_ID.into(), SECOND_CLIENT_ID.into()];
            c.jwks_url = Some(url);
            tweak(c);
        })
        .await
    }

    /// Wait until `/readyz` says 200 (the JWKS is loaded).
    pub async fn wait_ready(&self) {
        let http = self.http.clone();
        let url = self.url("/readyz");
        super::eventually(std::time::Duration::from_secs(15), || {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
        })
        .await;
    }
}
