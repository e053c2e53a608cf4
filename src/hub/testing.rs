//! For the crate's unit tests: an upstream that is never heard from and
//! generous hub settings, so each test states only what it varies.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{Hub, HubConfig, RunnerConfig};
use crate::upstream::{Api, DeltaStream, InvocationRequest, Upstream, UpstreamError};

/// An upstream whose streams start and never end (until cancelled).
pub struct PendingUpstream;

impl Upstream for PendingUpstream {
    fn start<'a>(
        &'a self,
        _req: &'a InvocationRequest,
        _api: Api,
    ) -> BoxFuture<'a, Result<DeltaStream, UpstreamError>> {
        Box::pin(async { Ok(Box::pin(futures_util::stream::pending()) as DeltaStream) })
    }
}

/// Settings no test runs into unless it sets them.
pub fn config() -> HubConfig {
    HubConfig {
        runner: RunnerConfig {
            first_token_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            cancel_grace: Duration::from_secs(60),
            max_events: 100,
        },
        retention: Duration::from_secs(60),
        max_sessions: 1000,
        session_wait: Duration::from_secs(30),
        session_memory_bytes: u64::MAX,
    }
}

/// A hub on [`PendingUpstream`] with `config`.
pub fn hub(config: HubConfig) -> Hub {
    Hub::new(Arc::new(PendingUpstream), config)
}
