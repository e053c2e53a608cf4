//! What attached bytes are, from their first bytes or a file name: the image
//! types by magic number, PDF by its header, the other document types by
//! extension. For clients whose type label is a hint rather than a promise
//! (OpenAI's `data:` URLs, which OpenAI itself ignores for the bytes).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::attachment::DOCUMENT_TYPES;

/// Base64 characters decoded to sniff: 12 bytes, enough for every magic number.
const HEAD_CHARS: usize = 16;

/// The image type `bytes` start like, if one the models take.
pub fn image_type(b: &[u8]) -> Option<&'static str> {
    let webp = b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP";
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if webp {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether `bytes` start like a PDF.
pub fn is_pdf(b: &[u8]) -> bool {
    b.starts_with(b"%PDF")
}

/// The first bytes of base64 `data` (without decoding the rest), or `None`
/// when they are not base64.
pub fn head(data: &str) -> Option<Vec<u8>> {
    let data = data.trim_start();
    let head = match data.char_indices().nth(HEAD_CHARS) {
        Some((end, _)) => &data[..end],
        None => data.trim_end(),
    };
    STANDARD.decode(head).ok()
}

/// A type label as the gateway names types: its parameters dropped, in
/// lower case, `image/jpg` (a common misspelling) read as `image/jpeg`.
pub fn normalise(label: &str) -> String {
    let label = label.split(';').next().unwrap_or_default().trim();
    match label.to_ascii_lowercase().as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".to_owned(),
        other => other.to_owned(),
    }
}

/// The type of an image labelled `label` (base64 `data`): what its bytes
/// are when they are an image the models take, else the label normalised
/// (which the core's check then refuses with its reason).
pub fn image_type_of(label: &str, data: &str) -> String {
    match head(data).as_deref().and_then(image_type) {
        Some(sniffed) => sniffed.to_owned(),
        None => normalise(label),
    }
}

/// The document type a file name's extension names (`.pdf`, `.docx`, …).
pub fn document_type_of_name(name: &str) -> Option<&'static str> {
    let (_, ext) = name.trim().rsplit_once('.')?;
    let ext = match ext.to_ascii_lowercase().as_str() {
        "htm" => "html".to_owned(),
        "markdown" => "md".to_owned(),
        "text" => "txt".to_owned(),
        other => other.to_owned(),
    };
    DOCUMENT_TYPES
        .iter()
        .find(|(_, format)| *format == ext)
        .map(|(t, _)| *t)
}

/// The type of a document (base64 `data`) with an optional `label` and
/// file `name`: PDF when its bytes are, else the label when it names a
/// document type, else the name's extension, else the label as given (for
/// the core to refuse); `None` when nothing says.
pub fn document_type_of(label: Option<&str>, data: &str, name: Option<&str>) -> Option<String> {
    if head(data).is_some_and(|b| is_pdf(&b)) {
        return Some("application/pdf".to_owned());
    }
    let label = label.map(normalise).filter(|l| !l.is_empty());
    let known = |t: &str| DOCUMENT_TYPES.iter().any(|(d, _)| *d == t);
    match label {
        Some(l) if known(&l) => Some(l),
        label => name
            .and_then(document_type_of_name)
            .map(str::to_owned)
            .or(label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x40";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01";

    #[test]
    fn images_are_what_their_bytes_say() {
        let png = STANDARD.encode(PNG);
        let jpeg = STANDARD.encode(JPEG);
        assert_eq!(image_type_of("image/jpeg", &png), "image/png");
        assert_eq!(image_type_of("image/jpg", &jpeg), "image/jpeg");
        assert_eq!(image_type_of("IMAGE/PNG", &png), "image/png");
        // Not an image the models take: the label, normalised, for the core to refuse.
        let text = STANDARD.encode("hello, world, not a picture");
        assert_eq!(image_type_of("IMAGE/JPG", &text), "image/jpeg");
        assert_eq!(image_type_of("image/bmp", "BM"), "image/bmp");
        assert_eq!(image_type_of("image/png", "***"), "image/png");
        assert_eq!(
            image_type(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp"),
            "webp needs 12 bytes, which 16 base64 characters hold"
        );
        assert_eq!(image_type(b"GIF89a\x01\0"), Some("image/gif"));
    }

    #[test]
    fn the_head_is_decoded_alone() {
        let long = STANDARD.encode([PNG, &[0u8; 1000][..]].concat());
        assert_eq!(head(&long).unwrap(), PNG[..12]);
        assert_eq!(head(" aGk= ").unwrap(), b"hi");
        assert_eq!(head("not base64!"), None);
    }

    #[test]
    fn labels_are_normalised() {
        assert_eq!(normalise("Image/JPG"), "image/jpeg");
        assert_eq!(normalise("text/plain;charset=utf-8"), "text/plain");
        assert_eq!(normalise(" application/pdf "), "application/pdf");
    }

    #[test]
    fn documents_by_bytes_label_or_name() {
        let pdf = STANDARD.encode("%PDF-1.7\n...");
        let docx = STANDARD.encode("PK\x03\x04 not really a zip");
        let docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
        assert_eq!(
            document_type_of(None, &pdf, Some("a.bin")).as_deref(),
            Some("application/pdf")
        );
        assert_eq!(
            document_type_of(Some("text/plain"), &pdf, None).as_deref(),
            Some("application/pdf")
        );
        assert_eq!(
            document_type_of(None, &docx, Some("Report.DOCX")).as_deref(),
            Some(docx_type)
        );
        assert_eq!(
            document_type_of(Some("application/octet-stream"), &docx, Some("r.docx")).as_deref(),
            Some(docx_type)
        );
        assert_eq!(
            document_type_of(Some("text/markdown"), "aGk=", Some("a.txt")).as_deref(),
            Some("text/markdown"),
            "a document label wins over the name"
        );
        assert_eq!(
            document_type_of(Some("application/zip"), "aGk=", Some("a")).as_deref(),
            Some("application/zip"),
            "an unknown label is kept for the core to refuse"
        );
        assert_eq!(document_type_of(None, "aGk=", Some("notes")), None);
        assert_eq!(document_type_of(None, "aGk=", None), None);
        assert_eq!(document_type_of_name("a.htm"), Some("text/html"));
    }
}
