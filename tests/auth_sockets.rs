//! Cognito tokens on the WebSocket transports: `/v1/ws` (query string and
//! subprotocol) refuses every bad token with 401 at the upgrade; GraphQL's
//! `connection_init` refuses them with close 4403. Valid id and access
//! tokens pass on both.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::cognito::{JwksServer, TestKey, access_claims, id_claims, refused_tokens};
use common::{Gateway, within};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn upgrade_status(req: tokio_tungstenite::tungstenite::handshake::client::Request) -> u16 {
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => 101,
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected: {e}"),
    }
}

/// The first GraphQL message after `connection_init`, or the close code.
async fn graphql_init(gw: &Gateway, token: &str) -> Result<Value, CloseCode> {
    let mut req = format!("{}/graphql", gw.base.replace("http", "ws"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    ws.send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    loop {
        match within(Duration::from_secs(10), ws.next()).await {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(Some(f)))) => return Err(f.code),
            Some(Ok(_)) => continue,
            other => panic!("socket ended without a close code: {other:?}"),
        }
    }
}

#[tokio::test]
async fn websocket_upgrades_and_graphql_init_check_cognito_tokens() {
    let key = TestKey::generate("key-1");
    let stranger = TestKey::generate("key-1");
    let jwks = JwksServer::start(&[&key]).await;
    let gw = Gateway::cognito(&jwks.url).await;
    gw.wait_ready().await;
    let ws_url = format!("{}/v1/ws", gw.base.replace("http", "ws"));

    for good in [
        key.sign(&id_claims("alice")),
        key.sign(&access_claims("alice")),
    ] {
        let by_query = format!("{ws_url}?token={good}")
            .into_client_request()
            .unwrap();
        assert_eq!(upgrade_status(by_query).await, 101);
        let mut by_protocol = ws_url.clone().into_client_request().unwrap();
        by_protocol.headers_mut().insert(
            "sec-websocket-protocol",
            format!("spillway.v1, bearer.{good}").parse().unwrap(),
        );
        let (_, resp) = tokio_tungstenite::connect_async(by_protocol).await.unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], "spillway.v1");
        let ack = graphql_init(&gw, &good).await.expect("accepted");
        assert_eq!(ack["type"], "connection_ack");
    }

    for (case, bad) in refused_tokens(&key, &stranger, "alice") {
        // Header-sized garbage does not fit in a URL or a subprotocol list.
        if bad.len() < 8000 {
            let by_query = format!("{ws_url}?token={}", urlencode(&bad))
                .into_client_request()
                .unwrap();
            assert_eq!(upgrade_status(by_query).await, 401, "{case} via ?token=");
        }
        if !bad.is_empty() && bad.len() < 8000 && bad.bytes().all(|b| b.is_ascii_graphic()) {
            let mut by_protocol = ws_url.clone().into_client_request().unwrap();
            by_protocol.headers_mut().insert(
                "sec-websocket-protocol",
                format!("spillway.v1, bearer.{bad}").parse().unwrap(),
            );
            assert_eq!(
                upgrade_status(by_protocol).await,
                401,
                "{case} via subprotocol"
            );
        }
        assert_eq!(
            graphql_init(&gw, &bad).await.err(),
            Some(CloseCode::from(4403)),
            "{case} via connection_init"
        );
    }
    gw.shutdown().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
