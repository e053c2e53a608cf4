//! The trace a request belongs to: an incoming W3C `traceparent` (and
//! `tracestate`), captured once below the transports so that every session
//! a request starts becomes its child.
//!
//! HTTP routes: [`capture`] (a layer on the whole app, installed only while
//! traces are exported) runs the handler with the parsed context in a
//! task-local, where [`crate::hub::Hub::start`] reads it. Sockets: the
//! upgrade handler runs under that layer, so the socket driver takes the
//! context with [`current`] and runs the connection, and each operation it
//! spawns, under it with [`scope`]. With traces off nothing is parsed and
//! nothing wraps a future.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::future::Either;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;

tokio::task_local! {
    static PARENT: Context;
}

/// The incoming trace context in `headers`, when it is a valid remote parent.
pub fn extract(headers: &axum::http::HeaderMap) -> Option<Context> {
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    cx.span().span_context().is_valid().then_some(cx)
}

/// Axum middleware: run the rest of the request under its `traceparent`.
pub async fn capture(req: Request, next: Next) -> Response {
    match extract(req.headers()) {
        Some(parent) => PARENT.scope(parent, next.run(req)).await,
        None => next.run(req).await,
    }
}

/// The context the current task runs under, if any.
pub fn current() -> Option<Context> {
    PARENT.try_with(Context::clone).ok()
}

/// Run `fut` under `parent` (as it is when `None`: no wrapper state is kept).
pub fn scope<F: Future>(parent: Option<Context>, fut: F) -> impl Future<Output = F::Output> {
    match parent {
        Some(cx) => Either::Left(PARENT.scope(cx, fut)),
        None => Either::Right(fut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};
    use opentelemetry::trace::{SpanId, TraceId};

    fn headers(traceparent: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            HeaderValue::from_str(traceparent).unwrap_or_else(|_| HeaderValue::from_static("x")),
        );
        h.insert("tracestate", HeaderValue::from_static("vendor=abc"));
        h
    }

    #[test]
    fn a_valid_traceparent_is_a_remote_parent() {
        let cx = extract(&headers(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ))
        .expect("parsed");
        let span = cx.span();
        let sc = span.span_context();
        assert!(sc.is_remote());
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex")
        );
        assert_eq!(
            sc.span_id(),
            SpanId::from_hex("b7ad6b7169203331").expect("hex")
        );
        assert_eq!(sc.trace_state().get("vendor"), Some("abc"));
    }

    #[test]
    fn a_malformed_or_missing_traceparent_is_no_parent() {
        assert!(extract(&HeaderMap::new()).is_none());
        assert!(
            extract(&headers(
                "00-00000000000000000000000000000000-b7ad6b7169203331-01"
            ))
            .is_none()
        );
        assert!(extract(&headers("not a traceparent")).is_none());
    }

    #[tokio::test]
    async fn scope_makes_the_parent_current_and_none_leaves_it_unset() {
        let cx = extract(&headers(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ));
        let seen = scope(cx, async { current().is_some() }).await;
        assert!(seen);
        assert!(!scope(None, async { current().is_some() }).await);
    }
}
