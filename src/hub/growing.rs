//! A count that only grows, and a wait for it to pass a value: a session's
//! log length, which its readers wait on.
//!
//! One `Notify` rather than a `watch` channel: `watch` wakes its receivers
//! through eight sharded `Notify`s, so every event locked eight mutexes even
//! with one reader (3% of the gateway's CPU per event in the profile).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(super) struct Growing {
    value: AtomicU64,
    grown: Notify,
}

impl Growing {
    pub(super) fn get(&self) -> u64 {
        self.value.load(Ordering::SeqCst)
    }

    /// Set the value (never lower than before) and wake every waiter.
    pub(super) fn set(&self, value: u64) {
        self.value.store(value, Ordering::SeqCst);
        self.grown.notify_waiters();
    }

    /// The value, once it is above `seen`.
    pub(super) async fn above(&self, seen: u64) -> u64 {
        loop {
            // Registered before the value is read: a `set` after the read
            // wakes it (a `Notified` sees every `notify_waiters` from its
            // creation on); one before the read is seen by the read.
            let grown = self.grown.notified();
            let value = self.get();
            if value > seen {
                return value;
            }
            grown.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiter_wakes_when_the_value_passes_what_it_saw() {
        let n = Arc::new(Growing::default());
        assert_eq!(n.above(0).now_or_pending(), None);
        n.set(1);
        assert_eq!(n.above(0).await, 1);
        let waiter = tokio::spawn({
            let n = Arc::clone(&n);
            async move { n.above(1).await }
        });
        tokio::task::yield_now().await;
        n.set(3);
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert_eq!(got.unwrap().unwrap(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_wake_is_lost_between_threads() {
        let n = Arc::new(Growing::default());
        let reader = tokio::spawn({
            let n = Arc::clone(&n);
            async move {
                let mut seen = 0;
                while seen < 20_000 {
                    seen = n.above(seen).await;
                }
                seen
            }
        });
        for v in 1..=20_000 {
            n.set(v);
            if v % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let got = tokio::time::timeout(Duration::from_secs(20), reader).await;
        assert_eq!(got.unwrap().unwrap(), 20_000);
    }

    trait NowOrPending: std::future::Future + Sized {
        fn now_or_pending(self) -> Option<Self::Output> {
            futures_util::FutureExt::now_or_never(self)
        }
    }
    impl<F: std::future::Future> NowOrPending for F {}
}
