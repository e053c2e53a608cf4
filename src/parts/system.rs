//! The system prompt: a string, or `text` parts with `cachePoint`s between
//! and after them (a prompt-cache checkpoint after what precedes it).
//!
//! Families that take system blocks get one block per text part and the
//! cache points where they stand; text-only families see [`SystemPrompt::text`]
//! (the text parts joined by a blank line), without the cache points.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::content::{Content, join_text};

/// A system prompt: only `text`, `cachePoint` and `guardContent` parts
/// (the constructors refuse any other; guard content goes through Converse
/// only, which the request's checks see to).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct SystemPrompt {
    parts: Vec<Content>,
}

impl SystemPrompt {
    /// `parts` as a system prompt; `Err` names a part that is neither text
    /// nor a cache point.
    pub fn from_parts(parts: Vec<Content>) -> Result<Self, String> {
        if let Some((i, p)) = parts.iter().enumerate().find(|(_, p)| {
            !matches!(
                p,
                Content::Text { .. } | Content::CachePoint { .. } | Content::GuardContent { .. }
            )
        }) {
            return Err(format!(
                "system[{i}]: the system prompt takes text, cachePoint and guardContent parts, not {}",
                p.kind()
            ));
        }
        Ok(Self { parts })
    }

    /// Add a text part.
    pub fn push_text(&mut self, text: impl Into<String>) {
        self.parts.push(Content::text(text));
    }

    /// Add a cache point (after the parts so far), kept for `ttl` when named.
    pub fn push_cache_point(&mut self, ttl: Option<super::CacheTtl>) {
        self.parts.push(Content::CachePoint { ttl });
    }

    /// Add text the request's guardrail evaluates alone (Converse's `guardContent`).
    pub fn push_guard(&mut self, text: impl Into<String>, qualifiers: Vec<String>) {
        self.parts.push(Content::GuardContent {
            text: text.into(),
            qualifiers,
        });
    }

    /// Whether a part is guard content (only Converse takes it).
    pub fn has_guard_content(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Content::GuardContent { .. }))
    }

    /// The parts, in order: text and cache points.
    pub fn parts(&self) -> &[Content] {
        &self.parts
    }

    /// The text parts joined by a blank line; `None` when there is no text
    /// but blanks (what families without system blocks see).
    pub fn text(&self) -> Option<String> {
        let text = join_text(&self.parts, "\n\n");
        (!text.trim().is_empty()).then_some(text)
    }

    /// No text but blanks.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| {
            !matches!(p, Content::Text { text } | Content::GuardContent { text, .. }
                if !text.trim().is_empty())
        })
    }

    /// Whether a cache point follows some text.
    pub fn has_cache_point(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Content::CachePoint { .. }))
    }

    /// Text bytes (what the prompt-size limit counts).
    pub fn size(&self) -> usize {
        self.parts.iter().map(Content::size).sum()
    }

    /// Blank text parts dropped, and the cache points that then follow no
    /// text or another cache point (they would mark nothing new).
    pub fn normalised(self) -> Self {
        let mut parts: Vec<Content> = Vec::with_capacity(self.parts.len());
        for p in self.parts {
            match p {
                Content::Text { text } if text.trim().is_empty() => {}
                Content::CachePoint { .. }
                    if matches!(parts.last(), None | Some(Content::CachePoint { .. })) => {}
                p => parts.push(p),
            }
        }
        Self { parts }
    }
}

impl From<String> for SystemPrompt {
    fn from(text: String) -> Self {
        Self {
            parts: vec![Content::text(text)],
        }
    }
}

impl From<&str> for SystemPrompt {
    fn from(text: &str) -> Self {
        Self::from(text.to_owned())
    }
}

impl From<Option<String>> for SystemPrompt {
    fn from(text: Option<String>) -> Self {
        text.map(Self::from).unwrap_or_default()
    }
}

/// `system` as a JSON string, a list of parts, or null.
impl<'de> Deserialize<'de> for SystemPrompt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Null => Ok(Self::default()),
            Value::String(t) => Ok(Self::from(t)),
            Value::Array(parts) => {
                let parts = parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| {
                        serde_json::from_value(p)
                            .map_err(|e| D::Error::custom(format!("system[{i}]: {e}")))
                    })
                    .collect::<Result<Vec<Content>, _>>()?;
                Self::from_parts(parts).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom(
                "system must be a string or a list of text and cachePoint parts",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<SystemPrompt, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn a_string_or_text_and_cache_points() {
        assert_eq!(read(json!("Be brief.")).unwrap(), "Be brief.".into());
        assert_eq!(read(json!(null)).unwrap(), SystemPrompt::default());
        let s = read(json!([
            {"type":"text","text":"Long rules"},
            {"type":"cachePoint"},
            {"type":"text","text":"Today"}
        ]))
        .unwrap();
        assert_eq!(s.parts().len(), 3);
        assert!(s.has_cache_point());
        assert_eq!(s.text().as_deref(), Some("Long rules\n\nToday"));
        assert_eq!(s.size(), "Long rulesToday".len());
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!([{"type":"text","text":"Long rules"},{"type":"cachePoint"},{"type":"text","text":"Today"}])
        );
    }

    #[test]
    fn other_parts_are_refused_with_their_place() {
        let e = read(json!([{"type":"text","text":"a"},{"type":"image","mediaType":"image/png","data":"AA=="}]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("system[1]") && e.contains("not image"), "{e}");
        let e = read(json!([{"type":"video"}])).unwrap_err().to_string();
        assert!(e.contains("system[0]"), "{e}");
        assert!(read(json!(3)).is_err());
    }

    #[test]
    fn normalised_drops_blanks_and_points_that_mark_nothing() {
        let s = read(json!([
            {"type":"cachePoint"},
            {"type":"text","text":"  "},
            {"type":"text","text":"rules"},
            {"type":"cachePoint"},
            {"type":"cachePoint"}
        ]))
        .unwrap()
        .normalised();
        assert_eq!(
            s.parts(),
            [Content::text("rules"), Content::CACHE_POINT].as_slice()
        );
        let blank = read(json!([{"type":"text","text":" "},{"type":"cachePoint"}]))
            .unwrap()
            .normalised();
        assert!(blank.is_empty());
        assert_eq!(blank.parts(), &[]);
        assert_eq!(blank.text(), None);
    }
}
