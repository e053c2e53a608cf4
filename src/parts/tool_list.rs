//! A request's `tools`: the tools a model may call, and whether a
//! `{"type":"cachePoint"}` entry follows them (a prompt-cache checkpoint
//! after the tools, so a later request with the same tools reads them from
//! Bedrock's cache).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::content::Tool;

/// `tools` as a request sends them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolList {
    pub tools: Vec<Tool>,
    /// A cache point after the tools.
    pub cache_point: bool,
    /// That cache point's TTL, when the request named one (Converse's
    /// `cachePoint.ttl`, Anthropic's `cache_control.ttl`).
    pub cache_ttl: Option<super::CacheTtl>,
}

impl From<Vec<Tool>> for ToolList {
    fn from(tools: Vec<Tool>) -> Self {
        Self {
            tools,
            cache_point: false,
            cache_ttl: None,
        }
    }
}

impl ToolList {
    /// `tools` with a cache point after them when `cache_point`.
    pub fn new(tools: Vec<Tool>, cache_point: bool) -> Self {
        Self {
            tools,
            cache_point,
            cache_ttl: None,
        }
    }

    /// The cache point after the tools keeps its prefix for `ttl`.
    pub fn with_cache_ttl(self, ttl: Option<super::CacheTtl>) -> Self {
        Self {
            cache_ttl: ttl,
            ..self
        }
    }
}

/// Whether a JSON entry is `{"type":"cachePoint"}`.
fn is_cache_point(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("cachePoint")
}

/// A list of tools, with `{"type":"cachePoint"}` as its last entry if any.
impl<'de> Deserialize<'de> for ToolList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let entries = match Value::deserialize(d)? {
            Value::Null => return Ok(Self::default()),
            Value::Array(entries) => entries,
            _ => return Err(D::Error::custom("tools must be a list")),
        };
        let last = entries.len().saturating_sub(1);
        let mut out = Self::default();
        for (i, entry) in entries.into_iter().enumerate() {
            if is_cache_point(&entry) {
                if entry.as_object().is_some_and(|o| o.len() > 1) {
                    return Err(D::Error::custom(format!(
                        "tools[{i}]: a cachePoint has no other fields"
                    )));
                }
                if i != last {
                    return Err(D::Error::custom(format!(
                        "tools[{i}]: a cachePoint comes after the tools it caches, as the last entry"
                    )));
                }
                out.cache_point = true;
                continue;
            }
            out.tools.push(
                serde_json::from_value(entry)
                    .map_err(|e| D::Error::custom(format!("tools[{i}]: {e}")))?,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<ToolList, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn tools_then_a_cache_point() {
        let l = read(json!([{"name":"a"},{"name":"b","description":"B"},{"type":"cachePoint"}]))
            .unwrap();
        assert_eq!(l.tools.len(), 2);
        assert_eq!(l.tools[1].description.as_deref(), Some("B"));
        assert!(l.cache_point);
        let plain = read(json!([{"name":"a"}])).unwrap();
        assert!(!plain.cache_point);
        assert_eq!(read(json!(null)).unwrap(), ToolList::default());
    }

    #[test]
    fn a_cache_point_not_last_or_a_bad_tool_is_refused() {
        let e = read(json!([{"type":"cachePoint"},{"name":"a"}]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tools[0]") && e.contains("last"), "{e}");
        let e = read(json!([{"name":"a"},{"description":"no name"}]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tools[1]") && e.contains("name"), "{e}");
        assert!(read(json!({"name":"a"})).is_err());
        assert!(read(json!([{"type":"cachePoint","ttl":"1h"}])).is_err());
    }
}
