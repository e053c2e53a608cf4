//! Registries shared by a fleet: the connection registry (who is connected,
//! on which node). In memory for one node; DynamoDB for a fleet.

pub mod memory;

use futures_util::future::BoxFuture;

pub use memory::MemoryRegistry;

/// One WebSocket connection, as other nodes and the `@connections` API see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: String,
    /// The owner's `sub`.
    pub user: String,
    /// The node holding the socket.
    pub node: String,
    /// RFC 3339.
    pub connected_at: String,
    /// RFC 3339.
    pub last_active_at: String,
    pub source_ip: String,
    pub user_agent: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry unavailable: {0}")]
    Unavailable(String),
}

/// Where connections are recorded. Entries are removed on close.
pub trait ConnectionRegistry: Send + Sync + 'static {
    fn register(&self, record: ConnectionRecord) -> BoxFuture<'_, Result<(), RegistryError>>;
    fn touch<'a>(&'a self, id: &'a str, at: &'a str) -> BoxFuture<'a, Result<(), RegistryError>>;
    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ConnectionRecord>, RegistryError>>;
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RegistryError>>;
    /// How many connections `user` holds (across the fleet for shared registries).
    fn count_for_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<usize, RegistryError>>;
}
