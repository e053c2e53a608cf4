//! Externally-fed sessions: a backend that runs its own model pushes tokens
//! (GraphQL `publishToken`) into a session of the hub, and every transport
//! fans them out like any other session.
//!
//! Such a session has no upstream task. A small tracked watcher stands in for
//! it: it ends the session on `cancel` (status `cancelled`) and when the
//! producer goes quiet for the hub's idle timeout (status `failed`,
//! `idle_timeout`), so a producer that never sends `isComplete` cannot keep
//! a session streaming (and unswept) forever. The cancel grace does not apply:
//! the producer, not the readers, decides when the session ends. Finished
//! external sessions are retained and swept like the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::mirror::Publish;
use super::session::{Session, SessionStatus};
use super::{Hub, StartError};
use crate::error::ErrorCode;
use crate::event::{EventError, TokenEvent};
use crate::upstream::Usage;

/// The `model` of every externally-fed session; no Bedrock model id looks like it.
pub const EXTERNAL_MODEL: &str = "external";

use super::lookup::well_formed as valid_id;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublishError {
    #[error("a session id is 1 to 128 characters of A-Z a-z 0-9 - _ . :")]
    InvalidId,
    /// A model-fed session of someone other than the owner published for:
    /// answered like a missing one, never confirmed.
    #[error("session not found")]
    NotFound,
    #[error("session {0} is fed by a model; only externally-fed sessions take published tokens")]
    NotExternal(String),
    #[error("session {0} has already finished")]
    Finished(String),
    #[error("the gateway holds too many sessions; try again shortly")]
    Full,
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The node that holds the session could not be asked.
    #[error("the node holding session {0} cannot be reached: {1}")]
    Unavailable(String, String),
    /// The node that holds the session refused, with its code and words.
    #[error("{1}")]
    Remote(ErrorCode, String),
}

impl PublishError {
    /// The code a caller sees.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::InvalidId => ErrorCode::BadRequest,
            Self::NotFound => ErrorCode::NotFound,
            Self::NotExternal(_) => ErrorCode::NotExternal,
            Self::Finished(_) => ErrorCode::SessionFinished,
            Self::Full => ErrorCode::TooManySessions,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::Unavailable(..) => ErrorCode::NodeUnavailable,
            Self::Remote(code, _) => *code,
        }
    }
}

impl From<StartError> for PublishError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::ShuttingDown => PublishError::ShuttingDown,
            _ => PublishError::Full,
        }
    }
}

impl Hub {
    /// Append `token` to the externally-fed session `id`, creating it (owned
    /// by `owner`) if it does not exist. With `is_complete`, a non-empty
    /// `token` is appended first, then the final event (`token` `""`,
    /// `stopReason` `end_turn`, `usage.outputTokens` = tokens published).
    ///
    /// Returns the last event written: the token's, or the final one.
    /// This node only; [`Self::publish_anywhere`] is the fleet's.
    pub fn publish(
        &self,
        id: &str,
        owner: &str,
        token: String,
        is_complete: bool,
    ) -> Result<Arc<TokenEvent>, PublishError> {
        self.publish_here(id, owner, token, is_complete)
            .map(|(ev, _)| ev)
    }

    /// [`Self::publish`] wherever the session is: on the node that holds it
    /// when another node does (a mirror here is not it), else here. A
    /// session made here is in the registry before this returns, so the
    /// next publish finds it whichever node it reaches.
    pub async fn publish_anywhere(&self, p: Publish) -> Result<Arc<TokenEvent>, PublishError> {
        if !valid_id(&p.id) {
            return Err(PublishError::InvalidId);
        }
        let here = self.held(&p.id).is_some_and(|s| !s.is_mirror());
        let fleet = &self.inner.fleet;
        if !here && let Some(origin) = fleet.relay.clone() {
            let routes = &self.inner.publish_routes;
            let node = match routes.get(&p.id) {
                Some(node) => Some(node),
                None => fleet
                    .lookup(&p.id)
                    .await
                    .map(|r| r.node)
                    .filter(|node| *node != fleet.node),
            };
            if let Some(node) = node {
                let written = origin.publish(&node, &p).await;
                match &written {
                    Ok(_) => routes.set(&p.id, node),
                    Err(_) => routes.forget(&p.id),
                }
                return written.map(Arc::new);
            }
        }
        let (ev, recorded) = self.publish_here(&p.id, &p.owner, p.token, p.is_complete)?;
        if let Some(recorded) = recorded {
            let _ = recorded.await;
        }
        Ok(ev)
    }

