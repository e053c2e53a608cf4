//! The one way to find a session: [`Hub::find`], with an explicit [`Access`]
//! rule, fleet-wide (this node's sessions, else a mirror of the node that
//! streams it). Attaching is a find plus a cursor ([`Hub::subscribe`]);
//! waiting for a session that does not exist yet is a find woken by the
//! session's creation ([`Hub::wait_for`]), never a poll.
//!
//! A session the caller may not see is answered exactly like one that does
//! not exist, at the same time: existence is never confirmed.

use crate::error::ErrorCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Hub;
use super::mirror::Unopened;
use super::session::Session;
use super::subscription::Subscription;
use crate::auth::Principal;

/// Who asks for a session, and so which sessions they may find.
///
/// This is the only access rule for sessions, on every transport: a user
/// finds their own sessions and nobody else's. Belonging to the admin group
/// changes nothing here (admins use the management API and `publishToken`;
/// they do not read or cancel other users' sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// A signed-in user, by their token's `sub`: their own sessions only.
    User(&'a str),
    /// Another node of the fleet, on the internal relay routes (the cluster
    /// secret already checked): any session *this node* holds, whoever owns
    /// it. The only caller that may see every owner's sessions.
    Node,
}

impl<'a> Access<'a> {
    /// The caller's access: their own sessions, whatever groups they are in.
    pub fn user(principal: &'a Principal) -> Self {
        Access::User(&principal.sub)
    }

    /// Whether this caller may see a session owned by `owner`.
    pub fn may_see(&self, owner: &str) -> bool {
        match self {
            Access::User(sub) => *sub == owner,
            Access::Node => true,
        }
    }
}

impl<'a> From<&'a Principal> for Access<'a> {
    fn from(p: &'a Principal) -> Self {
        Access::user(p)
    }
}

/// Why a lookup found nothing to read. Every transport renders these the
/// same way: `code()` is the error code, the message its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No such session, or one the caller may not see: never told apart.
    #[error("session not found")]
    NotFound,
    /// The cursor is past the end of a finished session's log, or past the
    /// most events any session may hold: nothing will ever be there to read.
    #[error("the cursor is past the end of the session's log ({len} events)")]
    CursorPastEnd { len: u64 },
    /// The caller's session existed but was dropped to keep retained logs
    /// within the node's memory budget (`SPILLWAY_SESSION_MEMORY_BYTES`).
    #[error("the session was dropped to keep retained sessions within the memory budget")]
    Gone,
    /// The node that streams the session cannot be asked for it (gone, or
    /// refusing this node's cluster secret): why.
    #[error("{0}")]
    NodeUnavailable(String),
    /// The node that streamed the session stopped (its heartbeat lapsed) or
    /// restarted without it: the session and its log are lost; why.
    #[error("{0}")]
    Lost(String),
    /// The registry could not be asked where the session is (it may be
    /// streaming on another node): worth asking again.
    #[error("the session registry is unavailable")]
    RegistryUnavailable,
}

impl LookupError {
    /// The error code (`error.code` over HTTP, `code` on sockets, `extensions.code` on GraphQL).
    pub fn code(&self) -> ErrorCode {
        match self {
            LookupError::NotFound => ErrorCode::NotFound,
            LookupError::CursorPastEnd { .. } => ErrorCode::CursorPastEnd,
            LookupError::Gone => ErrorCode::Gone,
            LookupError::NodeUnavailable(_) => ErrorCode::NodeUnavailable,
            LookupError::RegistryUnavailable => ErrorCode::RegistryUnavailable,
            LookupError::Lost(_) => ErrorCode::Gone,
        }
    }
}

/// Longest session id a producer may choose.
pub const MAX_EXTERNAL_ID_LEN: usize = 128;

