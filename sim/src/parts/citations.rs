//! Citations: which documents a request lets the answer cite, and what a
//! `[[sim cite=N]]` citation says.
//!
//! A document is citable when its block enables citations — Converse's
//! `document.citations: {"enabled": true}`, Claude's `citations: {"enabled":
//! true}` — as Bedrock and Anthropic ask; when no document enables them,
//! `cite=N` cites the request's documents anyway (the simulator's contract:
//! "needs a document in the request"). With no document at all the model
//! cites nothing: `cite=N` is ignored (no error).

use serde_json::Value;

use crate::body::{Obj, optional};

/// A document the answer may cite: its index among the request's documents, and its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Citable {
    pub index: u32,
    pub title: String,
}

/// Whether a document block enables citations (`citations: {"enabled": true}`).
pub(crate) fn enabled(block: &Obj) -> bool {
    optional(block, "citations")
        .and_then(|c| c.get("enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The documents `cite=N` cites: those that enabled citations, else every
/// document of the request.
pub(crate) fn pool(parts: &super::Parts) -> &[Citable] {
    if parts.citable.is_empty() {
        &parts.uncited
    } else {
        &parts.citable
    }
}

/// The `k`-th (0-based) citation of an answer: the document it cites
/// (round-robin over the citable ones) and the cited passage.
pub(crate) fn nth(citable: &[Citable], k: u32) -> Option<(Citable, String)> {
    let len = u32::try_from(citable.len()).ok().filter(|n| *n > 0)?;
    let doc = citable.get(usize::try_from(k % len).ok()?)?.clone();
    let text = format!("Passage {} of {}", k / len + 1, doc.title);
    Some((doc, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enabled_only_when_said() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        assert!(enabled(&obj(json!({"citations": {"enabled": true}}))));
        assert!(!enabled(&obj(json!({"citations": {"enabled": false}}))));
        assert!(!enabled(&obj(json!({}))));
    }

    #[test]
    fn citations_go_round_the_documents() {
        let docs = [
            Citable {
                index: 0,
                title: "a".into(),
            },
            Citable {
                index: 2,
                title: "b".into(),
            },
        ];
        assert_eq!(
            nth(&docs, 0),
            Some((docs[0].clone(), "Passage 1 of a".into()))
        );
        assert_eq!(
            nth(&docs, 3),
            Some((docs[1].clone(), "Passage 2 of b".into()))
        );
        assert_eq!(nth(&[], 0), None);
    }
}
