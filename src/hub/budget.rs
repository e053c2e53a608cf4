//! The byte budget of session logs (`SPILLWAY_SESSION_MEMORY_BYTES`): past
//! it, the oldest finished sessions are dropped first, never a live one, and
//! a dropped session answers `410 Gone` to its owner afterwards (for as long
//! as it would have been retained). Finished sessions can then never push a
//! node out of memory, whatever the load; only live streams can, and they
//! are bounded by the stream limits.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::session::Session;

/// Most dropped ids remembered for their `410` (about 100 bytes each).
const MAX_TOMBSTONES: usize = 100_000;

/// The default budget: a quarter of the memory this process may use (the
/// cgroup's limit when it has one, else the machine's), or 1 GiB when
/// neither can be read.
pub fn default_budget() -> u64 {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| meminfo_total(&s));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    match (machine, cgroup) {
        (Some(m), Some(c)) => m.min(c) / 4,
        (Some(m), None) | (None, Some(m)) => m / 4,
        (None, None) => 1 << 30,
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Which finished sessions to drop so that `held` bytes fit in `budget`:
/// the oldest finished first. Live sessions are never chosen.
pub(super) fn choose_evictions(
    sessions: &HashMap<Arc<str>, Arc<Session>>,
    mut held: u64,
    budget: u64,
) -> Vec<Arc<str>> {
    if held <= budget {
        return Vec::new();
    }
    let mut finished: Vec<(Instant, &Arc<str>, u64)> = sessions
        .iter()
        .filter_map(|(id, s)| s.finished_at().map(|t| (t, id, s.bytes() as u64)))
        .collect();
    finished.sort_unstable_by_key(|(t, _, _)| *t);
    let mut out = Vec::new();
    for (_, id, bytes) in finished {
        if held <= budget {
            break;
        }
        held = held.saturating_sub(bytes);
        out.push(id.clone());
    }
    out
}

/// Sessions dropped for the budget, by id: their owner (only the owner is
/// told `Gone`; anyone else gets the answer a missing session gets).
#[derive(Default)]
pub(super) struct Tombstones {
    inner: Mutex<TombstonesInner>,
}

#[derive(Default)]
struct TombstonesInner {
    owners: HashMap<Arc<str>, String>,
    order: VecDeque<(Arc<str>, Instant)>,
}

impl Tombstones {
    fn lock(&self) -> MutexGuard<'_, TombstonesInner> {
        // Every write keeps both maps consistent before unlocking.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remember that session `id` of `owner` was dropped, for `keep`.
    pub(super) fn bury(&self, id: Arc<str>, owner: &str, keep: Duration) {
        let mut t = self.lock();
        if t.order.len() >= MAX_TOMBSTONES
            && let Some((old, _)) = t.order.pop_front()
        {
            t.owners.remove(&old);
        }
        t.owners.insert(id.clone(), owner.to_owned());
        t.order.push_back((id, Instant::now() + keep));
    }

    /// The owner of dropped session `id`, if it was dropped and is still remembered.
    pub(super) fn owner(&self, id: &str) -> Option<String> {
        let t = self.lock();
        if t.owners.is_empty() {
            return None;
        }
        t.owners.get(id).cloned()
    }

    /// Forget tombstones whose time is up.
    pub(super) fn sweep(&self) {
        let now = Instant::now();
        let mut t = self.lock();
        while t.order.front().is_some_and(|(_, until)| *until <= now) {
            if let Some((id, _)) = t.order.pop_front() {
                t.owners.remove(&id);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().owners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::session::SessionStatus;

    fn session(id: &str, tokens: usize, finished: bool) -> (Arc<str>, Arc<Session>) {
        let s = Session::new(Arc::from(id), "u".into(), "m".into(), 10_000);
        for _ in 0..tokens {
            s.push_token("0123456789".into());
        }
        if finished {
            s.finish(SessionStatus::Complete, Some("end_turn".into()), None, None);
        }
        (s.id().clone(), s)
    }

    #[tokio::test(start_paused = true)]
    async fn the_oldest_finished_go_first_and_live_ones_never() {
        let mut map = HashMap::new();
        for (id, tokens, finished) in [
            ("old", 100, true),
            ("live", 1000, false),
            ("new", 100, true),
        ] {
            let (id, s) = session(id, tokens, finished);
            map.insert(id, s);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let held: u64 = map.values().map(|s| s.bytes() as u64).sum();
        assert!(
            choose_evictions(&map, held, held).is_empty(),
            "within budget"
        );
        let one = map["old"].bytes() as u64;
        assert_eq!(
            choose_evictions(&map, held, held - one),
            vec![Arc::from("old")]
        );
        let all = choose_evictions(&map, held, 0);
        assert_eq!(
            all,
            vec![Arc::from("old"), Arc::from("new")],
            "never the live one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tombstones_remember_the_owner_for_a_while() {
        let t = Tombstones::default();
        t.bury(Arc::from("a"), "alice", Duration::from_secs(10));
        assert_eq!(t.owner("a").as_deref(), Some("alice"));
        assert_eq!(t.owner("b"), None);
        tokio::time::advance(Duration::from_secs(11)).await;
        t.sweep();
        assert_eq!(t.owner("a"), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn reads_the_machines_memory() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:        1 kB\n";
        assert_eq!(meminfo_total(meminfo), Some(24_576_000 * 1024));
        assert!(default_budget() >= 1 << 20);
    }
}
