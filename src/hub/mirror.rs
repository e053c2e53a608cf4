//! Sessions streaming on another node. A reader here of a session owned by
//! node A gets a local *mirror*: a session whose only writer is a relay of
//! A's log. Every transport then reads it like any other session, from any
//! cursor; transports know nothing of the fleet. What a drop-in API kept
//! beside A's session (the request of a Responses answer) is asked of A
//! when needed ([`Hub::kept`]).
//!
//! The relay is opened before the mirror is made: a session A does not hold
//! is not found here either, and a node that cannot be asked (gone, or
//! refusing this node's cluster secret) is `node_unavailable`, never a
//! session of ours. A relay that breaks later ends the mirror's readers with
//! an error event, and the mirror is forgotten: its status is A's to tell,
//! and the next reader asks A again.
//!
//! The relay itself lives in `cluster::relay`; the hub knows it only as an
//! [`Origin`], so the hub never imports the cluster.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::Hub;
use super::external::PublishError;
use super::session::{Kept, Session, SessionStatus};
use crate::event::TokenEvent;
use crate::registry::SessionRecord;

/// Where mirrors are fed from: the node that streams a session.
pub trait Origin: Send + Sync + 'static {
    /// Open the relay of session `id`'s log from `node`, from its first event.
    fn open<'a>(
        &'a self,
        id: &'a str,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Feed>, Unopened>>;

    /// What `node` kept beside session `id` ([`Kept`]), and whether the
    /// session is finished there; `None` when nothing was kept or `node`
    /// cannot say.
    fn kept<'a>(&'a self, id: &'a str, node: &'a str) -> BoxFuture<'a, Option<(Kept, bool)>>;

    /// Publish to the externally-fed session that `node` holds
    /// ([`Hub::publish`] there): the event written.
    fn publish<'a>(
        &'a self,
        node: &'a str,
        publish: &'a Publish,
    ) -> BoxFuture<'a, Result<TokenEvent, PublishError>>;
}

/// An open relay of one session's log.
pub trait Feed: Send + 'static {
    /// Relay into `mirror` until its final event (returns `true`: the mirror
    /// is kept, as finished sessions are), or until it has had no reader for
    /// `grace` or the relay broke (returns `false`: the mirror is then
    /// forgotten). A cancel of `mirror` is forwarded to the origin.
    fn run(self: Box<Self>, mirror: Arc<Session>, grace: Duration) -> BoxFuture<'static, bool>;

    /// How many events the origin's log held when the relay began: the
    /// mirror is caught up once it holds them.
    fn backlog(&self) -> u64 {
        0
    }
}

/// Why a relay could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unopened {
    /// The origin does not hold the session (any more).
    NotFound,
    /// The origin dropped it for its memory budget.
    Gone,
    /// The origin cannot be asked: why, for the reader.
    Unavailable(String),
    /// The origin is not alive (its heartbeat has lapsed): its sessions
    /// went with it.
    Dead,
}

/// One `publishToken` call, as sent to the node that holds its session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publish {
    pub id: String,
    pub owner: String,
    pub token: String,
    pub is_complete: bool,
}

impl Hub {
    /// What was kept beside `session` ([`Kept`]), and whether the session is
    /// finished: this node's own, or, for a mirror, the streaming node's
    /// (then kept on the mirror too, once finished).
    pub async fn kept(&self, session: &Session) -> Option<(Arc<Kept>, bool)> {
        if let Some(kept) = session.kept() {
            return Some((kept, session.status() != SessionStatus::Streaming));
        }
        let fleet = &self.inner.fleet;
        let origin = fleet.relay.clone()?;
        let record = fleet.lookup(session.id()).await?;
        if record.node == fleet.node {
            return None;
        }
        let (kept, finished) = origin.kept(session.id(), &record.node).await?;
        if finished {
            session.keep(kept);
            return session.kept().map(|k| (k, true));
        }
        Some((Arc::new(kept), false))
    }

    /// The mirror of the remote session `record`: this node's, or a new one
    /// fed by `feed` (dropped when another reader made the mirror meanwhile).
    pub(super) fn mirror(&self, feed: Box<dyn Feed>, record: SessionRecord) -> Arc<Session> {
        let mirror = {
            let mut map = self.sessions();
            // Another reader may have made the mirror meanwhile.
            if let Some(s) = map.get(record.id.as_str()) {
                return s.clone();
            }
            let s = Session::new(
                Arc::from(record.id.as_str()),
                record.owner.clone(),
                record.model.clone(),
                self.inner.config.runner.max_events,
            );
            s.set_mirror();
            map.insert(s.id().clone(), s.clone());
            s
        };
        self.inner.arrivals.arrived(mirror.id());
        let hub = self.clone();
        let grace = self.inner.config.runner.cancel_grace;
        let session = mirror.clone();
        self.inner.tasks.spawn(async move {
            let finished = feed.run(session.clone(), grace).await;
            if !finished {
                // No readers left, or the relay broke: forget the mirror, a
                // later reader makes a new one.
                let mut map = hub.sessions();
                if map
                    .get(session.id())
                    .is_some_and(|s| Arc::ptr_eq(s, &session))
                {
                    map.remove(session.id());
                }
            }
        });
        mirror
    }
}
