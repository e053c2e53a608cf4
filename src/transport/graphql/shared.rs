//! One render of each event for identical subscriptions.
//!
//! When many clients watch one session (a shared chat, a support agent and a
//! user, the fan-out in `loadtest`), they almost always send the very same
//! subscription: the same document, operation and variables. async-graphql
//! resolves the event's selection set for every one of them, which costs
//! ~2 µs per subscriber per event (the `graphql_next` bench) — most of the
//! GraphQL transport's cost. Subscribers of an identical request share a
//! [`RenderGroup`] instead: the first to reach an event resolves it, the
//! others at the same event take a copy of that value (the deduplication
//! that Apollo Router applies to identical subscriptions).
//!
//! Why this is exact: a `TokenEvent`'s fields read only the event (never the
//! caller or any other request data), so one request and one event always
//! resolve to the same value. The group key holds the whole request (the
//! document, the operation name and every variable), so directives fed by
//! variables, aliases and fragments cannot mix; events are compared by
//! identity, not by `seq`. A subscriber replaying old events simply misses
//! and resolves its own. Keep `GqlTokenEvent`'s fields free of context.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value};

use super::schema::GqlTokenEvent;
use crate::event::TokenEvent;

/// What makes two subscriptions identical, put in the request's data by the
/// WebSocket layer: the document, the operation name and the variables.
#[derive(Clone)]
pub struct RequestKey(Arc<str>);

impl RequestKey {
    pub fn new(
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Self {
        // serde_json's map keeps its keys sorted, so equal variables print alike.
        let key = serde_json::json!([query, operation_name, variables]).to_string();
        Self(key.into())
    }
}

/// The live groups, one per distinct request (schema data). A group leaves
/// the map when its last subscriber is gone.
#[derive(Clone, Default)]
pub struct RenderGroups(Arc<Mutex<HashMap<Arc<str>, Weak<RenderGroup>>>>);

impl RenderGroups {
    /// The group of `key`, made if it has no live one.
    pub fn join(&self, key: &RequestKey) -> Arc<RenderGroup> {
        let mut groups = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(group) = groups.get(&key.0).and_then(Weak::upgrade) {
            return group;
        }
        let group = Arc::new(RenderGroup {
            key: key.0.clone(),
            groups: Arc::downgrade(&self.0),
            last: Mutex::new(None),
        });
        groups.insert(key.0.clone(), Arc::downgrade(&group));
        group
    }

    /// How many requests have live groups.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The subscribers of one request: the value of the newest event resolved.
pub struct RenderGroup {
    key: Arc<str>,
    groups: Weak<Mutex<HashMap<Arc<str>, Weak<RenderGroup>>>>,
    last: Mutex<Option<(Arc<TokenEvent>, Value)>>,
}

impl RenderGroup {
    fn get(&self, ev: &Arc<TokenEvent>) -> Option<Value> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match &*last {
            Some((seen, value)) if Arc::ptr_eq(seen, ev) => Some(value.clone()),
            _ => None,
        }
    }

    /// Keeps `value` unless a newer event's is there (a replaying subscriber
    /// must not push the live edge out).
    fn put(&self, ev: &Arc<TokenEvent>, value: &Value) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.as_ref().is_none_or(|(seen, _)| seen.seq <= ev.seq) {
            *last = Some((ev.clone(), value.clone()));
        }
    }
}

impl Drop for RenderGroup {
    fn drop(&mut self) {
        let Some(groups) = self.groups.upgrade() else {
            return;
        };
        let mut groups = groups.lock().unwrap_or_else(PoisonError::into_inner);
        // A new group for the same request may already have taken the slot.
        if groups.get(&self.key).is_some_and(|g| g.strong_count() == 0) {
            groups.remove(&self.key);
        }
    }
}

/// An item of `onTokenReceived`: a `TokenEvent` to the schema, resolved once
/// per group (or on its own, without one).
pub struct SharedTokenEvent {
    pub event: Arc<TokenEvent>,
    pub group: Option<Arc<RenderGroup>>,
}

impl OutputType for SharedTokenEvent {
    fn type_name() -> Cow<'static, str> {
        GqlTokenEvent::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        GqlTokenEvent::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if let Some(value) = self.group.as_ref().and_then(|g| g.get(&self.event)) {
            return Ok(value);
        }
        let value = GqlTokenEvent(self.event.clone())
            .resolve(ctx, field)
            .await?;
        if let Some(group) = &self.group {
            group.put(&self.event, &value);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(vars: serde_json::Value) -> RequestKey {
        RequestKey::new("subscription { x }", None, vars.as_object())
    }

    #[test]
    fn identical_requests_share_a_group_and_others_do_not() {
        let groups = RenderGroups::default();
        let a = groups.join(&key(serde_json::json!({"sessionId": "s", "after": null})));
        // Same variables in another order: the same request.
        let b = groups.join(&key(serde_json::json!({"after": null, "sessionId": "s"})));
        let c = groups.join(&key(serde_json::json!({"sessionId": "s", "after": 3})));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        let named = RequestKey::new("subscription { x }", Some("X"), None);
        assert!(!Arc::ptr_eq(&a, &groups.join(&named)));
        assert_eq!(groups.len(), 2, "the named group is already gone");
    }

    #[test]
    fn a_group_leaves_with_its_last_subscriber() {
        let groups = RenderGroups::default();
        let k = key(serde_json::json!({"sessionId": "s"}));
        let a = groups.join(&k);
        let b = groups.join(&k);
        drop(a);
        assert_eq!(groups.len(), 1);
        drop(b);
        assert!(groups.is_empty());
        // And a new one can form.
        let _c = groups.join(&k);
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn the_value_is_kept_for_that_very_event_and_never_for_an_older_one() {
        let groups = RenderGroups::default();
        let group = groups.join(&key(serde_json::json!({})));
        let event = |seq| {
            Arc::new(TokenEvent {
                session_id: "s".into(),
                seq,
                token: "t".into(),
                is_complete: false,
                timestamp: String::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: None,
                model: None,
                error: None,
                part: None,
                wire: Default::default(),
            })
        };
        let (e1, e2) = (event(1), event(2));
        assert!(group.get(&e1).is_none());
        group.put(&e2, &Value::from(2));
        assert_eq!(group.get(&e2), Some(Value::from(2)));
        // Another event with the same seq (say, a new session) is not it.
        assert!(group.get(&event(2)).is_none());
        // A replaying subscriber resolving seq 1 does not push out seq 2.
        group.put(&e1, &Value::from(1));
        assert!(group.get(&e1).is_none());
        assert_eq!(group.get(&e2), Some(Value::from(2)));
    }
}
