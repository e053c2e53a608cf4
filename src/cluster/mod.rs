//! The fleet: nodes find each other through the shared registry, relay
//! session logs and `@connections` pushes over internal routes that need
//! `SPILLWAY_CLUSTER_SECRET`, and heartbeat their own liveness.
//!
//! - `relay`: mirror a session streaming on another node.
//! - `internal`: the routes other nodes call (secret required; absent without one).
//! - `secret`: the cluster secret's check, and what a mismatch looks like.
//! - `heartbeat`: this node's liveness record.

pub mod heartbeat;
pub mod internal;
pub mod relay;
pub mod secret;

pub use secret::SECRET_HEADER;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::registry::{NodeRecord, Registry};

/// This node's place in the fleet. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub node: String,
    /// How other nodes reach this one (`SPILLWAY_ADVERTISE_URL`).
    pub advertise_url: String,
    pub secret: Option<Arc<str>>,
    pub registry: Registry,
    pub http: reqwest::Client,
    pub heartbeat: Duration,
    /// When the last heartbeat reached the registry (seconds since the epoch).
    last_heartbeat: Arc<AtomicU64>,
    /// The log lines of a cluster-secret mismatch, each once a minute.
    mismatch: Arc<secret::MismatchLogs>,
}

impl Cluster {
    pub fn new(
        node: String,
        advertise_url: String,
        secret: Option<String>,
        registry: Registry,
        http: reqwest::Client,
        heartbeat: Duration,
    ) -> Self {
        Self {
            node,
            advertise_url,
            secret: secret.filter(|s| !s.is_empty()).map(Arc::from),
            registry,
            http,
            heartbeat,
            last_heartbeat: Arc::default(),
            mismatch: Arc::default(),
        }
    }

    /// Whether the registry answered a heartbeat recently (`/readyz`).
    pub fn registry_healthy(&self) -> bool {
        let last = self.last_heartbeat.load(Ordering::Relaxed);
        let window = self.heartbeat.as_secs().max(1) * 3;
        last + window >= crate::registry::now_secs()
    }

    /// The live node `id` and its URL.
    pub async fn node_url(&self, id: &str) -> Option<String> {
        match self.registry.nodes.get_node(id).await {
            Ok(Some(n)) if n.is_alive() => Some(n.url),
            _ => None,
        }
    }

    /// This node's record, alive for three heartbeats.
    fn record(&self) -> NodeRecord {
        NodeRecord {
            id: self.node.clone(),
            url: self.advertise_url.clone(),
            expires_at: crate::registry::now_secs() + self.heartbeat.as_secs().max(1) * 3,
        }
    }

    /// A request to another node, with the secret.
    pub fn internal(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let req = self.http.request(method, url);
        match &self.secret {
            Some(s) => req.header(SECRET_HEADER, s.as_ref()),
            None => req,
        }
    }
}
