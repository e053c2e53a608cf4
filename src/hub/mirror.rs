//! Sessions streaming on another node. A subscriber here to a session owned
//! by node A gets a local *mirror*: a session whose only writer is a relay of
//! A's log (see `cluster::relay`). Every transport then reads it like any
//! other session, from any cursor; transports know nothing of the fleet.

use std::sync::Arc;

use super::Hub;
use super::session::Session;
use super::subscription::Subscription;

impl Hub {
    /// The session `id` if `owner` may see it: local, or mirrored from the
    /// node that streams it. Others get `None` (a 404: existence is not confirmed).
    pub async fn locate(&self, id: &str, owner: &str) -> Option<Arc<Session>> {
        if let Some(s) = self.sessions().get(id).cloned() {
            return (s.owner() == owner).then_some(s);
        }
        let relay = self.inner.fleet.relay.clone()?;
        let record = match self.inner.fleet.registry.sessions.get_session(id).await {
            Ok(r) => r?,
            Err(e) => {
                tracing::warn!(session = id, error = %e, "session lookup failed");
                return None;
            }
        };
        if record.owner != owner || record.node == self.inner.fleet.node {
            return None;
        }
        let mirror = {
            let mut map = self.sessions();
            // Another subscriber may have created the mirror meanwhile.
            if let Some(s) = map.get(id) {
                return (s.owner() == owner).then(|| s.clone());
            }
            let s = Session::new(Arc::from(id), record.owner.clone(), record.model.clone());
            map.insert(s.id().clone(), s.clone());
            s
        };
        let hub = self.clone();
        let grace = self.inner.config.runner.cancel_grace;
        let session = mirror.clone();
        self.inner.tasks.spawn(async move {
            let finished = relay.run(session.clone(), &record.node, grace).await;
            if !finished {
                // Stopped for lack of readers: forget the mirror, a later subscriber makes a new one.
                hub.sessions().remove(session.id());
            }
        });
        Some(mirror)
    }

    /// Attach to session `id` from seq `from`, wherever it streams.
    pub async fn attach(&self, id: &str, owner: &str, from: u64) -> Option<Subscription> {
        self.locate(id, owner)
            .await
            .map(|s| Subscription::new(s, from))
    }

    /// This node's session `id` (internal relay route: no owner check).
    pub fn local(&self, id: &str) -> Option<Arc<Session>> {
        let s = self.sessions().get(id).cloned()?;
        Some(s)
    }
}
