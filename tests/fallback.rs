//! Fallback models and application-inference-profile ARNs, end to end: the
//! gateway on an ephemeral port, its embedded simulator, the real SDK between
//! them. `unavailable=TEXT` makes the simulator refuse matching model ids with
//! `ServiceUnavailableException`, `throttle=K` the first K tries of a prompt.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{CLAUDE, Gateway, SseEvent, collect_events, within};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const NOVA: &str = "amazon.nova-lite-v1:0";
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";
const PROFILE: &str =
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";
/// Matches CLAUDE (`anthropic.claude-3-haiku-…`) and no fallback below.
const DOWN: &str = "[[sim unavailable=claude-3-haiku tokens=5 rate=0 ttft_ms=0]]";

fn strings(models: &[&str]) -> Vec<String> {
    models.iter().map(|m| (*m).to_owned()).collect()
}

async fn with_fallbacks(models: &[&str]) -> Gateway {
    let models = strings(models);
    Gateway::with(move |c| c.fallback_models = models).await
}

/// `POST /v1/stream` that must start; every event to the end.
async fn stream(gw: &Gateway, body: Value) -> Vec<SseEvent> {
    let resp = gw.post_stream(body).await;
    assert_eq!(resp.status(), 200);
    let events = collect_events(resp).await;
    assert!(events.last().unwrap().data.is_complete, "{events:?}");
    events
}

fn text(events: &[SseEvent]) -> String {
    events.iter().map(|e| e.data.token.as_str()).collect()
}

async fn metrics(gw: &Gateway) -> String {
    gw.metrics().await
}

#[tokio::test]
async fn an_unavailable_model_falls_back_and_the_final_event_names_the_answer() {
    let gw = with_fallbacks(&[NOVA]).await;
    let events = stream(
        &gw,
        json!({"model": CLAUDE, "prompt": format!("{DOWN} rivers")}),
    )
    .await;
    let last = &events.last().unwrap().data;
    assert_eq!(last.error, None);
    assert_eq!(last.model.as_deref(), Some(NOVA));
    assert_eq!(text(&events).split_whitespace().count(), 5);
    // The session is the fallback model's from the start.
    let info = gw
        .get_json(&format!("/v1/sessions/{}", last.session_id))
        .await;
    assert_eq!(info["model"], NOVA, "{info}");
    let m = metrics(&gw).await;
    let line = format!("spillway_fallbacks_total{{from=\"{CLAUDE}\",to=\"{NOVA}\"}} 1");
    assert!(m.contains(&line), "missing {line} in\n{m}");
    assert!(
        m.contains("spillway_upstream_errors_total{kind=\"upstream_unavailable\"} 1"),
        "{m}"
    );
    // A model that answers names itself, fallback or not.
    let events = stream(
        &gw,
        json!({"model": LLAMA, "prompt": format!("{DOWN} lakes")}),
    )
    .await;
    assert_eq!(events.last().unwrap().data.model.as_deref(), Some(LLAMA));
    gw.shutdown().await;
}