    /// [`Self::publish`], and when it made the session, a signal that fires
    /// once the session's record is in the registry.
    fn publish_here(
        &self,
        id: &str,
        owner: &str,
        token: String,
        is_complete: bool,
    ) -> Result<(Arc<TokenEvent>, Option<oneshot::Receiver<()>>), PublishError> {
        if !valid_id(id) {
            return Err(PublishError::InvalidId);
        }
        let (session, recorded) = self.external_session(id, owner)?;
        let finished = || PublishError::Finished(id.to_owned());
        if session.status() != SessionStatus::Streaming {
            return Err(finished());
        }
        let mut last = None;
        if !token.is_empty() || !is_complete {
            let len = session.push_token(token);
            let ev = len
                .checked_sub(1)
                .and_then(|seq| session.event(seq))
                .ok_or_else(finished)?;
            // A concurrent publish finished the session first: ours was not written.
            if ev.is_complete {
                return Err(finished());
            }
            let max_events = self.inner.config.runner.max_events;
            if len + 1 >= max_events {
                session.finish(
                    SessionStatus::Failed,
                    None,
                    Some(usage_of(&session)),
                    Some(EventError::new(
                        ErrorCode::SessionTooLong,
                        format!("the session reached its limit of {max_events} events"),
                    )),
                );
                return last_event(&session)
                    .ok_or_else(finished)
                    .map(|ev| (ev, recorded));
            }
            last = Some(ev);
        }
        if is_complete {
            let usage = usage_of(&session);
            if !session.finish(
                SessionStatus::Complete,
                Some("end_turn".into()),
                Some(usage),
                None,
            ) && last.is_none()
            {
                return Err(finished());
            }
            return last_event(&session)
                .ok_or_else(finished)
                .map(|ev| (ev, recorded));
        }
        last.ok_or_else(finished).map(|ev| (ev, recorded))
    }

    /// The external session `id`, created for `owner` if missing; when
    /// created, a signal that fires once its record is in the registry.
    ///
    /// A model-fed session is a user's own: one of another owner is
    /// `NotFound`, as a session the caller may not see is everywhere, so
    /// `publishToken` cannot tell an admin that it exists. Externally-fed
    /// sessions are the producers' (admins') to feed whoever owns them: a
    /// producer names the owner when it creates one and may leave it out
    /// afterwards.
    fn external_session(
        &self,
        id: &str,
        owner: &str,
    ) -> Result<(Arc<Session>, Option<oneshot::Receiver<()>>), PublishError> {
        if let Some(s) = self.held(id) {
            return if s.model() != EXTERNAL_MODEL && s.owner() != owner {
                Err(PublishError::NotFound)
            } else if s.is_mirror() {
                // Its only writer is the relay from the node that holds it.
                Err(PublishError::Unavailable(
                    id.to_owned(),
                    "this node only mirrors it".into(),
                ))
            } else if s.model() == EXTERNAL_MODEL {
                Ok((s, None))
            } else {
                Err(PublishError::NotExternal(id.to_owned()))
            };
        }
        if self.inner.closing.is_cancelled() {
            return Err(PublishError::ShuttingDown);
        }
        self.make_room()?;
        let mut created = None;
        let session = self
            .sessions()
            .entry(Arc::from(id))
            .or_insert_with(|| {
                let s = Session::new(
                    Arc::from(id),
                    owner.to_owned(),
                    EXTERNAL_MODEL.to_owned(),
                    self.inner.config.runner.max_events,
                );
                created = Some(s.clone());
                s
            })
            .clone();
        let mut recorded = None;
        if let Some(s) = created {
            tracing::info!(session = %id, user = %owner, "external session created");
            self.inner.arrivals.arrived(id);
            let idle = self.inner.config.runner.idle_timeout;
            let fleet = self.inner.fleet.clone();
            let record = fleet.record(id, owner, EXTERNAL_MODEL);
            let (done, signal) = oneshot::channel();
            recorded = Some(signal);
            self.inner.tasks.spawn(async move {
                // Recorded like any session, so other nodes can relay it to
                // their subscribers and send its next tokens here.
                fleet.put(record).await;
                let _ = done.send(());
                watch_external(s.clone(), idle).await;
                fleet.finished(s.id(), s.status(), s.usage()).await;
            });
        } else if session.model() != EXTERNAL_MODEL && session.owner() != owner {
            return Err(PublishError::NotFound);
        } else if session.model() != EXTERNAL_MODEL {
            return Err(PublishError::NotExternal(id.to_owned()));
        }
        Ok((session, recorded))
    }
}

