//! A finished response the caller may read again — what
//! `previous_response_id` and an `item_reference` name: its session (the
//! caller's own, on any node of a fleet), the request kept beside it, and
//! its whole log.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Principal;
use crate::event::TokenEvent;
use crate::hub::{Access, Hub, Kept, Session, Subscription};

/// A finished response: its session, kept request and whole log.
pub(super) struct Retained {
    pub session: Arc<Session>,
    pub kept: Arc<Kept>,
    pub events: Vec<Arc<TokenEvent>>,
}

/// Why a response cannot be read again.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unavailable {
    /// Not the caller's, never here, or no longer retained.
    NotFound,
    /// Still streaming.
    InProgress,
}

/// The finished response of session `sid`, as `principal` may see it.
pub(super) async fn finished(
    hub: &Hub,
    principal: &Principal,
    sid: &str,
) -> Result<Retained, Unavailable> {
    let session = hub
        .find(sid, &Access::user(principal))
        .await
        .map_err(|_| Unavailable::NotFound)?;
    let (kept, finished) = hub.kept(&session).await.ok_or(Unavailable::NotFound)?;
    if !finished {
        return Err(Unavailable::InProgress);
    }
    let events = whole_log(session.clone())
        .await
        .ok_or(Unavailable::NotFound)?;
    Ok(Retained {
        session,
        kept,
        events,
    })
}

/// How long a finished session's log may take to arrive from the node that
/// streamed it (a mirror here relays it; it is there already).
const LOG_WAIT: Duration = Duration::from_secs(10);

/// A finished session's whole log, read to its final event; `None` if it
/// does not arrive within [`LOG_WAIT`].
pub(super) async fn whole_log(session: Arc<Session>) -> Option<Vec<Arc<TokenEvent>>> {
    let mut sub = Subscription::new(session, 0).ok()?;
    let read = async move {
        let mut events = Vec::new();
        while let Some(ev) = sub.next().await {
            events.push(ev);
        }
        events
    };
    let events = tokio::time::timeout(LOG_WAIT, read).await.ok()?;
    events
        .last()
        .is_some_and(|e| e.is_complete)
        .then_some(events)
}
