//! Authentication end to end, on the SSE transport: Cognito tokens verified
//! against a local JWKS server the test starts with its own RSA keys, key
//! rotation, the refetch rate limit, readiness, dev tokens from the real
//! binary, the public-address guard, and tokens kept out of the logs.
//!
//! The WebSocket and GraphQL transports reuse `common::cognito` for the same
//! cases in their own test files.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::cognito::*;
use common::*;
use serde_json::json;
use spillway::auth::TokenUse;
use spillway::config::Config;
use spillway::server::Server;

const PROMPT: &str = "[[sim tokens=3 rate=500]] hello";

async fn post_stream(gw: &Gateway, token: &str) -> reqwest::Response {
    gw.http
        .post(gw.url("/v1/stream"))
        .bearer_auth(token)
        .json(&json!({ "prompt": PROMPT }))
        .send()
        .await
        .expect("request")
}

/// `GET /v1/sessions/{id}/stream?token=`, as EventSource does it.
async fn attach(gw: &Gateway, session: &str, token: &str) -> reqwest::Response {
    gw.http
        .get(with_query(
            &gw.url(&format!("/v1/sessions/{session}/stream")),
            &[("token", token)],
        ))
        .send()
        .await
        .expect("request")
}

/// `url?k=v&…`, form-encoded.
fn with_query(url: &str, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(url, params).expect("url")
}

/// A stream that was let in runs to its `done` event; returns the session id.
async fn assert_streams(resp: reqwest::Response, what: &str) -> String {
    assert_eq!(resp.status(), 200, "{what} must be accepted");
    let session = resp.headers()["x-session-id"].to_str().unwrap().to_owned();
    let events = collect_events(resp).await;
    assert_eq!(events.last().unwrap().event, "done", "{what}");
    session
}

async fn assert_refused(resp: reqwest::Response, what: &str, token: &str) {
    assert_eq!(resp.status(), 401, "{what} must be refused");
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    let body: serde_json::Value = resp.json().await.expect("JSON error body");
    let code = body["error"]["code"].as_str().unwrap_or_default();
    assert!(
        ["missing_token", "invalid_token", "token_expired"].contains(&code),
        "{what}: {body}"
    );
    if token.len() > 8 {
        assert!(
            !body.to_string().contains(token),
            "{what}: the token is echoed"
        );
    }
}

/// A Cognito-mode gateway whose JWKS holds `key`, warm.
async fn pool_with(key: &TestKey) -> (JwksServer, Gateway) {
    let jwks = JwksServer::start(&[key]).await;
    let gw = Gateway::cognito(&jwks.url).await;
    gw.wait_ready().await;
    (jwks, gw)
}

