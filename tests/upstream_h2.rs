//! The upstream over HTTP/2: the gateway's streams to the simulator share a
//! connection where it offers `h2` by ALPN, and HTTP/1.1 still works where it
//! does not (cleartext, or TLS offering `http/1.1` alone). Counted by the
//! simulator itself (`/sim/stats`: `connections`, `httpVersions`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::{Value, json};
use spillway::upstream::bedrock::{BedrockUpstream, RetryPolicy};
use spillway::upstream::request::{Role, Turn};
use spillway::upstream::{Api, Delta, InvocationRequest, Upstream};

const TOKENS: usize = 20;

/// `after[path] - before[path]` for a counter in `/sim/stats`.
fn grew(before: &Value, after: &Value, path: &[&str]) -> u64 {
    let at = |v: &Value| path.iter().fold(v.clone(), |v, k| v[*k].clone());
    let (b, a) = (at(before), at(after));
    a.as_u64().expect("counter") - b.as_u64().expect("counter")
}

/// `n` streams through the gateway at once, each read to its end; checks
/// every one completed with all its tokens, in order.
async fn streams_at_once(gw: &Gateway, n: usize) {
    let runs = (0..n).map(|i| async move {
        let prompt = format!("[[sim tokens={TOKENS} rate=20]] stream number {i}");
        let resp = gw.post_stream(json!({ "prompt": prompt })).await;
        assert_eq!(resp.status(), 200, "stream {i}");
        collect_events(resp).await
    });
    for (i, events) in join_all(runs).await.into_iter().enumerate() {
        assert_contiguous(&events, 0);
        let last = events.last().expect("events");
        assert_eq!(last.event, "done", "stream {i} ends done: {last:?}");
        let tokens = events.iter().filter(|e| e.event == "token").count();
        assert_eq!(tokens, TOKENS, "stream {i} has every token");
    }
}

#[tokio::test]
async fn fifty_concurrent_streams_share_one_http2_connection_upstream() {
    let gw = Gateway::start().await; // local mode: the simulator over TLS, h2 offered
    let before = gw.sim_stats().await;
    within(Duration::from_secs(60), streams_at_once(&gw, 50)).await;
    let after = gw.sim_stats().await;
    assert_eq!(grew(&before, &after, &["streamsCompleted"]), 50);
    assert_eq!(grew(&before, &after, &["tokensSent"]), 50 * TOKENS as u64);
    assert_eq!(
        grew(&before, &after, &["httpVersions", "HTTP/2"]),
        50,
        "every stream went over HTTP/2: {after}"
    );
    // The 50 streams opened at once, on a cold pool: one TLS connection for
    // all (and at most one more for this test's own `/sim/stats` calls).
    let connections = grew(&before, &after, &["connections"]);
    assert!(
        connections <= 2,
        "{connections} connections for 50 streams: {after}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_cleartext_http1_simulator_still_works() {
    let gw = Gateway::with(|c| c.sim_http2 = false).await;
    let before = gw.sim_stats().await;
    within(Duration::from_secs(60), streams_at_once(&gw, 10)).await;
    let after = gw.sim_stats().await;
    assert_eq!(grew(&before, &after, &["streamsCompleted"]), 10);
    assert_eq!(grew(&before, &after, &["httpVersions", "HTTP/2"]), 0);
    assert!(grew(&before, &after, &["httpVersions", "HTTP/1.1"]) >= 10);
    // HTTP/1.1 carries one stream at a time per connection.
    assert!(grew(&before, &after, &["connections"]) >= 10, "{after}");
    gw.shutdown().await;
}

/// A TLS server that offers only `http/1.1` by ALPN (as a server without
/// HTTP/2 would): the same client falls back, a connection per stream.
#[tokio::test]
async fn tls_without_h2_falls_back_to_http1() {
    let tls = spillway_sim::SimTls::generate(spillway_sim::Alpn::Http1Only).expect("cert");
    let cert = tls.cert_pem().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = spillway_sim::SimState::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(spillway_sim::serve_tls(
        listener,
        state.clone(),
        tls,
        stop.clone(),
    ));
    let retry = RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::from_millis(10),
    };
    let upstream = BedrockUpstream::for_simulator(&format!("https://{addr}"), Some(&cert), retry)
        .expect("client");
    let req = InvocationRequest {
        model_id: CLAUDE.to_owned(),
        turns: vec![Turn::text_turn(
            Role::User,
            format!("[[sim tokens={TOKENS} rate=40]] over HTTP/1.1"),
        )],
        max_tokens: Some(200),
        ..InvocationRequest::default()
    };
    let runs = (0..10).map(|_| async {
        let stream = upstream.start(&req, Api::Invoke).await.expect("started");
        let deltas: Vec<Delta> = stream.map(|d| d.expect("delta")).collect().await;
        deltas
            .iter()
            .filter(|d| matches!(d, Delta::Text(_)))
            .count()
    });
    let texts = within(Duration::from_secs(60), join_all(runs)).await;
    assert!(texts.iter().all(|&n| n == TOKENS), "{texts:?}");
    let stats = state.stats();
    assert_eq!(stats.streams_completed, 10);
    assert_eq!(stats.http_versions.http2, 0);
    assert_eq!(stats.http_versions.http1, 10);
    assert!(stats.connections >= 2, "{stats:?}");
    stop.cancel();
    within(Duration::from_secs(10), serving)
        .await
        .expect("joined")
        .expect("served");
}

/// A certificate the client does not trust is refused, not ignored.
#[tokio::test]
async fn an_untrusted_simulator_certificate_is_refused() {
    let tls = spillway_sim::SimTls::generate(spillway_sim::Alpn::H2AndHttp1).expect("cert");
    let other = spillway_sim::SimTls::generate(spillway_sim::Alpn::H2AndHttp1).expect("cert");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = spillway_sim::SimState::new();
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(spillway_sim::serve_tls(
        listener,
        state.clone(),
        tls,
        stop.clone(),
    ));
    let retry = RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::from_millis(10),
    };
    let upstream =
        BedrockUpstream::for_simulator(&format!("https://{addr}"), Some(other.cert_pem()), retry)
            .expect("client");
    let req = InvocationRequest {
        model_id: CLAUDE.to_owned(),
        turns: vec![Turn::text_turn(Role::User, "[[sim tokens=2]] hi")],
        max_tokens: Some(50),
        ..InvocationRequest::default()
    };
    let result = within(Duration::from_secs(30), upstream.start(&req, Api::Invoke)).await;
    assert!(result.is_err(), "an untrusted certificate must fail");
    assert_eq!(state.stats().streams_started, 0);
    stop.cancel();
}
