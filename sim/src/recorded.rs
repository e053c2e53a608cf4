//! The last request bodies the runtime routes read, served by
//! `GET /sim/requests`: what a client (the gateway) sent upstream, for tests
//! that check a field reached Bedrock's wire rather than only its SDK types.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::body::Obj;

/// How many bodies are kept: enough for one test's calls, few enough that
/// base64 attachments cost little.
const KEEP: usize = 16;

/// The last [`KEEP`] bodies, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Recorded(Mutex<VecDeque<Value>>);

impl Recorded {
    /// Keep `body` as `{"operation", "modelId", "body"}`, dropping the oldest.
    pub(crate) fn record(&self, operation: &str, model_id: &str, body: &Obj) {
        let entry = json!({"operation": operation, "modelId": model_id, "body": body});
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() == KEEP {
            kept.pop_front();
        }
        kept.push_back(entry);
    }

    /// The bodies kept, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Value> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bodies_oldest_first() {
        let r = Recorded::default();
        for n in 0..KEEP + 2 {
            let body = json!({"n": n});
            r.record("Converse", "m", body.as_object().unwrap());
        }
        let kept = r.snapshot();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0]["body"]["n"], 2);
        assert_eq!(kept[KEEP - 1]["operation"], "Converse");
    }
}
