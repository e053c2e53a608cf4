//! HTTP readers (`GET …/stream` attaches and resumes) each user holds open
//! on this node. Each holds a connection as a socket does, so they count in
//! the same per-user budget (`SPILLWAY_MAX_CONNECTIONS_PER_USER`): without
//! that, one user's readers of a single session could fill the per-address
//! and global connection caps that everyone shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Open HTTP readers by user. Cheap to clone.
#[derive(Clone, Default)]
pub struct Readers {
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl Readers {
    fn held(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// HTTP readers `user` holds open on this node.
    pub fn of(&self, user: &str) -> usize {
        self.held().get(user).copied().unwrap_or(0)
    }

    /// Count one more reader for `user` until the slot is dropped.
    pub fn take(&self, user: &str) -> ReaderSlot {
        *self.held().entry(user.to_owned()).or_insert(0) += 1;
        ReaderSlot {
            readers: self.clone(),
            user: user.to_owned(),
        }
    }
}

/// One open HTTP reader: counted for its user while it lives.
pub struct ReaderSlot {
    readers: Readers,
    user: String,
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        let mut held = self.readers.held();
        if let Some(n) = held.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_counts_for_its_user_while_it_lives() {
        let readers = Readers::default();
        let a = readers.take("alice");
        let b = readers.take("alice");
        let _c = readers.take("bob");
        assert_eq!((readers.of("alice"), readers.of("bob")), (2, 1));
        drop(a);
        drop(b);
        assert_eq!(readers.of("alice"), 0);
        assert!(
            !readers.held().contains_key("alice"),
            "no entry left behind"
        );
    }
}
