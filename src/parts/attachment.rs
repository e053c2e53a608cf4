//! Attached bytes are checked before any upstream call: base64 that decodes,
//! a media type the models take, and bytes that are what the type says.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::sniff;

/// Image types Bedrock's models accept.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Document types Bedrock's Converse API accepts, with its format names.
pub const DOCUMENT_TYPES: &[(&str, &str)] = &[
    ("application/pdf", "pdf"),
    ("text/csv", "csv"),
    ("application/msword", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("text/html", "html"),
    ("text/plain", "txt"),
    ("text/markdown", "md"),
];

/// Decoded bytes of a `data` field, or why not.
pub fn decode(data: &str, what: &str) -> Result<Vec<u8>, String> {
    if data.starts_with("http://") || data.starts_with("https://") {
        return Err(format!(
            "{what}: the gateway fetches nothing; send the bytes as base64 in `data`"
        ));
    }
    if data.starts_with("data:") {
        return Err(format!(
            "{what}: `data` is plain base64, without a `data:` URL prefix"
        ));
    }
    STANDARD
        .decode(data.trim())
        .map_err(|e| format!("{what}: `data` is not valid base64 ({e})"))
}

/// The image format Converse names for `media_type` (`png`, `jpeg`, …).
pub fn image_format(media_type: &str) -> Option<&'static str> {
    IMAGE_TYPES
        .iter()
        .find(|t| **t == media_type)
        .and_then(|t| t.strip_prefix("image/"))
}

/// The document format Converse names for `media_type` (`pdf`, `txt`, …).
pub fn document_format(media_type: &str) -> Option<&'static str> {
    DOCUMENT_TYPES
        .iter()
        .find(|(t, _)| *t == media_type)
        .map(|(_, f)| *f)
}

/// Check an image part: known type, base64, bytes that match the type.
pub fn check_image(media_type: &str, data: &str) -> Result<(), String> {
    if image_format(media_type).is_none() {
        return Err(format!(
            "image mediaType '{media_type}' is not one of {}",
            IMAGE_TYPES.join(", ")
        ));
    }
    let bytes = decode(data, "image")?;
    if sniff::image_type(&bytes) != Some(media_type) {
        return Err(format!(
            "image bytes are not {media_type} (the first bytes do not match the type)"
        ));
    }
    Ok(())
}

/// Check a document part: known type, base64, not empty.
pub fn check_document(media_type: &str, data: &str) -> Result<(), String> {
    if document_format(media_type).is_none() {
        let known: Vec<&str> = DOCUMENT_TYPES.iter().map(|(t, _)| *t).collect();
        return Err(format!(
            "document mediaType '{media_type}' is not one of {}",
            known.join(", ")
        ));
    }
    let bytes = decode(data, "document")?;
    if bytes.is_empty() {
        return Err("document is empty".into());
    }
    if media_type == "application/pdf" && !sniff::is_pdf(&bytes) {
        return Err("document bytes are not application/pdf".into());
    }
    Ok(())
}

/// `(media type, base64)` of a `data:` URL (what OpenAI and AI SDK clients send).
pub fn split_data_url(url: &str) -> Result<(&str, &str), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Err("URLs are not fetched: send a data: URL (base64) instead".into());
    }
    let rest = url
        .strip_prefix("data:")
        .ok_or("the URL must be a data: URL")?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or("a data: URL needs a ',' before its data")?;
    let media_type = meta
        .strip_suffix(";base64")
        .ok_or("a data: URL must be base64 (';base64,')")?;
    Ok((media_type, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn images_must_be_what_they_say() {
        let png = STANDARD.encode(PNG);
        assert!(check_image("image/png", &png).is_ok());
        assert!(
            check_image("image/jpeg", &png)
                .unwrap_err()
                .contains("not image/jpeg")
        );
        assert!(check_image("image/bmp", &png).is_err());
        assert!(
            check_image("image/png", "***")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            check_image("image/png", "https://example.com/a.png")
                .unwrap_err()
                .contains("fetches nothing")
        );
    }

    #[test]
    fn documents_must_not_be_empty() {
        assert!(check_document("text/plain", &STANDARD.encode("hi")).is_ok());
        assert!(
            check_document("text/plain", "")
                .unwrap_err()
                .contains("empty")
        );
        assert!(check_document("application/pdf", &STANDARD.encode("hi")).is_err());
        assert_eq!(document_format("text/markdown"), Some("md"));
    }

    #[test]
    fn data_urls_split_and_http_urls_are_refused() {
        assert_eq!(
            split_data_url("data:image/png;base64,AAAA").unwrap(),
            ("image/png", "AAAA")
        );
        assert!(
            split_data_url("http://x/y.png")
                .unwrap_err()
                .contains("not fetched")
        );
        assert!(split_data_url("data:image/png,AAAA").is_err());
    }
}
