//! Hostile clients on the socket endpoints: each attack runs with bounded
//! counts and times against the real server, which must refuse or close what
//! it should while a well-behaved client on the side streams to the end.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(15);

/// A raw WebSocket upgrade on `path`; the stream right after the `101`.
async fn raw_upgrade(gw: &Gateway, path: &str, headers: &str) -> BufReader<TcpStream> {
    let addr = gw.base.trim_start_matches("http://");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut io = BufReader::new(tcp);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{headers}\r\n"
    );
    io.get_mut().write_all(req.as_bytes()).await.unwrap();
    let mut status = String::new();
    io.read_line(&mut status).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 101"), "{path}: {status}");
    loop {
        let mut line = String::new();
        io.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            return io;
        }
    }
}

/// The header of a masked text frame of `len` bytes (a client's).
fn frame_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x81, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[1, 2, 3, 4]);
    h
}

/// Read frames until a close frame; its code. Skips pings and text.
async fn close_code(io: &mut BufReader<TcpStream>) -> u16 {
    loop {
        let mut head = [0u8; 2];
        io.read_exact(&mut head).await.unwrap();
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            len = u64::from(io.read_u16().await.unwrap());
        } else if len == 127 {
            len = io.read_u64().await.unwrap();
        }
        let mut payload = vec![0u8; usize::try_from(len).unwrap()];
        io.read_exact(&mut payload).await.unwrap();
        if head[0] & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn huge_frames_are_refused_from_their_header_on_every_socket() {
    let gw = Gateway::start().await;
    let bearer = format!("Authorization: Bearer {}\r\n", gw.token);
    let endpoints = [
        ("/v1/ws", bearer.clone()),
        ("/v1/ai-sdk/ws", bearer.clone()),
        (
            "/graphql",
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n".to_owned(),
        ),
    ];
    // A well-behaved stream runs beside the attack.
    let honest = gw
        .post_stream(json!({"prompt": "[[sim tokens=30 rate=100]] steady"}))
        .await;
    let mut attackers = Vec::new();
    for i in 0..21 {
        let (path, headers) = &endpoints[i % 3];
        let mut io = raw_upgrade(&gw, path, headers).await;
        // 15 MiB announced; only the header and a few bytes are ever sent.
        io.get_mut()
            .write_all(&frame_header(15 * 1024 * 1024))
            .await
            .unwrap();
        io.get_mut().write_all(b"{\"a\":").await.unwrap();
        attackers.push((path, io));
    }
    for (path, mut io) in attackers {
        assert_eq!(within(WAIT, close_code(&mut io)).await, 1009, "{path}");
    }
    let events = within(WAIT, collect_events(honest)).await;
    assert_eq!(events.last().unwrap().event, "done");
    assert_contiguous(&events, 0);
    gw.shutdown().await;
}

/// A frame that breaks the protocol closes 1002, text that is not UTF-8
/// 1007, on every socket (they ended with no code at all).
#[tokio::test]
async fn protocol_violations_close_with_their_codes_on_every_socket() {
    let gw = Gateway::start().await;
    let bearer = format!("Authorization: Bearer {}\r\n", gw.token);
    let endpoints = [
        ("/v1/ws", bearer.clone()),
        ("/v1/ai-sdk/ws", bearer),
        (
            "/graphql",
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n".to_owned(),
        ),
    ];
    // Masked with the key 0, so the payload goes as written.
    let invalid_utf8: &[u8] = &[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe];
    let reserved_bit: &[u8] = &[0xc1, 0x81, 0, 0, 0, 0, b'x'];
    let unmasked: &[u8] = &[0x81, 0x01, b'x'];
    for (path, headers) in &endpoints {
        for (frame, code) in [(invalid_utf8, 1007), (reserved_bit, 1002), (unmasked, 1002)] {
            let mut io = raw_upgrade(&gw, path, headers).await;
            io.get_mut().write_all(frame).await.unwrap();
            assert_eq!(
                within(WAIT, close_code(&mut io)).await,
                code,
                "{path} {frame:?}"
            );
        }
    }
    gw.shutdown().await;
}
