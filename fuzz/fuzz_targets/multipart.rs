//! An upload body as the daemon reads it: part headers scrubbed of control characters, parsed
//! by multer with the daemon's constraints, the file fed to the PDF check and its name
//! sanitized. Never a panic; the scrub does not depend on how the body is cut into chunks; a
//! kept filename is non-empty, at most 255 bytes, without control characters or separators.
#![no_main]

use bytes::Bytes;
use futures_util::stream;
use libfuzzer_sys::fuzz_target;
use sessiond_fuzz::check::{MAX_FILENAME_BYTES, Sniff, sanitize_filename};
use sessiond_fuzz::part_headers::{PartHeaderScrub, scrub};

const BOUNDARY: &str = "fuzzboundary";

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let size = usize::from(cut % 64) + 1;

    // Chunking does not change the scrubbed body.
    let mut whole = PartHeaderScrub::new(BOUNDARY);
    let expected = whole.scrub(Bytes::copy_from_slice(body));
    let mut pieces = PartHeaderScrub::new(BOUNDARY);
    let mut got = Vec::with_capacity(body.len());
    for chunk in body.chunks(size) {
        got.extend_from_slice(&pieces.scrub(Bytes::copy_from_slice(chunk)));
    }
    assert_eq!(&got[..], &expected[..]);

    let chunks: Vec<Result<Bytes, std::io::Error>> = body.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let scrubbed = scrub(stream::iter(chunks), BOUNDARY);
    let constraints = multer::Constraints::new().allowed_fields(vec!["file"]);
    let mut multipart = multer::Multipart::with_constraints(scrubbed, BOUNDARY, constraints);
    let _ = sessiond_fuzz::block_on(async move {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            let name = sanitize_filename(field.file_name());
            assert!(!name.is_empty() && name.len() <= MAX_FILENAME_BYTES, "{name:?}");
            assert!(
                !name.chars().any(|c| c.is_control() || c == '/' || c == '\\'),
                "{name:?}"
            );
            let mut sniff = Sniff::default();
            while let Ok(Some(chunk)) = field.chunk().await {
                sniff.feed(&chunk);
            }
        }
    });
});
