//! Converse fields the gateway rebuilds the upstream request around reach
//! Bedrock's wire as sent: `cachePoint.ttl` (system, messages, tools),
//! `toolSpec.strict` and `document.context`, read back from the simulator's
//! `GET /sim/requests`; Anthropic's `cache_control.ttl` becomes the same TTL
//! for a model served through Converse. `systemTool` is refused, naming it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::{Value, json};

const FAST: &str = "rate=0 ttft_ms=0";
const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "us.amazon.nova-lite-v1:0";

/// The body the simulator last took whose text holds `tag`.
async fn upstream_body(gw: &Gateway, tag: &str) -> Value {
    let recorded: Vec<Value> = gw
        .http
        .get(format!("{}/sim/requests", gw.sim))
        .send()
        .await
        .expect("sim requests")
        .json()
        .await
        .expect("sim requests json");
    recorded
        .into_iter()
        .rev()
        .find(|r| r["body"].to_string().contains(tag))
        .map(|r| r["body"].clone())
        .unwrap_or_else(|| panic!("no upstream request holds {tag}"))
}

fn tag() -> String {
    format!("tag-{}", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn cache_ttls_strict_tools_and_document_context_reach_bedrock() {
    let gw = Gateway::start().await;
    let tag = tag();
    let body = json!({
        "system": [{"text": format!("Rivers only ({tag}).")}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [{"role": "user", "content": [
            {"document": {"format": "txt", "name": "rivers", "source": {"text": "The Nile is long."},
                          "context": "An encyclopedia entry", "citations": {"enabled": true}}},
            {"cachePoint": {"type": "default", "ttl": "5m"}},
            {"text": format!("[[sim tokens=2 {FAST}]] How long is the Nile?")},
        ]}],
        "toolConfig": {"tools": [
            {"toolSpec": {"name": "weather", "strict": true,
                          "inputSchema": {"json": {"type": "object", "properties": {}}}}},
            {"cachePoint": {"type": "default", "ttl": "1h"}},
        ]},
    });
    let resp = gw
        .http
        .post(gw.url(&format!("/model/{SONNET}/converse")))
        .bearer_auth(&gw.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = upstream_body(&gw, &tag).await;
    assert_eq!(sent["system"][1]["cachePoint"]["ttl"], "1h", "{sent}");
    let content = &sent["messages"][0]["content"];
    assert_eq!(content[0]["document"]["context"], "An encyclopedia entry");
    assert_eq!(content[1]["cachePoint"]["ttl"], "5m", "{content}");
    let tools = &sent["toolConfig"]["tools"];
    assert_eq!(tools[0]["toolSpec"]["strict"], true, "{tools}");
    assert_eq!(tools[1]["cachePoint"]["ttl"], "1h", "{tools}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_point_without_a_ttl_stays_without_one_and_a_bad_ttl_is_refused() {
    let gw = Gateway::start().await;
    let tag = tag();
    let converse = |system: Value| {
        gw.http
            .post(gw.url(&format!("/model/{NOVA}/converse")))
            .bearer_auth(&gw.token)
            .json(&json!({
                "system": system,
                "messages": [{"role": "user", "content": [{"text": format!("[[sim tokens=2 {FAST}]] hi")}]}],
            }))
            .send()
    };
    let ok = converse(
        json!([{"text": format!("Be brief ({tag}).")}, {"cachePoint": {"type": "default"}}]),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let sent = upstream_body(&gw, &tag).await;
    assert_eq!(
        sent["system"][1],
        json!({"cachePoint": {"type": "default"}})
    );

    let bad = converse(json!([{"text": "x"}, {"cachePoint": {"type": "default", "ttl": "2h"}}]))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let message = bad.json::<Value>().await.unwrap()["message"].to_string();
    assert!(message.contains("system[1]: cachePoint.ttl"), "{message}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_system_tool_is_refused_naming_the_field() {
    let gw = Gateway::start().await;
    let resp = gw
        .http
        .post(gw.url(&format!("/model/{NOVA}/converse")))
        .bearer_auth(&gw.token)
        .json(&json!({
            "messages": [{"role": "user", "content": [{"text": "Search the web"}]}],
            "toolConfig": {"tools": [{"systemTool": {"name": "nova_grounding"}}]},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-amzn-errortype"], "ValidationException");
    let message = resp.json::<Value>().await.unwrap()["message"].to_string();
    assert!(
        message.contains("toolConfig.tools[0]: systemTool") && message.contains("does not serve"),
        "{message}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn anthropic_cache_control_ttl_is_the_converse_ttl() {
    let gw = Gateway::start().await;
    let tag = tag();
    let resp = gw
        .http
        .post(gw.url("/v1/messages"))
        .header("x-api-key", &gw.token)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({
            "model": NOVA,
            "max_tokens": 100,
            "system": [{"type": "text", "text": format!("Rivers only ({tag})."),
                        "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": format!("[[sim tokens=2 {FAST}]] hi")}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = upstream_body(&gw, &tag).await;
    assert_eq!(sent["system"][1]["cachePoint"]["ttl"], "1h", "{sent}");
    gw.shutdown().await;
}
