//! The hub: the only place where a stream meets its subscribers.
//!
//! One `Session` per invocation owns an append-only log; the upstream task
//! (`runner`) is its only writer; every reader is a `Subscription` cursor.
//! Finished sessions stay attachable for the retention period.
//!
//! - `lookup`: the one way to find a session ([`Hub::find`]) and its access rule.
//! - `subscription`: a reader's cursor, and which cursors are refused.
//! - `mirror`: sessions streaming on another node, relayed through an [`Origin`].
//! - `fleet`: limits and session records in the fleet's registry.
//! - `chats`, `external`: chat ids, and sessions fed by `publishToken`.
//! - `answering`: tells the edge a request's answer has started.

pub mod answering;
mod budget;
pub mod chats;
pub mod external;
pub mod fleet;
pub use budget::default_budget as default_session_budget;
mod growing;
mod log;
pub mod lookup;
pub mod mirror;
pub mod runner;
pub mod session;
pub mod subscription;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use fleet::Fleet;
pub use lookup::{Access, LookupError};
pub use mirror::{Feed, Origin, Publish, Unopened};
pub use runner::RunnerConfig;
pub use session::{Kept, Session, SessionInfo, SessionStatus};
pub use subscription::Subscription;

use crate::metrics::Metrics;
use crate::registry::{LimitError, RegistryError};
use crate::upstream::{Api, CountInput, InvocationRequest, Upstream, UpstreamError};

/// Limits and timings of the hub.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub runner: RunnerConfig,
    /// How long finished sessions stay attachable.
    pub retention: Duration,
    /// Most sessions held at once (streaming + retained).
    pub max_sessions: usize,
    /// How long a reader may wait for a session that does not exist yet
    /// (GraphQL's `onTokenReceived`; `SPILLWAY_GRAPHQL_SESSION_WAIT_SECS`).
    pub session_wait: Duration,
    /// Most bytes the session logs may hold before the oldest finished
    /// sessions are dropped (`SPILLWAY_SESSION_MEMORY_BYTES`).
    pub session_memory_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("the gateway holds too many sessions; try again shortly")]
    Full,
    #[error("the gateway is shutting down")]
    ShuttingDown,
    #[error("{what}")]
    Limited { what: String, retry_after_secs: u64 },
    /// The user's daily token or USD budget is used up (until `retry_after_secs`,
    /// the next UTC day): a quota spent, not a rate to slow down to.
    #[error("{what}")]
    Spent { what: String, retry_after_secs: u64 },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<LimitError> for StartError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Exceeded {
                what,
                retry_after_secs,
            } => StartError::Limited {
                what,
                retry_after_secs,
            },
            LimitError::Registry(r) => StartError::Registry(r),
        }
    }
}

/// A stream slot taken for a session that has not started yet.
struct SlotGuard<'a> {
    hub: &'a Hub,
    owner: &'a str,
    id: &'a str,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.hub.release_later(self.owner, self.id);
    }
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
    /// Shared with the tasks that record a session's end.
    fleet: Arc<Fleet>,
    metrics: Arc<Metrics>,
    tasks: TaskTracker,
    closing: CancellationToken,
    /// Readers waiting for sessions not created yet; woken on every insert.
    arrivals: lookup::Arrivals,
    /// Sessions dropped for the memory budget (answered `Gone`).
    tombstones: budget::Tombstones,
    /// Bytes the session logs held at the last sweep.
    held_bytes: AtomicU64,
    /// Where publishes to sessions another node holds went (session id →
    /// node), so a producer's every token is not a registry read.
    publish_routes: external::Routes,
}

impl Hub {
    /// A hub on its own (in-memory registry).
    pub fn new(upstream: Arc<dyn Upstream>, config: HubConfig) -> Self {
        Self::with_fleet(upstream, config, Fleet::single_node(), Metrics::new())
    }

