//! The streaming core end to end: SSE and text/plain over the real SDK and
//! the simulator, resume, cancellation, concurrency, every model family.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;

#[tokio::test]
async fn sse_arrives_incrementally_with_contiguous_seq_and_final_usage() {
    let gw = Gateway::start().await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=12 rate=40]] Tell me about rivers."}))
        .await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h["cache-control"].to_str().unwrap().contains("no-cache"));
    assert!(
        h.get("content-encoding").is_none(),
        "streams are never compressed"
    );
    let session_id = h["x-session-id"].to_str().unwrap().to_owned();

    let mut events = sse_events(resp);
    let first = within(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    assert_eq!(first.event, "token");
    assert_eq!(&*first.data.session_id, session_id);
    // The first token is out while the upstream is still generating.
    let info = gw.get_json(&format!("/v1/sessions/{session_id}")).await;
    assert_eq!(
        info["status"], "streaming",
        "first token must arrive before the end: {info}"
    );

    let mut all = vec![first];
    all.extend(within(Duration::from_secs(20), events.collect::<Vec<_>>()).await);
    assert_contiguous(&all, 0);
    assert_eq!(all.len(), 13, "12 tokens and a final event");
    let last = all.last().unwrap();
    assert_eq!(last.event, "done");
    assert_eq!(last.data.token, "");
    assert_eq!(last.data.stop_reason.as_deref(), Some("end_turn"));
    let usage = last.data.usage.unwrap();
    assert_eq!(usage.output_tokens, 12);
    assert!(usage.input_tokens > 0);

    let text: String = all.iter().map(|e| e.data.token.as_str()).collect();
    let info = gw.get_json(&format!("/v1/sessions/{session_id}")).await;
    assert_eq!(info["status"], "complete");
    assert_eq!(info["text"], text);
    assert!(
        text.split_whitespace().count() >= 4,
        "realistic text, got {text:?}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn text_plain_streams_bare_tokens_in_chunks() {
    let gw = Gateway::start().await;
    let resp = gw
        .http
        .post(gw.url("/v1/stream"))
        .bearer_auth(&gw.token)
        .header("accept", "text/plain")
        .body(r#"{"prompt":"[[sim tokens=8 rate=50]] hello"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let chunks: Vec<_> = within(
        Duration::from_secs(20),
        resp.bytes_stream().collect::<Vec<_>>(),
    )
    .await;
    assert!(
        chunks.len() >= 2,
        "flushed per token, got {} chunk(s)",
        chunks.len()
    );
    let body: String = chunks
        .into_iter()
        .map(|c| String::from_utf8(c.unwrap().to_vec()).unwrap())
        .collect();
    let info = gw.get_json(&format!("/v1/sessions/{id}")).await;
    assert_eq!(body, format!("{}\n", info["text"].as_str().unwrap()));
    gw.shutdown().await;
}

#[tokio::test]
async fn resume_after_a_dropped_client_has_no_gap_or_duplicate() {
    let gw = Gateway::start().await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=30 rate=60]] resume me"}))
        .await;
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let mut events = sse_events(resp);
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(
            within(Duration::from_secs(10), events.next())
                .await
                .unwrap(),
        );
    }
    drop(events); // the client goes away mid-stream

    // EventSource-style reconnect: Last-Event-ID header, token in the query string.
    let resp = gw
        .http
        .get(gw.url(&format!("/v1/sessions/{id}/stream?token={}", gw.token)))
        .header("last-event-id", "4")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rest = collect_events(resp).await;
    assert_eq!(rest.first().unwrap().data.seq, 5);
    seen.extend(rest);
    assert_contiguous(&seen, 0);
    let text: String = seen.iter().map(|e| e.data.token.as_str()).collect();
    let info = gw.get_json(&format!("/v1/sessions/{id}")).await;
    assert_eq!(info["text"], text);

    // `?after=` resumes the same way; a late attach from 0 gets everything again.
    let resp = gw
        .http
        .get(gw.url(&format!("/v1/sessions/{id}/stream?after=20")))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    let tail = collect_events(resp).await;
    assert_contiguous(&tail, 21);
    let resp = gw
        .http
        .get(gw.url(&format!("/v1/sessions/{id}/stream")))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    let again = collect_events(resp).await;
    assert_eq!(again.len(), seen.len());
    assert!(again.iter().zip(&seen).all(|(a, b)| a.data == b.data));
    gw.shutdown().await;
}

