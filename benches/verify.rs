//! What verifying one token costs with a warm key cache: RS256 signature,
//! claims and Principal, through the same `Verifier` the gateway uses.
//!
//! `cargo bench --bench verify -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::expect_used, reason = "bench setup")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use spillway::auth::dev::{DEV_CLIENT_ID, DEV_ISSUER, DevIssuer};
use spillway::auth::jwks::KeySet;
use spillway::auth::{TokenUse, Verifier, VerifierConfig};

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let issuer = DevIssuer::load_or_create(dir.path()).expect("dev key");
    // A static key set hits the same cache lookup as a warm Cognito JWKS.
    let verifier = Verifier::new(
        Arc::new(KeySet::from_jwks(issuer.jwks())),
        VerifierConfig {
            issuer: DEV_ISSUER.into(),
            client_ids: vec![DEV_CLIENT_ID.into()],
            token_use: TokenUse::Any,
            leeway_secs: 5,
        },
    );
    let token = issuer
        .mint("bench-user", &["readers".into()], 3600)
        .expect("mint");
    let mut forged = token.clone();
    forged.truncate(token.len() - 4);
    forged.push_str("AAAA");

    // A warm cache never waits, so the future is ready on its first poll.
    c.bench_function("verify valid RS256 token (warm cache)", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&token))
                .now_or_never()
                .expect("a warm cache does not wait")
                .expect("valid token")
        })
    });
    c.bench_function("refuse bad signature (warm cache)", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&forged))
                .now_or_never()
                .expect("a warm cache does not wait")
                .expect_err("forged token")
        })
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
