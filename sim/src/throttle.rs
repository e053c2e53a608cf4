//! The `throttle=K` scenario: refuse the first K requests carrying one exact prompt.

use std::collections::HashMap;
use std::sync::Mutex;

/// Prompts remembered at most; past this the memory is reset (a test never
/// needs this many distinct throttled prompts at once).
const MAX_PROMPTS: usize = 10_000;

/// How many times each throttled prompt has been refused so far.
#[derive(Debug, Default)]
pub(crate) struct ThrottleGate {
    refused: Mutex<HashMap<String, u64>>,
}

impl ThrottleGate {
    /// Whether this request must be refused: true for the first `limit`
    /// requests with this exact `prompt`, false afterwards (and always when
    /// `limit` is 0).
    pub(crate) fn refuse(&self, prompt: &str, limit: u64) -> bool {
        if limit == 0 {
            return false;
        }
        // A poisoned lock only means another request panicked mid-update; the
        // map of counts is still usable.
        let mut refused = self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = refused.get_mut(prompt) {
            if *count >= limit {
                return false;
            }
            *count += 1;
            return true;
        }
        if refused.len() >= MAX_PROMPTS {
            refused.clear();
        }
        refused.insert(prompt.to_owned(), 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_exactly_k_times_per_prompt() {
        let gate = ThrottleGate::default();
        assert!(gate.refuse("a", 2));
        assert!(gate.refuse("a", 2));
        assert!(!gate.refuse("a", 2));
        assert!(!gate.refuse("a", 2));
        assert!(gate.refuse("b", 1));
        assert!(!gate.refuse("b", 1));
        assert!(!gate.refuse("c", 0));
    }
}
