//! What an upload's bytes and name are checked against: the PDF signature (by content, never
//! by extension or declared type) and the filename kept as metadata.

/// Leading whitespace allowed before `%PDF-` (PDF readers allow it too).
pub const MAX_LEADING_WHITESPACE: usize = 1024;
/// Longest filename kept, in bytes of UTF-8.
pub const MAX_FILENAME_BYTES: usize = 255;
/// The name used when the client sent none (or nothing survived sanitizing).
pub const DEFAULT_FILENAME: &str = "upload.pdf";

const MAGIC: &[u8] = b"%PDF-";

/// Incremental signature check: feed chunks as they arrive; decided after at most
/// 1 KiB + 5 bytes, without buffering anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Not decided yet: `whitespace` bytes skipped, `matched` bytes of `%PDF-` seen.
    Pending {
        /// Leading whitespace so far.
        whitespace: usize,
        /// Prefix of the signature matched so far.
        matched: usize,
    },
    /// Starts with `%PDF-`.
    Pdf,
    /// Does not.
    NotPdf,
}

impl Default for Sniff {
    fn default() -> Self {
        Sniff::Pending {
            whitespace: 0,
            matched: 0,
        }
    }
}

/// PDF whitespace (ISO 32000-1 §7.2.2): NUL, HT, LF, FF, CR, SP.
fn is_pdf_whitespace(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

impl Sniff {
    /// Look at the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            let Sniff::Pending { whitespace, matched } = self else {
                return;
            };
            if *matched == 0 && is_pdf_whitespace(b) {
                *whitespace += 1;
                if *whitespace > MAX_LEADING_WHITESPACE {
                    *self = Sniff::NotPdf;
                }
            } else if b == MAGIC[*matched] {
                *matched += 1;
                if *matched == MAGIC.len() {
                    *self = Sniff::Pdf;
                }
            } else {
                *self = Sniff::NotPdf;
            }
        }
    }
}

/// The client's filename as kept: the last path component (a browser may send
/// `C:\Users\me\doc.pdf`), without path separators or control characters, trimmed, at most
/// [`MAX_FILENAME_BYTES`] bytes cut on a character boundary; [`DEFAULT_FILENAME`] when nothing
/// is left. Other UTF-8 (accents, CJK, emoji) is kept as sent.
pub fn sanitize_filename(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("");
    let last = raw
        .rsplit(['/', '\\'])
        .map(str::trim)
        .find(|part| !part.is_empty())
        .unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .collect();
    let mut cleaned = cleaned.trim();
    if cleaned.len() > MAX_FILENAME_BYTES {
        let mut end = MAX_FILENAME_BYTES;
        while !cleaned.is_char_boundary(end) {
            end -= 1;
        }
        cleaned = cleaned[..end].trim_end();
    }
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        DEFAULT_FILENAME.to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(bytes: &[u8]) -> Sniff {
        let mut s = Sniff::default();
        // Byte by byte, to prove chunk boundaries do not matter.
        for b in bytes {
            s.feed(std::slice::from_ref(b));
        }
        s
    }

    #[test]
    fn pdf_signature_with_and_without_leading_whitespace() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Sniff::Pdf);
        assert_eq!(sniff(b" \r\n\t\x0c\0%PDF-1.4"), Sniff::Pdf);
        let mut ws = vec![b' '; MAX_LEADING_WHITESPACE];
        ws.extend_from_slice(b"%PDF-");
        assert_eq!(sniff(&ws), Sniff::Pdf);
        ws.insert(0, b'\n');
        assert_eq!(sniff(&ws), Sniff::NotPdf);
    }

    #[test]
    fn other_content_is_not_pdf() {
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01"), Sniff::NotPdf);
        assert_eq!(sniff(b"MZ\x90\0"), Sniff::NotPdf);
        assert_eq!(sniff(b"%PDX-"), Sniff::NotPdf);
        assert_eq!(sniff(b"x%PDF-"), Sniff::NotPdf);
        assert_eq!(
            sniff(b"%PD"),
            Sniff::Pending {
                whitespace: 0,
                matched: 3
            }
        );
    }

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(sanitize_filename(Some("report.pdf")), "report.pdf");
        assert_eq!(sanitize_filename(Some("../../etc/passwd")), "passwd");
        assert_eq!(sanitize_filename(Some("C:\\Users\\me\\doc.pdf")), "doc.pdf");
        assert_eq!(sanitize_filename(Some("a\u{0}b\nc\u{7f}d\u{85}.pdf")), "abcd.pdf");
        assert_eq!(sanitize_filename(Some("dir/")), "dir");
        assert_eq!(
            sanitize_filename(Some("Résumé – 日本語 📄.pdf")),
            "Résumé – 日本語 📄.pdf"
        );
        assert_eq!(sanitize_filename(None), DEFAULT_FILENAME);
        assert_eq!(sanitize_filename(Some("/\u{1}/..")), DEFAULT_FILENAME);
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary() {
        let name = "é".repeat(200); // 400 bytes
        let out = sanitize_filename(Some(&name));
        assert!(out.len() <= MAX_FILENAME_BYTES);
        assert_eq!(out, "é".repeat(127));
    }
}
