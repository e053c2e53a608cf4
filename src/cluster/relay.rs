//! Relay of a session log from the node that streams it into a local mirror
//! session, from the mirror's current length on. The origin sends one JSON
//! `TokenEvent` per line and empty lines as heartbeats; silence past the
//! idle timeout, a cut connection or a vanished node end the mirror with an
//! `error` event — never a hang.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::io::StreamReader;

use super::Cluster;
use super::internal::{KeptReply, PublishRefusal};
use crate::error::ErrorCode;
use crate::event::{EventError, TokenEvent};
use crate::hub::external::PublishError;
use crate::hub::{Kept, Origin, Publish, Session, SessionStatus};
use crate::metrics::Metrics;

/// Longest line (one event) accepted from another node.
const MAX_LINE: usize = 4 * 1024 * 1024;

pub struct Relay {
    cluster: Cluster,
    /// No byte (not even a heartbeat) from the origin for this long: it is gone.
    idle_timeout: Duration,
    metrics: Arc<Metrics>,
}

fn fail(mirror: &Session, message: String) {
    mirror.finish(
        SessionStatus::Failed,
        None,
        None,
        Some(EventError::new(ErrorCode::NodeUnavailable, message)),
    );
}

impl Origin for Relay {
    fn relay<'a>(
        &'a self,
        mirror: Arc<Session>,
        node: &'a str,
        grace: Duration,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(self.run(mirror, node, grace))
    }

    fn kept<'a>(&'a self, id: &'a str, node: &'a str) -> BoxFuture<'a, Option<(Kept, bool)>> {
        Box::pin(async move {
            let url = self.cluster.node_url(node).await?;
            let resp = self
                .cluster
                .internal(
                    reqwest::Method::GET,
                    format!("{url}/internal/v1/sessions/{id}/kept"),
                )
                .timeout(self.idle_timeout)
                .send()
                .await;
            let reply = match resp {
                Ok(r) if r.status().is_success() => r.json::<KeptReply>().await,
                Ok(_) => return None,
                Err(e) => Err(e),
            };
            match reply {
                Ok(r) => Some((r.kept, r.finished)),
                Err(e) => {
                    tracing::warn!(session = id, node, error = %e, "could not fetch what a node kept");
                    None
                }
            }
        })
    }

    fn publish<'a>(
        &'a self,
        node: &'a str,
        publish: &'a Publish,
    ) -> BoxFuture<'a, Result<TokenEvent, PublishError>> {
        Box::pin(async move {
            let id = &publish.id;
            let unavailable = |why: String| PublishError::Unavailable(id.clone(), why);
            let url = self
                .cluster
                .node_url(node)
                .await
                .ok_or_else(|| unavailable(format!("node {node} is not alive")))?;
            let resp = self
                .cluster
                .internal(
                    reqwest::Method::POST,
                    format!("{url}/internal/v1/sessions/{id}/publish"),
                )
                .json(publish)
                .timeout(self.idle_timeout)
                .send()
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let status = resp.status();
            if status.is_success() {
                return resp
                    .json::<TokenEvent>()
                    .await
                    .map_err(|e| unavailable(format!("node {node} sent a bad event: {e}")));
            }
            match resp.json::<PublishRefusal>().await {
                Ok(r) if status == reqwest::StatusCode::CONFLICT => Err(PublishError::Remote(
                    r.code.parse().unwrap_or(ErrorCode::Internal),
                    r.message,
                )),
                _ => Err(unavailable(format!("node {node} answered {status}"))),
            }
        })
    }
}

impl Relay {
    pub fn new(cluster: Cluster, idle_timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            cluster,
            idle_timeout,
            metrics,
        }
    }

    /// Relay into `mirror` until its final event (returns `true`), or until it
    /// has had no reader for `grace` (returns `false`; the origin then sees its
    /// reader leave and applies its own grace).
    pub async fn run(&self, mirror: Arc<Session>, node: &str, grace: Duration) -> bool {
        let id = mirror.id().clone();
        let Some(url) = self.cluster.node_url(node).await else {
            fail(
                &mirror,
                format!("node {node}, which streams this session, is not alive"),
            );
            return true;
        };
        let from = mirror.len();
        let requested = Instant::now();
        let mut first = true;
        let resp = self
            .cluster
            .internal(
                reqwest::Method::GET,
                format!("{url}/internal/v1/sessions/{id}/events?from={from}"),
            )
            .send()
            .await;
        let resp = match resp {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                fail(
                    &mirror,
                    format!("node {node} answered {} for this session", r.status()),
                );
                return true;
            }
            Err(e) => {
                fail(&mirror, format!("node {node} is unreachable: {e}"));
                return true;
            }
        };
        let body = StreamReader::new(resp.bytes_stream().map_err(std::io::Error::other));
        let mut lines = FramedRead::new(body, LinesCodec::new_with_max_length(MAX_LINE));

        let mut readers = mirror.watch_readers();
        let cancel = mirror.cancel_token().clone();
        let mut cancel_sent = false;
        // Give the first subscriber time to attach before the grace applies.
        let mut grace_until = Some(Instant::now() + grace.max(Duration::from_secs(5)));
        let mut idle = Instant::now() + self.idle_timeout;
        loop {
            tokio::select! {
                _ = cancel.cancelled(), if !cancel_sent => {
                    cancel_sent = true;
                    let r = self
                        .cluster
                        .internal(reqwest::Method::POST, format!("{url}/internal/v1/sessions/{id}/cancel"))
                        .send()
                        .await;
                    if let Err(e) = r {
                        tracing::warn!(session = %id, error = %e, "could not forward a cancel");
                    }
                }
                changed = readers.changed() => {
                    if changed.is_err() { return false; }
                    grace_until = (*readers.borrow_and_update() == 0).then(|| Instant::now() + grace);
                }
                _ = sleep_until(grace_until.unwrap_or(idle)), if grace_until.is_some() => return false,
                _ = sleep_until(idle) => {
                    fail(&mirror, format!("node {node} went silent mid-stream"));
                    return true;
                }
                line = lines.next() => {
                    idle = Instant::now() + self.idle_timeout;
                    let line = match line {
                        Some(Ok(l)) => l,
                        Some(Err(e)) => {
                            fail(&mirror, format!("the relay from node {node} broke: {e}"));
                            return true;
                        }
                        None => {
                            fail(&mirror, format!("node {node} closed the relay mid-stream"));
                            return true;
                        }
                    };
                    if line.is_empty() {
                        continue; // heartbeat
                    }
                    match serde_json::from_str::<TokenEvent>(&line) {
                        Ok(ev) => {
                            if std::mem::take(&mut first) {
                                self.metrics.relay_first_event.observe(requested.elapsed().as_secs_f64());
                            }
                            let last = ev.is_complete;
                            mirror.append_relayed(ev);
                            if last {
                                return true;
                            }
                        }
                        Err(e) => {
                            fail(&mirror, format!("node {node} sent a bad event: {e}"));
                            return true;
                        }
                    }
                }
            }
        }
    }
}
