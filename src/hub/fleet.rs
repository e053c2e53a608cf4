//! The hub's bookkeeping in the fleet's registry: per-user limits (stream
//! slots, tokens and USD per day) and session records (who owns a session, which
//! node streams it). A failure after a session has started cannot be
//! answered to anyone, so it is logged, never silently dropped.

use std::sync::Arc;

use super::StartError;
use super::mirror::Origin;
use super::session::{Session, SessionStatus};
use crate::cost::{Prices, nano_usd};
use crate::registry::{Registry, SessionRecord};
use crate::upstream::Usage;

/// Where this hub sits in a fleet.
#[derive(Clone)]
pub struct Fleet {
    pub registry: Registry,
    /// This node's id in the registry.
    pub node: String,
    /// Relays sessions streaming on other nodes (only with a shared registry).
    pub relay: Option<Arc<dyn Origin>>,
    /// Concurrent streams one user may run, across the fleet.
    pub max_streams_per_user: u64,
    /// Tokens (input, cache reads and writes, output) one user may use per UTC day; 0 = no limit.
    pub max_tokens_per_user_per_day: u64,
    /// USD one user may spend per UTC day (sessions of priced models); 0 = no limit.
    pub max_cost_usd_per_user_per_day: f64,
    /// What sessions cost (`costUsd`), by model.
    pub prices: Arc<Prices>,
}

impl Fleet {
    /// One node on its own: an in-memory registry, generous limits.
    pub fn single_node() -> Self {
        Self {
            registry: Registry::memory(),
            node: "local".into(),
            relay: None,
            max_streams_per_user: 1000,
            max_tokens_per_user_per_day: 0,
            max_cost_usd_per_user_per_day: 0.0,
            prices: Arc::new(Prices::builtin()),
        }
    }

    /// Refuse `owner` once they have used today's tokens or spent today's USD.
    pub(super) async fn check_daily_limits(&self, owner: &str) -> Result<(), StartError> {
        self.check_tokens(owner).await?;
        self.check_cost(owner).await
    }

    async fn check_tokens(&self, owner: &str) -> Result<(), StartError> {
        if self.max_tokens_per_user_per_day == 0 {
            return Ok(());
        }
        let used = self.registry.limits.tokens_today(owner).await?;
        if used >= self.max_tokens_per_user_per_day {
            return Err(StartError::Spent {
                what: format!(
                    "at most {} tokens per user per day",
                    self.max_tokens_per_user_per_day
                ),
                retry_after_secs: crate::registry::utc_day().1,
            });
        }
        Ok(())
    }

    async fn check_cost(&self, owner: &str) -> Result<(), StartError> {
        let max = self.max_cost_usd_per_user_per_day;
        if max <= 0.0 {
            return Ok(());
        }
        let spent = self.registry.limits.cost_today(owner).await?;
        if spent >= nano_usd(max) {
            return Err(StartError::Spent {
                what: format!("at most {max} USD per user per day"),
                retry_after_secs: crate::registry::utc_day().1,
            });
        }
        Ok(())
    }

    /// Take one of `owner`'s stream slots for session `id`.
    pub(super) async fn acquire(&self, owner: &str, id: &str) -> Result<(), StartError> {
        self.registry
            .limits
            .acquire_stream(owner, id, &self.node, self.max_streams_per_user)
            .await?;
        Ok(())
    }

    /// Give `owner`'s slot for session `id` back.
    pub(super) async fn release(&self, owner: &str, id: &str) {
        if let Err(e) = self.registry.limits.release_stream(owner, id).await {
            tracing::warn!(session = id, user = owner, error = %e, "could not give a stream slot back");
        }
    }

    /// A record of a session streaming on this node, for other nodes to find.
    pub(super) fn record(&self, id: &str, owner: &str, model: &str) -> SessionRecord {
        SessionRecord {
            id: id.to_owned(),
            owner: owner.to_owned(),
            node: self.node.clone(),
            model: model.to_owned(),
            status: SessionStatus::Streaming.as_str().to_owned(),
            created_at: crate::event::now_timestamp(),
            input_tokens: 0,
            output_tokens: 0,
        }
    }

    /// Record a session (so other nodes can find it).
    pub(super) async fn put(&self, record: SessionRecord) {
        let id = record.id.clone();
        if let Err(e) = self.registry.sessions.put_session(record).await {
            tracing::warn!(session = %id, error = %e, "could not record the session");
        }
    }

    /// Mark session `id` failed before it streamed anything.
    pub(super) async fn failed(&self, id: &str) {
        if let Err(e) = self
            .registry
            .sessions
            .finish_session(id, "failed", 0, 0)
            .await
        {
            tracing::warn!(session = id, error = %e, "could not record the session's failure");
        }
    }

    /// Record how session `id` ended (status and usage).
    pub(super) async fn finished(&self, id: &str, status: SessionStatus, usage: Usage) {
        if let Err(e) = self
            .registry
            .sessions
            .finish_session(id, status.as_str(), usage.input_tokens, usage.output_tokens)
            .await
        {
            tracing::warn!(session = id, error = %e, "could not record the session's end");
        }
    }

    /// Every exit of a model-fed stream: give the slot back, count the
    /// tokens (every prompt token, cached or not, and the output) and the
    /// cost, record the end.
    pub(super) async fn stream_ended(&self, session: &Session) {
        let (id, owner) = (session.id(), session.owner());
        self.release(owner, id).await;
        let status = session.status();
        let usage = session.usage();
        let total = usage.prompt_tokens() + usage.output_tokens;
        if total > 0
            && let Err(e) = self.registry.limits.add_tokens(owner, total).await
        {
            tracing::warn!(session = %id, user = owner, tokens = total, error = %e, "could not count the session's tokens");
        }
        let cost = usage.cost_usd.map_or(0, nano_usd);
        if cost > 0
            && let Err(e) = self.registry.limits.add_cost(owner, cost).await
        {
            tracing::warn!(session = %id, user = owner, nano_usd = cost, error = %e, "could not count the session's cost");
        }
        self.finished(id, status, usage).await;
    }

    /// The registry's record of session `id`, if any (a failed read is logged and counts as none).
    pub(super) async fn lookup(&self, id: &str) -> Option<SessionRecord> {
        self.try_lookup(id).await.ok().flatten()
    }

    /// The registry's record of session `id`, if any; `Err` when the
    /// registry could not be asked (logged).
    pub(super) async fn try_lookup(&self, id: &str) -> Result<Option<SessionRecord>, ()> {
        self.registry.sessions.get_session(id).await.map_err(|e| {
            tracing::warn!(session = id, error = %e, "session lookup failed");
        })
    }
}
