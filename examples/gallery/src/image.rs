//! What an image resource is made of, parsed once at the edge: a [`Title`], an optional
//! [`Description`], and [`ImageData`] — bytes that really are a PNG, JPEG, GIF or WebP image of
//! at most [`MAX_IMAGE_BYTES`].
//!
//! The type is read from the bytes' magic numbers, never from what the client says (a file name,
//! a data-URL prefix, a content type): the type we serve the file with must be what it is, or a
//! browser could be made to run an HTML or SVG payload from our origin.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The largest image accepted, decoded: 500 KiB (the seed's image service limit).
pub const MAX_IMAGE_BYTES: usize = 500 * 1024;
/// The longest base64 text that can decode to at most [`MAX_IMAGE_BYTES`].
pub const MAX_BASE64_CHARS: usize = MAX_IMAGE_BYTES.div_ceil(3) * 4;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// The image formats the gallery stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageKind {
    const ALL: [ImageKind; 4] = [
        ImageKind::Png,
        ImageKind::Jpeg,
        ImageKind::Gif,
        ImageKind::Webp,
    ];

    /// Recognises an image by its first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageKind::Webp)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
        }
    }

    /// The file extension in public URLs.
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.extension() == ext)
    }

    pub fn from_content_type(ct: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.content_type() == ct)
    }
}

/// Why `data` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DataError {
    #[error("the image is larger than 500 KiB")]
    TooLarge,
    #[error("not valid base64")]
    NotBase64,
    #[error("not a PNG, JPEG, GIF or WebP image")]
    NotAnImage,
}

/// The lower-case hex SHA-256 of an image's bytes: the name of its file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentHash(String);

impl ContentHash {
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(format!("{:x}", Sha256::digest(bytes)))
    }

    /// Exactly 64 lower-case hex digits; anything else (path tricks included) is not a hash.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| ContentHash(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Image bytes known to be a supported image of an accepted size.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageData {
    bytes: Vec<u8>,
    kind: ImageKind,
    hash: ContentHash,
}

impl std::fmt::Debug for ImageData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageData")
            .field("kind", &self.kind)
            .field("size", &self.bytes.len())
            .field("sha256", &self.hash.0)
            .finish()
    }
}

/// Standard or URL-safe alphabet, padding optional: what encoders in the wild produce.
fn engine(url_safe: bool) -> GeneralPurpose {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    if url_safe {
        GeneralPurpose::new(&alphabet::URL_SAFE, config)
    } else {
        GeneralPurpose::new(&alphabet::STANDARD, config)
    }
}

