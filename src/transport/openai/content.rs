//! Message `content` as gateway parts: a string, or a list of `text`,
//! `image_url` (a `data:` URL; the gateway fetches nothing) and `file`
//! (`file_data` as a `data:` URL) parts. A part's `cache_control:
//! {"type":"ephemeral"}` is a cache point after it (the convention of
//! Anthropic and LiteLLM clients).

use serde::Deserialize;
use serde_json::Value;

use super::error::{OpenAiError, bad};
use crate::parts::Content;
use crate::parts::attachment::split_data_url;

/// One element of a list `content`.
#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    image_url: Option<ImageUrl>,
    #[serde(default)]
    file: Option<File>,
    #[serde(default)]
    cache_control: Option<CacheControl>,
}

/// `{"url","detail"?}`; some clients send the URL string alone.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ImageUrl {
    Url(String),
    Object { url: String },
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    file_data: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    file_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CacheControl {
    #[serde(rename = "type")]
    kind: String,
}

/// Which parts a role's content may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Allow {
    /// Text only (system, assistant, tool).
    Text,
    /// Text, images and files (user).
    Attachments,
}

/// `content` (a string, a list of parts, or null) as gateway parts.
pub(super) fn content(
    at: &str,
    content: Option<Value>,
    allow: Allow,
) -> Result<Vec<Content>, OpenAiError> {
    let items = match content {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::String(text)) => return Ok(vec![Content::text(text)]),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(bad(format!(
                "{at}.content must be a string or a list of parts"
            )));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (j, item) in items.into_iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        let p: Part = serde_json::from_value(item).map_err(|e| bad(format!("{at}: {e}")))?;
        out.push(part(&at, &p, allow)?);
        if let Some(cc) = p.cache_control {
            if cc.kind != "ephemeral" {
                return Err(bad(format!(
                    "{at}.cache_control: type '{}' is not supported; only 'ephemeral'",
                    cc.kind
                )));
            }
            out.push(Content::CachePoint);
        }
    }
    Ok(out)
}

/// One content part.
fn part(at: &str, p: &Part, allow: Allow) -> Result<Content, OpenAiError> {
    let attachments = allow == Allow::Attachments;
    match (p.kind.as_str(), &p.text, &p.image_url, &p.file) {
        ("text", Some(text), _, _) => Ok(Content::text(text.clone())),
        ("text", None, _, _) => Err(bad(format!("{at}: a text part needs `text`"))),
        ("image_url", _, Some(url), _) if attachments => {
            let url = match url {
                ImageUrl::Url(u) | ImageUrl::Object { url: u } => u,
            };
            let (media_type, data) = split_data_url(url)
                .map_err(|e| bad(format!("{at}: {e}; the gateway fetches nothing")))?;
            Ok(Content::Image {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            })
        }
        ("image_url", _, None, _) if attachments => Err(bad(format!(
            "{at}: an image_url part needs `image_url.url`"
        ))),
        ("file", _, _, Some(f)) if attachments => file(at, f),
        ("file", _, _, None) if attachments => {
            Err(bad(format!("{at}: a file part needs `file.file_data`")))
        }
        (kind, ..) => Err(bad(format!(
            "{at}: content parts of type '{kind}' are not supported here"
        ))),
    }
}

/// A `file` part as a document: its `file_data` must be a `data:` URL.
fn file(at: &str, f: &File) -> Result<Content, OpenAiError> {
    let Some(url) = &f.file_data else {
        let why = if f.file_id.is_some() {
            "the gateway keeps no files; send the bytes in `file_data`"
        } else {
            "a file part needs `file_data`"
        };
        return Err(bad(format!("{at}: {why}")));
    };
    let (media_type, data) = split_data_url(url).map_err(|e| bad(format!("{at}: {e}")))?;
    Ok(Content::Document {
        media_type: media_type.to_owned(),
        name: f.filename.clone().unwrap_or_else(|| "document".into()),
        data: data.to_owned(),
        citations: false,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn images_files_and_cache_points() {
        let parts = content("m", Some(json!([
            {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            {"type": "file", "file": {"file_data": "data:text/plain;base64,aGk=", "filename": "notes"}}
        ])), Allow::Attachments)
        .unwrap();
        assert_eq!(
            serde_json::to_value(&parts).unwrap(),
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "cachePoint"},
                {"type": "image", "mediaType": "image/png", "data": "iVBORw0KGgo="},
                {"type": "document", "mediaType": "text/plain", "name": "notes", "data": "aGk="}
            ])
        );
    }
}
