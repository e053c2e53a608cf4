//! A subscriber's cursor into a session log: late attach, resume and live
//! reading are all "read from seq N". A slow reader falls behind in the log;
//! it holds no queue of its own.
//!
//! A cursor that can never be served is refused, so no reader waits (and
//! holds a session) forever: past the end of a finished log, or past the
//! most events any session may hold. One exactly at the end of a finished
//! log has read everything and ends at once.

use std::sync::Arc;

use futures_util::Stream;

use super::lookup::LookupError;
use super::session::Session;
use crate::event::TokenEvent;

/// Counts as an attached reader for as long as it lives.
pub struct Subscription {
    session: Arc<Session>,
    next: u64,
    done: bool,
    /// Started at or past the log's end and has read nothing yet.
    ahead: bool,
    /// What must live as long as this reader does: an HTTP reader's slot in
    /// its user's connection budget ([`Subscription::holding`]).
    _held: Option<Box<dyn Send + Sync>>,
}

impl Subscription {
    /// Attach to `session`, starting at event `from` (0 = everything).
    /// Refused past the end of a finished session's log, and past the most
    /// events the session may hold; while it streams, a cursor a little
    /// ahead waits for the log to reach it.
    pub fn new(session: Arc<Session>, from: u64) -> Result<Self, LookupError> {
        let past_end = || LookupError::CursorPastEnd { len: session.len() };
        let done = match session.finished_len() {
            Some(len) if from > len => return Err(past_end()),
            Some(len) => from == len,
            None if from > session.max_events() => return Err(past_end()),
            None => false,
        };
        let mut sub = Self::from_start(session);
        sub.next = from;
        sub.done = done;
        sub.ahead = from >= sub.session.len();
        Ok(sub)
    }

    /// Attach to `session` from its first event.
    pub fn from_start(session: Arc<Session>) -> Self {
        session.add_reader();
        Self {
            session,
            next: 0,
            done: false,
            ahead: false,
            _held: None,
        }
    }

    /// Keep `guard` until this reader ends (its stream is dropped).
    pub fn holding(mut self, guard: impl Send + Sync + 'static) -> Self {
        self._held = Some(Box::new(guard));
        self
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The seq of the next event this cursor will return.
    /// Whether the session has ended and this cursor has nothing left to read.
    pub fn at_end_of_finished_log(&self) -> bool {
        self.session.status() != super::SessionStatus::Streaming
            && self.position() >= self.session.len()
    }

    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next event, waiting for it if needed; `None` after the final event.
    pub async fn next(&mut self) -> Option<Arc<TokenEvent>> {
        loop {
            if self.done {
                return None;
            }
            let available = self.session.len();
            if self.next < available {
                let ev = self.session.event(self.next)?;
                self.next += 1;
                self.ahead = false;
                self.done = ev.is_complete;
                return Some(ev);
            }
            // Started at or past the end of a log that has since ended short
            // of the cursor: nothing will come. (A cursor that has read an
            // event reads on to the final one, which sets `done`.)
            if self.ahead
                && self
                    .session
                    .finished_len()
                    .is_some_and(|len| self.next >= len)
            {
                self.done = true;
                return None;
            }
            self.session.len_above(available).await;
        }
    }

    /// Every event already written from the cursor on, without waiting (at most `max`).
    pub fn ready(&mut self, max: usize) -> Vec<Arc<TokenEvent>> {
        if self.done {
            return Vec::new();
        }
        let evs = self.session.events_from(self.next, max);
        self.next += evs.len() as u64;
        if !evs.is_empty() {
            self.ahead = false;
        }
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
