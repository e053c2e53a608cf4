//! InvokeModel and Converse: the whole answer in one JSON response.
//!
//! The answer is the one the stream would send, collected (see `collect`).
//! Directives: `ttft_ms` and `rate` delay the response by the time the
//! stream would have taken; `throttle=K` is a `429 ThrottlingException`;
//! `error_after=N` a `424 ModelErrorException` once N deltas' time has
//! passed; `stall_after=N` answers nothing until the client leaves;
//! `drop_after=N` sends the headers and half the body, then cuts the
//! connection.

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{Accepted, Api, Shape, accept};
use crate::collect::collect;
use crate::families::{self, Finish};
use crate::stream::{ABORT_DELAY, Fault, Plan, millis};
use crate::wire::SimError;
use crate::{SimState, converse as converse_api};

pub(crate) async fn invoke(
    State(state): State<SimState>,
    model_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&state, Api::Invoke, model_id, &headers, &body).await
}

pub(crate) async fn converse(
    State(state): State<SimState>,
    model_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&state, Api::Converse, model_id, &headers, &body).await
}

async fn respond(
    state: &SimState,
    api: Api,
    model_id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let requested_at = Instant::now();
    let Accepted {
        shape,
        name,
        directive,
        answer,
        input_tokens,
        cache,
    } = match accept(state, api, model_id, headers, body) {
        Ok(accepted) => accepted,
        Err(error) => {
            tracing::debug!(%error, "simulator refused a request");
            return error.into_response();
        }
    };
    let plan = Plan::new(&directive, answer.deltas(), answer.stop(), input_tokens);
    let fault = plan.fault.map(|(fault, _)| fault);
    let due_after = plan.fault.map_or(plan.deltas, |(_, after)| after);
    tokio::select! {
        () = sleep_until(requested_at + plan.offset(due_after)) => {}
        () = state.halt.cancelled() => return SimError::service_unavailable().into_response(),
    }
    match fault {
        Some(Fault::Error) => return SimError::model_error().into_response(),
        Some(Fault::Stall) => {
            state.halt.cancelled().await;
            return SimError::service_unavailable().into_response();
        }
        Some(Fault::Drop) | None => {}
    }
    let latency_ms = millis(requested_at.elapsed());
    let finish = Finish {
        stop: plan.stop,
        stop_sequence: None,
        guardrail: None,
        input_tokens,
        cache,
        output_tokens: 0,
        latency_ms,
        first_byte_ms: latency_ms,
    };
    let whole = collect(answer, finish);
    let json = match &shape {
        Shape::Invoke(model) => {
            let mut json = families::whole(model, &whole);
            if let (Some(guardrail), Some(map)) = (&whole.finish.guardrail, json.as_object_mut()) {
                guardrail.mark(map);
            }
            json
        }
        Shape::Converse(fields) => converse_api::whole(&whole, fields),
    };
    let counters = &state.inner.counters;
    counters.stream_started();
    let mut bytes = json.to_string().into_bytes();
    let body = if fault == Some(Fault::Drop) {
        counters.tokens_sent(due_after);
        bytes.truncate(bytes.len() / 2);
        Body::from_stream(cut_after(Bytes::from(bytes), state.halt.clone()))
    } else {
        counters.tokens_sent(whole.finish.output_tokens);
        counters.stream_completed();
        Body::from(bytes)
    };
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if api == Api::Invoke {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-amzn-bedrock-input-token-count", u64::from(input_tokens)),
            (
                "x-amzn-bedrock-output-token-count",
                u64::from(whole.finish.output_tokens),
            ),
            ("x-amzn-bedrock-invocation-latency", latency_ms),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
        if let Some(cache) = cache {
            for (name, value) in [
                ("x-amzn-bedrock-cache-read-input-token-count", cache.read),
                ("x-amzn-bedrock-cache-write-input-token-count", cache.write),
            ] {
                headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
            }
        }
    }
    tracing::debug!(model = %name, ?api, deltas = plan.deltas, "simulator answered whole");
    response
}

/// `bytes`, then (once hyper has flushed them) a cut connection.
fn cut_after(
    bytes: Bytes,
    halt: CancellationToken,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let cut = async move {
        tokio::select! {
            () = tokio::time::sleep(ABORT_DELAY) => {}
            () = halt.cancelled() => {}
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "simulated dropped connection (drop_after)",
        ))
    };
    futures_util::stream::once(async move { Ok(bytes) }).chain(futures_util::stream::once(cut))
}
