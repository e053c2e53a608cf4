//! Hostile clients at the edge: half-sent requests and idle sockets are
//! closed on time while a well-behaved client streams to the end;
//! `X-Forwarded-For` is believed only from trusted proxies; internal routes
//! are not on the public listener; the descriptor limit is raised at start.
//! Counts and times are bounded; waits are for events, with timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn addr(gw: &Gateway) -> SocketAddr {
    gw.server.as_ref().unwrap().addr()
}

/// Wait for the server to close `sock` (EOF or reset), reading whatever it sends first.
async fn closed_by_server(sock: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    within(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    got
}

/// One request on a raw socket; returns once the whole `/healthz` answer is in.
async fn healthz_on(sock: &mut TcpStream) -> String {
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: spillway\r\n\r\n")
        .await
        .unwrap();
    healthz_answer(sock).await
}

/// The whole answer to a `/healthz` request sent on `sock`.
async fn healthz_answer(sock: &mut TcpStream) -> String {
    let mut got = Vec::new();
    within(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        while !got.ends_with(b"\r\n\r\nok") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the answer");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn half_sent_requests_are_closed_within_the_header_timeout_while_a_stream_runs() {
    let gw = Gateway::with(|c| c.http_header_timeout_secs = 1.0).await;
    let started = Instant::now();
    // 60 slowloris sockets: half a request line, a request line without
    // headers, or nothing at all.
    let mut sockets = Vec::new();
    for i in 0..60 {
        let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
        let part: &[u8] = match i % 3 {
            0 => b"GET /v1/str",
            1 => b"POST /v1/stream HTTP/1.1\r\nHost: x\r\n",
            _ => b"",
        };
        s.write_all(part).await.unwrap();
        sockets.push(s);
    }
    // A well-behaved client streams alongside, longer than the header timeout.
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=40 rate=20]] beside the attack"}))
        .await;
    assert_eq!(resp.status(), 200);
    let streaming = tokio::spawn(collect_events(resp));
    for s in &mut sockets {
        closed_by_server(s, Duration::from_secs(5)).await;
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}, header timeout 1 s"
    );
    let events = streaming.await.unwrap();
    assert_contiguous(&events, 0);
    assert_eq!(events.len(), 41);
    assert_eq!(events.last().unwrap().event, "done");
    // And the gateway still answers newcomers.
    let r = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn idle_keep_alive_sockets_are_closed_after_the_idle_timeout() {
    let gw = Gateway::with(|c| {
        c.http_header_timeout_secs = 1.0;
        c.http_idle_timeout_secs = 3.0;
    })
    .await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
        assert!(healthz_on(&mut s).await.starts_with("HTTP/1.1 200"));
        sockets.push(s);
    }
    let answered = Instant::now();
    // Idle between requests is the idle timeout, not the header timeout: a
    // second request after twice the header timeout is still served.
    let mut kept = sockets.pop().unwrap();
    let mut buf = [0u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(2000), kept.read(&mut buf))
            .await
            .is_err(),
        "a kept-alive socket outlives the header timeout"
    );
    assert!(healthz_on(&mut kept).await.starts_with("HTTP/1.1 200"));
    sockets.push(kept);
    for s in &mut sockets {
        let sent = closed_by_server(s, Duration::from_secs(8)).await;
        assert!(sent.is_empty(), "no answer to a request never sent");
    }
    let took = answered.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
        "closed after {took:?}, idle timeout 3 s"
    );
    // A request started after an idle wait gets the header timeout, not more.
    let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
    healthz_on(&mut s).await;
    s.write_all(b"GET /heal").await.unwrap();
    let half = Instant::now();
    closed_by_server(&mut s, Duration::from_secs(5)).await;
    assert!(
        half.elapsed() < Duration::from_secs(3),
        "{:?}",
        half.elapsed()
    );
    gw.shutdown().await;
}

