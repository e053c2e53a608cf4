//! Images and documents in a request: magic-number checks, sizes, and the answer's line for each.

use crate::wire::SimError;

/// The image media types Bedrock accepts.
pub(crate) const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Input tokens one image can cost at most (large images are scaled down).
const MAX_IMAGE_TOKENS: u64 = 1600;

/// A checked attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attachment {
    kind: Kind,
    bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Width × height when the header says (PNG, GIF).
    Image {
        media_type: &'static str,
        size: Option<(u32, u32)>,
    },
    Document {
        name: String,
    },
}

/// Checks an image's bytes against its media type.
pub(crate) fn image(media_type: &str, data: &[u8], path: &str) -> Result<Attachment, SimError> {
    let Some(media_type) = IMAGE_TYPES.iter().copied().find(|t| *t == media_type) else {
        return Err(SimError::validation(format!(
            "{path}: unsupported image media type '{media_type}', expected one of {}",
            IMAGE_TYPES.join(", ")
        )));
    };
    if sniff(data) != Some(media_type) {
        return Err(SimError::validation(format!(
            "{path}: the image data does not match its media type {media_type}"
        )));
    }
    Ok(Attachment {
        kind: Kind::Image {
            media_type,
            size: size(media_type, data),
        },
        bytes: data.len(),
    })
}

/// Checks a document: it must not be empty.
pub(crate) fn document(name: &str, data: &[u8], path: &str) -> Result<Attachment, SimError> {
    if data.is_empty() {
        return Err(SimError::validation(format!(
            "{path}: the document '{name}' is empty"
        )));
    }
    Ok(Attachment {
        kind: Kind::Document {
            name: name.to_owned(),
        },
        bytes: data.len(),
    })
}

impl Attachment {
    /// Whether it is an image (else a document).
    pub(crate) fn is_image(&self) -> bool {
        matches!(self.kind, Kind::Image { .. })
    }

    /// The line the answer begins with for this attachment (without the newline).
    pub(crate) fn line(&self) -> String {
        match &self.kind {
            Kind::Image {
                media_type,
                size: Some((w, h)),
            } => format!("[{media_type} {w}x{h}]"),
            Kind::Image { media_type, .. } => format!("[{media_type} {} bytes]", self.bytes),
            Kind::Document { name } => format!("[document {name} {} bytes]", self.bytes),
        }
    }

    /// Estimated input tokens: width × height / 750 for an image (Anthropic's
    /// rule), bytes / 750 when the size is unknown; bytes / 4 for a document.
    pub(crate) fn input_tokens(&self) -> u32 {
        let bytes = u64::try_from(self.bytes).unwrap_or(u64::MAX);
        let tokens = match &self.kind {
            Kind::Image {
                size: Some((w, h)), ..
            } => (u64::from(*w) * u64::from(*h) / 750).clamp(1, MAX_IMAGE_TOKENS),
            Kind::Image { .. } => (bytes / 750).clamp(1, MAX_IMAGE_TOKENS),
            Kind::Document { .. } => (bytes / 4).max(1),
        };
        u32::try_from(tokens).unwrap_or(u32::MAX)
    }
}

/// The media type the bytes' magic number says.
fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(&[0x89, b'P', b'N', b'G']) {
        Some("image/png")
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF8") {
        Some("image/gif")
    } else if data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WEBP".as_slice()) {
        Some("image/webp")
    } else {
        None
    }
}

/// Width × height from a PNG IHDR chunk or a GIF logical screen descriptor.
fn size(media_type: &str, data: &[u8]) -> Option<(u32, u32)> {
    let field = |at: usize, len: usize| data.get(at..at + len);
    match media_type {
        "image/png" if field(12, 4) == Some(b"IHDR".as_slice()) => {
            let w = u32::from_be_bytes(field(16, 4)?.try_into().ok()?);
            let h = u32::from_be_bytes(field(20, 4)?.try_into().ok()?);
            Some((w, h))
        }
        "image/gif" => {
            let w = u16::from_le_bytes(field(6, 2)?.try_into().ok()?);
            let h = u16::from_le_bytes(field(8, 2)?.try_into().ok()?);
            Some((u32::from(w), u32::from(h)))
        }
        _ => None,
    }
}

/// Test images: just enough header for the checks above.
#[cfg(test)]
pub(crate) mod samples {
    /// A PNG signature and IHDR chunk for a `w`×`h` image.
    pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
        let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        bytes.extend_from_slice(&13u32.to_be_bytes());
        bytes.extend_from_slice(b"IHDR");
        bytes.extend_from_slice(&w.to_be_bytes());
        bytes.extend_from_slice(&h.to_be_bytes());
        bytes.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        bytes
    }

    /// A GIF header for a `w`×`h` image.
    pub(crate) fn gif(w: u16, h: u16) -> Vec<u8> {
        let mut bytes = b"GIF89a".to_vec();
        bytes.extend_from_slice(&w.to_le_bytes());
        bytes.extend_from_slice(&h.to_le_bytes());
        bytes.extend_from_slice(&[0, 0, 0]);
        bytes
    }

    /// `len` bytes starting with a JPEG SOI marker.
    pub(crate) fn jpeg(len: usize) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
        bytes.resize(len.max(4), 0);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::samples::{gif, jpeg, png};
    use super::*;

    #[test]
    fn lines_name_size_or_bytes() {
        assert_eq!(
            image("image/png", &png(64, 48), "p").unwrap().line(),
            "[image/png 64x48]"
        );
        assert_eq!(
            image("image/gif", &gif(3, 2), "p").unwrap().line(),
            "[image/gif 3x2]"
        );
        assert_eq!(
            image("image/jpeg", &jpeg(5120), "p").unwrap().line(),
            "[image/jpeg 5120 bytes]"
        );
        let webp = b"RIFF\x10\0\0\0WEBPVP8 ";
        assert_eq!(
            image("image/webp", webp, "p").unwrap().line(),
            "[image/webp 16 bytes]"
        );
        assert_eq!(
            document("notes.md", b"# hi", "p").unwrap().line(),
            "[document notes.md 4 bytes]"
        );
        // A PNG too short for its IHDR still passes the magic check.
        assert_eq!(
            image("image/png", b"\x89PNG", "p").unwrap().line(),
            "[image/png 4 bytes]"
        );
    }

    #[test]
    fn mismatches_and_empty_documents_are_refused() {
        let err = image("image/png", &jpeg(10), "#/x").unwrap_err();
        assert_eq!(
            err.message,
            "#/x: the image data does not match its media type image/png"
        );
        assert!(image("image/jpeg", &png(1, 1), "p").is_err());
        assert!(image("image/gif", b"GIF", "p").is_err());
        assert!(image("image/webp", b"RIFF\0\0\0\0WAVE", "p").is_err());
        assert!(image("image/png", b"", "p").is_err());
        assert!(image("image/bmp", b"BM", "p").is_err());
        assert!(document("empty.txt", b"", "p").is_err());
    }

    #[test]
    fn token_estimates_are_bounded() {
        assert_eq!(
            image("image/png", &png(750, 2), "p")
                .unwrap()
                .input_tokens(),
            2
        );
        assert_eq!(
            image("image/png", &png(u32::MAX, u32::MAX), "p")
                .unwrap()
                .input_tokens(),
            1600
        );
        assert_eq!(
            image("image/jpeg", &jpeg(10), "p").unwrap().input_tokens(),
            1
        );
        assert_eq!(
            document("d", &[b'a'; 400], "p").unwrap().input_tokens(),
            100
        );
    }
}
