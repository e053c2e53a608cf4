//! Message `content` as gateway parts: a string, or a list of `text`,
//! `image_url` (a `data:` URL; the gateway fetches nothing) and `file`
//! (`file_data` as a `data:` URL or bare base64) parts. A part's
//! `cache_control: {"type":"ephemeral"}` is a cache point after it (the
//! convention of Anthropic and LiteLLM clients).
//!
//! A type label is a hint, as OpenAI reads it: an image is the type its
//! bytes say (`data:image/jpeg` on a PNG is a PNG; `image/jpg` and upper
//! case are read as meant), a file is PDF when its bytes are, else its
//! label's or its filename's type ([`crate::parts::sniff`]). Bytes of no
//! known type keep the label, and the core refuses them with its reason.

use serde::Deserialize;
use serde_json::Value;

use super::error::{OpenAiError, bad};
use crate::parts::Content;
use crate::parts::attachment::{DOCUMENT_TYPES, split_data_url};
use crate::parts::sniff;

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
    /// A `refusal` part's words (an assistant message the model declined in).
    #[serde(default)]
    refusal: Option<String>,
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
    /// Responses' `input_file` may name a URL, which the gateway does not fetch.
    #[serde(default)]
    file_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CacheControl {
    #[serde(rename = "type")]
    kind: String,
}

/// Which parts a content may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Allow {
    /// Text only; the words say what the holder takes, for the refusal of
    /// anything else (`"a tool message takes text"`).
    Text(&'static str),
    /// Text, images and files (a user message, a Responses tool output).
    Attachments,
}

impl Allow {
    /// The refusal of an attachment of type `kind` (the client's name for it) at `at`.
    pub(super) fn refuse(self, at: &str, kind: &str) -> Option<OpenAiError> {
        match self {
            Self::Text(takes) => Some(bad(format!(
                "{at}: content parts of type '{kind}' are not taken here: {takes}"
            ))),
            Self::Attachments => None,
        }
    }
}

/// `content` (a string, a list of parts, or null) as gateway parts; `at`
/// names the field (`messages[0].content`).
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
            return Err(bad(format!("{at} must be a string or a list of parts")));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (j, item) in items.into_iter().enumerate() {
        let at = format!("{at}[{j}]");
        let p: Part = serde_json::from_value(item).map_err(|e| bad(format!("{at}: {e}")))?;
        out.push(part(&at, &p, allow)?);
        if let Some(cc) = p.cache_control {
            if cc.kind != "ephemeral" {
                return Err(bad(format!(
                    "{at}.cache_control: type '{}' is not supported; only 'ephemeral'",
                    cc.kind
                )));
            }
            out.push(Content::CACHE_POINT);
        }
    }
    Ok(out)
}

/// One content part.
fn part(at: &str, p: &Part, allow: Allow) -> Result<Content, OpenAiError> {
    let kind = p.kind.as_str();
    if matches!(kind, "image_url" | "file")
        && let Some(refused) = allow.refuse(at, kind)
    {
        return Err(refused);
    }
    match (kind, &p.text, &p.image_url, &p.file) {
        ("text", Some(text), _, _) => Ok(Content::text(text.clone())),
        ("text", None, _, _) => Err(bad(format!("{at}: a text part needs `text`"))),
        ("image_url", _, Some(url), _) => {
            let url = match url {
                ImageUrl::Url(u) | ImageUrl::Object { url: u } => u,
            };
            let (label, data) = split_data_url(url)
                .map_err(|e| bad(format!("{at}: {e}; the gateway fetches nothing")))?;
            Ok(Content::Image {
                media_type: sniff::image_type_of(label, data),
                data: data.to_owned(),
            })
        }
        ("image_url", _, None, _) => Err(bad(format!(
            "{at}: an image_url part needs `image_url.url`"
        ))),
        ("file", _, _, Some(f)) => file(at, f),
        ("file", _, _, None) => Err(bad(format!("{at}: a file part needs `file.file_data`"))),
        // What the model said when it declined: its words, kept as text so
        // a replayed conversation reads as it went.
        ("refusal", ..) => match &p.refusal {
            Some(words) => Ok(Content::text(words.clone())),
            None => Err(bad(format!("{at}: a refusal part needs `refusal`"))),
        },
        (kind, ..) => Err(bad(format!(
            "{at}: content parts of type '{kind}' are not supported"
        ))),
    }
}