    pub fn with_fleet(
        upstream: Arc<dyn Upstream>,
        config: HubConfig,
        fleet: Fleet,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions: Mutex::new(HashMap::new()),
                upstream,
                config,
                fleet: Arc::new(fleet),
                metrics,
                tasks: TaskTracker::new(),
                closing: CancellationToken::new(),
                arrivals: lookup::Arrivals::default(),
                tombstones: budget::Tombstones::default(),
                held_bytes: AtomicU64::new(0),
                publish_routes: external::Routes::default(),
            }),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Session>>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The input tokens `input` would use on `model_id`, counted upstream
    /// (Bedrock's CountTokens).
    pub async fn count_tokens(
        &self,
        model_id: &str,
        input: CountInput<'_>,
    ) -> Result<u64, UpstreamError> {
        self.inner.upstream.count_tokens(model_id, input).await
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
        if self.inner.held_bytes.load(Ordering::Relaxed) > self.inner.config.session_memory_bytes {
            self.enforce_budget();
        }
        let cfg = self.inner.config;
        let fleet = &self.inner.fleet;
        fleet.check_daily_limits(owner).await?;
        let id: Arc<str> = Arc::from(uuid::Uuid::new_v4().to_string());
        fleet.acquire(owner, &id).await?;
        // Released if this future is dropped (the client left) or fails before the task owns it.
        let slot = SlotGuard {
            hub: self,
            owner,
            id: &id,
        };
        // Record the session (so other nodes can find it) while Bedrock answers.
        let requested = tokio::time::Instant::now();
        let span = crate::telemetry::SessionSpan::start(&id, owner, &req);
        let (started, ()) = tokio::join!(
            self.inner.upstream.start_answering(&req, api),
            fleet.put(fleet.record(&id, owner, &req.model_id))
        );
        let started = match started {
            Ok(s) => s,
            Err(e) => {
                self.inner.metrics.upstream_error(e.code());
                span.refused(&e);
                fleet.failed(&id).await;
                return Err(e.into());
            }
        };
        std::mem::forget(slot);
        answering::started();
        // Named for the model that answers (a fallback model, when one stood in).
        let session = Session::new(
            id.clone(),
            owner.to_owned(),
            started.model,
            cfg.runner.max_events,
        );
        let stream = started.stream;
        // Attach the caller before the task starts, so the grace timer never sees zero readers.
        let sub = Subscription::from_start(session.clone());
        self.insert(session.clone());
        let fleet = fleet.clone();
        let metrics = self.inner.metrics.clone();
        self.inner.tasks.spawn(async move {
            let ran = runner::run(
                session.clone(),
                stream,
                cfg.runner,
                &metrics,
                requested,
                &fleet.prices,
            )
            .await;
            // Every exit path of the stream passes here.
            span.end(&session, ran);
            fleet.stream_ended(&session).await;
        });
        Ok(sub)
    }

    /// Hold `session` (a new id) and wake whoever waits for it.
    fn insert(&self, session: Arc<Session>) {
        let id = session.id().clone();
        self.sessions().insert(id.clone(), session);
        self.inner.arrivals.arrived(&id);
    }

    /// This node's session `id`, whoever owns it. Private: readers go through `find`.
    fn held(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions().get(id).cloned()
    }

    /// Give a stream slot back without waiting (from `Drop`).
    fn release_later(&self, owner: &str, id: &str) {
        let fleet = self.inner.fleet.clone();
        let (owner, id) = (owner.to_owned(), id.to_owned());
        self.inner
            .tasks
            .spawn(async move { fleet.release(&owner, &id).await });
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

    /// How long a reader may wait for a session that does not exist yet.
    pub fn session_wait(&self) -> Duration {
        self.inner.config.session_wait
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// How many sessions are held (streaming and retained).
    pub fn len(&self) -> usize {
        self.sessions().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop finished sessions past retention, then the oldest finished
    /// ones while the logs hold more than the memory budget. Returns how
    /// many were dropped.
    pub fn sweep(&self) -> usize {
        let retention = self.inner.config.retention;
        let expired = {
            let mut map = self.sessions();
            let before = map.len();
            map.retain(|_, s| s.finished_at().is_none_or(|t| t.elapsed() < retention));
            before - map.len()
        };
        self.inner.tombstones.sweep();
        expired + self.enforce_budget()
    }

    /// Measure the bytes the logs hold; past the budget, drop the oldest
    /// finished sessions (never a live one), remembering them for `Gone`.
    /// Returns how many were dropped.
    fn enforce_budget(&self) -> usize {
        let budget = self.inner.config.session_memory_bytes;
        let mut map = self.sessions();
        let mut held: u64 = map.values().map(|s| s.bytes() as u64).sum();
        let evict = budget::choose_evictions(&map, held, budget);
        for id in &evict {
            if let Some(s) = map.remove(id) {
                self.inner.metrics.sessions_evicted.inc();
                held = held.saturating_sub(s.bytes() as u64);
                let keep = self
                    .inner
                    .config
                    .retention
                    .saturating_sub(s.finished_at().map_or(Duration::ZERO, |t| t.elapsed()));
                self.inner.tombstones.bury(id.clone(), s.owner(), keep);
            }
        }
        drop(map);
        if !evict.is_empty() {
            tracing::info!(
                dropped = evict.len(),
                held_bytes = held,
                budget,
                "session memory budget: oldest finished sessions dropped"
            );
        }
        self.inner.held_bytes.store(held, Ordering::Relaxed);
        self.inner
            .metrics
            .session_bytes
            .set(i64::try_from(held).unwrap_or(i64::MAX));
        evict.len()
    }

    /// Bytes the session logs held at the last measure (`spillway_session_bytes`).
    pub fn held_bytes(&self) -> u64 {
        self.inner.held_bytes.load(Ordering::Relaxed)
    }

    /// Run the retention sweeper until the hub closes.
    pub fn spawn_sweeper(&self) {
        let hub = self.clone();
        // At least every second: the memory budget is measured here.
        let every = (self.inner.config.retention / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
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
            let live: Vec<_> = self
                .sessions()
                .values()
                .filter(|s| s.status() == SessionStatus::Streaming)
                .cloned()
                .collect();
            tracing::warn!(
                streams = live.len(),
                "drain deadline passed: cutting the streams still running (clients get a retryable shutting_down error)"
            );
            for s in live {
                s.cut();
            }
            self.inner.tasks.wait().await;
        }
    }
}