/// `GET /healthz` through reqwest with an `X-Forwarded-For`.
async fn healthz_as(gw: &Gateway, forwarded: &str) -> u16 {
    gw.http
        .get(gw.url("/healthz"))
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let limited = |c: &mut spillway::config::Config| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 2;
    };
    // No trusted proxies: every request is the loopback peer's, whatever it claims.
    let untrusted = Gateway::with(limited).await;
    assert_eq!(healthz_as(&untrusted, "203.0.113.1").await, 200);
    assert_eq!(healthz_as(&untrusted, "203.0.113.1").await, 200);
    assert_eq!(
        healthz_as(&untrusted, "203.0.113.2").await,
        429,
        "a forged X-Forwarded-For does not buy a new rate-limit bucket"
    );
    untrusted.shutdown().await;

    // Loopback is the trusted proxy: each forwarded client has its own bucket.
    let trusted = Gateway::with(|c| {
        limited(c);
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert_eq!(healthz_as(&trusted, "203.0.113.1").await, 200);
    assert_eq!(healthz_as(&trusted, "203.0.113.1").await, 200);
    assert_eq!(healthz_as(&trusted, "203.0.113.1").await, 429);
    assert_eq!(healthz_as(&trusted, "203.0.113.2").await, 200);
    // The rightmost untrusted hop counts; a spoof left of it does not.
    assert_eq!(healthz_as(&trusted, "203.0.113.3, 203.0.113.1").await, 429);
    trusted.shutdown().await;
}

/// `@connections/{id}`'s `sourceIp` for a `/v1/ws` opened with `forwarded`.
async fn source_ip(gw: &Gateway, forwarded: &str) -> Value {
    let mut req = format!("{}/v1/ws", gw.base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", gw.token).parse().unwrap(),
    );
    req.headers_mut()
        .insert("x-forwarded-for", forwarded.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello: Value = loop {
        match within(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => break serde_json::from_str(&t).unwrap(),
            _ => continue,
        }
    };
    let id = hello["connectionId"].as_str().unwrap().to_owned();
    let admin = gw.token_for("ops", &["admin"]);
    let info: Value = gw
        .http
        .get(gw.url(&format!("/@connections/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = ws.close(None).await;
    info["identity"]["sourceIp"].clone()
}

#[tokio::test]
async fn connections_report_the_forwarded_client_only_behind_a_trusted_proxy() {
    let untrusted = Gateway::start().await;
    assert_eq!(source_ip(&untrusted, "203.0.113.9").await, "127.0.0.1");
    untrusted.shutdown().await;
    let trusted = Gateway::with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    assert_eq!(
        source_ip(&trusted, "198.51.100.1, 203.0.113.9").await,
        "203.0.113.9"
    );
    trusted.shutdown().await;
}

#[tokio::test]
async fn internal_routes_are_served_only_on_the_internal_listener() {
    const SECRET: &str = "hostile-test-secret";
    let gw = Gateway::with(|c| {
        c.internal_listen = Some("127.0.0.1:0".parse().unwrap());
        c.cluster_secret = Some(SECRET.into());
    })
    .await;
    let internal = format!(
        "http://{}",
        gw.server.as_ref().unwrap().internal_addr().unwrap()
    );
    // Other nodes are told to call the internal listener.
    assert_eq!(
        gw.server.as_ref().unwrap().state().cluster.advertise_url,
        internal
    );
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=5 rate=0]] relay me"}))
        .await;
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    collect_events(resp).await;
    let events = |base: &str, secret: Option<&str>| {
        let mut req = gw
            .http
            .get(format!("{base}/internal/v1/sessions/{id}/events?from=0"));
        if let Some(s) = secret {
            req = req.header(spillway::cluster::SECRET_HEADER, s);
        }
        req.send()
    };
    // The public listener knows nothing of them, secret or not (a signed-in
    // caller gets the 404 of any unknown route).
    let public = gw
        .http
        .get(gw.url(&format!("/internal/v1/sessions/{id}/events?from=0")))
        .header(spillway::cluster::SECRET_HEADER, SECRET)
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let cancel = gw
        .http
        .post(gw.url(&format!("/internal/v1/sessions/{id}/cancel")))
        .header(spillway::cluster::SECRET_HEADER, SECRET)
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 404);
    // The internal listener serves them, with the secret only: a call
    // without one gets the 404 of no such route, one with another secret
    // (a node that disagrees on it) a 401.
    assert_eq!(events(&internal, None).await.unwrap().status(), 404);
    assert_eq!(
        events(&internal, Some("another-secret"))
            .await
            .unwrap()
            .status(),
        401
    );
    let r = events(&internal, Some(SECRET)).await.unwrap();
    assert_eq!(r.status(), 200);
    let body = within(Duration::from_secs(10), r.text()).await.unwrap();
    let lines: Vec<Value> = body
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines.last().unwrap()["isComplete"], true);
    // Public routes are not on the internal listener.
    let r = gw
        .http
        .get(format!("{internal}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    gw.shutdown().await;

    // A memory registry without SPILLWAY_INTERNAL_LISTEN has no internal listener.
    let alone = Gateway::start().await;
    assert!(alone.server.as_ref().unwrap().internal_addr().is_none());
    alone.shutdown().await;
}

#[tokio::test]
async fn a_fleet_node_without_an_internal_listener_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = spillway::config::Config::local_defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.registry = spillway::config::RegistryMode::Dynamodb;
    config.cluster_secret = Some("s".into());
    config.internal_listen = None;
    let err = spillway::server::Server::start(config)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("SPILLWAY_INTERNAL_LISTEN"),
        "{err}"
    );
}

/// The soft `Max open files` of this process, from /proc.
fn soft_nofile() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test]
async fn the_descriptor_limit_is_raised_at_start() {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    // Start from a low soft limit (the usual 1,024), as a fresh shell would.
    let low = hard.min(1024).min(soft);
    // (Under `cargo test` another test's start may raise it again meanwhile.)
    rlimit::setrlimit(rlimit::Resource::NOFILE, low, hard).unwrap();
    let gw = Gateway::start().await;
    let (now, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    assert_eq!(now, hard, "the soft limit is raised to the hard limit");
    if cfg!(target_os = "linux") {
        assert_eq!(soft_nofile(), Some(hard));
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_slot() {
    // Caps fitted as for a small descriptor limit: one address gets three
    // quarters of the slots; a probe from another address still gets in.
    let gw = Gateway::with(|c| {
        c.max_connections = 8;
        c.max_connections_per_ip = 100;
        c.http_header_timeout_secs = 30.0;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
        assert!(healthz_on(&mut s).await.starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let mut over = TcpStream::connect(addr(&gw)).await.unwrap();
    closed_by_server(&mut over, Duration::from_secs(5)).await;
    // From 127.0.0.2 (another address on loopback).
    let probe = TcpSocket::new_v4().unwrap();
    probe.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut probe = probe.connect(addr(&gw)).await.unwrap();
    assert!(healthz_on(&mut probe).await.starts_with("HTTP/1.1 200"));
    drop(held);
    gw.shutdown().await;
}

/// A half-sent HTTP/1.1 head is held up to ~72 KiB (64 KiB of headers, as
/// HTTP/2's header list): past that it is refused (`431`) and closed at
/// once, not kept until the header timeout, so a slow client cannot park
/// hundreds of KiB per connection. A whole 60 KiB head is served.
#[tokio::test]
async fn an_oversized_http1_head_is_refused() {
    let gw = Gateway::with(|c| c.http_header_timeout_secs = 30.0).await;
    let head = |filler: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: spillway\r\nx-filler: {}",
            "a".repeat(filler)
        )
    };
    let mut ok = TcpStream::connect(addr(&gw)).await.unwrap();
    ok.write_all(format!("{}\r\n\r\n", head(60 * 1024)).as_bytes())
        .await
        .unwrap();
    let answer = healthz_answer(&mut ok).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "60 KiB of headers are served"
    );

    // 100 KiB of a head that never ends: refused long before the 30 s timeout.
    let mut big = TcpStream::connect(addr(&gw)).await.unwrap();
    // The server may refuse before it has read all of it.
    let _ = big.write_all(head(100 * 1024).as_bytes()).await;
    let answer = closed_by_server(&mut big, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer[..answer.len().min(100)])
    );
    gw.shutdown().await;
}

/// A model id that cannot be one (too long for Bedrock, or with characters
/// no id has) is a `400` before any upstream call: it never reaches the
/// SDK (which cannot put 64 KiB in a URI) or a metric label.
#[tokio::test]
async fn a_model_id_that_cannot_be_one_is_refused_up_front() {
    let gw = Gateway::start().await;
    let known = "anthropic.claude-3-haiku-20240307-v1:0";
    for model in [
        format!("{known}{}", "x".repeat(66_000)),
        format!("{known}\r\nX-Evil: 1"),
        format!("{known} junk"),
    ] {
        let resp = gw
            .http
            .post(gw.url("/v1/stream"))
            .bearer_auth(&gw.token)
            .json(&json!({"prompt": "hi", "model": model}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unknown_model", "{body}");
    }
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("junk") && !metrics.contains("X-Evil"));
    gw.shutdown().await;
}

/// A request whose body is still arriving when the request timeout hits is
/// the client's doing: `408` with the JSON error, not `504`, and the trace
/// layer does not log it as a failure, so no client can write ERROR lines
/// at will. (A slow answer to a request that did arrive stays a logged
/// `504`: `edge::layers` unit tests.) The gateway serves on this test's own
/// thread, under a subscriber writing to a buffer, as in `tests/auth.rs`.
#[test]
fn a_body_still_arriving_at_the_request_timeout_is_a_408_and_no_error_log() {
    let tweak = |c: &mut spillway::config::Config| c.request_timeout_secs = 0.5;
    let (answer, logs) =
        with_captured_logs(tracing::Level::DEBUG, tweak, |base, token| async move {
            let mut sock = TcpStream::connect(base.trim_start_matches("http://"))
                .await
                .unwrap();
            // The head and the first chunk of a body, and then nothing more.
            let head = format!(
                "POST /v1/stream HTTP/1.1\r\nHost: spillway\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"pro\r\n"
            );
            sock.write_all(head.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            within(Duration::from_secs(10), async {
                let mut buf = [0u8; 1024];
                while !String::from_utf8_lossy(&got).contains("}}") {
                    let n = sock.read(&mut buf).await.unwrap();
                    assert!(n > 0, "closed before the answer");
                    got.extend_from_slice(&buf[..n]);
                }
            })
            .await;
            String::from_utf8(got).unwrap()
        });

    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        answer.contains("content-type: application/json"),
        "{answer}"
    );
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout", "{answer}");
    // The capture works: TraceLayer's line for this response is in it.
    assert!(
        logs.contains("finished processing request") && logs.contains("status=408"),
        "{logs}"
    );
    assert!(
        !logs.lines().any(|l| l.contains(" ERROR ")),
        "an ERROR line:\n{logs}"
    );
}
