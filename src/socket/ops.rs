//! The operations running on one socket (streams, subscriptions, GraphQL
//! operations): each a task with its own cancel token and the protocol's tag
//! (its request or operation id), capped per socket.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::error::ErrorCode;
use crate::metrics::Metrics;

/// A running operation.
pub struct Running<T> {
    /// What the protocol knows it by.
    pub tag: T,
    pub cancel: CancellationToken,
}

/// Why a new operation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpRefusal {
    #[error("the gateway is shutting down")]
    ShuttingDown,
    #[error("this connection runs the most streams it may")]
    TooMany,
}

impl OpRefusal {
    /// The error code clients see.
    pub fn code(self) -> ErrorCode {
        match self {
            OpRefusal::ShuttingDown => ErrorCode::ShuttingDown,
            OpRefusal::TooMany => ErrorCode::TooManyStreams,
        }
    }
}

pub struct Operations<T> {
    tasks: JoinSet<()>,
    running: HashMap<Id, Running<T>>,
    limit: usize,
    draining: bool,
    metrics: Arc<Metrics>,
    transport: &'static str,
}

impl<T> Operations<T> {
    pub(super) fn new(limit: usize, metrics: Arc<Metrics>, transport: &'static str) -> Self {
        Self {
            tasks: JoinSet::new(),
            running: HashMap::new(),
            limit,
            draining: false,
            metrics,
            transport,
        }
    }

    /// May one more operation start? Not while draining, nor past the cap
    /// (operations cancelled but still finishing do not count).
    pub fn admit(&self) -> Result<(), OpRefusal> {
        if self.draining {
            Err(OpRefusal::ShuttingDown)
        } else if self.live().count() >= self.limit {
            Err(OpRefusal::TooMany)
        } else {
            Ok(())
        }
    }

    /// Run `f(cancel)` as this socket's operation `tag`. Callers check
    /// [`admit`](Self::admit) first and render its refusal their own way.
    pub fn spawn<Fut>(&mut self, tag: T, f: impl FnOnce(CancellationToken) -> Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let fut = f(cancel.clone());
        let active = self.metrics.stream_guard(self.transport);
        // The operation belongs to the trace the socket's upgrade came with.
        let parent = crate::telemetry::trace_context::current();
        let task = self
            .tasks
            .spawn(crate::telemetry::trace_context::scope(parent, async move {
                let _active = active;
                fut.await;
            }));
        self.running.insert(task.id(), Running { tag, cancel });
    }

    /// Every operation whose task still runs, cancelled or not.
    pub fn iter(&self) -> impl Iterator<Item = &Running<T>> {
        self.running.values()
    }

    /// The operations not cancelled.
    pub fn live(&self) -> impl Iterator<Item = &Running<T>> {
        self.running.values().filter(|r| !r.cancel.is_cancelled())
    }

    /// The most operations at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    pub fn draining(&self) -> bool {
        self.draining
    }

    pub(super) fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Wait for an operation to end and forget it; pending while none runs.
    pub(super) async fn ended(&mut self) {
        match self.tasks.join_next_with_id().await {
            Some(Ok((id, ()))) => {
                self.running.remove(&id);
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a socket operation ended abnormally");
                self.running.remove(&e.id());
            }
            None => std::future::pending().await,
        }
    }

    /// Stop every operation (the socket is closing).
    pub(super) fn abort_all(&mut self) {
        self.tasks.abort_all();
        self.running.clear();
    }
}
