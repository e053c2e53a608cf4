//! Dev auth: a local RSA signing key in `SPILLWAY_DATA_DIR`, tokens minted
//! with it, and its JWKS — verified by the same `Verifier` as Cognito tokens.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Issuer of dev tokens: fixed, so every gateway sharing a data dir accepts them.
pub const DEV_ISSUER: &str = "spillway-dev";
/// Audience (client id) of dev tokens.
pub const DEV_CLIENT_ID: &str = "spillway-dev-client";
const KEY_FILE: &str = "dev-signing-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    #[error("dev signing key at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("dev signing key: {0}")]
    Key(String),
}

/// The dev signing key and what it publishes.
pub struct DevIssuer {
    encoding: EncodingKey,
    kid: String,
    jwks: JwkSet,
}

#[derive(Serialize)]
struct DevClaims<'a> {
    sub: &'a str,
    #[serde(rename = "cognito:username")]
    username: &'a str,
    #[serde(
        rename = "cognito:groups",
        skip_serializing_if = "<[String]>::is_empty"
    )]
    groups: &'a [String],
    iss: &'static str,
    aud: &'static str,
    token_use: &'static str,
    iat: u64,
    exp: u64,
}

impl DevIssuer {
    /// Load the key from `data_dir`, creating the directory and a new key on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, DevKeyError> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| DevKeyError::Io {
            path: path.clone(),
            source,
        };
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let pem = generate_pem()?;
                write_private(&path, &pem).map_err(io)?;
                // Another process may have won the race; read back whatever is there.
                std::fs::read(&path).map_err(io)?
            }
            Err(e) => return Err(io(e)),
        };
        Self::from_pem(&pem)
    }

    fn from_pem(pem: &[u8]) -> Result<Self, DevKeyError> {
        let key = |e: jsonwebtoken::errors::Error| DevKeyError::Key(e.to_string());
        let encoding = EncodingKey::from_rsa_pem(pem).map_err(key)?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(key)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(key)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            encoding,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    /// The public keys, as served at `/.well-known/jwks.json` in dev mode.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// A signed id token for `sub`, valid for `ttl_secs`.
    pub fn mint(&self, sub: &str, groups: &[String], ttl_secs: u64) -> Result<String, DevKeyError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = DevClaims {
            sub,
            username: sub,
            groups,
            iss: DEV_ISSUER,
            aud: DEV_CLIENT_ID,
            token_use: "id",
            iat: now,
            exp: now.saturating_add(ttl_secs),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| DevKeyError::Key(e.to_string()))
    }
}

/// Whether a `Host` header (or URI authority) names this machine by a
/// loopback name or address: `localhost`, `127.0.0.0/8` or `[::1]`, with or
/// without a port. The dev sign-in answers only those: a page served from
/// another name that re-resolves to 127.0.0.1 (DNS rebinding) still sends
/// its own name as `Host`, so it is refused even though its peer address is
/// loopback. Strict on purpose: no `*.localhost`, no trailing dot, no
/// IPv4-mapped IPv6, no user info.
pub fn is_loopback_host(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
        return port_ok
            && v6
                .parse::<Ipv6Addr>()
                .is_ok_and(|ip| ip == Ipv6Addr::LOCALHOST);
    }
    let (name, port_ok) = match host.rsplit_once(':') {
        Some((name, port)) => (name, valid_port(port)),
        None => (host, true),
    };
    port_ok
        && (name.eq_ignore_ascii_case("localhost")
            || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()))
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

fn generate_pem() -> Result<Vec<u8>, DevKeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| DevKeyError::Key("RSA key generation failed".into()))?;
    let der = pair
        .as_der()
        .map_err(|_| DevKeyError::Key("PKCS#8 encoding failed".into()))?;
    let b64 = aws_smithy_types::base64::encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem.into_bytes())
}

/// Write a new file readable only by its owner; never overwrite an existing key.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    // hard_link fails if the key already exists: the first writer wins.
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::jwks::KeySet;
    use crate::auth::verifier::{TokenUse, Verifier, VerifierConfig};

    #[test]
    fn only_loopback_hosts_are_loopback() {
        for h in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "127.1.2.3:65535",
            "[::1]",
            "[::1]:8080",
            "[0:0:0:0:0:0:0:1]:1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            ":8080",
            "evil.example",
            "evil.example:8080",
            "localhost.",
            "localhost.evil.example",
            "evil.localhost",
            "app.localhost:8080",
            "127.0.0.1.nip.io",
            "128.0.0.1",
            "0.0.0.0",
            "10.0.0.1:8080",
            "2130706433",
            "0x7f.1",
            "127.1",
            "localhost:",
            "localhost:99999",
            "localhost:80:80",
            "localhost:+80",
            "user@localhost",
            "::1",
            "[::1",
            "[::1]x",
            "[::ffff:127.0.0.1]",
            "[::2]:80",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[tokio::test]
    async fn minted_tokens_verify_and_the_key_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = DevIssuer::load_or_create(dir.path()).unwrap();
        let b = DevIssuer::load_or_create(dir.path()).unwrap();
        assert_eq!(a.kid, b.kid, "second load must reuse the key on disk");
        let verifier = Verifier::new(
            Arc::new(KeySet::from_jwks(b.jwks())),
            VerifierConfig {
                issuer: DEV_ISSUER.into(),
                client_ids: vec![DEV_CLIENT_ID.into()],
                token_use: TokenUse::Any,
                leeway_secs: 5,
            },
        );
        let token = a.mint("alice", &["admin".into()], 60).unwrap();
        let p = verifier.verify(&token).await.unwrap();
        assert_eq!(p.sub, "alice");
        assert!(p.in_group("admin"));
        let mut tampered = token.clone();
        tampered.insert(token.len() - 5, 'x');
        assert!(verifier.verify(&tampered).await.is_err());
    }
}
