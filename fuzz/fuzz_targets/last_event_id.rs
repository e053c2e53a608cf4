//! SSE resume point: `transport::sse::resume_from(Last-Event-ID, ?after=)`.
//!
//! Input: byte 0 says which of the two are present (bit 0: the header,
//! bit 1: `after`), bytes 1..9 are `after` (little endian), the rest the raw
//! header bytes.
//!
//! Invariants: without the header the answer is `after + 1` (saturating) or
//! 0; with it, an id of plain digits resumes right after that id whatever
//! `after` says, anything that is not a number is a 400, and the answer never
//! goes back before the id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::transport::sse::resume_from;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (after_bytes, header) = rest.split_at(rest.len().min(8));
    let mut le = [0u8; 8];
    le[..after_bytes.len()].copy_from_slice(after_bytes);
    let after = (flags & 2 != 0).then_some(u64::from_le_bytes(le));
    let last_event_id = (flags & 1 != 0).then_some(header);

    let result = resume_from(last_event_id, after);
    match last_event_id {
        None => {
            let from = result.expect("no header: never refused");
            match after {
                None => assert_eq!(from, 0),
                Some(a) => {
                    assert!(from >= a.saturating_add(1), "resumed before after+1");
                    assert!(from > a || a == u64::MAX);
                }
            }
        }
        Some(raw) => {
            let trimmed = raw.trim_ascii();
            let digits = !trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_digit);
            let parsed = std::str::from_utf8(trimmed)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            if let (true, Some(id)) = (digits, parsed) {
                assert_eq!(
                    result.as_ref().ok().copied(),
                    Some(id.saturating_add(1)),
                    "header {raw:?}"
                );
            }
            match result {
                Ok(from) => assert!(from >= 1, "a Last-Event-ID resumes after it"),
                Err(e) => assert_eq!(e.status().as_u16(), 400, "{e:?}"),
            }
            // Bytes that cannot be part of a number are always refused.
            if raw.iter().any(|b| !b.is_ascii()) && std::str::from_utf8(raw).is_err() {
                assert!(resume_from(last_event_id, after).is_err());
            }
        }
    }
});