/// A cursor past the end of a finished session's log can never be served:
/// refused with `416`, not answered `200` with heartbeats forever.
#[tokio::test]
async fn a_cursor_past_the_end_of_a_finished_session_is_refused_with_416() {
    let gw = Gateway::start().await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=3 rate=0]] short"}))
        .await;
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let all = collect_events(resp).await;
    assert_eq!(all.len(), 4, "three tokens and the final event");
    let attach = |last_event_id: Option<&str>, query: &str| {
        let mut req = gw
            .http
            .get(gw.url(&format!("/v1/sessions/{id}/stream{query}")))
            .bearer_auth(&gw.token);
        if let Some(v) = last_event_id {
            req = req.header("last-event-id", v);
        }
        within(Duration::from_secs(5), req.send())
    };
    for (last_event_id, query) in [
        (Some("18446744073709551615"), ""),
        (Some("4"), ""),
        (None, "?after=4"),
        (None, "?after=18446744073709551615"),
    ] {
        let r = attach(last_event_id, query).await.unwrap();
        assert_eq!(r.status(), 416, "{last_event_id:?} {query}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cursor_past_end");
    }
    // After the final event (seq 3): nothing will follow; `204` stops an
    // EventSource from reconnecting.
    let r = attach(Some("3"), "").await.unwrap();
    assert_eq!(r.status(), 204);
    // One before it: the final event, then the stream ends.
    let r = attach(Some("2"), "").await.unwrap();
    assert_eq!(r.status(), 200);
    let rest = within(Duration::from_secs(5), collect_events(r)).await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0].event, "done");
    gw.shutdown().await;
}

