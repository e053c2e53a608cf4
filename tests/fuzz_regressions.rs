//! The fuzz targets' entry points on ordinary `cargo test`: every committed
//! seed in `fuzz/corpus/<target>/` (and any crash input added there or
//! below) goes through the same function as in `fuzz/fuzz_targets/`, which
//! must not panic. This also keeps the functions the fuzzers call compiling
//! with the main workspace, since `fuzz/` is a workspace of its own.
//!
//! A crash found by `scripts/fuzz`: copy its input from `fuzz/artifacts/<target>/`
//! into `fuzz/corpus/<target>/` and, for a clear failure, add a `#[test]`
//! below that feeds it to the function.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::Path;

use spillway::request::{ModelPolicy, StreamRequest};
use spillway::transport::sse::resume_from;
use spillway::transport::ws::protocol;
use spillway::upstream::Api;
use spillway::upstream::models::ModelFamily;

/// Every file of `fuzz/corpus/<target>/`.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

fn ws_message(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = protocol::parse(text);
    }
}

fn stream_request(data: &[u8]) {
    let policy = ModelPolicy {
        default_model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        allowed: vec![],
        default_api: Api::Invoke,
        max_prompt_bytes: 2048,
        default_guardrail: None,
        profiles: Default::default(),
    };
    if let Ok(req) = serde_json::from_slice::<StreamRequest>(data)
        && let Err(e) = policy.validate(req)
    {
        assert!(e.status().is_client_error(), "{e:?}");
    }
}

fn chunk_decoders(data: &[u8]) {
    if let Some((&pick, chunk)) = data.split_first() {
        let family = ModelFamily::ALL[usize::from(pick) % ModelFamily::ALL.len()];
        let _ = family.decode_chunk(chunk);
    }
}

fn last_event_id(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (after_bytes, header) = rest.split_at(rest.len().min(8));
    let mut le = [0u8; 8];
    le[..after_bytes.len()].copy_from_slice(after_bytes);
    let after = (flags & 2 != 0).then_some(u64::from_le_bytes(le));
    let header = (flags & 1 != 0).then_some(header);
    if header.is_none() {
        let from = resume_from(None, after).unwrap();
        assert_eq!(from, after.map_or(0, |a| a.saturating_add(1)));
    } else {
        let _ = resume_from(header, after);
    }
}

fn replay(target: &str, run: fn(&[u8])) {
    for (name, data) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: seed {name} panics");
    }
}

#[test]
fn ws_message_seeds() {
    replay("ws_message", ws_message);
}

#[test]
fn stream_request_seeds() {
    replay("stream_request", stream_request);
}

#[test]
fn chunk_decoder_seeds() {
    replay("chunk_decoders", chunk_decoders);
}

#[test]
fn last_event_id_seeds() {
    replay("last_event_id", last_event_id);
}

/// Found by `ws_message` (fuzz/corpus/ws_message/regression-float-request-id):
/// a numeric `requestId` is not always echoed as the number sent: `3e88`
/// comes back as `2.9999999999999997e88`, and about one `Math.random()` id in
/// ten comes back one unit off (`0.9856906946328695` as `…696`), so the client
/// cannot match the reply to its request. serde_json's default float parsing
/// is not correctly rounded; its `float_roundtrip` feature makes it so.
#[test]
fn float_request_ids_are_echoed_exactly() {
    let crash = include_str!("../fuzz/corpus/ws_message/regression-float-request-id");
    let ping = r#"{"action":"ping","requestId":0.9856906946328695}"#;
    for sent in [crash, ping] {
        let message = protocol::parse(sent);
        let request_id = match &message {
            Ok(m) => m.request_id.clone(),
            Err((id, _)) => id.clone(),
        };
        let reply = match message {
            Ok(_) => protocol::pong(request_id.as_ref()),
            Err((_, e)) => protocol::error(request_id.as_ref(), e.code, &e.message),
        };
        // Read both numbers with std's correctly rounded parser, as a JS client would.
        assert_eq!(
            number_after(&reply, "\"requestId\":"),
            number_after(sent, "\"requestId\":"),
            "sent {sent}, got {reply}"
        );
    }
}

/// The JSON number right after the first `key` in `text`, parsed exactly.
fn number_after(text: &str, key: &str) -> f64 {
    let rest = &text[text.find(key).unwrap() + key.len()..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim().parse().unwrap()
}

#[tokio::test]
async fn sim_request_seeds() {
    use axum::body::Body;
    use axum::http::Request;
    use spillway::upstream::models::KNOWN_MODELS;
    use spillway_sim::SimState;
    use tower::ServiceExt;

    for (name, data) in corpus("sim_request") {
        let Some((&pick, body)) = data.split_first() else {
            continue;
        };
        let model = KNOWN_MODELS[usize::from(pick & 0x7f) % KNOWN_MODELS.len()];
        let op = if pick & 0x80 == 0 {
            "invoke-with-response-stream"
        } else {
            "converse-stream"
        };
        let req = Request::post(format!("/model/{model}/{op}"))
            .body(Body::from(body.to_vec()))
            .unwrap();
        let res = spillway_sim::router(SimState::new())
            .oneshot(req)
            .await
            .unwrap();
        assert!(
            [200, 400, 429].contains(&res.status().as_u16()),
            "sim_request: seed {name}: {}",
            res.status()
        );
    }
}

#[test]
fn every_fuzz_target_has_seeds() {
    for target in [
        "ws_message",
        "stream_request",
        "chunk_decoders",
        "last_event_id",
        "sim_request",
    ] {
        corpus(target);
    }
}