impl ImageData {
    /// Parses the `data` member: base64 (line breaks allowed; a `data:...;base64,` prefix is
    /// tolerated and its claimed type ignored).
    pub fn from_base64(text: &str) -> Result<Self, DataError> {
        let text = text.trim();
        let text = match text.strip_prefix("data:") {
            Some(rest) => rest
                .split_once(";base64,")
                .map(|(_, b64)| b64)
                .ok_or(DataError::NotBase64)?,
            None => text,
        };
        // Refuse before copying anything that cannot fit even with every line break removed
        // (the body limit keeps this bound small anyway).
        if text.len() > 2 * MAX_BASE64_CHARS {
            return Err(DataError::TooLarge);
        }
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if compact.len() > MAX_BASE64_CHARS {
            return Err(DataError::TooLarge);
        }
        let url_safe = compact.contains(['-', '_']);
        let bytes = engine(url_safe)
            .decode(compact.as_bytes())
            .map_err(|_| DataError::NotBase64)?;
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DataError> {
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(DataError::TooLarge);
        }
        let kind = ImageKind::sniff(&bytes).ok_or(DataError::NotAnImage)?;
        let hash = ContentHash::of(&bytes);
        Ok(ImageData { bytes, kind, hash })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn kind(&self) -> ImageKind {
        self.kind
    }

    pub fn hash(&self) -> &ContentHash {
        &self.hash
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// A title: trimmed, 1 to [`MAX_TITLE_CHARS`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("may not be blank".into());
        }
        if t.chars().count() > MAX_TITLE_CHARS {
            return Err(format!("at most {MAX_TITLE_CHARS} characters"));
        }
        if t.chars().any(char::is_control) {
            return Err("may not contain control characters".into());
        }
        Ok(Title(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description: at most [`MAX_DESCRIPTION_CHARS`] characters (line breaks allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// A blank description is no description.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let d = s.trim();
        if d.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(format!("at most {MAX_DESCRIPTION_CHARS} characters"));
        }
        if d.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err("may not contain control characters".into());
        }
        Ok((!d.is_empty()).then(|| Description(d.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn formats_are_recognised_by_their_magic_bytes_only() {
        assert_eq!(ImageKind::sniff(PNG), Some(ImageKind::Png));
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(ImageKind::sniff(b"GIF89a\x01\0"), Some(ImageKind::Gif));
        assert_eq!(ImageKind::sniff(b"GIF87a\x01\0"), Some(ImageKind::Gif));
        assert_eq!(
            ImageKind::sniff(b"RIFF\x24\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        for not in [
            &b""[..],
            b"\x89PNG",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"<html><script>alert(1)</script>",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"GIF90a",
            b"%PDF-1.7",
        ] {
            assert_eq!(ImageKind::sniff(not), None, "{not:?}");
        }
    }

    #[test]
    fn base64_in_its_usual_spellings_decodes() {
        let padded = STANDARD.encode(PNG);
        let d = ImageData::from_base64(&padded).unwrap();
        assert_eq!(d.bytes(), PNG);
        assert_eq!(d.kind(), ImageKind::Png);
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(ImageData::from_base64(unpadded).unwrap(), d);
        let wrapped: String = padded
            .as_bytes()
            .chunks(4)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        assert_eq!(ImageData::from_base64(&wrapped).unwrap(), d);
        let url_safe = URL_SAFE_NO_PAD.encode(PNG);
        assert_eq!(ImageData::from_base64(&url_safe).unwrap(), d);
        // A data URL's claimed type is ignored: the bytes decide.
        let claimed = format!("data:image/gif;base64,{padded}");
        assert_eq!(
            ImageData::from_base64(&claimed).unwrap().kind(),
            ImageKind::Png
        );
    }

    #[test]
    fn bad_base64_and_non_images_are_refused() {
        assert_eq!(
            ImageData::from_base64("not base64!"),
            Err(DataError::NotBase64)
        );
        assert_eq!(
            ImageData::from_base64("data:image/png,xyz"),
            Err(DataError::NotBase64)
        );
        assert_eq!(ImageData::from_base64(""), Err(DataError::NotAnImage));
        let html = STANDARD.encode("<html><script>alert(1)</script></html>");
        assert_eq!(ImageData::from_base64(&html), Err(DataError::NotAnImage));
    }

    #[test]
    fn the_size_limit_is_500_kib_decoded() {
        let mut at_limit = PNG.to_vec();
        at_limit.resize(MAX_IMAGE_BYTES, 0);
        let ok = ImageData::from_base64(&STANDARD.encode(&at_limit)).unwrap();
        assert_eq!(ok.size(), MAX_IMAGE_BYTES);
        at_limit.push(0);
        assert_eq!(
            ImageData::from_base64(&STANDARD.encode(&at_limit)),
            Err(DataError::TooLarge)
        );
        // Far too large is refused before any decoding.
        let huge = "A".repeat(MAX_BASE64_CHARS * 3);
        assert_eq!(ImageData::from_base64(&huge), Err(DataError::TooLarge));
    }

    #[test]
    fn equal_bytes_have_equal_hashes_and_hashes_parse_strictly() {
        let a = ImageData::from_bytes(PNG.to_vec()).unwrap();
        let b = ImageData::from_bytes(PNG.to_vec()).unwrap();
        assert_eq!(a.hash(), b.hash());
        assert_eq!(
            ContentHash::parse(a.hash().as_str()),
            Some(a.hash().clone())
        );
        assert_eq!(ContentHash::parse(&a.hash().as_str().to_uppercase()), None);
        assert_eq!(ContentHash::parse("../../etc/passwd"), None);
        assert_eq!(ContentHash::parse(&"a".repeat(63)), None);
    }

    #[test]
    fn titles_and_descriptions_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  Sunset ").unwrap().as_str(), "Sunset");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(MAX_TITLE_CHARS)).is_ok());
        assert!(Title::parse(&"x".repeat(MAX_TITLE_CHARS + 1)).is_err());
        assert!(Title::parse("a\u{0}b").is_err());
        assert_eq!(Description::parse("  ").unwrap(), None);
        assert_eq!(
            Description::parse("line 1\nline 2")
                .unwrap()
                .unwrap()
                .as_str(),
            "line 1\nline 2"
        );
        assert!(Description::parse(&"x".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
    }
}
