//! Prompt caching: the prefix of a request up to each cache point, and the
//! memory of prefixes seen (five minutes, like Bedrock's cache).
//!
//! Cache points are Converse's and Nova's `{"cachePoint": {…}}` blocks (in
//! `toolConfig.tools`, `system` and message content) and Claude's
//! `cache_control` on a block (the point is after that block). A prefix is
//! everything before the point in Bedrock's order — tools, system, messages —
//! hashed with the model; its size is counted as the simulator counts input
//! tokens (words). For one request the longest prefix seen before is read
//! from the cache, and the rest up to the last point is written.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::body::Obj;

/// How long a prefix stays cached after its last use.
const TTL: Duration = Duration::from_secs(300);

/// Prefixes remembered at most; past this the expired are dropped, and if
/// that is not enough, all of them.
const MAX_PREFIXES: usize = 10_000;

/// How a request body marks cache points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marks {
    /// `{"cachePoint": …}` blocks (Converse, and Nova's native body).
    CachePoint,
    /// `cache_control` on a block (Claude's native body).
    CacheControl,
}

/// The request up to one cache point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefix {
    hash: u64,
    tokens: u32,
}

/// Tokens read from and written to the cache by one request with cache points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheUsage {
    pub read: u32,
    pub write: u32,
}

/// Prefixes seen, with when they were last used.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    seen: Mutex<HashMap<u64, Instant>>,
}

impl PromptCache {
    /// Reads and writes for a request with `prefixes` (in order) and
    /// `input_tokens` in all; `None` when it has no cache point. Every
    /// prefix is remembered (or refreshed) for [`TTL`].
    pub(crate) fn account(&self, prefixes: &[Prefix], input_tokens: u32) -> Option<CacheUsage> {
        let last = prefixes.last()?;
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = |hash: &u64| seen.get(hash).is_some_and(|at| now - *at < TTL);
        let read = prefixes
            .iter()
            .rev()
            .find(|p| fresh(&p.hash))
            .map_or(0, |p| p.tokens)
            .min(input_tokens);
        let write = last.tokens.min(input_tokens).saturating_sub(read);
        if seen.len() + prefixes.len() > MAX_PREFIXES {
            seen.retain(|_, at| now - *at < TTL);
            if seen.len() + prefixes.len() > MAX_PREFIXES {
                seen.clear();
            }
        }
        for p in prefixes {
            seen.insert(p.hash, now);
        }
        Some(CacheUsage { read, write })
    }
}

/// The prefixes up to each cache point of `body` (for `model`), in order.
pub(crate) fn prefixes(marks: Marks, model: &str, body: &Obj) -> Vec<Prefix> {
    let mut walk = Walk::new(model);
    match marks {
        Marks::CachePoint => {
            let tools = body
                .get("toolConfig")
                .and_then(|c| c.get("tools"))
                .and_then(Value::as_array);
            walk.blocks("tools", tools.map(Vec::as_slice), marks);
            walk.blocks(
                "system",
                body.get("system")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice),
                marks,
            );
        }
        Marks::CacheControl => {
            walk.blocks(
                "tools",
                body.get("tools")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice),
                marks,
            );
            match body.get("system") {
                Some(Value::Array(blocks)) => walk.blocks("system", Some(blocks), marks),
                Some(text @ Value::String(_)) => walk.block("system", text, marks),
                _ => {}
            }
        }
    }
    for message in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        match message.get("content") {
            Some(Value::Array(blocks)) => walk.blocks(role, Some(blocks), marks),
            Some(text @ Value::String(_)) => walk.block(role, text, marks),
            _ => {}
        }
    }
    walk.points
}

/// A running hash and word count over a request's blocks.
struct Walk {
    hasher: DefaultHasher,
    tokens: u32,
    points: Vec<Prefix>,
}

impl Walk {
    fn new(model: &str) -> Self {
        let mut hasher = DefaultHasher::new();
        model.hash(&mut hasher);
        Self {
            hasher,
            tokens: 0,
            points: Vec::new(),
        }
    }

    fn blocks(&mut self, section: &str, blocks: Option<&[Value]>, marks: Marks) {
        section.hash(&mut self.hasher);
        for block in blocks.into_iter().flatten() {
            self.block(section, block, marks);
        }
    }

