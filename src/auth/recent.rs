//! Tokens verified lately. Clients send the same token on every request
//! until it expires, and the RS256 check is the largest single cost of a
//! stream start (see BENCHMARKS.md, "Stream start"); a token seen in the
//! last minute is answered from here, its expiry still checked each time.
//!
//! The key is the whole token, compared byte for byte: a token differing in
//! any byte (a forged signature, a changed claim) is verified in full. An
//! entry lives at most [`TTL`], so a key removed from the JWKS stops
//! admitting its tokens within a minute, as the key cache itself refetches.
//! The map holds at most [`MAX_ENTRIES`] tokens (~1 KB each for Cognito);
//! when full, expired entries go, then all of them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::principal::Principal;

/// How long a verified token is trusted without another signature check.
pub(super) const TTL: Duration = Duration::from_secs(60);

/// Tokens remembered at most.
pub(super) const MAX_ENTRIES: usize = 4096;

struct Entry {
    principal: Principal,
    /// Monotonic end of the entry's [`TTL`].
    until: Instant,
}

/// Verified tokens and who they say the caller is.
#[derive(Default)]
pub(super) struct Recent {
    map: Mutex<HashMap<Box<str>, Entry>>,
}

impl Recent {
    /// Who `token` belongs to, if it was verified within [`TTL`] and its
    /// `exp` (plus `leeway_secs`) has not passed.
    pub(super) fn get(&self, token: &str, leeway_secs: u64) -> Option<Principal> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.get(token)?;
        let fresh = entry.until > Instant::now()
            && unix_now() <= entry.principal.expires_at.saturating_add(leeway_secs);
        fresh.then(|| entry.principal.clone())
    }

    /// Remember `token`, just verified, as `principal`'s.
    pub(super) fn insert(&self, token: &str, principal: &Principal) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.until > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            token.into(),
            Entry {
                principal: principal.clone(),
                until: now + TTL,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(expires_at: u64) -> Principal {
        Principal {
            sub: "u1".into(),
            username: "u1".into(),
            groups: vec![],
            expires_at,
        }
    }

    #[test]
    fn a_remembered_token_is_answered_until_it_expires() {
        let recent = Recent::default();
        let live = principal(unix_now() + 600);
        recent.insert("a.b.c", &live);
        assert_eq!(recent.get("a.b.c", 0), Some(live));
        // Any other byte string is a miss, however close.
        assert_eq!(recent.get("a.b.d", 0), None);
        assert_eq!(recent.get("a.b.c ", 0), None);

        // Past `exp` (and its leeway) a remembered token is not answered.
        let expired = principal(unix_now() - 120);
        recent.insert("e.x.p", &expired);
        assert_eq!(recent.get("e.x.p", 60), None);
        assert_eq!(recent.get("e.x.p", 600), Some(expired));
    }

    #[test]
    fn the_map_stays_bounded() {
        let recent = Recent::default();
        let p = principal(unix_now() + 600);
        for i in 0..MAX_ENTRIES + 10 {
            recent.insert(&format!("t{i}"), &p);
        }
        assert!(recent.len() <= MAX_ENTRIES, "{}", recent.len());
        // The newest is always kept.
        assert!(recent.get(&format!("t{}", MAX_ENTRIES + 9), 0).is_some());
    }
}