/// Whether `id` has the shape of a session id: one the gateway issues (a
/// UUID) or one a `publishToken` producer chose (1 to 128 of `A-Z a-z 0-9 -
/// _ . :`, which UUIDs fit too). Anything else is no session, answered
/// without a registry read: in a fleet every other lookup of an id this
/// node does not hold costs one.
pub fn well_formed(id: &str) -> bool {
    (1..=MAX_EXTERNAL_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The first check of the fleet's registry while waiting for a session
/// created on another node (then every 2×, so a 30 s wait asks ~5 times).
const FIRST_FLEET_CHECK: Duration = Duration::from_secs(1);

impl Hub {
    /// The session `id` if `access` may see it: this node's, or (with a
    /// fleet) a mirror of the node that streams it. A `Node` caller gets
    /// only what this node holds (a relay never chains through a third node),
    /// and so does an id of no session's shape ([`well_formed`]).
    pub async fn find(&self, id: &str, access: &Access<'_>) -> Result<Arc<Session>, LookupError> {
        if let Some(s) = self.held(id) {
            return admit(s, access);
        }
        if let Some(owner) = self.inner.tombstones.owner(id) {
            return Err(if access.may_see(&owner) {
                LookupError::Gone
            } else {
                LookupError::NotFound
            });
        }
        if *access == Access::Node || !well_formed(id) {
            return Err(LookupError::NotFound);
        }
        let fleet = &self.inner.fleet;
        let Some(origin) = fleet.relay.clone() else {
            return Err(LookupError::NotFound);
        };
        let record = fleet
            .try_lookup(id)
            .await
            .map_err(|()| LookupError::RegistryUnavailable)?
            .ok_or(LookupError::NotFound)?;
        // This node's own record of a session it no longer holds: swept.
        if !access.may_see(&record.owner) || record.node == fleet.node {
            return Err(LookupError::NotFound);
        }
        // A reader that came meanwhile may have made the mirror already.
        if let Some(s) = self.held(id) {
            return admit(s, access);
        }
        let feed = origin
            .open(&record.id, &record.node)
            .await
            .map_err(|e| match e {
                // The record says it streams, its node does not hold it:
                // the node restarted under the same id, and lost it.
                Unopened::NotFound if record.status == super::SessionStatus::Streaming.as_str() => {
                    LookupError::Lost(format!(
                        "node {} restarted while streaming this session, which was lost",
                        record.node
                    ))
                }
                Unopened::NotFound => LookupError::NotFound,
                Unopened::Gone => LookupError::Gone,
                Unopened::Unavailable(why) => LookupError::NodeUnavailable(why),
                Unopened::Dead => LookupError::Lost(format!(
                    "node {}, which streamed this session, has stopped; the session was lost with it",
                    record.node
                )),
            })?;
        // What the origin held when asked is here before the mirror is
        // answered from (a status read on it says what the origin would).
        let backlog = feed.backlog();
        let mirror = self.mirror(feed, record);
        caught_up(&mirror, backlog).await;
        admit(mirror, access)
    }

    /// Attach to session `id` from event `from` (0 = everything): `find`,
    /// then a cursor ([`Subscription::new`]; past the end is refused).
    pub async fn subscribe(
        &self,
        id: &str,
        access: &Access<'_>,
        from: u64,
    ) -> Result<Subscription, LookupError> {
        let session = self.find(id, access).await?;
        if session.is_mirror() {
            caught_up(&session, from).await;
        }
        Subscription::new(session, from)
    }

    /// `find`, waiting until `wait` has passed for a session that does not
    /// exist yet (a client that subscribes before the producer starts). The
    /// wait is woken by the creation of session `id` on this node (streams,
    /// `publishToken` sessions, mirrors), not by polling; with a fleet, the
    /// registry is also asked a few times (after 1, 3, 7, 15 … s) for a
    /// session created on another node. A session the caller may not see
    /// waits like a missing one and gets the same `NotFound` at the same time.
    pub async fn wait_for(
        &self,
        id: &str,
        access: &Access<'_>,
        wait: Duration,
    ) -> Result<Arc<Session>, LookupError> {
        let deadline = Instant::now() + wait;
        let arrival = self.inner.arrivals.watch(id);
        let fleet = self.inner.fleet.relay.is_some();
        let mut check_every = FIRST_FLEET_CHECK;
        let mut fleet_check = Instant::now() + check_every;
        loop {
            // Registered before looking, so a creation in between still wakes us.
            let created = arrival.notify.notified();
            tokio::pin!(created);
            created.as_mut().enable();
            match self.find(id, access).await {
                Err(LookupError::NotFound) => {}
                other => return other,
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Err(LookupError::NotFound),
                _ = &mut created => {}
                _ = tokio::time::sleep_until(fleet_check), if fleet => {
                    check_every *= 2;
                    fleet_check = Instant::now() + check_every;
                }
            }
        }
    }

    /// How many distinct session ids are being waited for (for tests and metrics).
    pub fn waiting(&self) -> usize {
        self.inner.arrivals.waiting().len()
    }
}

/// `s` if `access` may see it; otherwise the same answer as a missing session.
fn admit(s: Arc<Session>, access: &Access<'_>) -> Result<Arc<Session>, LookupError> {
    if access.may_see(s.owner()) {
        Ok(s)
    } else {
        Err(LookupError::NotFound)
    }
}

/// Readers waiting for sessions that do not exist yet, by session id; the
/// hub wakes them when it inserts a session (`arrived`).
#[derive(Default)]
pub(super) struct Arrivals {
    waiting: Mutex<HashMap<Arc<str>, Arc<Notify>>>,
}

impl Arrivals {
    fn waiting(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Notify>>> {
        // Every write is a single insert or remove: a poisoned lock is still consistent.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake whoever waits for session `id` (it has just been inserted).
    pub(super) fn arrived(&self, id: &str) {
        if let Some(n) = self.waiting().get(id) {
            n.notify_waiters();
        }
    }

    /// Wait for session `id`: the entry lives as long as the returned guard.
    fn watch(&self, id: &str) -> Arrival<'_> {
        let notify = self.waiting().entry(Arc::from(id)).or_default().clone();
        Arrival {
            arrivals: self,
            id: Arc::from(id),
            notify,
        }
    }
}

/// One waiter's registration; the last one out removes the entry.
struct Arrival<'a> {
    arrivals: &'a Arrivals,
    id: Arc<str>,
    notify: Arc<Notify>,
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        let mut map = self.arrivals.waiting();
        // Clones are only made under this lock: two counts are the map's and ours.
        if map
            .get(&self.id)
            .is_some_and(|n| Arc::ptr_eq(n, &self.notify) && Arc::strong_count(n) == 2)
        {
            map.remove(&self.id);
        }
    }
}

/// How long a cursor past a mirror's log waits for the relay to catch up.
const MIRROR_CATCH_UP: Duration = Duration::from_secs(5);

/// Waits (at most [`MIRROR_CATCH_UP`]) until a mirror's log reaches `from`
/// or ends, so that a cursor past the end of a finished log is refused on
/// this node as on the one that streamed it, not served as an empty stream
/// by a mirror that has not caught up yet.
async fn caught_up(mirror: &Session, from: u64) {
    let wait = async {
        loop {
            let len = mirror.len();
            if len >= from || mirror.finished_len().is_some() {
                return;
            }
            mirror.len_above(len).await;
        }
    };
    let _ = tokio::time::timeout(MIRROR_CATCH_UP, wait).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::hub::{HubConfig, RunnerConfig, SessionStatus, testing};

    const MAX_EVENTS: u64 = 100;

    fn hub() -> Hub {
        let base = testing::config();
        testing::hub(HubConfig {
            runner: RunnerConfig {
                max_events: MAX_EVENTS,
                ..base.runner
            },
            max_sessions: 100,
            ..base
        })
    }

    fn principal(sub: &str, groups: &[&str]) -> Principal {
        Principal {
            sub: sub.into(),
            username: sub.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            expires_at: u64::MAX,
        }
    }

    /// A finished session of `tokens` tokens (its log: `tokens` + 1 events).
    fn finished(hub: &Hub, id: &str, owner: &str, tokens: usize) -> Arc<Session> {
        for _ in 0..tokens {
            hub.publish(id, owner, "t".into(), false).unwrap();
        }
        hub.publish(id, owner, String::new(), true).unwrap();
        hub.held(id).unwrap()
    }

    async fn next(sub: &mut Subscription) -> Option<u64> {
        tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("an event or the end, not a hang")
            .map(|e| e.seq)
    }

    #[tokio::test]
    async fn users_find_their_own_sessions_and_nobody_elses_admins_included() {
        let hub = hub();
        finished(&hub, "s", "alice", 1);
        let alice = principal("alice", &[]);
        let admin = principal("root", &["admin"]);
        let bob = principal("bob", &[]);
        assert_eq!(
            hub.find("s", &Access::user(&alice))
                .await
                .unwrap()
                .id()
                .as_ref(),
            "s"
        );
        for other in [&bob, &admin] {
            assert_eq!(
                hub.find("s", &Access::user(other)).await.err(),
                Some(LookupError::NotFound),
                "{} sees only their own",
                other.sub
            );
            // Hidden is answered exactly like missing.
            assert_eq!(
                hub.find("missing", &Access::user(other)).await.err(),
                Some(LookupError::NotFound)
            );
            assert_eq!(
                hub.subscribe("s", &Access::from(other), 0).await.err(),
                Some(LookupError::NotFound)
            );
        }
        // The relay route sees every owner's sessions this node holds, and nothing else.
        assert!(hub.find("s", &Access::Node).await.is_ok());
        assert_eq!(
            hub.find("missing", &Access::Node).await.err(),
            Some(LookupError::NotFound)
        );
    }

    #[tokio::test]
    async fn a_cursor_past_the_end_of_a_finished_log_is_refused() {
        let hub = hub();
        finished(&hub, "f", "alice", 2); // seqs 0, 1 and the final 2
        let alice = Access::User("alice");
        let mut all = hub.subscribe("f", &alice, 0).await.unwrap();
        for seq in 0..3 {
            assert_eq!(next(&mut all).await, Some(seq));
        }
        assert_eq!(next(&mut all).await, None);
        // Exactly at the end: everything has been read, the cursor ends at once.
        let mut at_end = hub.subscribe("f", &alice, 3).await.unwrap();
        assert_eq!(next(&mut at_end).await, None);
        for from in [4, MAX_EVENTS + 1, u64::MAX] {
            assert_eq!(
                hub.subscribe("f", &alice, from).await.err(),
                Some(LookupError::CursorPastEnd { len: 3 }),
                "from {from}"
            );
        }
        assert_eq!(
            LookupError::CursorPastEnd { len: 3 }.code().as_str(),
            "cursor_past_end"
        );
        // No reader was left attached by the refusals.
        drop((all, at_end));
        assert_eq!(hub.held("f").unwrap().reader_count(), 0);
    }

    #[tokio::test]
    async fn while_streaming_a_cursor_ahead_waits_within_the_log_limit() {
        let hub = hub();
        let alice = Access::User("alice");
        hub.publish("s", "alice", "a".into(), false).unwrap(); // seq 0
        assert_eq!(
            hub.subscribe("s", &alice, MAX_EVENTS + 1).await.err(),
            Some(LookupError::CursorPastEnd { len: 1 }),
            "past what any session may hold"
        );
        let mut ahead = hub.subscribe("s", &alice, 2).await.unwrap();
        let mut beyond = hub.subscribe("s", &alice, 10).await.unwrap();
        hub.publish("s", "alice", "b".into(), false).unwrap(); // seq 1
        hub.publish("s", "alice", "c".into(), true).unwrap(); // seq 2, final 3
        assert_eq!(next(&mut ahead).await, Some(2));
        assert_eq!(next(&mut ahead).await, Some(3));
        assert_eq!(next(&mut ahead).await, None);
        // The log ended short of this cursor: it ends, it does not wait forever.
        assert_eq!(next(&mut beyond).await, None);
        assert_eq!(hub.held("s").unwrap().status(), SessionStatus::Complete);
    }

    #[tokio::test]
    async fn a_wait_is_woken_by_the_sessions_creation() {
        let hub = hub();
        let waiter = {
            let hub = hub.clone();
            tokio::spawn(async move {
                hub.wait_for("later", &Access::User("alice"), Duration::from_secs(3600))
                    .await
            })
        };
        while hub.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        hub.publish("later", "alice", "x".into(), false).unwrap();
        let found = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the creation")
            .unwrap()
            .unwrap();
        assert_eq!(found.id().as_ref(), "later");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(hub.waiting(), 0, "the waiter's entry is gone");
    }

    /// Waiting costs nothing until the session arrives: the waiting future
    /// is not woken at all (a poll would wake it every interval).
    #[tokio::test]
    async fn a_wait_does_not_poll() {
        let hub = hub();
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waiter = {
            let (hub, polls) = (hub.clone(), polls.clone());
            tokio::spawn(async move {
                let mut wait = std::pin::pin!(hub.wait_for(
                    "quiet",
                    &Access::User("alice"),
                    Duration::from_secs(3600)
                ));
                std::future::poll_fn(|cx| {
                    polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    wait.as_mut().poll(cx)
                })
                .await
            })
        };
        while hub.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        // Other sessions come and go meanwhile; time passes.
        hub.publish("other", "alice", "x".into(), true).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            polls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "woken while nothing arrived"
        );
        hub.publish("quiet", "alice", "x".into(), false).unwrap();
        let found = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the creation")
            .unwrap();
        assert!(found.is_ok());
        assert_eq!(polls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// A session the caller may not see and one that does not exist: the
    /// same answer, at the same time (the end of the wait).
    #[tokio::test]
    async fn hidden_and_missing_wait_alike_until_the_deadline() {
        let hub = hub();
        finished(&hub, "bobs", "bob", 1);
        let wait = Duration::from_millis(300);
        let timed = |id: &'static str| {
            let hub = hub.clone();
            async move {
                let t = Instant::now();
                let r = hub.wait_for(id, &Access::User("alice"), wait).await;
                (r.err(), t.elapsed())
            }
        };
        let ((hidden, th), (missing, tm)) = tokio::join!(timed("bobs"), timed("nobody"));
        assert_eq!(hidden, Some(LookupError::NotFound));
        assert_eq!(missing, Some(LookupError::NotFound));
        for t in [th, tm] {
            assert!(t >= wait && t < wait + Duration::from_millis(250), "{t:?}");
        }
        let diff = th.abs_diff(tm);
        assert!(diff < Duration::from_millis(100), "answered {diff:?} apart");
        assert_eq!(hub.waiting(), 0);
        // The owner does not wait at all.
        assert!(
            hub.wait_for("bobs", &Access::User("bob"), wait)
                .await
                .is_ok()
        );
    }

    /// An origin that only says it was asked: a relay was attempted.
    struct Asked;

    impl crate::hub::Origin for Asked {
        fn open<'a>(
            &'a self,
            _id: &'a str,
            _node: &'a str,
        ) -> futures_util::future::BoxFuture<'a, Result<Box<dyn crate::hub::Feed>, Unopened>>
        {
            Box::pin(async { Err(Unopened::Unavailable("asked".into())) })
        }

        fn kept<'a>(
            &'a self,
            _id: &'a str,
            _node: &'a str,
        ) -> futures_util::future::BoxFuture<'a, Option<(crate::hub::Kept, bool)>> {
            Box::pin(async { None })
        }

        fn publish<'a>(
            &'a self,
            _node: &'a str,
            _publish: &'a crate::hub::Publish,
        ) -> futures_util::future::BoxFuture<
            'a,
            Result<crate::event::TokenEvent, crate::hub::external::PublishError>,
        > {
            Box::pin(async { Err(crate::hub::external::PublishError::Full) })
        }
    }

    #[tokio::test]
    async fn an_id_of_no_sessions_shape_is_not_found_without_asking_the_registry() {
        let fleet = crate::hub::Fleet {
            relay: Some(Arc::new(Asked)),
            ..crate::hub::Fleet::single_node()
        };
        let registry = fleet.registry.sessions.clone();
        let hub = Hub::with_fleet(
            Arc::new(testing::PendingUpstream),
            testing::config(),
            fleet,
            crate::metrics::Metrics::new(),
        );
        let long = "a".repeat(MAX_EXTERNAL_ID_LEN + 1);
        let ok_id = uuid::Uuid::new_v4().to_string();
        for id in [ok_id.as_str(), "job-1", "bad id", "../x", "", long.as_str()] {
            registry
                .put_session(crate::registry::SessionRecord {
                    id: id.into(),
                    owner: "alice".into(),
                    node: "elsewhere".into(),
                    model: "m".into(),
                    status: "streaming".into(),
                    created_at: String::new(),
                    input_tokens: 0,
                    output_tokens: 0,
                })
                .await
                .unwrap();
        }
        let alice = Access::User("alice");
        // Ids the gateway issues and ids producers choose are looked up
        // (here the registry names another node, which is asked).
        for id in [ok_id.as_str(), "job-1"] {
            assert_eq!(
                hub.find(id, &alice).await.err(),
                Some(LookupError::NodeUnavailable("asked".into())),
                "{id}"
            );
        }
        // Any other shape is no session: not looked up, so never relayed.
        for id in ["bad id", "../x", "", long.as_str()] {
            assert!(!well_formed(id), "{id}");
            assert_eq!(
                hub.find(id, &alice).await.err(),
                Some(LookupError::NotFound),
                "{id}"
            );
        }
    }
}
