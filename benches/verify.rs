//! What verifying one token costs with a warm key cache: RS256 signature,
//! claims and Principal, through the same `Verifier` the gateway uses — the
//! first time a token is seen, and again within the minute it is remembered.
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
    let keys = Arc::new(KeySet::from_jwks(issuer.jwks()));
    let fresh = || {
        Verifier::new(
            Arc::clone(&keys),
            VerifierConfig {
                issuer: DEV_ISSUER.into(),
                client_ids: vec![DEV_CLIENT_ID.into()],
                token_use: TokenUse::Any,
                leeway_secs: 5,
            },
        )
    };
    let verifier = fresh();
    let token = issuer
        .mint("bench-user", &["readers".into()], 3600)
        .expect("mint");
    let mut forged = token.clone();
    forged.truncate(token.len() - 4);
    forged.push_str("AAAA");

    // A warm cache never waits, so the future is ready on its first poll.
    // A new verifier per iteration has seen no token: the full RS256 check.
    c.bench_function(
        "verify valid RS256 token, first sight (warm key cache)",
        |b| {
            b.iter_batched(
                fresh,
                |v| {
                    v.verify(black_box(&token))
                        .now_or_never()
                        .expect("a warm cache does not wait")
                        .expect("valid token")
                },
                criterion::BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("verify valid RS256 token, seen within the minute", |b| {
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