    fn block(&mut self, section: &str, block: &Value, marks: Marks) {
        match marks {
            Marks::CachePoint if block.get("cachePoint").is_some() => self.point(),
            Marks::CachePoint => self.add(section, block),
            Marks::CacheControl => {
                let marked = block.get("cache_control").is_some_and(|c| !c.is_null());
                match block {
                    Value::Object(o) if marked => {
                        let mut o = o.clone();
                        o.remove("cache_control");
                        self.add(section, &Value::Object(o));
                        self.point();
                    }
                    _ => self.add(section, block),
                }
            }
        }
    }

    fn add(&mut self, section: &str, block: &Value) {
        section.hash(&mut self.hasher);
        block.to_string().hash(&mut self.hasher);
        self.tokens = self.tokens.saturating_add(words(block));
    }

    fn point(&mut self) {
        self.points.push(Prefix {
            hash: self.hasher.finish(),
            tokens: self.tokens,
        });
    }
}

/// Words in the string values of `v` but its blocks' `type`s (as input tokens are estimated).
fn words(v: &Value) -> u32 {
    match v {
        Value::String(s) => u32::try_from(s.split_whitespace().count()).unwrap_or(u32::MAX),
        Value::Array(a) => a.iter().map(words).fold(0, u32::saturating_add),
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| *k != "type")
            .map(|(_, v)| words(v))
            .fold(0, u32::saturating_add),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Obj {
        v.as_object().unwrap().clone()
    }

    fn converse(system: &str, question: &str) -> Obj {
        obj(json!({
            "system": [{"text": system}, {"cachePoint": {"type": "default"}}],
            "messages": [{"role": "user", "content": [{"text": question}]}],
        }))
    }

    #[test]
    fn first_request_writes_and_the_next_reads() {
        let cache = PromptCache::default();
        let first = prefixes(Marks::CachePoint, "m", &converse("one two three four", "q"));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].tokens, 4);
        assert_eq!(
            cache.account(&first, 5),
            Some(CacheUsage { read: 0, write: 4 })
        );
        let again = prefixes(
            Marks::CachePoint,
            "m",
            &converse("one two three four", "another question"),
        );
        assert_eq!(
            cache.account(&again, 6),
            Some(CacheUsage { read: 4, write: 0 })
        );
        // Another model, or another system prompt, is another prefix.
        let other = prefixes(Marks::CachePoint, "n", &converse("one two three four", "q"));
        assert_eq!(cache.account(&other, 5).unwrap().read, 0);
        let changed = prefixes(Marks::CachePoint, "m", &converse("one two three five", "q"));
        assert_eq!(cache.account(&changed, 5).unwrap().read, 0);
    }

    #[test]
    fn no_cache_point_no_usage() {
        let cache = PromptCache::default();
        let body = obj(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}));
        assert!(prefixes(Marks::CachePoint, "m", &body).is_empty());
        assert_eq!(cache.account(&[], 3), None);
    }

    #[test]
    fn a_longer_prefix_reads_the_shorter_and_writes_the_rest() {
        let cache = PromptCache::default();
        let short = obj(json!({
            "tools": [{"name": "t", "description": "a tool", "input_schema": {}, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hello there"}],
        }));
        let p = prefixes(Marks::CacheControl, "m", &short);
        assert_eq!(p.len(), 1);
        assert_eq!(cache.account(&p, 10).unwrap().write, 3);
        // More cache points after the same tools: the tools' prefix is read.
        let long = obj(json!({
            "tools": [{"name": "t", "description": "a tool", "input_schema": {}, "cache_control": {"type": "ephemeral"}}],
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hello there friend", "cache_control": {"type": "ephemeral"}}]},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "more"},
            ],
        }));
        let p = prefixes(Marks::CacheControl, "m", &long);
        assert_eq!(p.len(), 3);
        assert_eq!(
            cache.account(&p, 20),
            Some(CacheUsage { read: 3, write: 5 })
        );
        assert_eq!(
            cache.account(&p, 20),
            Some(CacheUsage { read: 8, write: 0 })
        );
        // Counts never exceed the request's input tokens.
        assert_eq!(cache.account(&p, 5), Some(CacheUsage { read: 5, write: 0 }));
    }

    #[test]
    fn memory_is_bounded() {
        let cache = PromptCache::default();
        for i in 0..(MAX_PREFIXES + 10) {
            let body = converse(&format!("system {i}"), "q");
            cache.account(&prefixes(Marks::CachePoint, "m", &body), 3);
        }
        assert!(cache.seen.lock().unwrap().len() <= MAX_PREFIXES);
    }
}
