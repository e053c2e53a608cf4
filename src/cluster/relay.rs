//! Relay of a session log from the node that streams it into a local mirror
//! session. The relay is opened first ([`Origin::open`]): a node that is not
//! alive, does not answer, does not hold the session or refuses this node's
//! cluster secret is told apart before any mirror exists. Then the origin
//! sends one JSON `TokenEvent` per line and empty lines as heartbeats;
//! silence past the idle timeout, a cut connection or a vanished node end
//! the mirror with an `error` event — never a hang.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::StatusCode;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::Cluster;
use super::internal::{KeptReply, PublishRefusal};
use crate::error::ErrorCode;
use crate::event::{EventError, TokenEvent};
use crate::hub::external::PublishError;
use crate::hub::{Feed, Kept, Origin, Publish, Session, SessionStatus, Unopened};
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
    fn open<'a>(
        &'a self,
        id: &'a str,
        node: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Feed>, Unopened>> {
        Box::pin(async move {
            let feed: Box<dyn Feed> = Box::new(self.open_relay(id, node).await?);
            Ok(feed)
        })
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
                Ok(r) => {
                    if r.status() == StatusCode::UNAUTHORIZED {
                        self.cluster.refused_by(node);
                    }
                    return None;
                }
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
            if status == StatusCode::UNAUTHORIZED {
                return Err(unavailable(self.cluster.refused_by(node)));
            }
            match resp.json::<PublishRefusal>().await {
                Ok(r) if status == StatusCode::CONFLICT => Err(PublishError::Remote(
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

    /// Ask `node` for session `id`'s log, from its first event.
    async fn open_relay(&self, id: &str, node: &str) -> Result<OpenRelay, Unopened> {
        let Some(url) = self.cluster.node_url(node).await else {
            return Err(Unopened::Dead);
        };
        let requested = Instant::now();
        let send = self
            .cluster
            .internal(
                reqwest::Method::GET,
                format!("{url}/internal/v1/sessions/{id}/events?from=0"),
            )
            .send();
        let resp = match tokio::time::timeout(self.idle_timeout, send).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                // The error names the internal listener's address: logged,
                // not told to the reader.
                tracing::warn!(session = id, node, error = %e, "could not open a relay");
                return Err(Unopened::Unavailable(format!("node {node} is unreachable")));
            }
            Err(_) => {
                return Err(Unopened::Unavailable(format!(
                    "node {node} did not answer within {} s",
                    self.idle_timeout.as_secs_f32()
                )));
            }
        };
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => return Err(Unopened::NotFound),
            StatusCode::GONE => return Err(Unopened::Gone),
            StatusCode::UNAUTHORIZED => {
                return Err(Unopened::Unavailable(self.cluster.refused_by(node)));
            }
            s => {
                return Err(Unopened::Unavailable(format!(
                    "node {node} answered {s} for this session"
                )));
            }
        }
        let backlog = resp
            .headers()
            .get(super::internal::BACKLOG_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = StreamReader::new(resp.bytes_stream().map_err(std::io::Error::other));
        Ok(OpenRelay {
            backlog,
            cluster: self.cluster.clone(),
            idle_timeout: self.idle_timeout,
            metrics: self.metrics.clone(),
            node: node.to_owned(),
            url,
            requested,
            lines: Box::pin(FramedRead::new(
                body,
                LinesCodec::new_with_max_length(MAX_LINE),
            )),
        })
    }
}

/// The lines of a relay's response.
type Lines = Pin<Box<dyn Stream<Item = Result<String, LinesCodecError>> + Send>>;

/// A relay whose origin has answered: its lines are the session's log.
struct OpenRelay {
    cluster: Cluster,
    idle_timeout: Duration,
    metrics: Arc<Metrics>,
    node: String,
    /// The origin's internal URL.
    url: String,
    /// When the relay was asked for (for `relay_first_event_seconds`).
    requested: Instant,
    /// Events the origin's log held when it answered.
    backlog: u64,
    lines: Lines,
}

impl Feed for OpenRelay {
    fn run(self: Box<Self>, mirror: Arc<Session>, grace: Duration) -> BoxFuture<'static, bool> {
        Box::pin(self.pump(mirror, grace))
    }

    fn backlog(&self) -> u64 {
        self.backlog
    }
}

impl OpenRelay {
    /// Relay into `mirror` until its final event (returns `true`), until it
    /// has had no reader for `grace`, or until the relay breaks (returns
    /// `false`; the origin then sees its reader leave and applies its own
    /// grace).
    async fn pump(self: Box<Self>, mirror: Arc<Session>, grace: Duration) -> bool {
        let Self {
            cluster,
            idle_timeout,
            metrics,
            node,
            url,
            requested,
            backlog: _,
            mut lines,
        } = *self;
        let node = node.as_str();
        let id = mirror.id().clone();
        let mut first = true;
        let mut readers = mirror.watch_readers();
        let cancel = mirror.cancel_token().clone();
        let mut cancel_sent = false;
        // The grace runs only while there is no reader. The subscriber that
        // made the mirror may have attached before this task began (then no
        // change is coming for `readers` to see): read the count now, and
        // give a first subscriber not yet attached time to.
        let mut grace_until = (*readers.borrow_and_update() == 0)
            .then(|| Instant::now() + grace.max(Duration::from_secs(5)));
        let mut idle = Instant::now() + idle_timeout;
        loop {
            tokio::select! {
                _ = cancel.cancelled(), if !cancel_sent => {
                    cancel_sent = true;
                    let r = cluster
                        .internal(reqwest::Method::POST, format!("{url}/internal/v1/sessions/{id}/cancel"))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == StatusCode::UNAUTHORIZED => {
                            cluster.refused_by(node);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(session = %id, error = %e, "could not forward a cancel");
                        }
                    }
                }
                changed = readers.changed() => {
                    if changed.is_err() { return false; }
                    grace_until = (*readers.borrow_and_update() == 0).then(|| Instant::now() + grace);
                }
                _ = sleep_until(grace_until.unwrap_or(idle)), if grace_until.is_some() => return false,
                _ = sleep_until(idle) => {
                    fail(&mirror, format!("node {node} went silent mid-stream"));
                    return false;
                }
                line = lines.next() => {
                    idle = Instant::now() + idle_timeout;
                    let line = match line {
                        Some(Ok(l)) => l,
                        Some(Err(e)) => {
                            fail(&mirror, format!("the relay from node {node} broke: {e}"));
                            return false;
                        }
                        None => {
                            fail(&mirror, format!("node {node} closed the relay mid-stream"));
                            return false;
                        }
                    };
                    if line.is_empty() {
                        continue; // heartbeat
                    }
                    match serde_json::from_str::<TokenEvent>(&line) {
                        Ok(ev) => {
                            if std::mem::take(&mut first) {
                                metrics.relay_first_event.observe(requested.elapsed().as_secs_f64());
                            }
                            let last = ev.is_complete;
                            mirror.append_relayed(ev);
                            if last {
                                return true;
                            }
                        }
                        Err(e) => {
                            fail(&mirror, format!("node {node} sent a bad event: {e}"));
                            return false;
                        }
                    }
                }
            }
        }
    }
}
