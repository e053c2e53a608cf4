//! Chats: a client's conversation id (the AI SDK's `chatId`) → its owner's
//! latest session for that chat, so a reload, a second tab or another
//! transport can find the chat's active stream and resume it.
//!
//! The index holds session ids (and the id of the UI message each answer
//! continues); the session itself (its owner check, retention and
//! sweeping) stays with the hub. An entry whose session the
//! hub has dropped is dead and is pruned, so the index never outgrows the
//! sessions it points to by more than a factor of two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Access, Hub, SessionStatus, StartError, Subscription};
pub use crate::registry::ChatAnswer;
use crate::registry::ChatRecord;
use crate::upstream::{Api, InvocationRequest};

/// Prune dead entries no more often than this many inserts.
const MIN_PRUNE_AT: usize = 64;

/// `(owner, chat id)` → latest answer. Cheap to clone.
#[derive(Clone, Default)]
pub struct ChatIndex {
    inner: Arc<Mutex<Chats>>,
}

#[derive(Default)]
struct Chats {
    latest: HashMap<(String, String), Answer>,
    prune_at: usize,
}

/// A chat's latest answer: its session, and how it renders.
#[derive(Clone)]
struct Answer {
    session: Arc<str>,
    rendering: ChatAnswer,
}

/// What a chat's answer renders with: its message id and whether metadata goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    pub message_id: Arc<str>,
    pub metadata: bool,
}

impl Rendering {
    /// Session `session`'s answer as `answer` says: the message it
    /// continues (else the session id), and whether metadata goes out.
    fn of(session: &Arc<str>, answer: ChatAnswer) -> Self {
        Rendering {
            message_id: answer.continues.map_or_else(|| session.clone(), Arc::from),
            metadata: answer.metadata,
        }
    }
}

impl ChatIndex {
    pub fn new() -> Self {
        Self::default()
    }

    fn chats(&self) -> MutexGuard<'_, Chats> {
        // Every write is a single insert or retain: a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many chats are indexed (live or not yet pruned).
    pub fn len(&self) -> usize {
        self.chats().latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn latest(&self, owner: &str, chat_id: &str) -> Option<Answer> {
        self.chats()
            .latest
            .get(&(owner.to_owned(), chat_id.to_owned()))
            .cloned()
    }
}

impl Hub {
    /// Start a session for `owner`'s chat `chat_id` and make it the chat's
    /// latest, rendered as `rendering` says (returned with it).
    ///
    /// The chat's previous answer, if still streaming with nobody reading
    /// it, is cancelled: its client stopped it (the AI SDK's `stop()` only
    /// drops the request) and has moved on.
    pub async fn start_chat(
        &self,
        chats: &ChatIndex,
        owner: &str,
        chat_id: &str,
        rendering: ChatAnswer,
        req: InvocationRequest,
        api: Api,
    ) -> Result<(Subscription, Rendering), StartError> {
        if let Some(previous) = chats.latest(owner, chat_id)
            && let Some(s) = self.held(&previous.session)
            && s.status() == SessionStatus::Streaming
            && s.reader_count() == 0
        {
            tracing::info!(session = %previous.session, chat = chat_id, "cancelling the chat's unread answer");
            s.cancel();
        }
        let sub = self.start(owner, req, api).await?;
        // Other nodes find the chat's answer through the registry.
        let latest = ChatRecord {
            session: sub.session().id().to_string(),
            answer: rendering.clone(),
        };
        if let Err(e) = self
            .inner
            .fleet
            .registry
            .sessions
            .put_chat(owner, chat_id, &latest)
            .await
        {
            tracing::warn!(chat = chat_id, error = %e, "could not record the chat");
        }
        let session = sub.session().id().clone();
        let rendered = Rendering::of(&session, rendering.clone());
        let mut c = chats.chats();
        c.latest.insert(
            (owner.to_owned(), chat_id.to_owned()),
            Answer { session, rendering },
        );
        if c.latest.len() >= c.prune_at.max(MIN_PRUNE_AT) {
            let sessions = self.sessions();
            c.latest.retain(|_, a| sessions.contains_key(&a.session));
            c.prune_at = c.latest.len().saturating_mul(2);
        }
        Ok((sub, rendered))
    }

