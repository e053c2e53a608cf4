//! A subscriber's cursor into a session log: late attach, resume and live
//! reading are all "read from seq N". A slow reader falls behind in the log;
//! it holds no queue of its own.

use std::sync::Arc;

use futures_util::Stream;
use tokio::sync::watch;

use super::session::Session;
use crate::event::TokenEvent;

/// Counts as an attached reader for as long as it lives.
pub struct Subscription {
    session: Arc<Session>,
    next: u64,
    len: watch::Receiver<u64>,
    done: bool,
}

impl Subscription {
    /// Attach to `session`, starting at event `from` (0 = everything).
    pub fn new(session: Arc<Session>, from: u64) -> Self {
        session.add_reader();
        let len = session.watch_len();
        Self {
            session,
            next: from,
            len,
            done: false,
        }
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The seq of the next event this cursor will return.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next event, waiting for it if needed; `None` after the final event.
    pub async fn next(&mut self) -> Option<Arc<TokenEvent>> {
        loop {
            if self.done {
                return None;
            }
            let available = *self.len.borrow_and_update();
            if self.next < available {
                let ev = self.session.event(self.next)?;
                self.next += 1;
                self.done = ev.is_complete;
                return Some(ev);
            }
            if self.len.changed().await.is_err() {
                // The session is gone; whatever was written has been read.
                self.done = true;
            }
        }
    }

    /// Every event already written from the cursor on, without waiting (at most `max`).
    pub fn ready(&mut self, max: usize) -> Vec<Arc<TokenEvent>> {
        if self.done {
            return Vec::new();
        }
        let evs = self.session.events_from(self.next, max);
        self.next += evs.len() as u64;
        if evs.last().is_some_and(|e| e.is_complete) {
            self.done = true;
        }
        evs
    }

    /// As a `Stream` of events ending after the final one.
    pub fn into_stream(self) -> impl Stream<Item = Arc<TokenEvent>> + Send + 'static {
        futures_util::stream::unfold(self, |mut sub| async move {
            let ev = sub.next().await?;
            Some((ev, sub))
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.session.remove_reader();
    }
}
