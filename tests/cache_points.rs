//! Cache points after `system` and after `tools` on `POST /v1/stream`, end
//! to end: the gateway builds Converse's and the model's own bodies with
//! them, the real SDK sends them to the simulator, and its prompt cache
//! reports what was written and read.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use serde_json::{Value, json};
use spillway::upstream::Usage;

const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const NOVA: &str = "us.amazon.nova-lite-v1:0";

/// A request with a cache point after its tools and one after its system
/// prompt; `tag` makes its prefixes its own.
fn cached(model: &str, api: &str, tag: &str, system: &str, question: &str) -> Value {
    json!({
        "model": model,
        "api": api,
        "system": [
            {"type": "text", "text": format!("{system} ({tag})")},
            {"type": "cachePoint"},
        ],
        "tools": [
            {
                "name": "river_length",
                "description": format!("The length of a river in kilometres ({tag})."),
                "inputSchema": {"type": "object", "properties": {"river": {"type": "string"}}},
            },
            {"type": "cachePoint"},
        ],
        "prompt": format!("[[sim tokens=3 rate=0]] {question}"),
    })
}

/// The final event's usage.
async fn usage(gw: &Gateway, body: Value) -> Usage {
    let resp = gw.post_stream(body.clone()).await;
    assert_eq!(
        resp.status(),
        200,
        "{body}: {}",
        resp.text().await.unwrap_or_default()
    );
    let events = collect_events(resp).await;
    let last = events.last().unwrap();
    assert!(
        last.data.is_complete && last.data.error.is_none(),
        "{last:?}"
    );
    last.data.usage.expect("usage in the final event")
}

#[tokio::test]
async fn system_and_tools_cache_points_write_then_read_on_both_apis() {
    let gw = Gateway::start().await;
    let system = "You are a patient guide to the rivers of Europe and their tributaries.";
    for model in [SONNET, NOVA] {
        for api in ["converse", "invoke"] {
            let tag = format!("{model} {api}");
            let at = |what: &str| format!("{model} on {api}: {what}");
            let first = usage(&gw, cached(model, api, &tag, system, "Longest?")).await;
            let written = first.cache_write_input_tokens.expect("a cache write");
            assert!(written > 0, "{}", at("the first request writes"));
            assert_eq!(first.cache_read_input_tokens, Some(0), "{}", at("first"));

            // The same tools and system, another question: all of it is read.
            let again = usage(&gw, cached(model, api, &tag, system, "Shortest?")).await;
            assert_eq!(
                again.cache_read_input_tokens,
                Some(written),
                "{}",
                at("the second request reads the prefix")
            );
            assert_eq!(again.cache_write_input_tokens, Some(0), "{}", at("again"));

            // Another system prompt after the same tools: the tools' own
            // point is read, the system prompt written again.
            let other = usage(
                &gw,
                cached(
                    model,
                    api,
                    &tag,
                    "You answer questions about lakes.",
                    "Deepest?",
                ),
            )
            .await;
            let read = other.cache_read_input_tokens.unwrap();
            assert!(
                read > 0 && read < written,
                "{}",
                at(&format!(
                    "the tools' prefix alone is read ({read} of {written})"
                ))
            );
            assert!(
                other.cache_write_input_tokens.unwrap() > 0,
                "{}",
                at("other")
            );
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_system_string_still_works_and_bad_system_or_tools_are_400s() {
    let gw = Gateway::start().await;
    let u = usage(
        &gw,
        json!({"model": SONNET, "system": "Be brief.", "prompt": "[[sim tokens=2 rate=0]] Hi"}),
    )
    .await;
    assert_eq!(
        u.cache_write_input_tokens, None,
        "no cache point, no counts"
    );

    for (body, says) in [
        (
            json!({"prompt": "Hi", "system": [{"type": "text", "text": "a"}, {"type": "image", "mediaType": "image/png", "data": "iVBORw=="}]}),
            "system[1]",
        ),
        (
            json!({"prompt": "Hi", "system": [{"type": "toolCall", "id": "t", "name": "f"}]}),
            "text, cachePoint and guardContent",
        ),
        (json!({"prompt": "Hi", "system": 7}), "system must be"),
        (
            json!({"prompt": "Hi", "tools": [{"type": "cachePoint"}, {"name": "f"}]}),
            "tools[0]",
        ),
    ] {
        let resp = gw.post_stream(body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    gw.shutdown().await;
}
