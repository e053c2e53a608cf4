//! Guardrails and citations through the real server and the embedded
//! simulator: the request's `guardrail` (and the deployment default) reaches
//! Bedrock on both API paths, an intervention is a `guardrail` event and
//! `stopReason: "guardrail_intervened"`, the simulator never intervenes
//! without a guardrail configuration, and a half-configured default stops
//! the binary at start-up.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{CLAUDE, Gateway, SseEvent, collect_events, within};
use serde_json::json;
use spillway::parts::event::Part;

const BLOCKED: &str = "Tell me [[sim tokens=8 guardrail=3 rate=0 ttft_ms=0]]";

fn texts(events: &[SseEvent]) -> usize {
    events
        .iter()
        .filter(|e| e.event == "token" && !e.data.token.is_empty())
        .count()
}

fn guardrail_part(events: &[SseEvent]) -> Option<(String, Option<serde_json::Value>)> {
    events
        .iter()
        .find(|e| e.event == "guardrail")
        .and_then(|e| match e.data.part.as_deref() {
            Some(Part::Guardrail { action, trace }) => Some((action.clone(), trace.clone())),
            _ => None,
        })
}

#[tokio::test]
async fn an_intervention_is_a_guardrail_event_and_the_stop_reason_on_both_apis() {
    let gw = Gateway::start().await;
    for api in ["converse", "invoke"] {
        let events = collect_events(
            gw.post_stream(json!({
                "prompt": BLOCKED, "model": CLAUDE, "api": api,
                "guardrail": {"id": "gr1abc", "version": "DRAFT", "trace": true, "streamProcessingMode": "async"},
            }))
            .await,
        )
        .await;
        assert_eq!(texts(&events), 3, "{api}: {events:?}");
        let (action, trace) =
            guardrail_part(&events).unwrap_or_else(|| panic!("{api}: {events:?}"));
        assert_eq!(action, "INTERVENED");
        let trace = trace.unwrap();
        assert_eq!(
            trace["actionReason"], "Guardrail blocked.",
            "{api}: {trace}"
        );
        let last = events.last().unwrap();
        assert_eq!(last.event, "done");
        assert_eq!(
            last.data.stop_reason.as_deref(),
            Some("guardrail_intervened"),
            "{api}"
        );
        // The guardrail event comes before the final one.
        let at = events.iter().position(|e| e.event == "guardrail").unwrap();
        assert!(at < events.len() - 1);
    }
    // No trace asked for: the verdict still comes, without a trace.
    let events = collect_events(
        gw.post_stream(
            json!({"prompt": BLOCKED, "model": CLAUDE, "api": "converse",
            "guardrail": {"id": "gr1abc", "version": "1"}}),
        )
        .await,
    )
    .await;
    assert_eq!(guardrail_part(&events), Some(("INTERVENED".into(), None)));
    // Each intervention is counted against the model that answered.
    let metrics = gw.metrics().await;
    let line = format!("spillway_guardrail_interventions_total{{model=\"{CLAUDE}\"}} 3");
    assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    gw.shutdown().await;
}

