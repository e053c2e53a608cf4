//! Cost and prompt-cache counts end to end: the real gateway and its
//! simulator (and, for the fleet-wide limit, two `spillway` binaries sharing
//! moto's DynamoDB), driven over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::procs::{Proc, spawn_listening, start_moto};
use common::*;
use serde_json::{Value, json};
use spillway::auth::dev::DevIssuer;
use spillway::cost::Prices;
use spillway::upstream::Usage;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_spillway");
const HAIKU_35: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
/// In the known-model list, without a built-in price.
const UNPRICED: &str = "us.amazon.nova-premier-v1:0";

/// The final event's usage, and its raw JSON (to see which fields are absent).
async fn final_usage(resp: reqwest::Response) -> (Usage, Value) {
    assert_eq!(resp.status(), 200);
    let events = collect_events(resp).await;
    let last = events.last().unwrap();
    assert!(
        last.data.is_complete && last.data.error.is_none(),
        "{last:?}"
    );
    let usage = last.data.usage.unwrap();
    let raw = serde_json::to_value(usage).unwrap();
    (usage, raw)
}

fn expected_cost(prices: &Prices, model: &str, u: &Usage) -> f64 {
    let p = prices.price(model).unwrap();
    (u.input_tokens as f64 * p.input
        + u.output_tokens as f64 * p.output
        + u.cache_read_input_tokens.unwrap_or(0) as f64 * p.cache_read.unwrap()
        + u.cache_write_input_tokens.unwrap_or(0) as f64 * p.cache_write.unwrap())
        / 1000.0
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 + 1e-9 * b.abs()
}

#[tokio::test]
async fn cost_is_in_the_final_event_for_priced_models_only() {
    let gw = Gateway::start().await;
    let prices = Prices::builtin();
    for model in [HAIKU_35, "us.anthropic.claude-3-5-haiku-20241022-v1:0"] {
        let (u, _) = final_usage(
            gw.post_stream(json!({"model": model, "prompt": "[[sim tokens=7 rate=0]] Price me"}))
                .await,
        )
        .await;
        assert_eq!(u.output_tokens, 7);
        let cost = u.cost_usd.expect("a priced model has costUsd");
        // 0.0008 USD per 1,000 input tokens, 0.004 per 1,000 output tokens.
        let want = (u.input_tokens as f64 * 0.0008 + 7.0 * 0.004) / 1000.0;
        assert!(close(cost, want), "{model}: {cost} != {want}");
        assert!(close(cost, expected_cost(&prices, HAIKU_35, &u)));
    }
    let (u, raw) = final_usage(
        gw.post_stream(json!({"model": UNPRICED, "prompt": "[[sim tokens=3 rate=0]] Free?"}))
            .await,
    )
    .await;
    assert_eq!(u.cost_usd, None);
    assert!(raw.get("costUsd").is_none(), "{raw}");
    assert!(raw.get("cacheReadInputTokens").is_none(), "{raw}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_prices_file_replaces_and_extends_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.json");
    std::fs::write(
        &path,
        json!({
            HAIKU_35: {"input": 1.0, "output": 2.0, "cacheRead": 0.1, "cacheWrite": 1.5},
            UNPRICED: {"input": 0.5, "output": 0.25},
        })
        .to_string(),
    )
    .unwrap();
    let prices = Prices::load(&path).unwrap();
    let gw = Gateway::with(|c| c.prices_file = Some(prices)).await;
    let (u, _) = final_usage(
        gw.post_stream(json!({"model": HAIKU_35, "prompt": "[[sim tokens=4 rate=0]] Hi"}))
            .await,
    )
    .await;
    let want = (u.input_tokens as f64 * 1.0 + 4.0 * 2.0) / 1000.0;
    assert!(close(u.cost_usd.unwrap(), want), "{u:?}");
    let (u, _) = final_usage(
        gw.post_stream(json!({"model": UNPRICED, "prompt": "[[sim tokens=4 rate=0]] Hi"}))
            .await,
    )
    .await;
    let want = (u.input_tokens as f64 * 0.5 + 4.0 * 0.25) / 1000.0;
    assert!(close(u.cost_usd.unwrap(), want), "{u:?}");
    gw.shutdown().await;
}

