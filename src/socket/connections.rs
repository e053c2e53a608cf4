//! The connections this node holds: a handle per socket (its bounded outbound
//! buffer and close signal) beside the shared `ConnectionRegistry` record,
//! and admission of new ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::readers::{ReaderSlot, Readers};
use crate::error::ErrorCode;
use crate::registry::{ConnectionRecord, ConnectionRegistry, RegistryError};

/// Limits and timings of every socket endpoint.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    pub max_message_bytes: usize,
    pub max_streams_per_connection: usize,
    pub max_connections_per_user: usize,
    /// Messages a client may send per second on one socket (and as a
    /// burst); `None`: no limit.
    pub max_messages_per_sec: Option<std::num::NonZeroU32>,
    pub outbound_buffer: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
}

/// How to reach a live socket on this node.
#[derive(Clone)]
pub struct Handle {
    pub outbound: mpsc::Sender<Message>,
    /// Closes the socket (`DELETE /@connections/{id}`).
    pub close: CancellationToken,
    last_active_ms: Arc<AtomicU64>,
}

impl Handle {
    pub fn new(outbound: mpsc::Sender<Message>, close: CancellationToken) -> Self {
        Self {
            outbound,
            close,
            last_active_ms: Arc::new(AtomicU64::new(now_ms())),
        }
    }

    pub fn mark_active(&self) {
        self.last_active_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn last_active(&self) -> String {
        let ms = self.last_active_ms.load(Ordering::Relaxed);
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Why a socket is not admitted.
#[derive(Debug, thiserror::Error)]
pub enum Admission {
    #[error("the gateway is shutting down")]
    ShuttingDown,
    #[error(
        "this user holds the most connections allowed (sockets and streaming readers, \
         SPILLWAY_MAX_CONNECTIONS_PER_USER); close one first"
    )]
    TooMany,
    #[error("the connection registry is unavailable; try again shortly")]
    Registry(#[from] RegistryError),
}

impl Admission {
    /// The error code clients see.
    pub fn code(&self) -> ErrorCode {
        match self {
            Admission::ShuttingDown => ErrorCode::ShuttingDown,
            Admission::TooMany => ErrorCode::TooManyConnections,
            Admission::Registry(_) => ErrorCode::RegistryUnavailable,
        }
    }
}

/// Every socket on this node, and the registry they are recorded in. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<dyn ConnectionRegistry>,
    local: Mutex<HashMap<String, Handle>>,
    /// HTTP readers open on this node, counted with the user's sockets.
    readers: Readers,
    node: String,
    limits: WsLimits,
    /// Fires at shutdown: sockets finish their streams, then close with 1001.
    closing: CancellationToken,
    tasks: TaskTracker,
}

impl Connections {
    pub fn new(registry: Arc<dyn ConnectionRegistry>, node: String, limits: WsLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                local: Mutex::new(HashMap::new()),
                readers: Readers::default(),
                node,
                limits,
                closing: CancellationToken::new(),
                tasks: TaskTracker::new(),
            }),
        }
    }

    fn local(&self) -> MutexGuard<'_, HashMap<String, Handle>> {
        self.inner.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn limits(&self) -> &WsLimits {
        &self.inner.limits
    }

    pub fn node(&self) -> &str {
        &self.inner.node
    }

    pub fn registry(&self) -> &dyn ConnectionRegistry {
        self.inner.registry.as_ref()
    }

    pub fn closing(&self) -> &CancellationToken {
        &self.inner.closing
    }

    pub fn tracker(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Sockets open on this node.
    pub fn local_count(&self) -> usize {
        self.local().len()
    }

    pub fn handle(&self, id: &str) -> Option<Handle> {
        self.local().get(id).cloned()
    }

    /// May `user` open one more socket? Refused while shutting down and
    /// at the per-user cap (sockets counted across the fleet, every socket
    /// endpoint, plus the user's HTTP readers on this node).
    pub async fn admit(&self, user: &str) -> Result<(), Admission> {
        if self.closing().is_cancelled() {
            return Err(Admission::ShuttingDown);
        }
        if self.held_by(user).await? >= self.inner.limits.max_connections_per_user {
            return Err(Admission::TooMany);
        }
        Ok(())
    }

    /// May `user` hold one more HTTP reader (an attach or resume of their
    /// own session)? It counts in the same per-user budget as a socket, for
    /// as long as the returned slot lives.
    pub async fn admit_reader(&self, user: &str) -> Result<ReaderSlot, Admission> {
        let max = self.inner.limits.max_connections_per_user;
        let sockets = self.inner.registry.count_for_user(user).await?;
        let slot = self.inner.readers.take(user);
        // Counted after taking the slot, so readers admitted at once cannot
        // all pass on the same count: one over the cap gives its slot back.
        if sockets + self.inner.readers.of(user) > max {
            return Err(Admission::TooMany);
        }
        Ok(slot)
    }

    /// The connections `user` holds: sockets across the fleet, HTTP readers here.
    async fn held_by(&self, user: &str) -> Result<usize, Admission> {
        let sockets = self.inner.registry.count_for_user(user).await?;
        Ok(sockets + self.inner.readers.of(user))
    }

    pub async fn open(
        &self,
        record: ConnectionRecord,
        handle: Handle,
    ) -> Result<(), RegistryError> {
        self.local().insert(record.id.clone(), handle);
        let id = record.id.clone();
        if let Err(e) = self.inner.registry.register(record).await {
            self.local().remove(&id);
            return Err(e);
        }
        Ok(())
    }

    pub async fn close(&self, id: &str) {
        self.local().remove(id);
        if let Err(e) = self.inner.registry.remove(id).await {
            tracing::warn!(connection = id, error = %e, "could not remove connection record");
        }
    }

    /// Ask every socket to finish its streams and close, and wait for them.
    pub async fn shutdown(&self) {
        self.inner.closing.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}
