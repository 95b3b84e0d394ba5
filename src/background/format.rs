//! The image formats a background may have, recognised by their bytes: the declared
//! content type of an S3 object is often `binary/octet-stream`, and serving bytes under
//! a type they are not is how files become something else in a browser.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Svg,
}

/// For messages: what the app accepts.
pub const SUPPORTED: &str = "JPEG, PNG, WebP, GIF or SVG";

impl ImageFormat {
    pub const ALL: [ImageFormat; 5] = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::Webp,
        ImageFormat::Svg,
    ];

    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Svg => "image/svg+xml",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
            ImageFormat::Svg => "svg",
        }
    }

    pub fn from_extension(extension: &str) -> Option<ImageFormat> {
        ImageFormat::ALL
            .into_iter()
            .find(|format| format.extension() == extension)
    }

    /// The format the bytes are in, whatever the object's declared type says.
    pub fn detect(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageFormat::Gif)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else if is_svg(bytes) {
            Some(ImageFormat::Svg)
        } else {
            None
        }
    }
}

/// An XML document whose root element is `<svg`: prolog, comments and doctype skipped.
/// An HTML page that merely contains an inline SVG is not one.
fn is_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // The cut at 4 KiB may split a character: keep the valid part.
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        let end = if rest.starts_with("<?") {
            "?>"
        } else if rest.starts_with("<!--") {
            "-->"
        } else if rest.starts_with("<!") {
            ">"
        } else {
            break;
        };
        match rest.find(end) {
            Some(at) => rest = rest[at + end.len()..].trim_start(),
            None => return false,
        }
    }
    rest.strip_prefix("<svg")
        .and_then(|after| after.chars().next())
        .is_some_and(|c| c.is_ascii_whitespace() || c == '>' || c == '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_signatures() {
        assert_eq!(
            ImageFormat::detect(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(
            ImageFormat::detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(ImageFormat::Png)
        );
        assert_eq!(ImageFormat::detect(b"GIF89a\x01\0"), Some(ImageFormat::Gif));
        assert_eq!(
            ImageFormat::detect(b"RIFF\x24\0\0\0WEBPVP8 "),
            Some(ImageFormat::Webp)
        );
        assert_eq!(ImageFormat::detect(b"RIFF\x24\0\0\0WAVEfmt "), None);
    }

    #[test]
    fn svg_documents() {
        for svg in [
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            "\u{feff}  <?xml version=\"1.0\"?>\n<!-- made by hand -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\">\n<svg>\n</svg>",
            "<svg\nwidth=\"10\">",
        ] {
            assert_eq!(
                ImageFormat::detect(svg.as_bytes()),
                Some(ImageFormat::Svg),
                "{svg}"
            );
        }
    }

    #[test]
    fn other_content_is_not_an_image() {
        for other in [
            &b"<!doctype html><html><body><svg></svg></body></html>"[..],
            b"<svgfoo>",
            b"<?xml version=\"1.0\"?><note/>",
            b"<!-- unterminated",
            b"BM\x36\x00",
            b"hello",
            b"",
        ] {
            assert_eq!(ImageFormat::detect(other), None, "{other:?}");
        }
    }

    #[test]
    fn extensions_round_trip() {
        for format in ImageFormat::ALL {
            assert_eq!(
                ImageFormat::from_extension(format.extension()),
                Some(format)
            );
        }
        assert_eq!(ImageFormat::from_extension("exe"), None);
    }
}