#[tokio::test]
async fn without_a_guardrail_the_simulator_does_not_intervene() {
    let gw = Gateway::start().await;
    for api in ["converse", "invoke"] {
        let events = collect_events(
            gw.post_stream(json!({"prompt": BLOCKED, "model": CLAUDE, "api": api}))
                .await,
        )
        .await;
        assert_eq!(texts(&events), 8, "{api}");
        assert!(guardrail_part(&events).is_none());
        assert_eq!(
            events.last().unwrap().data.stop_reason.as_deref(),
            Some("end_turn")
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_bad_guardrail_is_refused_before_any_upstream_call() {
    let gw = Gateway::start().await;
    for guardrail in [
        json!({"id": "gr1abc", "version": "v2"}),
        json!({"id": "Not An Id", "version": "1"}),
        json!({"id": "gr1abc"}),
        json!({"id": "gr1abc", "version": "1", "streamProcessingMode": "later"}),
    ] {
        let resp = gw
            .post_stream(json!({"prompt": "hi", "guardrail": guardrail}))
            .await;
        assert!(
            resp.status().is_client_error(),
            "{guardrail}: {}",
            resp.status()
        );
    }
    let stats = gw.sim_stats().await;
    assert_eq!(stats["streamsStarted"], 0, "{stats}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_deployment_default_applies_when_the_request_names_none() {
    let gw = Gateway::with(|c| {
        c.guardrail_id = Some("dflt1".into());
        c.guardrail_version = Some("2".into());
    })
    .await;
    let events = collect_events(
        gw.post_stream(json!({"prompt": BLOCKED, "model": CLAUDE, "api": "invoke"}))
            .await,
    )
    .await;
    assert_eq!(texts(&events), 3);
    assert_eq!(guardrail_part(&events), Some(("INTERVENED".into(), None)));
    assert_eq!(
        events.last().unwrap().data.stop_reason.as_deref(),
        Some("guardrail_intervened")
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn citations_of_a_citable_document_are_citation_events() {
    let gw = Gateway::start().await;
    // The Bedrock drop-in API passes Claude's body as sent, citations enabled.
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [
            {"type": "document", "title": "Q3", "citations": {"enabled": true},
             "source": {"type": "text", "media_type": "text/plain", "data": "Sales rose 4%."}},
            {"type": "text", "text": "Sum up [[sim tokens=2 cite=2 rate=0 ttft_ms=0]]"}]}],
    });
    let resp = gw
        .http
        .post(gw.url(&format!("/model/{CLAUDE}/invoke-with-response-stream")))
        .bearer_auth(&gw.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let session = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    drop(resp.bytes().await.unwrap());
    let events = collect_events(
        gw.http
            .get(gw.url(&format!("/v1/sessions/{session}/stream")))
            .bearer_auth(&gw.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let cites: Vec<&Part> = events
        .iter()
        .filter(|e| e.event == "citation")
        .filter_map(|e| e.data.part.as_deref())
        .collect();
    assert_eq!(cites.len(), 2, "{events:?}");
    let Part::Citation { title, text, .. } = cites[0] else {
        panic!("{cites:?}")
    };
    assert_eq!(title.as_deref(), Some("Q3"));
    assert_eq!(text.as_deref(), Some("Passage 1 of Q3"));
    gw.shutdown().await;
}

/// `/v1/stream` with a document part: `citation` events on both APIs, with
/// or without the part's `citations` flag (which is sent to Bedrock).
#[tokio::test]
async fn documents_on_the_stream_route_are_cited_on_both_apis() {
    let gw = Gateway::start().await;
    for (api, flag) in [("converse", true), ("invoke", false), ("invoke", true)] {
        let mut doc = json!({"type": "document", "mediaType": "text/plain", "name": "Q3",
            "data": "U2FsZXMgcm9zZSA0JS4="});
        if flag {
            doc["citations"] = json!(true);
        }
        let events = collect_events(
            gw.post_stream(json!({
                "model": CLAUDE,
                "api": api,
                "messages": [{"role": "user", "content": [doc,
                    {"type": "text", "text": "Sum up [[sim tokens=2 cite=2 rate=0 ttft_ms=0]]"}]}],
            }))
            .await,
        )
        .await;
        let cites: Vec<&Part> = events
            .iter()
            .filter(|e| e.event == "citation")
            .filter_map(|e| e.data.part.as_deref())
            .collect();
        assert_eq!(cites.len(), 2, "{api} {flag}: {events:?}");
        let Part::Citation { title, text, .. } = cites[1] else {
            panic!("{cites:?}")
        };
        assert_eq!(title.as_deref(), Some("Q3"), "{api}");
        assert_eq!(text.as_deref(), Some("Passage 2 of Q3"), "{api}");
        assert!(events.last().unwrap().data.is_complete);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_guardrail_id_without_a_version_stops_the_binary_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = within(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_spillway"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("SPILLWAY_DATA_DIR", dir.path())
            .env("SPILLWAY_GUARDRAIL_ID", "gr1abc")
            .env_remove("SPILLWAY_GUARDRAIL_VERSION")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SPILLWAY_GUARDRAIL_VERSION"),
        "stderr: {stderr}"
    );
    assert!(out.stdout.is_empty(), "it never listened");
}