#[tokio::test]
async fn abandoning_a_stream_cancels_the_upstream_after_the_grace() {
    let gw = Gateway::with(|c| c.cancel_grace_secs = 0.2).await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=400 rate=20]] a long answer nobody reads"}))
        .await;
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let mut events = sse_events(resp);
    within(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    drop(events);
    eventually(Duration::from_secs(10), || async {
        gw.sim_stats().await["streamsCancelled"] == 1
    })
    .await;
    let info = gw.get_json(&format!("/v1/sessions/{id}")).await;
    assert_eq!(info["status"], "cancelled");
    assert_eq!(gw.sim_stats().await["streamsCompleted"], 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn explicit_cancel_stops_the_upstream_at_once() {
    let gw = Gateway::start().await; // default grace: 5 s
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=400 rate=20]] stop me"}))
        .await;
    let id = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let mut events = sse_events(resp);
    within(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    let info: serde_json::Value = gw
        .http
        .post(gw.url(&format!("/v1/sessions/{id}/cancel")))
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["status"], "cancelled");
    let rest: Vec<_> = within(Duration::from_secs(5), events.collect::<Vec<_>>()).await;
    let last = rest.last().unwrap();
    assert!(last.data.is_complete);
    assert_eq!(last.data.stop_reason.as_deref(), Some("cancelled"));
    eventually(Duration::from_secs(3), || async {
        gw.sim_stats().await["streamsCancelled"] == 1
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn fifty_concurrent_streams_all_complete() {
    let gw = Gateway::start().await;
    let runs = (0..50).map(|i| {
        let gw = &gw;
        async move {
            let resp = gw
                .post_stream(json!({"prompt": format!("[[sim tokens=20 rate=100]] question {i}")}))
                .await;
            assert_eq!(resp.status(), 200);
            let events = collect_events(resp).await;
            assert_contiguous(&events, 0);
            assert_eq!(events.len(), 21);
            assert_eq!(events.last().unwrap().event, "done");
        }
    });
    within(
        Duration::from_secs(60),
        futures_util::future::join_all(runs),
    )
    .await;
    let stats = gw.sim_stats().await;
    assert_eq!(stats["streamsCompleted"], 50);
    assert_eq!(stats["tokensSent"], 1000);
    gw.shutdown().await;
}

async fn stream_model(gw: &Gateway, body: serde_json::Value) -> Vec<SseEvent> {
    let resp = gw.post_stream(body.clone()).await;
    let status = resp.status();
    assert_eq!(
        status,
        200,
        "{body}: {}",
        resp.text().await.unwrap_or_default()
    );
    collect_events(resp).await
}

#[tokio::test]
async fn every_model_family_streams_end_to_end() {
    let gw = Gateway::start().await;
    let models = [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "us.amazon.nova-pro-v1:0",
        "amazon.titan-text-express-v1",
        "meta.llama3-8b-instruct-v1:0",
        "mistral.mistral-7b-instruct-v0:2",
        "cohere.command-r-v1:0",
        "us.deepseek.r1-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
    ];
    for model in models {
        let events = stream_model(
            &gw,
            json!({"model": model, "system": "Be brief.", "prompt": "[[sim tokens=6 rate=0]] Hi",
                   "messages": [{"role": "user", "content": "Earlier"}, {"role": "assistant", "content": "Yes?"}]}),
        )
        .await;
        assert_contiguous(&events, 0);
        let last = events.last().unwrap();
        assert_eq!(last.event, "done", "{model}: {:?}", last.data);
        assert_eq!(events.len(), 7, "{model}: six tokens and the end");
        assert!(
            events[..6].iter().all(|e| !e.data.token.is_empty()),
            "{model}"
        );
        let usage = last.data.usage.unwrap();
        assert_eq!(usage.output_tokens, 6, "{model}");
        assert!(usage.input_tokens > 0, "{model}: input tokens reported");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn converse_stream_works_for_any_family() {
    let gw = Gateway::with(|c| c.api = spillway::upstream::Api::Converse).await;
    for model in [
        CLAUDE,
        "us.amazon.nova-lite-v1:0",
        "meta.llama3-8b-instruct-v1:0",
    ] {
        let events = stream_model(
            &gw,
            json!({"model": model, "prompt": "[[sim tokens=5 rate=0]] Hi"}),
        )
        .await;
        assert_eq!(events.len(), 6, "{model}");
        let last = events.last().unwrap();
        assert_eq!(last.data.stop_reason.as_deref(), Some("end_turn"));
        assert_eq!(last.data.usage.unwrap().output_tokens, 5);
    }
    // ... and a request can pick the invoke path per request.
    let events = stream_model(
        &gw,
        json!({"api": "invoke", "prompt": "[[sim tokens=3 rate=0]] Hi"}),
    )
    .await;
    assert_eq!(events.len(), 4);
    gw.shutdown().await;
}

#[tokio::test]
async fn throttling_before_the_first_token_is_retried_to_success() {
    let gw = Gateway::start().await;
    let events = stream_model(
        &gw,
        json!({"prompt": "[[sim throttle=2 tokens=3 rate=0]] retry me"}),
    )
    .await;
    assert_eq!(events.last().unwrap().event, "done");
    assert_eq!(events.len(), 4);
    assert_eq!(gw.sim_stats().await["throttled"], 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn throttling_past_the_retry_budget_is_a_429_before_streaming() {
    let gw = Gateway::with(|c| c.upstream_max_attempts = 2).await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim throttle=5]] busy"}))
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "throttled");
    assert_eq!(gw.sim_stats().await["throttled"], 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_upstream_validation_error_is_a_400_before_streaming() {
    let gw = Gateway::start().await;
    let resp = gw
        .post_stream(json!({"prompt": "hi", "maxTokens": 100000}))
        .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "validation_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{body}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn mid_stream_failures_end_with_an_error_event() {
    let gw = Gateway::with(|c| c.upstream_idle_timeout_secs = 0.5).await;
    for (directive, code) in [
        ("error_after=3", "model_stream_error"),
        ("drop_after=3", "upstream_connection_dropped"),
        ("stall_after=3", "upstream_idle_timeout"),
    ] {
        let events = stream_model(
            &gw,
            json!({"prompt": format!("[[sim tokens=10 rate=100 {directive}]] go")}),
        )
        .await;
        assert_contiguous(&events, 0);
        assert_eq!(events.len(), 4, "{directive}: three tokens then the error");
        let last = events.last().unwrap();
        assert_eq!(last.event, "error", "{directive}");
        let err = last.data.error.as_ref().unwrap();
        assert_eq!(err.code, code, "{directive}");
        assert!(err.retryable);
        let info = gw
            .get_json(&format!("/v1/sessions/{}", last.data.session_id))
            .await;
        assert_eq!(info["status"], "failed");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_and_sessions_are_private() {
    let gw = Gateway::start().await;
    let no_token = gw
        .http
        .post(gw.url("/v1/stream"))
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let body: serde_json::Value = no_token.json().await.unwrap();
    assert_eq!(body["error"]["code"], "missing_token");
    let garbage = gw
        .http
        .post(gw.url("/v1/stream"))
        .bearer_auth("not.a.jwt")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);

    let events = stream_model(&gw, json!({"prompt": "[[sim tokens=2 rate=0]] mine"})).await;
    let id = events[0].data.session_id.to_string();
    let bob = gw.token_for("bob", &[]);
    for path in [
        format!("/v1/sessions/{id}"),
        format!("/v1/sessions/{id}/stream"),
    ] {
        let r = gw
            .http
            .get(gw.url(&path))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            404,
            "another user's session is not found: {path}"
        );
    }
    let health = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = gw.http.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_the_server_stays_healthy() {
    let gw = Gateway::with(|c| c.max_body_bytes = 4096).await;
    let post = |body: String| {
        gw.http
            .post(gw.url("/v1/stream"))
            .bearer_auth(&gw.token)
            .body(body)
            .send()
    };
    for (body, status) in [
        ("{not json".to_owned(), 400),
        (r#"{"prompt": 42}"#.to_owned(), 400),
        (
            r#"{"prompt": "x", "model": "acme.unknown-v1"}"#.to_owned(),
            400,
        ),
        (r#"{"prompt": "x", "temperature": 9}"#.to_owned(), 400),
        (format!(r#"{{"prompt": "{}"}}"#, "x".repeat(10_000)), 413),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{}", &body[..body.len().min(60)]);
        let json: serde_json::Value = r.json().await.unwrap();
        assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string());
    }
    let invalid_utf8 = gw
        .http
        .post(gw.url("/v1/stream"))
        .bearer_auth(&gw.token)
        .body(vec![b'{', 0xff, b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid_utf8.status(), 400);
    let events = stream_model(&gw, json!({"prompt": "[[sim tokens=2 rate=0]] still fine"})).await;
    assert_eq!(events.last().unwrap().event, "done");
    let models = gw.get_json("/v1/models").await;
    assert!(models["data"].as_array().unwrap().len() >= 6);
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_are_exported_without_a_token() {
    let gw = Gateway::start().await;
    let events = stream_model(&gw, json!({"prompt": "[[sim tokens=4 rate=0]] count me"})).await;
    assert_eq!(events.len(), 5);
    let _ = stream_model(
        &gw,
        json!({"prompt": "[[sim tokens=4 rate=100 error_after=1]] fail"}),
    )
    .await;
    let resp = gw.http.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    for needle in [
        "spillway_tokens_out_total 5",
        "spillway_time_to_first_token_seconds_count 2",
        "spillway_upstream_errors_total{kind=\"model_stream_error\"} 1",
        "spillway_sessions_ended_total{status=\"complete\"} 1",
        "spillway_upstream_active 0",
        "spillway_streams_active{transport=\"sse\"} 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // Bedrock's own counts, by model: the 4-token answer at least.
    let counted = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(&format!("spillway_{name}_total{{model=")))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert!(counted("output_tokens") >= 4);
    assert!(counted("input_tokens") > 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_drains_then_ends_streams_with_a_final_event() {
    let gw = Gateway::with(|c| c.drain_secs = 1).await;
    let short = gw
        .post_stream(json!({"prompt": "[[sim tokens=10 rate=40]] finishes in time"}))
        .await;
    let long = gw
        .post_stream(json!({"prompt": "[[sim tokens=400 rate=20]] too long to finish"}))
        .await;
    let (short, long) = (sse_events(short), sse_events(long));
    let stopping = tokio::spawn(gw.shutdown());
    let short: Vec<_> = within(Duration::from_secs(10), short.collect::<Vec<_>>()).await;
    assert_eq!(short.last().unwrap().event, "done");
    assert_eq!(
        short.last().unwrap().data.stop_reason.as_deref(),
        Some("end_turn")
    );
    let long: Vec<_> = within(Duration::from_secs(10), long.collect::<Vec<_>>()).await;
    assert_contiguous(&long, 0);
    let last = long.last().unwrap();
    assert!(last.data.is_complete, "a final event, not a cut stream");
    // Cut by the drain: a retryable error, never a stop that reads as whole.
    assert_eq!(last.event, "error");
    let error = last.data.error.as_ref().expect("an error");
    assert_eq!(
        (error.code.as_str(), error.retryable),
        ("shutting_down", true)
    );
    within(Duration::from_secs(10), stopping).await.unwrap();
}

/// A stream with nothing to send yet carries `: heartbeat` comments (so
/// proxies keep it open); they are whole SSE lines between whole events.
#[tokio::test]
async fn a_quiet_stream_carries_heartbeats_between_whole_events() {
    let gw = Gateway::with(|c| c.heartbeat_secs = 0.1).await;
    let resp = gw
        .post_stream(json!({"prompt": "[[sim tokens=3 ttft_ms=600]] Tell me about rivers."}))
        .await;
    assert_eq!(resp.status(), 200);
    let body = within(Duration::from_secs(20), resp.text()).await.unwrap();
    let first_token = body.find("event: token\n").expect("a token event");
    assert!(
        body[..first_token].contains(": heartbeat\n\n"),
        "no heartbeat while waiting 600 ms for the first token: {body:?}"
    );
    // Every frame is a whole event or a heartbeat, each ending in a blank line.
    for frame in body.split_terminator("\n\n") {
        assert!(
            frame == ": heartbeat"
                || (frame.starts_with("event: ")
                    && frame.contains("\nid: ")
                    && frame.contains("\ndata: {")),
            "unexpected frame {frame:?}"
        );
    }
    assert!(body.ends_with("\n\n") && body.contains("event: done\n"));
}

/// Streams are served, and the server drains and stops, however many
/// serving threads it runs: 0 (the shared runtime), 1, and more than cores.
#[tokio::test]
async fn every_serving_thread_count_streams_and_drains() {
    for threads in [0, 1, 3] {
        let gw = Gateway::with(|c| c.serve_threads = Some(threads)).await;
        let runs = (0..24).map(|i| {
            let gw = &gw;
            async move {
                let resp = gw
                    .post_stream(json!({"prompt": format!("[[sim tokens=10 rate=200]] q {i}")}))
                    .await;
                assert_eq!(resp.status(), 200, "{threads} threads");
                let events = collect_events(resp).await;
                assert_contiguous(&events, 0);
                assert_eq!(events.last().unwrap().event, "done", "{threads} threads");
            }
        });
        within(
            Duration::from_secs(60),
            futures_util::future::join_all(runs),
        )
        .await;
        // A stream still running when the shutdown starts ends with its
        // final event before the server stops.
        let resp = gw
            .post_stream(json!({"prompt": "[[sim tokens=30 rate=60]] long one"}))
            .await;
        let mut events = sse_events(resp);
        within(Duration::from_secs(10), events.next())
            .await
            .unwrap();
        let base = gw.base.clone();
        within(Duration::from_secs(30), gw.shutdown()).await;
        let rest: Vec<_> = within(Duration::from_secs(10), events.collect::<Vec<_>>()).await;
        assert!(
            rest.last().is_some_and(|e| e.data.is_complete),
            "{threads} threads"
        );
        // The port is closed.
        assert!(
            reqwest::get(format!("{base}/healthz")).await.is_err(),
            "{threads} threads"
        );
    }
}
