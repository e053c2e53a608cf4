//! Upstream chunk decoders: `ModelFamily::decode_chunk` for every family; the
//! first byte picks the family, the rest is the chunk.
//!
//! Invariants: only bytes that are not a JSON object are refused (and with
//! the right error); decoding is deterministic; a `Text` or `Stop` delta is
//! never empty; `Usage` and `Latency` carry at least one figure.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use spillway::upstream::Delta;
use spillway::upstream::models::{DecodeError, ModelFamily};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, chunk)) = data.split_first() else {
        return;
    };
    let family = ModelFamily::ALL[usize::from(pick) % ModelFamily::ALL.len()];
    let json = serde_json::from_slice::<Value>(chunk);
    match family.decode_chunk(chunk) {
        Err(DecodeError::InvalidJson(_)) => assert!(json.is_err(), "{family}: valid JSON refused"),
        Err(DecodeError::NotAnObject) => {
            assert!(
                json.is_ok_and(|v| !v.is_object()),
                "{family}: object refused"
            )
        }
        Ok(deltas) => {
            assert!(
                json.is_ok_and(|v| v.is_object()),
                "{family}: non-object accepted"
            );
            let again = family.decode_chunk(chunk).expect("decodes twice");
            assert_eq!(deltas, again, "{family}: not deterministic");
            for d in &deltas {
                match d {
                    Delta::Text(t) => assert!(!t.is_empty(), "{family}: empty text delta"),
                    Delta::Stop(r) => assert!(!r.is_empty(), "{family}: empty stop reason"),
                    Delta::StopSequence(s) => {
                        assert!(!s.is_empty(), "{family}: empty stop sequence")
                    }
                    Delta::Usage {
                        input_tokens,
                        output_tokens,
                        cache_read_input_tokens,
                        cache_write_input_tokens,
                    } => assert!(
                        input_tokens.is_some()
                            || output_tokens.is_some()
                            || cache_read_input_tokens.is_some()
                            || cache_write_input_tokens.is_some()
                    ),
                    Delta::Latency {
                        invocation_ms,
                        first_byte_ms,
                    } => assert!(invocation_ms.is_some() || first_byte_ms.is_some()),
                    Delta::Guardrail { action, .. } => {
                        assert!(!action.is_empty(), "{family}: empty guardrail action")
                    }
                    // Parts: any content; the runner's blocks take them in any order.
                    Delta::Reasoning(_)
                    | Delta::ReasoningSignature(_)
                    | Delta::ReasoningRedacted(_)
                    | Delta::ToolStart { .. }
                    | Delta::ToolInput(_)
                    | Delta::Citation { .. }
                    | Delta::BlockEnd
                    | Delta::Alive => {}
                }
            }
        }
    }
});
