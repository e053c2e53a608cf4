//! The cluster secret (`SPILLWAY_CLUSTER_SECRET`) between nodes: every call
//! to another node's internal routes carries it in [`SECRET_HEADER`], and
//! those routes check it ([`check`]).
//!
//! Nodes that disagree on it (a rotation half done, a task definition
//! mid-update) cannot relay to each other, and say so: the node called
//! answers `401` and logs a warning; the caller logs an error and tells its
//! client `node_unavailable`, naming the cause ([`Cluster::refused_by`]).
//! Each of the two log lines is written at most once a minute, with the count
//! of those held back. The secret itself is never logged.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;

use super::Cluster;

/// Header carrying the cluster secret on node-to-node calls.
pub const SECRET_HEADER: &str = "x-spillway-cluster-secret";

/// What an internal call carries, against this node's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// This node's secret.
    Authorised,
    /// No secret: not a node's call (or this node has no secret, and so no
    /// internal routes).
    Anonymous,
    /// Another secret: a node that disagrees with this one.
    OtherSecret,
}

/// How the call with `headers` stands with a node whose secret is `configured`.
pub fn check(configured: Option<&str>, headers: &HeaderMap) -> Verdict {
    let (Some(secret), Some(sent)) = (configured, headers.get(SECRET_HEADER)) else {
        return Verdict::Anonymous;
    };
    if aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), secret.as_bytes()).is_ok()
    {
        Verdict::Authorised
    } else {
        Verdict::OtherSecret
    }
}

/// A log line written at most once a minute.
#[derive(Debug, Default)]
pub struct OncePerMinute {
    /// When it was last written (seconds since the epoch), 0 = never.
    last: AtomicU64,
    /// How many were held back since.
    held: AtomicU64,
}

impl OncePerMinute {
    /// Whether to write the line now: `Some(how many were held back)`.
    pub fn due(&self) -> Option<u64> {
        self.due_at(crate::registry::now_secs().max(1))
    }

    fn due_at(&self, now: u64) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        let quiet = last != 0 && now < last.saturating_add(60);
        if quiet
            || self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

/// A node's two log lines of a secret mismatch.
#[derive(Debug, Default)]
pub struct MismatchLogs {
    /// A call with another secret reached this node.
    called: OncePerMinute,
    /// Another node refused this node's secret.
    refused: OncePerMinute,
}

impl Cluster {
    /// A call with another cluster secret reached this node (from `peer`).
    pub fn other_secret_called(&self, peer: Option<SocketAddr>) {
        if let Some(held_back) = self.mismatch.called.due() {
            tracing::warn!(
                peer = ?peer,
                held_back,
                "a fleet-internal call carried another cluster secret than this node's: \
                 the nodes disagree on SPILLWAY_CLUSTER_SECRET (refused with 401)"
            );
        }
    }

    /// Node `node` refused this node's cluster secret (it answered `401`):
    /// what the client is told. Logged as an error.
    pub fn refused_by(&self, node: &str) -> String {
        let why = format!(
            "node {node} refused this node's cluster secret: the nodes disagree on \
             SPILLWAY_CLUSTER_SECRET (every node needs the same)"
        );
        if let Some(held_back) = self.mismatch.refused.due() {
            tracing::error!(node, held_back, "{why}");
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_call_is_authorised_anonymous_or_another_nodes() {
        let with = |secret: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(s) = secret {
                h.insert(SECRET_HEADER, HeaderValue::from_str(s).unwrap());
            }
            h
        };
        assert_eq!(check(Some("s3"), &with(Some("s3"))), Verdict::Authorised);
        assert_eq!(check(Some("s3"), &with(Some("s4"))), Verdict::OtherSecret);
        assert_eq!(check(Some("s3"), &with(None)), Verdict::Anonymous);
        // A node without a secret has no internal routes.
        assert_eq!(check(None, &with(Some("s3"))), Verdict::Anonymous);
    }

    #[test]
    fn a_line_is_written_once_a_minute_with_the_count_held_back() {
        let line = OncePerMinute::default();
        assert_eq!(line.due_at(1000), Some(0));
        assert_eq!(line.due_at(1001), None);
        assert_eq!(line.due_at(1059), None);
        assert_eq!(line.due_at(1060), Some(2));
        assert_eq!(line.due_at(1061), None);
        assert_eq!(line.due_at(2000), Some(1));
    }
}
