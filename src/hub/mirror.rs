//! Sessions streaming on another node. A reader here of a session owned by
//! node A gets a local *mirror*: a session whose only writer is a relay of
//! A's log. Every transport then reads it like any other session, from any
//! cursor; transports know nothing of the fleet. What a drop-in API kept
//! beside A's session (the request of a Responses answer) is asked of A
//! when needed ([`Hub::kept`]).
//!
//! The relay itself lives in `cluster::relay`; the hub knows it only as an
//! [`Origin`], so the hub never imports the cluster.

use std::future::Future;
use std::pin::Pin;
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
    /// Relay the log of `mirror` from `node` into `mirror`, from its current
    /// length on, until its final event (returns `true`), or until it has had
    /// no reader for `grace` (returns `false`: the mirror is then forgotten).
    /// A cancel of `mirror` is forwarded to `node`.
    fn relay<'a>(
        &'a self,
        mirror: Arc<Session>,
        node: &'a str,
        grace: Duration,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

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

    /// The mirror of the remote session `record`: this node's, or a new one fed by `origin`.
    pub(super) fn mirror(&self, origin: Arc<dyn Origin>, record: SessionRecord) -> Arc<Session> {
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
            let finished = origin.relay(session.clone(), &record.node, grace).await;
            if !finished {
                // Stopped for lack of readers: forget the mirror, a later reader makes a new one.
                hub.sessions().remove(session.id());
            }
        });
        mirror
    }
}
