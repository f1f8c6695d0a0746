//! Session ids: `parse_session_id` accepts exactly the canonical v4 forms, and what it accepts
//! prints back as the input (lower-cased).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_fuzz::id::parse_session_id;

/// An independent statement of the rule: 8-4-4-4-12 hex, version 4, variant 10.
fn is_canonical_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
        && b[14] == b'4'
        && matches!(b[19].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_session_id(s);
    assert_eq!(parsed.is_some(), is_canonical_v4(s), "{s:?}");
    if let Some(id) = parsed {
        assert_eq!(id.to_string(), s.to_ascii_lowercase());
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
    }
});
