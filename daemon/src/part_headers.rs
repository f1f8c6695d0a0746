//! Control characters in the part headers of a multipart body are removed before the body
//! reaches `multer`.
//!
//! `multer` parses part headers with `httparse`, which refuses a header holding a control
//! character other than TAB: a filename with ESC or DEL in it made the whole upload
//! `400 invalid_multipart`, while a control character that gets through (TAB, C1 controls) is
//! removed from the stored name (SPEC §2.3, `sanitize_filename`). Removing them here makes the
//! rule one: control characters in a filename are dropped, the upload is kept. The file's
//! bytes are passed through untouched (and without a copy).
//!
//! This module uses nothing from the crate, so the fuzz targets (`fuzz/`) compile it as it is.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

/// Is `b` a control character a part header may not hold (all but TAB, CR and LF)?
fn is_removed(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || b == 0x7f
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Preamble or a part's content: looking for `CRLF--boundary`.
    Content,
    /// The rest of a delimiter line (`--` of the closing one, transport padding) up to its LF.
    DelimiterLine,
    /// A part's headers, up to the blank line.
    Headers,
}

/// The scrubber's state between chunks of one body.
#[derive(Debug, Clone)]
pub struct PartHeaderScrub {
    /// `\r\n--<boundary>`
    delimiter: Vec<u8>,
    /// Bytes of `delimiter` matched so far (in [`Mode::Content`]).
    matched: usize,
    /// Bytes of `\r\n\r\n` matched so far (in [`Mode::Headers`]).
    blank: usize,
    mode: Mode,
}

impl PartHeaderScrub {
    /// A scrubber for a body whose boundary is `boundary`.
    pub fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Self {
            delimiter,
            // The first delimiter may open the body, with no CRLF before it.
            matched: 2,
            blank: 0,
            mode: Mode::Content,
        }
    }

    /// The next chunk of the body with the control characters of part headers removed. A chunk
    /// with nothing to remove is returned as it is.
    pub fn scrub(&mut self, chunk: Bytes) -> Bytes {
        let mut out: Option<BytesMut> = None;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.mode {
                Mode::Content => {
                    if self.matched == 0 {
                        // Skip to the next CR: the only byte that can start a delimiter.
                        let start = i;
                        i = chunk[i..]
                            .iter()
                            .position(|&c| c == b'\r')
                            .map_or(chunk.len(), |k| i + k);
                        if let Some(o) = out.as_mut() {
                            o.extend_from_slice(&chunk[start..i]);
                        }
                        if i == chunk.len() {
                            break;
                        }
                    }
                    let b = chunk[i];
                    if b == self.delimiter[self.matched] {
                        self.matched += 1;
                        if self.matched == self.delimiter.len() {
                            self.mode = Mode::DelimiterLine;
                            self.matched = 0;
                        }
                    } else {
                        self.matched = usize::from(b == b'\r');
                    }
                    push(&mut out, b);
                }
                Mode::DelimiterLine => {
                    if b == b'\n' {
                        self.mode = Mode::Headers;
                        self.blank = 0;
                    }
                    push(&mut out, b);
                }
                Mode::Headers => {
                    if is_removed(b) {
                        if out.is_none() {
                            let mut o = BytesMut::with_capacity(chunk.len());
                            o.extend_from_slice(&chunk[..i]);
                            out = Some(o);
                        }
                        i += 1;
                        continue;
                    }
                    self.blank = match (self.blank, b) {
                        (0 | 2, b'\r') => self.blank + 1,
                        (1 | 3, b'\n') => self.blank + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if self.blank == 4 {
                        self.mode = Mode::Content;
                        self.matched = 0;
                    }
                    push(&mut out, b);
                }
            }
            i += 1;
        }
        match out {
            Some(o) => o.freeze(),
            None => chunk,
        }
    }
}

/// Once a copy is being made, append `b` to it.
fn push(out: &mut Option<BytesMut>, b: u8) {
    if let Some(o) = out.as_mut() {
        o.extend_from_slice(&[b]);
    }
}

/// `body` with the control characters of its part headers removed (see the module's doc).
pub fn scrub<S, E>(body: S, boundary: &str) -> impl Stream<Item = Result<Bytes, E>> + use<S, E>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let mut state = PartHeaderScrub::new(boundary);
    body.map(move |chunk| chunk.map(|c| state.scrub(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(filename: &[u8], content: &[u8]) -> Vec<u8> {
        let mut b = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".to_vec();
        b.extend_from_slice(filename);
        b.extend_from_slice(b"\"\r\nContent-Type: application/pdf\r\n\r\n");
        b.extend_from_slice(content);
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    }

    /// Feed `input` in chunks of `size` bytes.
    fn run(input: &[u8], size: usize) -> Vec<u8> {
        let mut s = PartHeaderScrub::new("XyZ");
        let mut out = Vec::new();
        for chunk in input.chunks(size) {
            out.extend_from_slice(&s.scrub(Bytes::copy_from_slice(chunk)));
        }
        out
    }

    #[test]
    fn control_characters_leave_headers_and_only_headers() {
        let content = b"%PDF-1.7 \x1b\x7f\x00\x01 binary \r\n-- not a delimiter \r\n--XyY";
        let input = body(b"a\x1bb\x7fc\x00d\x01\x0b\x0c\x1fe\tf.pdf", content);
        let expected = body(b"abcde\tf.pdf", content);
        for size in [1, 2, 3, 5, 7, 16, 64, input.len()] {
            assert_eq!(run(&input, size), expected, "chunks of {size}");
        }
    }

    #[test]
    fn clean_chunks_are_not_copied() {
        let input = Bytes::from(body(b"report.pdf", b"%PDF-1.7 \x1b data"));
        let mut s = PartHeaderScrub::new("XyZ");
        let out = s.scrub(input.clone());
        assert_eq!(out.as_ptr(), input.as_ptr());
        assert_eq!(out, input);
    }

    #[test]
    fn every_part_and_a_body_opening_with_its_delimiter() {
        let input = b"--XyZ\r\nA: \x1bx\r\n\r\n\x1b\r\n--XyZ\r\nB: y\x7f\r\n\r\n\x7f\r\n--XyZ--\r\n\x1b";
        let expected = b"--XyZ\r\nA: x\r\n\r\n\x1b\r\n--XyZ\r\nB: y\r\n\r\n\x7f\r\n--XyZ--\r\n";
        for size in [1, 4, input.len()] {
            let out = run(input, size);
            // The epilogue is never parsed; what matters is everything before it.
            assert_eq!(&out[..expected.len()], &expected[..], "chunks of {size}");
        }
    }
}
