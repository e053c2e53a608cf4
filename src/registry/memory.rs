//! The in-memory registry of a single node: the same traits as DynamoDB's.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, ready};

use super::{
    ChatRecord, ConnectionRecord, ConnectionRegistry, LimitError, NodeDirectory, NodeRecord,
    RegistryError, SessionRecord, SessionStore, UsageLimits, utc_day,
};

#[derive(Default)]
struct State {
    connections: HashMap<String, ConnectionRecord>,
    sessions: HashMap<String, SessionRecord>,
    chats: HashMap<(String, String), ChatRecord>,
    streams: HashMap<String, HashSet<String>>,
    tokens: HashMap<(String, String), u64>,
    /// Nano-USD per (user, UTC day).
    costs: HashMap<(String, String), u64>,
    nodes: HashMap<String, NodeRecord>,
}

#[derive(Default)]
pub struct MemoryRegistry {
    state: Mutex<State>,
}

type Fut<'a, T> = BoxFuture<'a, Result<T, RegistryError>>;

impl MemoryRegistry {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Retained session records are dropped with the sessions; keep this one bounded too.
    fn prune_sessions(st: &mut State) {
        const MAX: usize = 200_000;
        if st.sessions.len() > MAX {
            st.sessions.retain(|_, r| r.status == "streaming");
        }
    }
}

impl ConnectionRegistry for MemoryRegistry {
    fn register(&self, record: ConnectionRecord) -> Fut<'_, ()> {
        self.state().connections.insert(record.id.clone(), record);
        ready(Ok(())).boxed()
    }

    fn touch<'a>(&'a self, id: &'a str, at: &'a str) -> Fut<'a, ()> {
        if let Some(r) = self.state().connections.get_mut(id) {
            r.last_active_at = at.to_owned();
        }
        ready(Ok(())).boxed()
    }

    fn get<'a>(&'a self, id: &'a str) -> Fut<'a, Option<ConnectionRecord>> {
        ready(Ok(self.state().connections.get(id).cloned())).boxed()
    }

    fn remove<'a>(&'a self, id: &'a str) -> Fut<'a, ()> {
        self.state().connections.remove(id);
        ready(Ok(())).boxed()
    }

    fn count_for_user<'a>(&'a self, user: &'a str) -> Fut<'a, usize> {
        let n = self
            .state()
            .connections
            .values()
            .filter(|r| r.user == user)
            .count();
        ready(Ok(n)).boxed()
    }
}

impl SessionStore for MemoryRegistry {
    fn put_session(&self, record: SessionRecord) -> Fut<'_, ()> {
        let mut st = self.state();
        st.sessions.insert(record.id.clone(), record);
        Self::prune_sessions(&mut st);
        ready(Ok(())).boxed()
    }

    fn finish_session<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Fut<'a, ()> {
        if let Some(r) = self.state().sessions.get_mut(id) {
            r.status = status.to_owned();
            r.input_tokens = input_tokens;
            r.output_tokens = output_tokens;
        }
        ready(Ok(())).boxed()
    }

    fn get_session<'a>(&'a self, id: &'a str) -> Fut<'a, Option<SessionRecord>> {
        ready(Ok(self.state().sessions.get(id).cloned())).boxed()
    }

    fn put_chat<'a>(
        &'a self,
        owner: &'a str,
        chat: &'a str,
        latest: &'a ChatRecord,
    ) -> Fut<'a, ()> {
        let mut st = self.state();
        // Keep only chats whose session is still recorded, so the map stays bounded.
        if st.chats.len() > st.sessions.len().saturating_mul(2) + 64 {
            let State {
                chats, sessions, ..
            } = &mut *st;
            chats.retain(|_, c| sessions.contains_key(&c.session));
        }
        st.chats
            .insert((owner.to_owned(), chat.to_owned()), latest.clone());
        ready(Ok(())).boxed()
    }

    fn get_chat<'a>(&'a self, owner: &'a str, chat: &'a str) -> Fut<'a, Option<ChatRecord>> {
        let s = self
            .state()
            .chats
            .get(&(owner.to_owned(), chat.to_owned()))
            .cloned();
        ready(Ok(s)).boxed()
    }
}

impl UsageLimits for MemoryRegistry {
    fn acquire_stream<'a>(
        &'a self,
        user: &'a str,
        session: &'a str,
        _node: &'a str,
        max: u64,
    ) -> BoxFuture<'a, Result<(), LimitError>> {
        let mut st = self.state();
        let held = st.streams.entry(user.to_owned()).or_default();
        let r = if held.len() as u64 >= max {
            Err(LimitError::Exceeded {
                what: format!("at most {max} concurrent streams per user"),
                retry_after_secs: 1,
            })
        } else {
            held.insert(session.to_owned());
            Ok(())
        };
        ready(r).boxed()
    }

    fn release_stream<'a>(&'a self, user: &'a str, session: &'a str) -> Fut<'a, ()> {
        let mut st = self.state();
        if let Some(held) = st.streams.get_mut(user) {
            held.remove(session);
            if held.is_empty() {
                st.streams.remove(user);
            }
        }
        ready(Ok(())).boxed()
    }

    fn tokens_today<'a>(&'a self, user: &'a str) -> Fut<'a, u64> {
        let (day, _) = utc_day();
        let n = self
            .state()
            .tokens
            .get(&(user.to_owned(), day))
            .copied()
            .unwrap_or(0);
        ready(Ok(n)).boxed()
    }

    fn add_tokens<'a>(&'a self, user: &'a str, tokens: u64) -> Fut<'a, ()> {
        let (day, _) = utc_day();
        let mut st = self.state();
        st.tokens.retain(|(_, d), _| *d == day);
        *st.tokens.entry((user.to_owned(), day)).or_default() += tokens;
        ready(Ok(())).boxed()
    }

    fn cost_today<'a>(&'a self, user: &'a str) -> Fut<'a, u64> {
        let (day, _) = utc_day();
        let n = self
            .state()
            .costs
            .get(&(user.to_owned(), day))
            .copied()
            .unwrap_or(0);
        ready(Ok(n)).boxed()
    }

    fn add_cost<'a>(&'a self, user: &'a str, nano_usd: u64) -> Fut<'a, ()> {
        let (day, _) = utc_day();
        let mut st = self.state();
        st.costs.retain(|(_, d), _| *d == day);
        let spent = st.costs.entry((user.to_owned(), day)).or_default();
        *spent = spent.saturating_add(nano_usd);
        ready(Ok(())).boxed()
    }
}

impl NodeDirectory for MemoryRegistry {
    fn heartbeat(&self, node: NodeRecord) -> Fut<'_, ()> {
        self.state().nodes.insert(node.id.clone(), node);
        ready(Ok(())).boxed()
    }

    fn get_node<'a>(&'a self, id: &'a str) -> Fut<'a, Option<NodeRecord>> {
        ready(Ok(self.state().nodes.get(id).cloned())).boxed()
    }
}
