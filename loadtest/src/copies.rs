//! One session, several readers: the *original* (the reader that started
//! the stream) and *copies* (readers attached to the same session). Each
//! reading keeps when every event arrived; a copy's delay for an event is
//! its arrival minus the original's. An event that had already reached the
//! original when a copy attached is a replay from the session log, not a
//! live copy: it is counted apart and left out of the delays. Used by the
//! relay measurement and by fan-out.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::record::{EventSink, SeqCheck};
use crate::report::nearest_rank;

/// One reading of a session: when each event arrived.
#[derive(Debug, Default)]
pub struct Reading {
    /// When the reader was in place (SSE: the response headers came;
    /// sockets: the subscribe message was sent).
    pub attached: Option<Instant>,
    pub arrivals: Vec<(u64, Instant)>,
    pub seq: SeqCheck,
    pub error: Option<String>,
}

impl EventSink for Reading {
    fn event(&mut self, seq: u64, at: Instant, _last: bool) {
        self.seq.observe(seq);
        self.arrivals.push((seq, at));
    }
}

impl Reading {
    /// A reading attached at `attached`, nothing read yet.
    pub fn at(attached: Instant) -> Self {
        Self {
            attached: Some(attached),
            ..Self::default()
        }
    }

    pub fn failed(e: String) -> Self {
        Self {
            error: Some(e),
            ..Self::default()
        }
    }

    /// Read to the final event, with nothing lost or duplicated.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.seq.lost == 0 && self.seq.duplicates == 0
    }

    /// An SSE response read to its end.
    pub async fn of_sse(attached: Instant, response: reqwest::Response) -> Self {
        let mut reading = Self::at(attached);
        reading.error = crate::transport::sse::read_events(response, &mut reading)
            .await
            .err();
        reading
    }

    /// When each event reached this reader, by seq (the first arrival).
    pub fn by_seq(&self) -> HashMap<u64, Instant> {
        let mut at = HashMap::with_capacity(self.arrivals.len());
        for &(seq, t) in &self.arrivals {
            at.entry(seq).or_insert(t);
        }
        at
    }
}

/// A copy compared with the original: the delay of each live event, in
/// signed nanoseconds (a copy can beat the original), and how many events
/// were replays.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Behind {
    pub delays_ns: Vec<i64>,
    pub replayed: u64,
}

/// `copy` against the original's arrivals (`Reading::by_seq`).
pub fn behind(original: &HashMap<u64, Instant>, copy: &Reading) -> Behind {
    let mut out = Behind::default();
    let attached = copy.attached.unwrap_or_else(Instant::now);
    for (seq, t) in &copy.arrivals {
        let Some(orig) = original.get(seq) else {
            continue;
        };
        if *orig <= attached {
            out.replayed += 1;
            continue;
        }
        out.delays_ns.push(signed_ns(*orig, *t));
    }
    out
}

/// `to − from` in signed nanoseconds.
fn signed_ns(from: Instant, to: Instant) -> i64 {
    if to >= from {
        i64::try_from((to - from).as_nanos()).unwrap_or(i64::MAX)
    } else {
        -i64::try_from((from - to).as_nanos()).unwrap_or(i64::MAX)
    }
}

/// Two percentiles of a signed delay, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Delay {
    pub p50: f64,
    pub p99: f64,
}

impl Delay {
    /// Nearest-rank percentiles of signed nanoseconds; `None` when empty.
    pub fn of_nanos(mut values: Vec<i64>) -> Option<Self> {
        values.sort_unstable();
        Self::of_sorted(&values)
    }

    /// The same, of values already sorted.
    pub fn of_sorted(values: &[i64]) -> Option<Self> {
        let at = |p: f64| nearest_rank(values, p).map(ms);
        Some(Self {
            p50: at(0.50)?,
            p99: at(0.99)?,
        })
    }

    pub fn minus(self, base: Self) -> Self {
        let r = |v: f64| (v * 1000.0).round() / 1000.0;
        Self {
            p50: r(self.p50 - base.p50),
            p99: r(self.p99 - base.p99),
        }
    }
}

/// Signed nanoseconds in milliseconds, to the microsecond.
pub fn ms(ns: i64) -> f64 {
    (ns as f64 / 1e3).round() / 1e3
}

/// Sorted, negatives as 0 (for the CDF plots).
pub fn for_plot(values: &[i64]) -> Vec<u64> {
    let mut v: Vec<u64> = values.iter().map(|d| d.max(&0).unsigned_abs()).collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn signed_percentiles() {
        let d = Delay::of_nanos((-50..50).map(|i| i * 1_000_000).collect()).unwrap();
        assert_eq!(
            d,
            Delay {
                p50: -1.0,
                p99: 48.0
            }
        );
        assert_eq!(Delay::of_nanos(vec![]), None);
    }

    pub(crate) fn reading(t0: Instant, attached: u64, arrivals: &[(u64, u64)]) -> Reading {
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut r = Reading::at(ms(attached));
        for &(seq, at) in arrivals {
            r.event(seq, ms(at), false);
        }
        r
    }

    #[test]
    fn a_copy_is_compared_event_by_event_without_replays() {
        let t0 = Instant::now();
        let original = reading(t0, 0, &[(0, 10), (1, 20), (2, 30)]);
        let copy = reading(t0, 15, &[(0, 16), (1, 19), (2, 33)]); // seq 0 was a replay
        let b = behind(&original.by_seq(), &copy);
        assert_eq!(b.delays_ns, vec![-1_000_000, 3_000_000]);
        assert_eq!(b.replayed, 1);
        assert!(copy.ok());
        assert_eq!(for_plot(&b.delays_ns), vec![0, 3_000_000]);
    }
}
