//! The byte budget of retained session logs (`SPILLWAY_SESSION_MEMORY_BYTES`):
//! past it the oldest finished sessions are dropped (`410 Gone` to their
//! owner afterwards, `404` to anyone else), never a live one; the gauge
//! `spillway_session_bytes` reports what the logs hold,
//! `spillway_sessions_evicted_total` how many were dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;

async fn status(gw: &Gateway, path: &str, token: &str) -> (u16, serde_json::Value) {
    let resp = gw
        .http
        .get(gw.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or_default())
}

fn session_bytes(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .find(|l| l.starts_with("spillway_session_bytes "))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

#[tokio::test]
async fn past_the_budget_finished_sessions_go_first_and_live_ones_stay() {
    // One finished session of 200 tokens is already past this budget.
    let gw = Gateway::with(|c| c.session_memory_bytes = Some(2_000)).await;

    let done = gw
        .post_stream(json!({"prompt": "[[sim tokens=200 rate=0]] finished"}))
        .await;
    let done_id = done.headers()["x-session-id"].to_str().unwrap().to_owned();
    let events = collect_events(done).await;
    assert_eq!(events.len(), 201);

    // A live session, read as it streams.
    let live = gw
        .post_stream(json!({"prompt": "[[sim tokens=400 rate=20]] live"}))
        .await;
    let live_id = live.headers()["x-session-id"].to_str().unwrap().to_owned();
    let mut live_events = sse_events(live);
    within(Duration::from_secs(10), live_events.next())
        .await
        .unwrap();

    // The sweeper (every second at most) drops the finished one, not the live one.
    let info = format!("/v1/sessions/{done_id}");
    eventually(Duration::from_secs(10), || async {
        status(&gw, &info, &gw.token).await.0 == 410
    })
    .await;
    let (code, body) = status(&gw, &info, &gw.token).await;
    assert_eq!(code, 410);
    assert_eq!(body["error"]["code"], "gone", "{body}");
    let (code, _) = status(&gw, &format!("{info}/stream"), &gw.token).await;
    assert_eq!(code, 410, "attaching to it is refused the same way");
    let bob = gw.token_for("bob", &[]);
    let (code, _) = status(&gw, &info, &bob).await;
    assert_eq!(code, 404, "another user learns nothing about it");

    let (code, body) = status(&gw, &format!("/v1/sessions/{live_id}"), &gw.token).await;
    assert_eq!(code, 200, "the live session is never dropped");
    assert_eq!(body["status"], "streaming");
    let next = within(Duration::from_secs(10), live_events.next())
        .await
        .unwrap();
    assert!(!next.data.is_complete, "and keeps streaming");

    let metrics = gw.metrics().await;
    let held = session_bytes(&metrics).expect("spillway_session_bytes gauge");
    assert!(held > 0, "the live session's log is counted: {held}");
    // The drop is counted.
    assert!(
        metrics
            .lines()
            .any(|l| l == "spillway_sessions_evicted_total 1"),
        "{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn within_the_budget_nothing_is_dropped() {
    let gw = Gateway::with(|c| c.session_memory_bytes = Some(64 << 20)).await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=50 rate=0]] keep me"}))
        .await;
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let events = collect_events(resp).await;
    // Read back from the retained (compact) log: the same events, byte for byte.
    let again = gw
        .http
        .get(gw.url(&format!("/v1/sessions/{id}/stream")))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    let replay = collect_events(again).await;
    assert_eq!(replay.len(), events.len());
    for (a, b) in events.iter().zip(&replay) {
        assert_eq!(a.data, b.data, "seq {}", a.data.seq);
    }
    eventually(Duration::from_secs(5), || async {
        session_bytes(&gw.metrics().await).is_some_and(|b| b > 0)
    })
    .await;
    let (code, _) = status(&gw, &format!("/v1/sessions/{id}"), &gw.token).await;
    assert_eq!(code, 200);
    assert!(
        gw.metrics()
            .await
            .lines()
            .any(|l| l == "spillway_sessions_evicted_total 0")
    );
    gw.shutdown().await;
}