/// Session id → the node a publish for it was forwarded to. Bounded: it
/// starts over past [`Routes::MAX`] entries; an entry is dropped when a
/// forward through it fails, so the next publish asks the registry again.
#[derive(Debug, Default)]
pub(super) struct Routes(Mutex<HashMap<String, String>>);

impl Routes {
    const MAX: usize = 10_000;

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Option<String> {
        self.map().get(id).cloned()
    }

    fn set(&self, id: &str, node: String) {
        let mut map = self.map();
        if map.len() >= Self::MAX && !map.contains_key(id) {
            map.clear();
        }
        map.insert(id.to_owned(), node);
    }

    fn forget(&self, id: &str) {
        self.map().remove(id);
    }
}

fn usage_of(session: &Session) -> Usage {
    Usage {
        input_tokens: 0,
        output_tokens: session.len(),
        ..Usage::default()
    }
}

fn last_event(session: &Session) -> Option<Arc<TokenEvent>> {
    session
        .len()
        .checked_sub(1)
        .and_then(|seq| session.event(seq))
}

/// Stands in for the upstream task of an external session: ends it on cancel
/// and after `idle` without a published event.
async fn watch_external(session: Arc<Session>, idle: Duration) {
    let cancel = session.cancel_token().clone();
    while session.status() == SessionStatus::Streaming {
        let seen = session.len();
        tokio::select! {
            _ = cancel.cancelled() => {
                session.finish(
                    SessionStatus::Cancelled,
                    Some("cancelled".into()),
                    Some(usage_of(&session)),
                    None,
                );
            }
            grown = tokio::time::timeout(idle, session.len_above(seen)) => match grown {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(session = %session.id(), "external producer went quiet");
                    session.finish(
                        SessionStatus::Failed,
                        None,
                        Some(usage_of(&session)),
                        Some(EventError::new(
                            ErrorCode::IdleTimeout,
                            format!("no token published within {} s", idle.as_secs_f32()),
                        )),
                    );
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn routes_are_bounded_and_forgotten_on_failure() {
        let routes = Routes::default();
        routes.set("a", "node-a".into());
        assert_eq!(routes.get("a").as_deref(), Some("node-a"));
        routes.forget("a");
        assert_eq!(routes.get("a"), None);
        for n in 0..Routes::MAX {
            routes.set(&n.to_string(), "x".into());
        }
        assert_eq!(routes.map().len(), Routes::MAX);
        // Updating a known id keeps the map; a new one past the bound starts over.
        routes.set("0", "y".into());
        assert_eq!(routes.map().len(), Routes::MAX);
        routes.set("new", "z".into());
        assert_eq!(routes.map().len(), 1);
    }
    use super::*;
    use crate::hub::{Access, HubConfig, RunnerConfig, Subscription, testing};
    use crate::upstream::{Api, InvocationRequest};

    fn hub(max_events: u64) -> Hub {
        hub_with(max_events, Duration::from_secs(5))
    }

    fn hub_with(max_events: u64, idle_timeout: Duration) -> Hub {
        let base = testing::config();
        testing::hub(HubConfig {
            runner: RunnerConfig {
                idle_timeout,
                max_events,
                ..base.runner
            },
            max_sessions: 10,
            ..base
        })
    }

    #[tokio::test]
    async fn publish_creates_appends_and_finishes() {
        let hub = hub(100);
        let mut sub = None;
        for (i, t) in ["Hel", "lo"].into_iter().enumerate() {
            let ev = hub.publish("job-1", "alice", t.into(), false).unwrap();
            assert_eq!(ev.seq, i as u64);
            assert_eq!(ev.token, t);
            if sub.is_none() {
                sub = Some(
                    hub.subscribe("job-1", &Access::User("alice"), 0)
                        .await
                        .unwrap(),
                );
            }
        }
        let last = hub.publish("job-1", "alice", "!".into(), true).unwrap();
        assert!(last.is_complete);
        assert_eq!(last.seq, 3);
        assert_eq!(last.token, "");
        assert_eq!(last.usage.unwrap().output_tokens, 3);
        let mut sub: Subscription = sub.unwrap();
        let mut text = String::new();
        while let Some(ev) = sub.next().await {
            text.push_str(&ev.token);
        }
        assert_eq!(text, "Hello!");
        assert_eq!(
            hub.publish("job-1", "alice", "late".into(), false),
            Err(PublishError::Finished("job-1".into()))
        );
        let s = hub.held("job-1").unwrap();
        assert_eq!(s.status(), SessionStatus::Complete);
        assert_eq!(s.owner(), "alice");
        assert!(hub.find("job-1", &Access::User("bob")).await.is_err());
    }

    #[tokio::test]
    async fn refuses_bad_ids_and_model_sessions() {
        let hub = hub(100);
        for bad in ["", "a b", "x/y", &"x".repeat(129)] {
            assert_eq!(
                hub.publish(bad, "a", "t".into(), false),
                Err(PublishError::InvalidId)
            );
        }
        let sub = hub
            .start(
                "alice",
                InvocationRequest {
                    model_id: "m".into(),
                    turns: vec![],
                    max_tokens: Some(1),
                    temperature: None,
                    top_p: None,
                    stop_sequences: vec![],
                    ..Default::default()
                },
                Api::Invoke,
            )
            .await
            .unwrap();
        let id = sub.session().id().to_string();
        assert_eq!(
            hub.publish(&id, "alice", "t".into(), false),
            Err(PublishError::NotExternal(id.clone()))
        );
    }

    /// An admin publishing to another user's model session (by its id, for
    /// themselves or for any other owner) cannot tell it from a missing
    /// session; the owner's own is still `not_external`. External sessions
    /// stay the producers' to feed, owner named or not.
    #[tokio::test]
    async fn another_users_model_session_is_not_found() {
        let hub = hub(100);
        let model = hub
            .start("alice", InvocationRequest::default(), Api::Invoke)
            .await
            .unwrap();
        let id = model.session().id().to_string();
        for owner in ["ops", "bob"] {
            let err = hub.publish(&id, owner, "x".into(), false).unwrap_err();
            assert_eq!(err, PublishError::NotFound, "{owner}");
            assert_eq!(err.error_code(), ErrorCode::NotFound);
        }
        assert_eq!(
            hub.publish(&id, "alice", "x".into(), false),
            Err(PublishError::NotExternal(id.clone()))
        );
        hub.publish("job", "alice", "a".into(), false).unwrap();
        assert_eq!(hub.publish("job", "ops", "b".into(), false).unwrap().seq, 1);
    }

    #[tokio::test]
    async fn log_limit_ends_the_session() {
        let hub = hub(3);
        hub.publish("s", "a", "1".into(), false).unwrap();
        let ev = hub.publish("s", "a", "2".into(), false).unwrap();
        assert!(ev.is_complete);
        assert_eq!(ev.error.as_ref().unwrap().code, "session_too_long");
        assert_eq!(hub.held("s").unwrap().status(), SessionStatus::Failed);
    }

    #[tokio::test]
    async fn cancel_and_idle_end_external_sessions() {
        let hub = hub_with(100, Duration::from_millis(200));
        hub.publish("c", "a", "x".into(), false).unwrap();
        let s = hub.find("c", &Access::User("a")).await.unwrap();
        s.cancel();
        tokio::time::timeout(Duration::from_secs(1), s.finished())
            .await
            .unwrap();
        assert_eq!(s.status(), SessionStatus::Cancelled);

        hub.publish("q", "a", "x".into(), false).unwrap();
        let q = hub.held("q").unwrap();
        tokio::time::timeout(Duration::from_secs(10), q.finished())
            .await
            .unwrap();
        assert_eq!(q.status(), SessionStatus::Failed);
        let info = q.info();
        assert_eq!(info.error.unwrap().code, "idle_timeout");
    }
}
