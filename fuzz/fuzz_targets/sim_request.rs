//! The simulator's request parsing, through its real router: a body posted to
//! `InvokeModelWithResponseStream` or `ConverseStream` for a known model.
//! Byte 0 picks the model (low 7 bits) and the API (high bit); the rest is the body.
//!
//! Invariants: the answer is a `200` event stream (counted as one started
//! stream) or a Bedrock-style `400`/`429` with `x-amzn-errortype` and a JSON
//! `{"message"}` (and no stream started); a `429` needs a `throttle=` directive.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use spillway::upstream::models::KNOWN_MODELS;
use spillway_sim::SimState;
use tower::ServiceExt;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let model = KNOWN_MODELS[usize::from(pick & 0x7f) % KNOWN_MODELS.len()];
    let op = if pick & 0x80 == 0 {
        "invoke-with-response-stream"
    } else {
        "converse-stream"
    };
    let state = SimState::new();
    let req = Request::post(format!("/model/{model}/{op}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .expect("request");
    runtime().block_on(async {
        let res = spillway_sim::router(state.clone())
            .oneshot(req)
            .await
            .expect("infallible");
        let status = res.status();
        let started = state.stats().streams_started;
        if status == StatusCode::OK {
            assert_eq!(started, 1);
            let ct = res.headers().get("content-type").expect("content-type");
            assert_eq!(ct, "application/vnd.amazon.eventstream");
            return;
        }
        assert_eq!(started, 0, "a refused request started a stream");
        let kind = res
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match status {
            StatusCode::BAD_REQUEST => assert_eq!(kind.as_deref(), Some("ValidationException")),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(kind.as_deref(), Some("ThrottlingException"));
                assert!(body.windows(9).any(|w| w == b"throttle="));
            }
            other => panic!("unexpected status {other}"),
        }
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("error body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON error body");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    });
});