/// `spillway serve` with `env` set: it must exit at start-up, non-zero,
/// saying `says` on stderr.
async fn refuses_to_start(env: &[(&str, &str)], says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("SPILLWAY_DATA_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let status = within(Duration::from_secs(30), child.wait()).await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(!status.success(), "{env:?} started");
    assert!(stderr.contains(says), "{env:?}: {stderr}");
}

#[tokio::test]
async fn bad_prices_files_and_cost_limits_stop_the_binary_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let malformed = file("malformed.json", "{\"m\": {\"input\": 1,");
    let negative = file("negative.json", r#"{"m": {"input": -0.5, "output": 1}}"#);
    let text = file("text.json", r#"{"m": {"input": "cheap", "output": 1}}"#);
    for (path, says) in [
        (malformed.as_str(), "must be a JSON object"),
        (
            negative.as_str(),
            "m: input must be a number of USD, not negative",
        ),
        (text.as_str(), "invalid type: string \"cheap\""),
        (
            "/nonexistent/prices.json",
            "cannot read /nonexistent/prices.json",
        ),
    ] {
        refuses_to_start(&[("SPILLWAY_PRICES_FILE", path)], says).await;
    }
    for limit in ["-1", "lots"] {
        refuses_to_start(
            &[("SPILLWAY_MAX_COST_USD_PER_USER_PER_DAY", limit)],
            "SPILLWAY_MAX_COST_USD_PER_USER_PER_DAY",
        )
        .await;
    }
}

/// A refusal by a daily limit: `429`, `rate_limited`, `Retry-After` until midnight UTC.
async fn assert_limited(resp: reqwest::Response) {
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let to_midnight = 86_400 - now % 86_400;
    assert!(retry.abs_diff(to_midnight) <= 2, "{retry} vs {to_midnight}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("USD per user per day"),
        "{body}"
    );
}

#[tokio::test]
async fn the_daily_cost_limit_refuses_with_retry_after() {
    // 50 output tokens of Claude 3.5 Haiku cost 0.0002 USD: over the limit.
    let gw = Gateway::with(|c| c.max_cost_usd_per_user_per_day = 0.0001).await;
    // Unpriced sessions cost nothing and are never refused for cost.
    for _ in 0..2 {
        final_usage(
            gw.post_stream(json!({"model": UNPRICED, "prompt": "[[sim tokens=50 rate=0]] a"}))
                .await,
        )
        .await;
    }
    let (u, _) = final_usage(
        gw.post_stream(json!({"model": HAIKU_35, "prompt": "[[sim tokens=50 rate=0]] spend"}))
            .await,
    )
    .await;
    assert!(u.cost_usd.unwrap() > 0.0001);
    // The spend is counted when the stream ends, just after the final event.
    eventually(Duration::from_secs(10), || async {
        gw.post_stream(json!({"model": HAIKU_35, "prompt": "[[sim tokens=1 rate=0]] more"}))
            .await
            .status()
            == 429
    })
    .await;
    assert_limited(
        gw.post_stream(json!({"model": UNPRICED, "prompt": "[[sim tokens=1 rate=0]] more"}))
            .await,
    )
    .await;
    // Another user has their own budget.
    let bob = gw.token_for("bob", &[]);
    let r = gw
        .http
        .post(gw.url("/v1/stream"))
        .bearer_auth(bob)
        .json(&json!({"model": HAIKU_35, "prompt": "[[sim tokens=1 rate=0]] mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

/// A request whose first part, `context`, is cached (a `cachePoint` after it).
fn cached(model: &str, api: &str, context: &str) -> Value {
    json!({
        "model": model,
        "api": api,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": context},
            {"type": "cachePoint"},
            {"type": "text", "text": "[[sim tokens=3 rate=0]] And now?"},
        ]}],
    })
}

#[tokio::test]
async fn cache_counts_and_their_price_in_the_final_event_on_both_apis() {
    let gw = Gateway::start().await;
    let prices = Prices::builtin();
    for api in ["converse", "invoke"] {
        let system = format!("You are a patient guide to the rivers of Europe ({api}).");
        let (first, raw) = final_usage(gw.post_stream(cached(SONNET, api, &system)).await).await;
        let written = first.cache_write_input_tokens.expect("a cache write");
        assert!(written > 0, "{api}: {raw}");
        assert_eq!(first.cache_read_input_tokens, Some(0), "{api}: {raw}");
        assert!(
            close(
                first.cost_usd.unwrap(),
                expected_cost(&prices, SONNET, &first)
            ),
            "{api}: {raw}"
        );
        let (second, raw) = final_usage(gw.post_stream(cached(SONNET, api, &system)).await).await;
        assert_eq!(
            second.cache_read_input_tokens,
            Some(written),
            "{api}: {raw}"
        );
        assert_eq!(second.cache_write_input_tokens, Some(0), "{api}: {raw}");
        assert_eq!(second.input_tokens, first.input_tokens, "{api}");
        // Reading is cheaper than writing.
        assert!(second.cost_usd.unwrap() < first.cost_usd.unwrap(), "{api}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_count_cost_and_cache_tokens_per_model() {
    let gw = Gateway::start().await;
    let system = "Metrics are counted per model, in dollars and in tokens.";
    let (first, _) = final_usage(gw.post_stream(cached(SONNET, "converse", system)).await).await;
    let (second, _) = final_usage(gw.post_stream(cached(SONNET, "converse", system)).await).await;
    let text = gw.metrics().await;
    let value = |name: &str| -> f64 {
        let prefix = format!("{name}{{model=\"{SONNET}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{prefix} in {text}"))
            .parse()
            .unwrap()
    };
    let cost = first.cost_usd.unwrap() + second.cost_usd.unwrap();
    assert!(close(value("spillway_cost_usd_total"), cost), "{text}");
    assert_eq!(
        value("spillway_cache_write_input_tokens_total") as u64,
        first.cache_write_input_tokens.unwrap()
    );
    assert_eq!(
        value("spillway_cache_read_input_tokens_total") as u64,
        second.cache_read_input_tokens.unwrap()
    );
    gw.shutdown().await;
}

/// Two nodes sharing moto's DynamoDB and one simulator, with `extra` env.
async fn two_nodes(extra: &[(&str, &str)]) -> (Vec<Proc>, Proc, Proc, String, tempfile::TempDir) {
    let moto = start_moto().await;
    let mut sim_cmd = Command::new(BIN);
    sim_cmd.args(["sim", "--listen", "127.0.0.1:0"]);
    let sim = spawn_listening(sim_cmd).await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SPILLWAY_DATA_DIR", dir.path())
            .env("SPILLWAY_UPSTREAM", "bedrock")
            .env("SPILLWAY_REGISTRY", "dynamodb")
            .env("SPILLWAY_DYNAMODB_TABLE", "spillway-cost-test")
            .env("SPILLWAY_DYNAMODB_CREATE_TABLE", "true")
            .env("SPILLWAY_NODE_ID", name)
            .env("SPILLWAY_CLUSTER_SECRET", "test-cluster-secret")
            .env("SPILLWAY_INTERNAL_LISTEN", "127.0.0.1:0")
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &sim.url)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        nodes.push(spawn_listening(cmd).await);
    }
    let token = DevIssuer::load_or_create(dir.path())
        .unwrap()
        .mint("alice", &[], 600)
        .unwrap();
    (nodes, sim, moto, token, dir)
}

#[tokio::test]
async fn the_daily_cost_limit_holds_across_nodes() {
    let (nodes, _sim, _moto, token, _dir) =
        two_nodes(&[("SPILLWAY_MAX_COST_USD_PER_USER_PER_DAY", "0.0001")]).await;
    let http = reqwest::Client::new();
    let stream = |node: usize, prompt: &str| {
        http.post(format!("{}/v1/stream", nodes[node].url))
            .bearer_auth(&token)
            .json(&json!({"model": HAIKU_35, "prompt": prompt}))
            .send()
    };
    let (u, _) = final_usage(
        stream(0, "[[sim tokens=50 rate=0]] spend on A")
            .await
            .unwrap(),
    )
    .await;
    assert!(u.cost_usd.unwrap() > 0.0001);
    // Node B refuses once node A has counted the spend in DynamoDB.
    eventually(Duration::from_secs(15), || async {
        stream(1, "[[sim tokens=1 rate=0]] on B")
            .await
            .unwrap()
            .status()
            == 429
    })
    .await;
    assert_limited(stream(1, "[[sim tokens=1 rate=0]] on B").await.unwrap()).await;
    assert_limited(stream(0, "[[sim tokens=1 rate=0]] on A").await.unwrap()).await;
}
