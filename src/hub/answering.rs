//! Whether the request a task serves has an answer under way.
//!
//! The edge bounds the time a request takes to get its response headers
//! (`SPILLWAY_REQUEST_TIMEOUT_SECS`). A stream has its headers once Bedrock
//! has answered; a whole answer (a non-streaming OpenAI, Anthropic or
//! Bedrock call) has them only when the model has finished, which may take
//! minutes. So [`Hub::start`](super::Hub::start) marks the request as
//! answering once the upstream has started, and the edge stops counting
//! then: the session's own first-token and idle timeouts bound the rest,
//! and a client that leaves drops it.
//!
//! The mark travels as a task-local: the edge's layer [`scope`]s the
//! handler's future, and [`started`] is a no-op outside one (a socket's
//! streams, a test's hub).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

tokio::task_local! {
    static ANSWERING: Answering;
}

/// Set once an answer for the request has started.
#[derive(Clone, Default, Debug)]
pub struct Answering(Arc<AtomicBool>);

impl Answering {
    /// Whether an answer has started.
    pub fn started(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Run `fut` (a request's handler) with `answering` as its mark.
pub fn scope<F: Future>(answering: Answering, fut: F) -> impl Future<Output = F::Output> {
    ANSWERING.scope(answering, fut)
}

/// Mark the request this task serves, if any, as answering.
pub fn started() {
    let _ = ANSWERING.try_with(|a| a.0.store(true, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_mark_is_seen_outside_the_scope_and_ignored_without_one() {
        started();
        let a = Answering::default();
        scope(a.clone(), async {
            assert!(!a.started());
            started();
        })
        .await;
        assert!(a.started());
    }
}
