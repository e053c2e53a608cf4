//! The hub: the only place where a stream meets its subscribers.
//!
//! One `Session` per invocation owns an append-only log; the upstream task
//! (`runner`) is its only writer; every reader is a `Subscription` cursor.
//! Finished sessions stay attachable for the retention period.

pub mod external;
pub mod runner;
pub mod session;
pub mod subscription;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use runner::RunnerConfig;
pub use session::{Session, SessionInfo, SessionStatus};
pub use subscription::Subscription;

use crate::upstream::{Api, InvocationRequest, Upstream, UpstreamError};

/// Limits and timings of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub runner: RunnerConfig,
    /// How long finished sessions stay attachable.
    pub retention: Duration,
    /// Most sessions held at once (streaming + retained).
    pub max_sessions: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("the gateway holds too many sessions; try again shortly")]
    Full,
    #[error("the gateway is shutting down")]
    ShuttingDown,
}

/// Sessions by id. Cheap to clone: everything is behind one `Arc`.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    upstream: Arc<dyn Upstream>,
    config: HubConfig,
    tasks: TaskTracker,
    closing: CancellationToken,
}

impl Hub {
    pub fn new(upstream: Arc<dyn Upstream>, config: HubConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions: Mutex::new(HashMap::new()),
                upstream,
                config,
                tasks: TaskTracker::new(),
                closing: CancellationToken::new(),
            }),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Session>>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Start an invocation for `owner` and return a subscription from seq 0.
    ///
    /// Resolves once the upstream has answered with headers (so errors before
    /// streaming are returned here, with a real status); the tokens then flow
    /// through a tracked task into the session log.
    pub async fn start(
        &self,
        owner: &str,
        req: InvocationRequest,
        api: Api,
    ) -> Result<Subscription, StartError> {
        if self.inner.closing.is_cancelled() {
            return Err(StartError::ShuttingDown);
        }
        self.make_room()?;
        let stream = self.inner.upstream.start(&req, api).await?;
        let id: Arc<str> = Arc::from(uuid::Uuid::new_v4().to_string());
        let session = Session::new(id.clone(), owner.to_owned(), req.model_id.clone());
        // Attach the caller before the task starts, so the grace timer never sees zero readers.
        let sub = Subscription::new(session.clone(), 0);
        self.sessions().insert(id, session.clone());
        let cfg = self.inner.config.runner;
        self.inner.tasks.spawn(runner::run(session, stream, cfg));
        Ok(sub)
    }

    /// Drop expired sessions; if still full, refuse.
    fn make_room(&self) -> Result<(), StartError> {
        let mut map = self.sessions();
        if map.len() < self.inner.config.max_sessions {
            return Ok(());
        }
        let retention = self.inner.config.retention;
        map.retain(|_, s| s.finished_at().is_none_or(|t| t.elapsed() < retention));
        if map.len() < self.inner.config.max_sessions {
            return Ok(());
        }
        // Evict the oldest finished session before refusing.
        let oldest = map
            .iter()
            .filter_map(|(id, s)| s.finished_at().map(|t| (t, id.clone())))
            .min_by_key(|(t, _)| *t)
            .map(|(_, id)| id);
        match oldest {
            Some(id) => {
                map.remove(&id);
                Ok(())
            }
            None => Err(StartError::Full),
        }
    }

    /// The session `id` if `owner` may see it. Others get `None` (a 404: existence is not confirmed).
    pub fn get(&self, id: &str, owner: &str) -> Option<Arc<Session>> {
        let s = self.sessions().get(id).cloned()?;
        (s.owner() == owner).then_some(s)
    }

    /// Attach to session `id` from seq `from`.
    pub fn subscribe(&self, id: &str, owner: &str, from: u64) -> Option<Subscription> {
        self.get(id, owner).map(|s| Subscription::new(s, from))
    }

    /// Stop session `id` now. Returns `None` when `owner` may not see it.
    pub fn cancel(&self, id: &str, owner: &str) -> Option<Arc<Session>> {
        let s = self.get(id, owner)?;
        s.cancel();
        Some(s)
    }

    /// How many sessions are held (streaming and retained).
    pub fn len(&self) -> usize {
        self.sessions().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop finished sessions past retention. Returns how many were dropped.
    pub fn sweep(&self) -> usize {
        let retention = self.inner.config.retention;
        let mut map = self.sessions();
        let before = map.len();
        map.retain(|_, s| s.finished_at().is_none_or(|t| t.elapsed() < retention));
        before - map.len()
    }

    /// Run the retention sweeper until the hub closes.
    pub fn spawn_sweeper(&self) {
        let hub = self.clone();
        let every = (self.inner.config.retention / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        self.inner.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = hub.inner.closing.cancelled() => break,
                    _ = tick.tick() => { hub.sweep(); }
                }
            }
        });
    }

    /// Stop taking new sessions, let running streams finish for up to
    /// `deadline`, then cancel the rest and wait for every task.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.closing.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(deadline, self.inner.tasks.wait())
            .await
            .is_err()
        {
            let live: Vec<_> = self.sessions().values().cloned().collect();
            for s in live {
                s.cancel();
            }
            self.inner.tasks.wait().await;
        }
    }
}
