//! This node's liveness record: written at start and every heartbeat, so
//! other nodes can tell a live owner from a ghost.

use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::Cluster;
use crate::registry::RegistryError;

impl Cluster {
    /// Write this node's record once.
    pub async fn beat(&self) -> Result<(), RegistryError> {
        self.registry.nodes.heartbeat(self.record()).await?;
        self.last_heartbeat
            .store(crate::registry::now_secs(), Ordering::Relaxed);
        Ok(())
    }

    /// Heartbeat until `stop`.
    pub async fn heartbeat_loop(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.heartbeat);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.beat().await {
                        tracing::warn!(error = %e, "node heartbeat failed");
                    }
                }
            }
        }
    }
}