    /// `owner`'s chat's active answer: this node's latest for the chat,
    /// else (with a shared registry) the fleet's, if it still streams.
    async fn chat_answer(&self, chats: &ChatIndex, owner: &str, chat_id: &str) -> Option<Answer> {
        if let Some(a) = chats.latest(owner, chat_id)
            && self.held(&a.session).is_some()
        {
            return Some(a);
        }
        let registry = &self.inner.fleet.registry;
        if !registry.shared {
            return None;
        }
        let latest = match registry.sessions.get_chat(owner, chat_id).await {
            Ok(latest) => latest?,
            Err(e) => {
                tracing::warn!(chat = chat_id, error = %e, "chat lookup failed");
                return None;
            }
        };
        // Only a stream still running elsewhere is resumed.
        let record = self.inner.fleet.lookup(&latest.session).await?;
        (record.status == SessionStatus::Streaming.as_str()).then(|| Answer {
            session: Arc::from(latest.session),
            rendering: latest.answer,
        })
    }

    /// Attach from seq 0 to `owner`'s chat's latest session if it is still
    /// streaming — on this node, or (with a shared registry) on another:
    /// the chat id is resolved to a session id, then found like any
    /// session. With it, how the answer renders, as its request asked.
    pub async fn resume_chat(
        &self,
        chats: &ChatIndex,
        owner: &str,
        chat_id: &str,
    ) -> Option<(Subscription, Rendering)> {
        let answer = self.chat_answer(chats, owner, chat_id).await?;
        let s = self
            .find(&answer.session, &Access::User(owner))
            .await
            .ok()?;
        let sub = Subscription::from_start(s);
        // Checked after attaching, so a stream that ends in between is not resumed half-way.
        (sub.session().status() == SessionStatus::Streaming)
            .then(|| (sub, Rendering::of(&answer.session, answer.rendering)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::hub::{HubConfig, testing};
    use crate::upstream::request::{Role, Turn};

    fn hub(retention: Duration) -> Hub {
        testing::hub(HubConfig {
            retention,
            ..testing::config()
        })
    }

    fn req() -> InvocationRequest {
        InvocationRequest {
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            turns: vec![Turn::text_turn(Role::User, "hi")],
            max_tokens: Some(10),
            temperature: None,
            top_p: None,
            stop_sequences: vec![],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn latest_session_per_owner_and_chat() {
        let hub = hub(Duration::from_secs(60));
        let chats = ChatIndex::new();
        let (first, _) = hub
            .start_chat(
                &chats,
                "alice",
                "c1",
                ChatAnswer::default(),
                req(),
                Api::Invoke,
            )
            .await
            .unwrap();
        let continued = ChatAnswer {
            continues: Some("msg-1".into()),
            metadata: true,
        };
        let (second, started) = hub
            .start_chat(&chats, "alice", "c1", continued, req(), Api::Invoke)
            .await
            .unwrap();
        assert_eq!(&*started.message_id, "msg-1");
        let (resumed, rendering) = hub.resume_chat(&chats, "alice", "c1").await.unwrap();
        assert_eq!(rendering, started, "a resume renders as the start did");
        assert_eq!(resumed.session().id(), second.session().id());
        assert_ne!(resumed.session().id(), first.session().id());
        assert_eq!(resumed.position(), 0);
        assert!(hub.resume_chat(&chats, "bob", "c1").await.is_none());
        assert!(hub.resume_chat(&chats, "alice", "c2").await.is_none());
        second.session().cancel();
        second.session().finished().await;
        assert!(
            hub.resume_chat(&chats, "alice", "c1").await.is_none(),
            "a finished chat has nothing active"
        );
    }

    #[tokio::test]
    async fn dead_entries_are_pruned() {
        let hub = hub(Duration::ZERO);
        let chats = ChatIndex::new();
        for i in 0..(MIN_PRUNE_AT * 3) {
            let (sub, _) = hub
                .start_chat(
                    &chats,
                    "alice",
                    &format!("c{i}"),
                    ChatAnswer::default(),
                    req(),
                    Api::Invoke,
                )
                .await
                .unwrap();
            sub.session().cancel();
            sub.session().finished().await;
            drop(sub);
            hub.sweep();
        }
        assert!(chats.len() <= MIN_PRUNE_AT, "{} entries kept", chats.len());
    }
}