#[tokio::test]
async fn valid_id_and_access_tokens_pass_on_sse() {
    let key = TestKey::generate("pool-key-1");
    let (_jwks, gw) = pool_with(&key).await;

    let id = key.sign(&id_claims("carol"));
    let access = key.sign(&access_claims("carol"));
    let session = assert_streams(post_stream(&gw, &id).await, "id token").await;
    assert_streams(post_stream(&gw, &access).await, "access token").await;
    // Attaching with `?token=` (EventSource), with either kind of token.
    assert_streams(attach(&gw, &session, &id).await, "id token in ?token=").await;
    assert_streams(
        attach(&gw, &session, &access).await,
        "access token in ?token=",
    )
    .await;
    // `--cognito-client-id` is a list: the second app client is accepted too.
    let second = key.sign(&with(
        access_claims("carol"),
        json!({"client_id": SECOND_CLIENT_ID}),
    ));
    assert_streams(post_stream(&gw, &second).await, "second client id").await;
    // The principal is the token's `sub`: another user's session is not found.
    let dave = key.sign(&id_claims("dave"));
    assert_eq!(attach(&gw, &session, &dave).await.status(), 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn every_bad_token_is_refused_on_sse() {
    let key = TestKey::generate("pool-key-1");
    let stranger = TestKey::generate("stranger-key");
    let (_jwks, gw) = pool_with(&key).await;
    let session = assert_streams(
        post_stream(&gw, &key.sign(&id_claims("carol"))).await,
        "valid",
    )
    .await;

    let cases = refused_tokens(&key, &stranger, "carol");
    assert!(cases.len() >= 20);
    for (what, token) in &cases {
        assert_refused(post_stream(&gw, token).await, what, token).await;
        assert_refused(attach(&gw, &session, token).await, what, token).await;
    }
    // No token at all, and a scheme other than Bearer.
    let none = gw
        .http
        .post(gw.url("/v1/stream"))
        .json(&json!({ "prompt": PROMPT }))
        .send()
        .await
        .unwrap();
    assert_refused(none, "no token", "").await;
    let basic = gw
        .http
        .post(gw.url("/v1/stream"))
        .basic_auth("carol", Some("pw"))
        .json(&json!({ "prompt": PROMPT }))
        .send()
        .await
        .unwrap();
    assert_refused(basic, "basic auth", "").await;
    // A 60 KB header of plain junk, too (the 60 KB case above is well-formed).
    let junk = "A".repeat(60 * 1024);
    assert_refused(post_stream(&gw, &junk).await, "60 KB junk", &junk).await;

    // The one valid session was never touched by any refused request.
    let info = gw
        .http
        .get(gw.url(&format!("/v1/sessions/{session}")))
        .bearer_auth(key.sign(&id_claims("carol")))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn each_refusal_is_for_the_intended_reason() {
    use spillway::auth::AuthError as E;
    let key = TestKey::generate("pool-key-1");
    let stranger = TestKey::generate("stranger-key");
    let (_jwks, gw) = pool_with(&key).await;
    let verifier = &gw.server.as_ref().unwrap().state().verifier;
    for (what, token) in refused_tokens(&key, &stranger, "carol") {
        let expected = match what {
            "expired" => E::Expired,
            "not yet valid (nbf)" => E::NotYetValid,
            "wrong issuer" => E::WrongIssuer,
            "wrong audience"
            | "id token without aud"
            | "access token with wrong client_id"
            | "access token with aud instead of client_id"
            | "id claims with token_use access" => E::WrongAudience,
            "wrong token_use" | "missing token_use" => E::WrongTokenUse,
            "missing exp" | "missing sub" | "empty sub" | "missing issuer" => E::MissingClaim,
            "alg none" | "garbage" | "garbage with dots" | "issuer as an array"
            | "exp as a string" => E::Malformed,
            "HS256 signed with the public key" => E::WrongAlgorithm,
            "unknown kid" => E::UnknownKey,
            "missing kid" => E::MissingKid,
            "another key under a known kid" | "tampered payload" | "signature stripped" => {
                E::BadSignature
            }
            "empty" => E::Missing,
            "60 KB" => E::TooLarge,
            other => panic!("no expectation for {other}"),
        };
        assert_eq!(verifier.verify(&token).await, Err(expected), "{what}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn token_use_setting_narrows_what_is_accepted() {
    let key = TestKey::generate("pool-key-1");
    let jwks = JwksServer::start(&[&key]).await;
    let id = key.sign(&id_claims("carol"));
    let access = key.sign(&access_claims("carol"));

    let gw = Gateway::cognito_with(&jwks.url, |c| c.cognito_token_use = TokenUse::Id).await;
    gw.wait_ready().await;
    assert_streams(post_stream(&gw, &id).await, "id token, id only").await;
    assert_refused(
        post_stream(&gw, &access).await,
        "access token, id only",
        &access,
    )
    .await;
    gw.shutdown().await;

    let gw = Gateway::cognito_with(&jwks.url, |c| c.cognito_token_use = TokenUse::Access).await;
    gw.wait_ready().await;
    assert_streams(post_stream(&gw, &access).await, "access token, access only").await;
    assert_refused(post_stream(&gw, &id).await, "id token, access only", &id).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn a_key_added_after_start_is_accepted_once_seen() {
    let old = TestKey::generate("old-key");
    let (jwks, gw) = pool_with(&old).await;
    let warm = jwks.fetches();
    assert_eq!(warm, 1, "one fetch warms the cache");

    let new = TestKey::generate("new-key");
    jwks.add(&new);
    // 20 requests with the new kid at once share a single refetch.
    let token = new.sign(&id_claims("erin"));
    let streams = within(
        Duration::from_secs(30),
        futures_util::future::join_all(
            (0..20)
                .map(|_| async { assert_streams(post_stream(&gw, &token).await, "new key").await }),
        ),
    )
    .await;
    assert_eq!(streams.len(), 20);
    assert_eq!(jwks.fetches(), warm + 1, "the new kid cost one refetch");
    // Both keys now verify from the cache.
    assert_streams(
        post_stream(&gw, &old.sign(&id_claims("erin"))).await,
        "old key",
    )
    .await;
    assert_streams(
        post_stream(&gw, &new.sign(&id_claims("erin"))).await,
        "new key",
    )
    .await;
    assert_eq!(jwks.fetches(), warm + 1, "known kids never refetch");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_failed_refetch_keeps_the_keys() {
    let key = TestKey::generate("pool-key-1");
    let (jwks, gw) = pool_with(&key).await;
    let keys = gw.server.as_ref().unwrap().state().verifier.keys();
    let ok = key.sign(&id_claims("carol"));

    // The endpoint answers 503: the refetch for a new kid fails.
    jwks.set_failing(true);
    let t = TestKey::generate("kid-during-outage").sign(&id_claims("carol"));
    assert_refused(post_stream(&gw, &t).await, "unknown kid, JWKS failing", &t).await;
    assert_eq!(jwks.fetches(), 2, "warm-up and one failed refetch");
    assert!(keys.is_warm());
    assert_streams(post_stream(&gw, &ok).await, "known key, JWKS failing").await;
    let ready = gw.http.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "still ready on the keys it has");
    gw.shutdown().await;

    // An empty key set is a failed fetch too, not a reason to drop the keys.
    let key = TestKey::generate("pool-key-1");
    let (jwks, gw) = pool_with(&key).await;
    jwks.set_keys(&[]);
    let t = TestKey::generate("kid-during-outage").sign(&id_claims("carol"));
    assert_refused(post_stream(&gw, &t).await, "unknown kid, JWKS empty", &t).await;
    assert_eq!(jwks.fetches(), 2, "warm-up and one fruitless refetch");
    let ok = key.sign(&id_claims("carol"));
    assert_streams(post_stream(&gw, &ok).await, "known key, JWKS empty").await;
    gw.shutdown().await;
}

#[tokio::test]
async fn forged_kids_cause_at_most_a_handful_of_fetches() {
    let key = TestKey::generate("pool-key-1");
    let (jwks, gw) = pool_with(&key).await;
    let before = jwks.fetches();

    // 50 tokens, each claiming a random kid, all at once.
    let forged: Vec<String> = (0..50)
        .map(|_| {
            key.sign_as(
                Some(&uuid::Uuid::new_v4().to_string()),
                &id_claims("mallory"),
            )
        })
        .collect();
    let statuses = within(
        Duration::from_secs(30),
        futures_util::future::join_all(
            forged
                .iter()
                .map(|t| async { post_stream(&gw, t).await.status() }),
        ),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // And 50 more, one after another.
    for t in forged.iter().rev() {
        assert_eq!(post_stream(&gw, t).await.status(), 401);
    }
    let extra = jwks.fetches() - before;
    assert!(
        (1..=2).contains(&extra),
        "100 forged kids caused {extra} JWKS fetches"
    );
    // Real tokens still pass, from the cache.
    assert_streams(
        post_stream(&gw, &key.sign(&id_claims("carol"))).await,
        "valid",
    )
    .await;
    assert_eq!(jwks.fetches() - before, extra);
    gw.shutdown().await;
}

#[tokio::test]
async fn readyz_waits_for_the_jwks() {
    let key = TestKey::generate("pool-key-1");
    let addr = unused_addr();
    let gw = Gateway::cognito(&format!("http://{addr}/.well-known/jwks.json")).await;
    let keys = gw.server.as_ref().unwrap().state().verifier.keys();
    // The warm-up has tried, and failed, at least twice.
    eventually(Duration::from_secs(10), || {
        let n = keys.fetch_count();
        async move { n >= 2 }
    })
    .await;
    let ready = gw.http.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        gw.http
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "alive while not ready"
    );
    let token = key.sign(&id_claims("carol"));
    assert_refused(
        within(Duration::from_secs(10), post_stream(&gw, &token)).await,
        "token while the JWKS is unreachable",
        &token,
    )
    .await;

    let _jwks = JwksServer::start_at(addr, &[&key]).await;
    gw.wait_ready().await;
    assert_streams(post_stream(&gw, &token).await, "token once warm").await;
    gw.shutdown().await;
}

/// Auth is on by default: every HTTP API route of the contract refuses a
/// request without a token; only the short open list answers. (WebSocket
/// and GraphQL routes are covered by their own tests.)
#[tokio::test]
async fn api_routes_require_a_token_and_open_routes_do_not() {
    let gw = Gateway::start().await;
    let protected = [
        ("POST", "/v1/stream"),
        ("GET", "/v1/sessions/some-id/stream"),
        ("GET", "/v1/sessions/some-id"),
        ("POST", "/v1/sessions/some-id/cancel"),
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/ai-sdk/chat"),
        ("GET", "/v1/ai-sdk/chat/some-id/stream"),
    ];
    for (method, path) in protected {
        let req = gw
            .http
            .request(method.parse().unwrap(), gw.url(path))
            .header("content-type", "application/json")
            .body(r#"{"prompt":"hi","messages":[{"role":"user","content":"hi"}]}"#);
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{method} {path} without a token");
    }
    for path in ["/healthz", "/readyz", "/.well-known/jwks.json"] {
        let resp = gw.http.get(gw.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {path} is open");
    }
    gw.shutdown().await;
}

/// `?token=` only where a header cannot be sent: WebSocket upgrades and the
/// `GET` attach routes (EventSource). Elsewhere it would land in proxy logs,
/// so a request with only the query form is refused, naming the header.
#[tokio::test]
async fn query_tokens_are_taken_only_on_upgrades_and_get_attach_routes() {
    let gw = Gateway::start().await;
    let token = gw.token.clone();
    let session = assert_streams(post_stream(&gw, &token).await, "header token").await;

    let body = r#"{"prompt":"hi","model":"x","messages":[{"role":"user","content":"hi"}]}"#;
    for (method, path) in [
        ("POST", "/v1/stream".to_owned()),
        ("POST", "/v1/chat/completions".to_owned()),
        ("POST", "/v1/ai-sdk/chat".to_owned()),
        ("GET", format!("/v1/sessions/{session}")),
        ("POST", format!("/v1/sessions/{session}/cancel")),
        ("POST", format!("/v1/sessions/{session}/stream")),
        ("GET", "/v1/models".to_owned()),
        ("POST", "/graphql".to_owned()),
    ] {
        let resp = gw
            .http
            .request(
                method.parse().unwrap(),
                with_query(&gw.url(&path), &[("token", &token)]),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let what = format!("{method} {path}?token=");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer error=\"invalid_request\"",
            "{what}"
        );
        let text = resp.text().await.unwrap();
        assert!(text.contains("Authorization header"), "{what}: {text}");
        assert!(!text.contains(&token), "{what}: the token is echoed");
    }
    // Status checked apart, so that a failure names the route.
    let resp = gw
        .http
        .post(with_query(&gw.url("/v1/stream"), &[("token", &token)]))
        .json(&json!({ "prompt": PROMPT }))
        .send()
        .await
        .unwrap();
    assert_refused(resp, "POST /v1/stream?token=", &token).await;
    let resp = gw
        .http
        .post(with_query(
            &gw.url("/v1/chat/completions"),
            &[("token", &token)],
        ))
        .json(&json!({"model": CLAUDE, "stream": true, "messages": [{"role": "user", "content": PROMPT}]}))
        .send()
        .await
        .unwrap();
    assert_refused(resp, "POST /v1/chat/completions?token=", &token).await;

    // EventSource attach routes take it.
    assert_streams(attach(&gw, &session, &token).await, "attach with ?token=").await;
    let resp = gw
        .http
        .get(with_query(
            &gw.url("/v1/ai-sdk/chat/no-such-chat/stream"),
            &[("token", &token)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "AI SDK resume with ?token= is let in");

    // WebSocket upgrades take it.
    for path in ["/v1/ws", "/v1/ai-sdk/ws"] {
        let url = format!("{}{path}?token={token}", gw.base.replace("http", "ws"));
        let (ws, resp) = within(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}?token= upgrade: {e}"));
        assert_eq!(resp.status(), 101, "{path}");
        drop(ws);
    }
    gw.shutdown().await;
}

/// Dev sign-in: loopback `Host` names only (a DNS-rebound page sends its own
/// name from a loopback peer), and no groups (`spillway token --groups` can).
#[tokio::test]
async fn dev_sign_in_wants_a_loopback_host_and_grants_no_groups() {
    let gw = Gateway::start().await;
    let port = gw.server.as_ref().unwrap().addr().port();
    let sign_in = |host: Option<String>, body: serde_json::Value| {
        let mut req = gw.http.post(gw.url("/v1/dev/token")).json(&body);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        req.send()
    };
    let state = gw.server.as_ref().unwrap().state().clone();
    let verify = |token: String| {
        let state = state.clone();
        async move { state.verifier.verify(&token).await.unwrap() }
    };

    for host in [
        None,
        Some(format!("localhost:{port}")),
        Some("LocalHost".to_owned()),
        Some(format!("127.0.0.1:{port}")),
        Some(format!("127.9.9.9:{port}")),
        Some(format!("[::1]:{port}")),
    ] {
        let resp = sign_in(host.clone(), json!({"username": "bob"}))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "Host {host:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        let p = verify(body["token"].as_str().unwrap().to_owned()).await;
        assert_eq!(p.sub, "bob");
        assert!(p.groups.is_empty());
    }
    for host in [
        "evil.example",
        "evil.example:80",
        "rebind.evil.example",
        "app.localhost",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "0.0.0.0",
        "10.1.2.3",
        "[::ffff:127.0.0.1]",
    ] {
        let resp = sign_in(Some(format!("{host}:{port}")), json!({"username": "bob"}))
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "Host {host}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden", "{host}: {body}");
        assert!(body.get("token").is_none());
    }

    // Groups cannot be asked for, `admin` least of all.
    for groups in [json!(["admin"]), json!(["a", "b"]), json!("admin")] {
        let resp = sign_in(None, json!({"username": "mallory", "groups": groups}))
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "groups {groups}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("spillway token --groups"),
            "{body}"
        );
    }
    // An empty list asks for nothing and gets nothing.
    let resp = sign_in(None, json!({"username": "mallory", "groups": []}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(verify(token.clone()).await.groups.is_empty());
    // The admin-only management API says no to it.
    let resp = gw
        .http
        .get(gw.url("/@connections/some-connection"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    gw.shutdown().await;
}

fn spillway_token(data_dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("token")
        .args(args)
        .env("SPILLWAY_DATA_DIR", data_dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run spillway token");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "stderr: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the token: {stdout:?}");
    let token = stdout.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    token
}

#[tokio::test]
async fn spillway_token_output_is_accepted_by_a_dev_gateway_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let token = spillway_token(dir.path(), &["--sub", "x"]);
    let grouped = spillway_token(
        dir.path(),
        &["--sub", "y", "--groups", "a,b", "--ttl", "60"],
    );

    let data_dir = dir.path().to_path_buf();
    let gw = Gateway::with(move |c| c.data_dir = data_dir).await;
    let session = assert_streams(post_stream(&gw, &token).await, "spillway token").await;
    assert_streams(
        attach(&gw, &session, &token).await,
        "spillway token in ?token=",
    )
    .await;

    let p = gw
        .server
        .as_ref()
        .unwrap()
        .state()
        .verifier
        .verify(&grouped)
        .await
        .unwrap();
    assert_eq!(p.sub, "y");
    assert_eq!(p.groups, ["a", "b"]);
    assert!((now() + 55..=now() + 61).contains(&p.expires_at));

    // A gateway with another data dir has another key: the token means nothing there.
    let other = Gateway::start().await;
    assert_refused(
        post_stream(&other, &token).await,
        "foreign dev token",
        &token,
    )
    .await;
    other.shutdown().await;
    gw.shutdown().await;
}

#[tokio::test]
async fn dev_auth_refuses_a_public_address_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::local_defaults();
    config.data_dir = dir.path().to_path_buf();
    config.listen = "0.0.0.0:0".parse().unwrap();
    match Server::start(config.clone()).await {
        Ok(_) => panic!("dev auth started on 0.0.0.0"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("--allow-public-dev-auth"), "{msg}");
            assert!(msg.contains("0.0.0.0"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }
    config.allow_public_dev_auth = true;
    match Server::start(config).await {
        Ok(server) => server.shutdown().await,
        Err(e) => panic!("forced dev auth must start: {e}"),
    }

    // The binary: non-zero exit, one clear line on stderr.
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["serve", "--listen", "0.0.0.0:0", "--auth", "dev"])
        .env("SPILLWAY_DATA_DIR", dir.path())
        .env_remove("SPILLWAY_ALLOW_PUBLIC_DEV_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let Ok(status) = exited else {
        child.kill().unwrap();
        panic!("spillway serve on 0.0.0.0 with dev auth kept running");
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--allow-public-dev-auth"), "{stderr}");
}

/// Every log line and span the gateway makes at TRACE level (TraceLayer's
/// included) is captured ([`with_captured_logs`]); no token is in them.
#[test]
fn tokens_never_reach_the_logs() {
    let garbage = "NotAJwtButSecretText0123456789";
    let ((token, bad), logs) = with_captured_logs(
        tracing::Level::TRACE,
        |_| {},
        |base, token| async move {
            // A token of the right shape whose signature does not hold.
            let bad = token.replace('.', ".x");
            let http = reqwest::Client::new();
            let resp = http
                .post(format!("{base}/v1/stream"))
                .bearer_auth(&token)
                .json(&json!({ "prompt": PROMPT }))
                .send()
                .await
                .unwrap();
            let session = assert_streams(resp, "header token").await;
            let url = format!("{base}/v1/sessions/{session}/stream");
            let resp = http
                .get(with_query(&url, &[("token", &token)]))
                .send()
                .await
                .unwrap();
            assert_streams(resp, "query token").await;
            // Refused (not an attach route), and kept out of the logs all the same.
            let resp = http
                .get(with_query(
                    &format!("{base}/v1/sessions/{session}"),
                    &[("after", "1"), ("token", &token)],
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401);
            for t in [bad.as_str(), garbage] {
                let r = http
                    .get(with_query(&url, &[("token", t)]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 401);
                let r = http.get(&url).bearer_auth(t).send().await.unwrap();
                assert_eq!(r.status(), 401);
            }
            (token, bad)
        },
    );

    // The capture works and holds the request spans and TraceLayer's events.
    assert!(logs.contains("/v1/sessions/"), "{logs}");
    assert!(logs.contains("started processing request"), "{logs}");
    assert!(logs.contains("finished processing request"), "{logs}");
    assert!(logs.contains("request refused"), "{logs}");
    let parts: Vec<&str> = token.split('.').collect();
    for secret in [token.as_str(), parts[1], parts[2], bad.as_str(), garbage] {
        assert!(!logs.contains(secret), "a token reached the logs:\n{logs}");
    }
    assert!(
        !logs.contains("?token=") && !logs.contains("&token="),
        "a query string reached the logs"
    );
}

/// A load balancer asks `/readyz` every few seconds; while the JWKS is not
/// loaded each answer is a `503`, and none is logged as an ERROR (the JWKS
/// warm-up says why at WARN).
#[test]
fn a_not_ready_probe_is_no_error_in_the_logs() {
    let jwks = format!("http://{}/.well-known/jwks.json", unused_addr());
    let tweak = move |c: &mut Config| {
        c.auth = spillway::config::AuthMode::Cognito;
        c.cognito_user_pool_id = Some(POOL_ID.into());
        c.cognito_client_id = vec![CLIENT_ID.into()];
        c.jwks_url = Some(jwks);
    };
    let (statuses, logs) = with_captured_logs(tracing::Level::DEBUG, tweak, |base, _| async move {
        let http = reqwest::Client::new();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let r = http.get(format!("{base}/readyz")).send().await.unwrap();
            statuses.push(r.status().as_u16());
        }
        statuses
    });
    assert_eq!(statuses, [503, 503, 503]);
    // The capture works: TraceLayer's lines for these responses are in it.
    assert!(
        logs.contains("finished processing request") && logs.contains("status=503"),
        "{logs}"
    );
    assert!(
        !logs.lines().any(|l| l.contains(" ERROR ")),
        "an ERROR line:\n{logs}"
    );
}
