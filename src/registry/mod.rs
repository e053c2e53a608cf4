//! What a fleet shares: connections (who is connected, on which node),
//! session records (who owns a session, which node streams it), per-user
//! usage counters, and node liveness. In memory for one node
//! ([`MemoryRegistry`]); in one DynamoDB table for a fleet ([`dynamo`]).

pub mod dynamo;
pub mod memory;
pub mod records;

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use memory::MemoryRegistry;
pub use records::{ChatAnswer, ChatRecord, ConnectionRecord, NodeRecord, SessionRecord};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry unavailable: {0}")]
    Unavailable(String),
}

/// Why a per-user limit refused a stream.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("{what}; retry in {retry_after_secs} s")]
    Exceeded { what: String, retry_after_secs: u64 },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

type Fut<'a, T> = BoxFuture<'a, Result<T, RegistryError>>;

/// Where WebSocket connections are recorded. Entries are removed on close.
pub trait ConnectionRegistry: Send + Sync + 'static {
    fn register(&self, record: ConnectionRecord) -> Fut<'_, ()>;
    fn touch<'a>(&'a self, id: &'a str, at: &'a str) -> Fut<'a, ()>;
    fn get<'a>(&'a self, id: &'a str) -> Fut<'a, Option<ConnectionRecord>>;
    fn remove<'a>(&'a self, id: &'a str) -> Fut<'a, ()>;
    /// How many connections `user` holds (across the fleet for shared registries).
    fn count_for_user<'a>(&'a self, user: &'a str) -> Fut<'a, usize>;
}

/// Who owns each session and which node streams it.
pub trait SessionStore: Send + Sync + 'static {
    fn put_session(&self, record: SessionRecord) -> Fut<'_, ()>;
    /// Record the final status and usage.
    fn finish_session<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Fut<'a, ()>;
    fn get_session<'a>(&'a self, id: &'a str) -> Fut<'a, Option<SessionRecord>>;
    /// Point `owner`'s chat `chat` at its latest answer (AI SDK chat ids).
    fn put_chat<'a>(&'a self, owner: &'a str, chat: &'a str, latest: &'a ChatRecord)
    -> Fut<'a, ()>;
    /// The latest answer of `owner`'s chat `chat`.
    fn get_chat<'a>(&'a self, owner: &'a str, chat: &'a str) -> Fut<'a, Option<ChatRecord>>;
}

/// Fleet-wide per-user limits, updated atomically.
pub trait UsageLimits: Send + Sync + 'static {
    /// Take one of `max` concurrent stream slots for `user`, for `session`.
    fn acquire_stream<'a>(
        &'a self,
        user: &'a str,
        session: &'a str,
        node: &'a str,
        max: u64,
    ) -> BoxFuture<'a, Result<(), LimitError>>;
    /// Give the slot back (idempotent per session).
    fn release_stream<'a>(&'a self, user: &'a str, session: &'a str) -> Fut<'a, ()>;
    /// Tokens `user` has used today (UTC).
    fn tokens_today<'a>(&'a self, user: &'a str) -> Fut<'a, u64>;
    fn add_tokens<'a>(&'a self, user: &'a str, tokens: u64) -> Fut<'a, ()>;
    /// What `user` has spent today (UTC), in nano-USD.
    fn cost_today<'a>(&'a self, user: &'a str) -> Fut<'a, u64>;
    fn add_cost<'a>(&'a self, user: &'a str, nano_usd: u64) -> Fut<'a, ()>;
}

/// Which nodes are alive and how to reach them.
pub trait NodeDirectory: Send + Sync + 'static {
    /// Record `node` as alive until `node.expires_at`.
    fn heartbeat(&self, node: NodeRecord) -> Fut<'_, ()>;
    fn get_node<'a>(&'a self, id: &'a str) -> Fut<'a, Option<NodeRecord>>;
}

/// The registry as the rest of the gateway uses it. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    pub connections: Arc<dyn ConnectionRegistry>,
    pub sessions: Arc<dyn SessionStore>,
    pub limits: Arc<dyn UsageLimits>,
    pub nodes: Arc<dyn NodeDirectory>,
    /// Whether other nodes share it (DynamoDB): cross-node relay is possible.
    pub shared: bool,
}

impl Registry {
    /// One node, everything in memory.
    pub fn memory() -> Self {
        let m = Arc::new(MemoryRegistry::default());
        Self {
            connections: m.clone(),
            sessions: m.clone(),
            limits: m.clone(),
            nodes: m,
            shared: false,
        }
    }

    /// A fleet: everything in one DynamoDB table.
    pub fn dynamo(d: dynamo::DynamoRegistry) -> Self {
        let d = Arc::new(d);
        Self {
            connections: d.clone(),
            sessions: d.clone(),
            limits: d.clone(),
            nodes: d,
            shared: true,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Today's date (UTC) as `YYYY-MM-DD`, and the seconds left until tomorrow.
pub fn utc_day() -> (String, u64) {
    let now = now_secs();
    let stamp = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(now),
    )
    .to_string();
    let day = stamp.get(..10).unwrap_or("1970-01-01").to_owned();
    (day, 86_400 - now % 86_400)
}
