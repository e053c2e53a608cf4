//! Reasoning signatures: issued with the reasoning the simulator streams, checked when a conversation replays it.
//!
//! A signature is base64 of a tag and a 128-bit keyed hash of the whole
//! reasoning text (two FNV-1a passes under a fixed key). The key is fixed,
//! not per process, so a conversation begun on one simulator (say one fleet
//! node's embedded simulator) can be continued on another, as with Bedrock.
//! It is not cryptographic: it recognises signatures the simulator did not
//! issue for that text, not an adversary who has read this file.

use crate::text::stable_hash;

/// Mixed into every hash, so a signature is not a plain hash of the text.
const KEY: &str = "spillway-sim reasoning signature v1";

/// The first bytes of every signature, before the hash.
const TAG: &[u8] = b"spillway-sim/1:";

/// The signature of reasoning whose deltas concatenate to `text`.
pub(crate) fn sign(text: &str) -> String {
    let mut raw = TAG.to_vec();
    raw.extend_from_slice(&stable_hash(&format!("{KEY}\u{1}{text}")).to_be_bytes());
    raw.extend_from_slice(&stable_hash(&format!("{KEY}\u{2}{text}")).to_be_bytes());
    aws_smithy_types::base64::encode(raw)
}

/// Whether the simulator issued `signature` for `text`.
pub(crate) fn verify(text: &str, signature: &str) -> bool {
    sign(text) == signature
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_signatures_verify_and_others_do_not() {
        let signature = sign("Let me think.");
        assert!(verify("Let me think.", &signature));
        assert_eq!(signature, sign("Let me think."), "deterministic");
        assert!(!verify("Let me think!", &signature));
        assert!(!verify(
            "Let me think.",
            "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk"
        ));
        assert!(!verify("Let me think.", ""));
        let raw = aws_smithy_types::base64::decode(&signature).unwrap();
        assert!(raw.starts_with(TAG));
        assert_eq!(raw.len(), TAG.len() + 16);
    }
}
