//! The in-memory connection registry of a single node.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, ready};

use super::{ConnectionRecord, ConnectionRegistry, RegistryError};

#[derive(Default)]
pub struct MemoryRegistry {
    records: Mutex<HashMap<String, ConnectionRecord>>,
}

impl MemoryRegistry {
    fn records(&self) -> MutexGuard<'_, HashMap<String, ConnectionRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConnectionRegistry for MemoryRegistry {
    fn register(&self, record: ConnectionRecord) -> BoxFuture<'_, Result<(), RegistryError>> {
        self.records().insert(record.id.clone(), record);
        ready(Ok(())).boxed()
    }

    fn touch<'a>(&'a self, id: &'a str, at: &'a str) -> BoxFuture<'a, Result<(), RegistryError>> {
        if let Some(r) = self.records().get_mut(id) {
            r.last_active_at = at.to_owned();
        }
        ready(Ok(())).boxed()
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ConnectionRecord>, RegistryError>> {
        ready(Ok(self.records().get(id).cloned())).boxed()
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RegistryError>> {
        self.records().remove(id);
        ready(Ok(())).boxed()
    }

    fn count_for_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<usize, RegistryError>> {
        ready(Ok(self
            .records()
            .values()
            .filter(|r| r.user == user)
            .count()))
        .boxed()
    }
}
