//! The descriptor budget: raise the soft `RLIMIT_NOFILE` to the hard limit at
//! start, and fit the connection caps inside what the process can hold, so a
//! flood of sockets from one address is refused by the caps (with room left
//! for everyone else's `/healthz`) instead of by `accept` failing with
//! "Too many open files" for all.

use super::ConnectionCaps;

/// Raise the soft descriptor limit to the hard limit; the soft limit now in force.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The soft descriptor limit now in force.
pub fn nofile_limit() -> std::io::Result<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft)
}

/// Descriptors kept out of the connection budget: listeners, the log, the
/// registry and JWKS clients, upstream calls (streams are capped per user and
/// by `SPILLWAY_MAX_SESSIONS`, not per connection).
fn reserve(limit: u64) -> u64 {
    64 + limit / 8
}

impl ConnectionCaps {
    /// `configured`, lowered to fit under a soft descriptor limit of `limit`:
    ///
    /// - all connections together at most what is left after a reserve;
    /// - one address at most three quarters of that, so a quarter of the
    ///   slots always stays open for other addresses (probes, other users).
    pub fn fit(configured: ConnectionCaps, limit: u64) -> ConnectionCaps {
        let budget = usize::try_from(limit.saturating_sub(reserve(limit))).unwrap_or(usize::MAX);
        let max_total = configured.max_total.min(budget).max(1);
        let max_per_ip = configured.max_per_ip.min(max_total - max_total / 4).max(1);
        ConnectionCaps {
            max_total,
            max_per_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: ConnectionCaps = ConnectionCaps {
        max_total: 100_000,
        max_per_ip: 10_000,
    };

    #[test]
    fn a_small_limit_keeps_one_address_well_below_it() {
        let caps = ConnectionCaps::fit(DEFAULTS, 1024);
        assert_eq!(caps.max_total, 832);
        assert_eq!(caps.max_per_ip, 624);
    }

    #[test]
    fn the_fargate_limit_keeps_the_configured_per_address_cap() {
        let caps = ConnectionCaps::fit(DEFAULTS, 65_535);
        assert_eq!(caps.max_per_ip, 10_000);
        assert!(caps.max_total < 60_000);
        // This machine's 20,000: still 10,000 idle WebSockets from one address.
        assert_eq!(ConnectionCaps::fit(DEFAULTS, 20_000).max_per_ip, 10_000);
        // PRODUCT: one user on one address holds 1,000 streams when the limit allows.
        assert!(ConnectionCaps::fit(DEFAULTS, 4096).max_per_ip >= 1000);
    }

    #[test]
    fn configured_caps_below_the_budget_are_kept() {
        let caps = ConnectionCaps::fit(
            ConnectionCaps {
                max_total: 50,
                max_per_ip: 2,
            },
            1_048_576,
        );
        assert_eq!((caps.max_total, caps.max_per_ip), (50, 2));
        let tiny = ConnectionCaps::fit(DEFAULTS, 10);
        assert_eq!((tiny.max_total, tiny.max_per_ip), (1, 1));
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((0, 0));
        let soft = raise_nofile_limit().unwrap_or(0);
        assert_eq!(nofile_limit().unwrap_or(0), soft);
        // Linux: soft = hard after raising (macOS caps it at kern.maxfilesperproc).
        if cfg!(target_os = "linux") {
            assert_eq!(soft, hard);
        }
    }
}