#[tokio::test]
async fn fallbacks_are_tried_in_order() {
    // The first fallback is down too (its id contains the text).
    let cross_region = format!("us.{CLAUDE}");
    let gw = with_fallbacks(&[&cross_region, LLAMA, NOVA]).await;
    let events = stream(
        &gw,
        json!({"model": CLAUDE, "prompt": format!("{DOWN} in order")}),
    )
    .await;
    assert_eq!(events.last().unwrap().data.model.as_deref(), Some(LLAMA));
    let m = metrics(&gw).await;
    assert!(
        m.contains(&format!("from=\"{CLAUDE}\",to=\"{LLAMA}\"")),
        "{m}"
    );
    assert!(!m.contains(&format!("to=\"{cross_region}\"")), "{m}");
    assert!(!m.contains(&format!("to=\"{NOVA}\"")), "{m}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_fallback_whose_own_body_cannot_take_tools_answers_through_converse() {
    // Llama's prompt-string body takes no tools; its Converse does. The
    // requested Claude goes by InvokeModel, so before, the Llama was skipped.
    const LLAMA_90B: &str = "us.meta.llama3-2-90b-instruct-v1:0";
    let gw = with_fallbacks(&[LLAMA_90B]).await;
    let tool = json!({"name": "get_weather", "inputSchema": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}});
    let prompt =
        "[[sim unavailable=claude-3-haiku tool=get_weather tokens=2 rate=0 ttft_ms=0]] Paris?";
    let events = stream(
        &gw,
        json!({"model": CLAUDE, "api": "invoke", "tools": [tool], "prompt": prompt}),
    )
    .await;
    let last = &events.last().unwrap().data;
    assert_eq!(last.error, None, "{last:?}");
    assert_eq!(last.model.as_deref(), Some(LLAMA_90B));
    assert_eq!(last.stop_reason.as_deref(), Some("tool_use"), "{last:?}");
    let m = metrics(&gw).await;
    assert!(
        m.contains(&format!("from=\"{CLAUDE}\",to=\"{LLAMA_90B}\"")),
        "{m}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn without_fallbacks_an_unavailable_model_is_a_503() {
    let gw = Gateway::start().await;
    let resp = gw
        .post_stream(json!({"model": CLAUDE, "prompt": format!("{DOWN} alone")}))
        .await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("unavailable"), "{message}");
    assert_eq!(gw.sim_stats().await["streamsStarted"], 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn when_every_fallback_fails_the_error_names_them() {
    let cross_region = format!("us.{CLAUDE}");
    let gw = with_fallbacks(&[&cross_region]).await;
    let resp = gw
        .post_stream(json!({"model": CLAUDE, "prompt": format!("{DOWN} all down")}))
        .await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "fallback models tried: {cross_region}: upstream_unavailable"
        )),
        "{message}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn throttled_past_its_retries_falls_back() {
    let gw = Gateway::with(|c| {
        c.fallback_models = strings(&[NOVA]);
        c.upstream_max_attempts = 2;
    })
    .await;
    // Both attempts at the requested model are throttled; the third call (the fallback) is not.
    let prompt = "[[sim throttle=2 tokens=3 rate=0 ttft_ms=0]] throttled then nova";
    let events = stream(&gw, json!({"model": CLAUDE, "prompt": prompt})).await;
    assert_eq!(events.last().unwrap().data.model.as_deref(), Some(NOVA));
    let stats = gw.sim_stats().await;
    assert_eq!(
        (
            stats["throttled"].as_u64(),
            stats["streamsStarted"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let m = metrics(&gw).await;
    assert!(
        m.contains(&format!(
            "spillway_fallbacks_total{{from=\"{CLAUDE}\",to=\"{NOVA}\"}} 1"
        )),
        "{m}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn nothing_falls_back_after_the_first_token() {
    let gw = with_fallbacks(&[NOVA]).await;
    let prompt = "[[sim tokens=5 error_after=2 rate=0 ttft_ms=0]] breaks mid-stream";
    let events = stream(&gw, json!({"model": CLAUDE, "prompt": prompt})).await;
    let last = &events.last().unwrap().data;
    let error = last.error.as_ref().expect("the stream ends in an error");
    assert_eq!(error.code, "model_stream_error");
    assert_eq!(last.model.as_deref(), Some(CLAUDE));
    assert_eq!(text(&events).split_whitespace().count(), 2);
    assert_eq!(gw.sim_stats().await["streamsStarted"], 1);
    assert!(!metrics(&gw).await.contains("spillway_fallbacks_total{"));
    gw.shutdown().await;
}

#[tokio::test]
async fn an_allowed_application_profile_is_served_through_converse() {
    let gw = Gateway::with(|c| {
        c.allowed_models = strings(&[CLAUDE, PROFILE]);
        c.default_model = CLAUDE.into();
        c.api = spillway::upstream::Api::Invoke;
    })
    .await;
    // The simulator answers the opaque ARN only on Converse, so a complete
    // answer means the gateway chose ConverseStream despite `--api invoke`.
    let events = stream(
        &gw,
        json!({"model": PROFILE, "prompt": "[[sim tokens=4 rate=0 ttft_ms=0]] profile", "api": "invoke"}),
    )
    .await;
    let last = &events.last().unwrap().data;
    assert_eq!(last.error, None, "{last:?}");
    assert_eq!(last.model.as_deref(), Some(PROFILE));
    assert_eq!(text(&events).split_whitespace().count(), 4);
    let listed = gw.get_json("/v1/models").await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&PROFILE), "{listed}");
    // Generic Converse capabilities: no reasoning budget.
    let resp = gw
        .post_stream(
            json!({"model": PROFILE, "prompt": "think", "reasoning": {"budgetTokens": 2048}}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_application_profile_not_listed_is_a_400() {
    for allowed in [vec![], strings(&[CLAUDE])] {
        let gw = Gateway::with(|c| {
            c.allowed_models = allowed.clone();
            c.default_model = CLAUDE.into();
        })
        .await;
        let resp = gw
            .post_stream(json!({"model": PROFILE, "prompt": "hi"}))
            .await;
        assert_eq!(resp.status(), 400, "allowed: {allowed:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unknown_model");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(PROFILE), "{message}");
        assert_eq!(
            gw.sim_stats().await["authSchemes"]["sigv4"],
            0,
            "no upstream call"
        );
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn an_application_profile_can_be_the_fallback() {
    let gw = Gateway::with(|c| {
        c.allowed_models = strings(&[CLAUDE, PROFILE]);
        c.default_model = CLAUDE.into();
        c.fallback_models = strings(&[PROFILE]);
    })
    .await;
    let events = stream(
        &gw,
        json!({"model": CLAUDE, "prompt": format!("{DOWN} to a profile")}),
    )
    .await;
    assert_eq!(events.last().unwrap().data.model.as_deref(), Some(PROFILE));
    gw.shutdown().await;
}

#[tokio::test]
async fn fallback_models_outside_the_allow_list_fail_start_up() {
    let mut config = spillway::config::Config::local_defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.allowed_models = strings(&[CLAUDE]);
    config.default_model = CLAUDE.into();
    config.fallback_models = strings(&[NOVA]);
    let err = spillway::server::Server::start(config)
        .await
        .err()
        .expect("refused");
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "SPILLWAY_FALLBACK_MODELS: '{NOVA}' is not in SPILLWAY_ALLOWED_MODELS"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn the_binary_refuses_an_unknown_fallback_model_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SPILLWAY_DATA_DIR", dir.path())
        .env(
            "SPILLWAY_FALLBACK_MODELS",
            format!("{NOVA},openai.gpt-oss-120b-1:0"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    let mut pipe = child.stderr.take().unwrap();
    within(Duration::from_secs(30), pipe.read_to_string(&mut stderr))
        .await
        .unwrap();
    let status = within(Duration::from_secs(30), child.wait()).await.unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("SPILLWAY_FALLBACK_MODELS: 'openai.gpt-oss-120b-1:0' is not a known model"),
        "{stderr}"
    );
}
