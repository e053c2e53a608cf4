//! Loopback source addresses: many connections to a loopback gateway are
//! spread over 127.0.0.F … 127.0.0.(F+K−1), so that neither the client's
//! ephemeral ports nor the gateway's per-address limits (connections and
//! requests per IP) cap a run.

use std::net::{IpAddr, Ipv4Addr};

use crate::error::Error;

/// Connections per source address when `--source-addrs` is 0.
pub const PER_SOURCE: u64 = 2000;

/// The addresses one run's connections come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// Last octet of the first address.
    first: u8,
    /// How many addresses, at least 1.
    count: u8,
    /// Whether the target is an IPv4 loopback address (otherwise the
    /// kernel picks the source).
    loopback: bool,
}

impl Sources {
    /// For `connections` to `target`: `--source-addrs` (`asked`), or one
    /// address per [`PER_SOURCE`] connections.
    pub fn for_target(target: &str, asked: u8, connections: u64) -> Self {
        Self::starting_at(target, asked, connections, 1)
    }

    /// The same, from 127.0.0.`first` on (a ramp gives each step fresh
    /// addresses, clear of the previous steps' `TIME_WAIT` ports).
    pub fn starting_at(target: &str, asked: u8, connections: u64, first: u8) -> Self {
        let count = if asked > 0 {
            asked
        } else {
            u8::try_from(connections.div_ceil(PER_SOURCE).clamp(1, 254)).unwrap_or(254)
        };
        let first = first.clamp(1, 254);
        Self {
            first,
            count: count.min(255 - first),
            loopback: target_is_loopback_v4(target),
        }
    }

    /// How many addresses are in use (1 when the kernel chooses).
    pub fn count(&self) -> u8 {
        if self.loopback { self.count } else { 1 }
    }

    /// The last octet after this run's addresses.
    pub fn next_first(&self) -> u8 {
        self.first.saturating_add(self.count)
    }

    /// Source address of connection `i` (`None`: the kernel's choice, as
    /// for a single 127.0.0.1 or a target that is not loopback).
    pub fn pick(&self, i: u64) -> Option<IpAddr> {
        if !self.loopback || (self.count <= 1 && self.first == 1) {
            return None;
        }
        let last = self.first + (i % u64::from(self.count.max(1))) as u8;
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
    }

    /// Every address in turn (`None` once when the kernel chooses).
    pub fn all(&self) -> Vec<Option<IpAddr>> {
        (0..u64::from(self.count())).map(|i| self.pick(i)).collect()
    }

    /// One HTTP client per source address, to be used round-robin with
    /// [`Sources::pick`]'s index (`clients[i % clients.len()]`).
    pub fn http_clients(&self) -> Result<Vec<reqwest::Client>, Error> {
        self.all()
            .into_iter()
            .map(|from| {
                Ok(reqwest::Client::builder()
                    .tcp_nodelay(true)
                    .local_address(from)
                    .build()?)
            })
            .collect()
    }

    /// `connections` HTTP clients speaking HTTP/2 with prior knowledge: each
    /// holds one connection that carries all its streams.
    pub fn http2_clients(&self, connections: u64) -> Result<Vec<reqwest::Client>, Error> {
        (0..connections)
            .map(|i| {
                Ok(reqwest::Client::builder()
                    .tcp_nodelay(true)
                    .http2_prior_knowledge()
                    .local_address(self.pick(i))
                    .build()?)
            })
            .collect()
    }
}

fn target_is_loopback_v4(target: &str) -> bool {
    let rest = target
        .trim_start_matches("http://")
        .trim_start_matches("ws://");
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Client `i` of a round-robin set.
pub fn round_robin<T>(items: &[T], i: u64) -> Option<&T> {
    let n = u64::try_from(items.len()).ok().filter(|n| *n > 0)?;
    items.get(usize::try_from(i % n).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "http://127.0.0.1:8080";

    #[test]
    fn one_address_per_two_thousand_connections() {
        assert_eq!(Sources::for_target(LOCAL, 0, 1000).count(), 1);
        assert_eq!(Sources::for_target(LOCAL, 0, 10_000).count(), 5);
        assert_eq!(Sources::for_target(LOCAL, 0, 10_000_000).count(), 254);
        assert_eq!(Sources::for_target(LOCAL, 3, 10).count(), 3);
    }

    #[test]
    fn picks_addresses_round_robin() {
        let one = Sources::for_target(LOCAL, 0, 10);
        assert_eq!(one.pick(0), None);
        assert_eq!(one.all(), vec![None]);
        let four = Sources::for_target(LOCAL, 4, 10);
        assert_eq!(four.pick(0), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(four.pick(5), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(four.next_first(), 5);
        let remote = Sources::for_target("http://10.0.0.1:8080", 4, 10);
        assert_eq!((remote.pick(7), remote.count()), (None, 1));
    }

    #[test]
    fn later_steps_start_further_on() {
        let s = Sources::starting_at(LOCAL, 0, 10, 6);
        assert_eq!(s.pick(0), Some("127.0.0.6".parse().unwrap()));
        let s = Sources::starting_at(LOCAL, 0, 10_000, 253);
        assert_eq!(s.count(), 2);
        assert_eq!(s.pick(1), Some("127.0.0.254".parse().unwrap()));
    }

    #[test]
    fn loopback_targets_only() {
        assert!(target_is_loopback_v4("http://127.0.0.1:8080"));
        assert!(!target_is_loopback_v4("http://10.0.0.1:8080"));
        assert!(!target_is_loopback_v4("http://localhost:8080"));
    }

    #[test]
    fn round_robin_wraps() {
        assert_eq!(round_robin(&[1, 2, 3], 4), Some(&2));
        assert_eq!(round_robin::<u8>(&[], 4), None);
    }
}
