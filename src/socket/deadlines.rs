//! Close frames, and the deadline a socket closes on first.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use tokio::time::Instant;

/// Close code for a token that expired (the application range, 4000–4999),
/// unless the socket's protocol names another (`Protocol::TOKEN_EXPIRED`).
pub const CLOSE_TOKEN_EXPIRED: u16 = 4401;

/// The times a connection closes on its own, whichever comes first: one
/// timer for the nearest (each timer is ~100 bytes an idle socket would carry).
pub(super) struct Deadlines {
    /// Token expiry, once the socket is authenticated, and the close code
    /// and reason it sends (the protocol's: `Protocol::TOKEN_EXPIRED`).
    pub expires: Option<(Instant, (u16, &'static str))>,
    pub lifetime_ends: Instant,
    /// Only while no operation runs.
    pub idle_ends: Option<Instant>,
    /// The protocol's own (GraphQL's `connection_init` timeout).
    pub protocol: Option<(Instant, Message)>,
}

impl Deadlines {
    /// The nearest deadline and the close frame it sends.
    pub fn nearest(self) -> (Instant, Message) {
        let mut best = (
            self.lifetime_ends,
            close(close_code::NORMAL, "maximum connection lifetime reached"),
        );
        if let Some((at, (code, reason))) = self.expires.filter(|(t, _)| *t < best.0) {
            best = (at, close(code, reason));
        }
        if let Some(idle) = self.idle_ends.filter(|t| *t < best.0) {
            best = (idle, close(close_code::NORMAL, "idle timeout"));
        }
        if let Some(own) = self.protocol.filter(|(t, _)| *t < best.0) {
            best = own;
        }
        best
    }
}

/// A close frame. Reasons are cut to the 123 bytes a frame allows.
pub fn close(code: u16, reason: impl Into<String>) -> Message {
    let mut reason: String = reason.into();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.truncate(end);
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

/// When a token expiring at `exp_unix` (seconds since the epoch) stops being valid.
pub fn expiry_instant(exp_unix: u64) -> Instant {
    let now = jsonwebtoken::get_current_timestamp();
    Instant::now() + Duration::from_secs(exp_unix.saturating_sub(now).min(86_400 * 365))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(m: &Message) -> u16 {
        match m {
            Message::Close(Some(f)) => f.code,
            _ => 0,
        }
    }

    #[test]
    fn the_nearest_deadline_picks_the_close_frame() {
        let now = Instant::now();
        let at = |s| now + Duration::from_secs(s);
        let d = |expires, lifetime_ends, idle_ends, protocol| {
            Deadlines {
                expires,
                lifetime_ends,
                idle_ends,
                protocol,
            }
            .nearest()
        };
        let expired = (CLOSE_TOKEN_EXPIRED, "token expired");
        let (t, m) = d(Some((at(10), expired)), at(20), Some(at(30)), None);
        assert_eq!((t, code(&m)), (at(10), CLOSE_TOKEN_EXPIRED));
        let (t, m) = d(Some((at(10), (4403, "Forbidden"))), at(20), None, None);
        assert_eq!((t, code(&m)), (at(10), 4403), "the protocol's own code");
        let (t, m) = d(Some((at(30), expired)), at(20), None, None);
        assert_eq!((t, code(&m)), (at(20), close_code::NORMAL));
        let (t, m) = d(None, at(20), Some(at(5)), None);
        assert_eq!(t, at(5));
        assert!(matches!(m, Message::Close(Some(f)) if f.reason == "idle timeout"));
        let (t, m) = d(
            Some((at(30), expired)),
            at(20),
            Some(at(5)),
            Some((at(3), close(4408, "init"))),
        );
        assert_eq!((t, code(&m)), (at(3), 4408));
    }

    #[test]
    fn close_reasons_are_cut_on_a_character_boundary() {
        let long = "é".repeat(100);
        match close(4400, long) {
            Message::Close(Some(f)) => {
                assert!(f.reason.len() <= 123);
                assert!(f.reason.as_str().chars().all(|c| c == 'é'));
            }
            other => panic!("{other:?}"),
        }
    }
}