/// A `file` part: `file_data` as a `data:` URL or bare base64 (what the
/// SDK documents). Image bytes are an image; anything else a document of
/// the type [`sniff::document_type_of`] finds.
fn file(at: &str, f: &File) -> Result<Content, OpenAiError> {
    let Some(file_data) = f.file_data.as_deref().filter(|d| !d.is_empty()) else {
        let why = if f.file_id.is_some() {
            "the gateway keeps no files; send the bytes in `file_data`"
        } else if f.file_url.is_some() {
            "the gateway fetches nothing; send the bytes in `file_data`"
        } else {
            "a file part needs `file_data`"
        };
        return Err(bad(format!("{at}: {why}")));
    };
    let (label, data) = if file_data.starts_with("data:") {
        let (label, data) = split_data_url(file_data).map_err(|e| bad(format!("{at}: {e}")))?;
        (Some(label), data)
    } else if file_data.starts_with("http://") || file_data.starts_with("https://") {
        return Err(bad(format!(
            "{at}: the gateway fetches nothing; send the bytes in `file_data` (base64)"
        )));
    } else {
        (None, file_data)
    };
    if let Some(image) = sniff::head(data).as_deref().and_then(sniff::image_type) {
        return Ok(Content::Image {
            media_type: image.to_owned(),
            data: data.to_owned(),
        });
    }
    let Some(media_type) = sniff::document_type_of(label, data, f.filename.as_deref()) else {
        let extensions: Vec<String> = DOCUMENT_TYPES
            .iter()
            .map(|(_, e)| format!(".{e}"))
            .collect();
        return Err(bad(format!(
            "{at}: the file's type is unknown: send `file_data` as a data: URL \
             (data:application/pdf;base64,…) or a `filename` ending {}",
            extensions.join(", ")
        )));
    };
    Ok(Content::Document {
        media_type,
        name: f.filename.clone().unwrap_or_else(|| "document".into()),
        data: data.to_owned(),
        citations: false,
        context: None,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01";

    fn read(parts: Value, allow: Allow) -> Result<Value, String> {
        match content("m.content", Some(parts), allow) {
            Ok(parts) => Ok(serde_json::to_value(&parts).unwrap()),
            Err(OpenAiError {
                error: crate::error::ApiError::BadRequest(e),
                ..
            }) => Err(e),
            Err(other) => panic!("{other:?}"),
        }
    }

    fn media_types(parts: Value) -> Vec<String> {
        let parts = read(parts, Allow::Attachments).unwrap();
        let parts = parts.as_array().unwrap();
        parts
            .iter()
            .map(|p| p["mediaType"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn images_files_and_cache_points() {
        let parts = read(json!([
            {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            {"type": "file", "file": {"file_data": "data:text/plain;base64,aGk=", "filename": "notes"}}
        ]), Allow::Attachments)
        .unwrap();
        assert_eq!(
            parts,
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "cachePoint"},
                {"type": "image", "mediaType": "image/png", "data": "iVBORw0KGgo="},
                {"type": "document", "mediaType": "text/plain", "name": "notes", "data": "aGk="}
            ])
        );
    }

    #[test]
    fn an_image_is_what_its_bytes_say() {
        let url = |label: &str, bytes: &[u8]| json!({"type": "image_url", "image_url": {"url": format!("data:{label};base64,{}", STANDARD.encode(bytes))}});
        let text = b"not a picture at all";
        assert_eq!(
            media_types(json!([
                url("image/jpg", JPEG),
                url("image/jpeg", PNG),
                url("IMAGE/JPEG", JPEG),
                url("image/png", text),
            ])),
            ["image/jpeg", "image/png", "image/jpeg", "image/png"],
            "bytes of no known image keep the label, for the core to refuse"
        );
    }

    #[test]
    fn a_file_is_a_data_url_or_bare_base64() {
        let pdf = STANDARD.encode("%PDF-1.4\n");
        let docx = STANDARD.encode("PK\x03\x04word/document.xml");
        let file = |data: &str, name: Option<&str>| json!({"type": "file", "file": {"file_data": data, "filename": name}});
        assert_eq!(
            media_types(json!([
                file(&pdf, Some("a.pdf")),
                file(&pdf, None),
                file(&docx, Some("report.docx")),
                file(
                    &format!("data:application/octet-stream;base64,{docx}"),
                    Some("r.docx")
                ),
                file(&STANDARD.encode(PNG), Some("chart.png")),
            ])),
            [
                "application/pdf",
                "application/pdf",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "image/png",
            ]
        );
        let bare = read(json!([file(&pdf, Some("a.pdf"))]), Allow::Attachments).unwrap();
        assert_eq!(bare[0]["name"], "a.pdf");
        assert_eq!(bare[0]["data"], pdf.as_str());
        for (part, says) in [
            (file("aGk=", Some("notes")), "the file's type is unknown"),
            (file("aGk=", None), "a `filename` ending .pdf"),
            (file("https://x/a.pdf", None), "fetches nothing"),
            (
                json!({"type": "file", "file": {"file_url": "https://x/a.pdf"}}),
                "fetches nothing",
            ),
            (
                json!({"type": "file", "file": {"file_id": "file-1"}}),
                "keeps no files",
            ),
        ] {
            let e = read(json!([part]), Allow::Attachments).unwrap_err();
            assert!(e.contains(says), "{part}: {e}");
            assert!(e.starts_with("m.content[0]: "), "{e}");
        }
    }

    #[test]
    fn text_only_content_refuses_attachments_by_their_name() {
        let only_text = Allow::Text("a tool message takes text");
        let e = read(
            json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]),
            only_text,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "m.content[0]: content parts of type 'image_url' are not taken here: a tool message takes text"
        );
    }
}
