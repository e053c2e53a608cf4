//! The edge: security headers, CORS, WebSocket Origin checks, per-IP rate
//! limits and connection caps.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn responses_carry_security_headers_and_cors_follows_config() {
    let gw = Gateway::with(|c| c.cors_origins = vec!["https://chat.example".into()]).await;
    let r = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");

    let preflight = gw
        .http
        .request(reqwest::Method::OPTIONS, gw.url("/v1/stream"))
        .header("origin", "https://chat.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://chat.example"
    );
    // Headers browsers add on their own (OpenTelemetry's fetch
    // instrumentation, Apollo's client awareness) are allowed, on every route.
    for path in ["/v1/stream", "/graphql"] {
        let asked =
            "authorization, content-type, traceparent, tracestate, apollographql-client-name";
        let preflight = gw
            .http
            .request(reqwest::Method::OPTIONS, gw.url(path))
            .header("origin", "https://chat.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", asked)
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{path}");
        let allowed = preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for h in asked.split(", ") {
            assert!(allowed.contains(h), "{path}: {h} not in {allowed}");
        }
    }
    let other = gw
        .http
        .request(reqwest::Method::OPTIONS, gw.url("/v1/stream"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // A page reads every response header: the AWS SDK names a Bedrock error
    // by `x-amzn-errortype`, the Anthropic SDK reads `request-id`.
    let refused = gw
        .http
        .post(gw.url("/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse"))
        .header("origin", "https://chat.example")
        .bearer_auth(&gw.token)
        .json(&serde_json::json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["access-control-expose-headers"], "*");
    assert!(refused.headers().contains_key("x-amzn-errortype"));
    gw.shutdown().await;
}

/// Errors given before a route's handler (no such path, a method it does
/// not take, a declared body over the limit) come in the route's API's
/// shape on the Anthropic and Bedrock routes too, so their SDKs name them.
#[tokio::test]
async fn early_errors_on_the_anthropic_and_bedrock_routes_are_in_their_shapes() {
    let gw = Gateway::start().await;
    let send = |method: reqwest::Method, path: &str, body: Option<usize>| {
        let mut req = gw.http.request(method, gw.url(path)).bearer_auth(&gw.token);
        if let Some(n) = body {
            req = req
                .header("content-type", "application/json")
                .body(vec![b' '; n]);
        }
        req.send()
    };
    let sonnet = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    for (method, path, body, status, exception) in [
        (
            reqwest::Method::PUT,
            format!("{sonnet}/converse"),
            None,
            405,
            "ValidationException",
        ),
        (
            reqwest::Method::POST,
            format!("{sonnet}/converse/"),
            Some(2),
            404,
            "ResourceNotFoundException",
        ),
        (
            reqwest::Method::GET,
            "/foundation-models/anthropic.claude-3-haiku-20240307-v1:0".into(),
            None,
            404,
            "ResourceNotFoundException",
        ),
        (
            reqwest::Method::POST,
            format!("{sonnet}/converse"),
            Some(7 << 20),
            400,
            "ValidationException",
        ),
    ] {
        let r = send(method.clone(), &path, body).await.unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        assert_eq!(
            r.headers()["x-amzn-errortype"],
            exception,
            "{method} {path}"
        );
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["message"].is_string(), "{method} {path}: {v}");
    }
    // A compressed body is refused as such, not read as bad JSON.
    let r = gw
        .http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&gw.token)
        .header("content-encoding", "gzip")
        .header("content-type", "application/json")
        .body(vec![0x1f, 0x8b, 8, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Encoding gzip"),
        "{v}"
    );
    for (method, path, body, status, kind) in [
        (
            reqwest::Method::GET,
            "/v1/messages",
            None,
            405,
            "invalid_request_error",
        ),
        (
            reqwest::Method::POST,
            "/v1/messages/nope",
            Some(2),
            404,
            "not_found_error",
        ),
        (
            reqwest::Method::POST,
            "/v1/messages",
            Some(7 << 20),
            413,
            "request_too_large",
        ),
    ] {
        let r = send(method.clone(), path, body).await.unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["type"], "error", "{method} {path}: {v}");
        assert_eq!(v["error"]["type"], kind, "{method} {path}: {v}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn cross_origin_websocket_upgrades_are_refused_unless_allowed() {
    let gw = Gateway::with(|c| c.cors_origins = vec!["https://chat.example".into()]).await;
    let url = format!("{}/v1/ws?token={}", gw.base.replace("http", "ws"), gw.token);
    let with_origin = |origin: &str| {
        let mut req = url.clone().into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req
    };
    match tokio_tungstenite::connect_async(with_origin("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    tokio_tungstenite::connect_async(with_origin("https://chat.example"))
        .await
        .expect("allowed origin");
    let same = format!("http://{}", gw.base.trim_start_matches("http://"));
    tokio_tungstenite::connect_async(with_origin(&same))
        .await
        .expect("same origin");
    tokio_tungstenite::connect_async(url.clone())
        .await
        .expect("no Origin: not a browser");
    gw.shutdown().await;
}

#[tokio::test]
async fn per_ip_request_rate_is_limited_with_a_json_429() {
    let gw = Gateway::with(|c| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(gw.http.get(gw.url("/healthz")).send().await.unwrap());
    }
    let limited = statuses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("a 429 past the burst");
    assert!(limited.headers().contains_key("retry-after"));
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    gw.shutdown().await;
}

#[tokio::test]
async fn connections_past_the_per_ip_cap_are_closed_at_once() {
    let gw = Gateway::with(|c| c.max_connections_per_ip = 2).await;
    let url = format!("{}/v1/ws?token={}", gw.base.replace("http", "ws"), gw.token);
    let (a, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    let (b, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    assert!(
        tokio_tungstenite::connect_async(url.clone()).await.is_err(),
        "third connection refused"
    );
    drop(a);
    // The slot comes back when a connection closes.
    eventually(std::time::Duration::from_secs(5), || async {
        tokio_tungstenite::connect_async(url.clone()).await.is_ok()
    })
    .await;
    drop(b);
    gw.shutdown().await;
}

/// A path parameter that does not decode (`%FF` is not UTF-8) is a `400` in
/// the gateway's JSON error shape on every route that takes one, not axum's
/// plain text; the drop-in APIs (and `@connections`, API Gateway's) answer
/// it in their own shapes.
#[tokio::test]
async fn a_path_id_that_does_not_decode_is_a_json_400_everywhere() {
    let gw = Gateway::start().await;
    let admin = gw.token_for("ops", &["admin"]);
    let http = &gw.http;
    let gateway_routes = [
        http.get(gw.url("/v1/sessions/%FF")),
        http.post(gw.url("/v1/sessions/%FF/cancel")),
        http.get(gw.url("/v1/sessions/%FF/stream")),
        http.get(gw.url("/v1/ai-sdk/chat/%FF/stream")),
    ];
    for req in gateway_routes {
        let resp = req.bearer_auth(&admin).send().await.unwrap();
        let what = format!("{} {}", resp.url().path(), resp.status());
        assert_eq!(resp.status(), 400, "{what}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{what}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{what}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("UTF-8"),
            "{what}: {body}"
        );
    }
    // API Gateway's management API answers in API Gateway's shape.
    for req in [
        http.get(gw.url("/@connections/%FF")),
        http.post(gw.url("/@connections/%FF")).body("hi"),
        http.delete(gw.url("/@connections/%FF")),
    ] {
        let resp = req.bearer_auth(&admin).send().await.unwrap();
        let what = format!("{} {}", resp.url().path(), resp.status());
        assert_eq!(resp.status(), 400, "{what}");
        assert_eq!(
            resp.headers()["x-amzn-errortype"],
            "BadRequestException",
            "{what}"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("UTF-8"),
            "{what}: {body}"
        );
    }
    // OpenAI's routes answer in OpenAI's shape, Anthropic's in Anthropic's.
    for path in ["/v1/responses/%FF", "/v1/models/%FF"] {
        let resp = http
            .get(gw.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            body["error"]["type"], "invalid_request_error",
            "{path}: {body}"
        );
        assert_eq!(body["error"]["code"], "bad_request", "{path}: {body}");
    }
    let resp = http
        .get(gw.url("/v1/models/%FF"))
        .header("anthropic-version", "2023-06-01")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    gw.shutdown().await;
}

/// A refusal given before the request's body is read (the token gate's 401
/// here) says `Connection: close` on HTTP/1.1, so a keep-alive client opens
/// a new connection for its next request instead of seeing it fail when
/// the server closes this one. An answer after the body was read keeps the
/// connection.
#[tokio::test]
async fn a_refusal_before_the_body_is_read_closes_the_connection_and_says_so() {
    use tokio::io::AsyncWriteExt;

    let gw = Gateway::start().await;
    let addr = gw.base.trim_start_matches("http://").to_owned();
    /// The response head to `head` and `sent` bytes of its body.
    async fn head_after(addr: &str, head: String, sent: usize) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&vec![b'x'; sent]).await.unwrap();
        read_head(&mut conn).await
    }
    let len = 200_000;
    let unauthenticated = format!(
        "POST /v1/stream HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    );
    // The body is not sent: the gate answers on the headers alone.
    let refused = head_after(&addr, unauthenticated, 0).await;
    assert!(refused.starts_with("http/1.1 401"), "{refused}");
    assert!(refused.contains("\r\nconnection: close\r\n"), "{refused}");

    // A body the handler read (a 400 for bad JSON) keeps the connection.
    let token = gw.token.clone();
    let read = format!(
        "POST /v1/stream HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-length: 10\r\n\r\n"
    );
    let answered = head_after(&addr, read, 10).await;
    assert!(answered.starts_with("http/1.1 400"), "{answered}");
    assert!(!answered.contains("connection: close"), "{answered}");
    gw.shutdown().await;
}

/// A refusal given while the client is still sending its body (the token
/// gate's 401 on a 5 MB upload, the size limit's 413 on 10 MB) is
/// read by the client once its upload is done: the gateway drains the rest
/// instead of closing on it, which resets the connection (boto3 over TLS
/// then raised `SSLError` instead of the error). A body whose
/// `Content-Length` is over the limit is refused up front, and a client
/// waiting for `100 Continue` is never asked to send it.
#[tokio::test]
async fn a_refused_upload_is_drained_so_the_client_reads_the_refusal() {
    use tokio::io::AsyncWriteExt;

    let gw = Gateway::start().await;
    let addr = gw.base.trim_start_matches("http://").to_owned();
    /// Send `head` and `body` whole, then read the response's head.
    async fn answer_after_upload(addr: &str, head: String, body: &[u8]) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        for chunk in body.chunks(64 << 10) {
            conn.write_all(chunk)
                .await
                .expect("the upload is taken to its end");
        }
        read_head(&mut conn).await
    }
    // Under the 6 MiB limit, refused on its token.
    let body = vec![b'x'; 5 << 20];
    let unauthenticated = format!(
        "POST /v1/stream HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nauthorization: Bearer nope\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let refused = answer_after_upload(&addr, unauthenticated, &body).await;
    assert!(refused.starts_with("http/1.1 401"), "{refused}");
    // Chunked, so no length is declared: the limit finds it while reading.
    let token = gw.token.clone();
    let chunked_head = format!(
        "POST /v1/stream HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let body = vec![b'x'; 10 << 20];
    let mut chunked = Vec::new();
    for piece in body.chunks(1 << 20) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let too_large = answer_after_upload(&addr, chunked_head, &chunked).await;
    assert!(too_large.starts_with("http/1.1 413"), "{too_large}");

    // Declared over the limit, waiting for 100 Continue: a 413 at once.
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
            100 << 20
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let head = read_head(&mut conn).await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    gw.shutdown().await;
}

/// The response head read from `conn`, lowercased; a connection closed or
/// reset before it is a failure.
async fn read_head(conn: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = within(std::time::Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("the response is read, not reset");
        assert!(
            n > 0,
            "closed before a response: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).to_lowercase()
}
