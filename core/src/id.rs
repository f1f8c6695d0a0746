//! Session ids: canonical random UUIDs version 4, parsed strictly (SPEC §2.2).

use uuid::Uuid;

/// Parse a session id: exactly 36 characters `8-4-4-4-12` hex (either case), version nibble
/// `4`, variant `10`. Braces, `urn:uuid:`, missing hyphens, whitespace, the nil UUID and other
/// versions are refused. Returns `None` for anything that is not such a UUID.
pub fn parse_session_id(raw: &str) -> Option<Uuid> {
    let b = raw.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let hyphen = matches!(i, 8 | 13 | 18 | 23);
        if hyphen != (c == b'-') {
            return None;
        }
        if !hyphen && !c.is_ascii_hexdigit() {
            return None;
        }
    }
    // Version nibble is the first digit of the third group; variant the first of the fourth.
    if b[14] != b'4' || !matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B') {
        return None;
    }
    Uuid::try_parse_ascii(b).ok()
}

/// Source of fresh session ids; the daemon uses the OS CSPRNG, tests inject collisions.
pub trait IdGenerator: Send + Sync + 'static {
    /// A new random v4 UUID.
    fn next_id(&self) -> Uuid;
}

/// UUID v4 from the operating system's CSPRNG (`getrandom`), one system call per session id:
/// a session id is the client's only credential. (Request ids and upload ids come from
/// `Uuid::new_v4`, which with uuid's `fast-rng` feature draws on `rand`'s thread-local
/// CSPRNG, seeded from the OS, with no system call per id.)
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn next_id(&self) -> Uuid {
        let mut bytes = [0_u8; 16];
        match getrandom::fill(&mut bytes) {
            Ok(()) => uuid::Builder::from_random_bytes(bytes).into_uuid(),
            Err(e) => {
                tracing::warn!(error = %e, "the OS random source failed; drawing this session id from the thread-local CSPRNG");
                Uuid::new_v4()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn session_ids_are_random_v4() {
        let ids: std::collections::HashSet<Uuid> = (0..1000).map(|_| RandomIds.next_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.get_version(), Some(uuid::Version::Random));
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(parse_session_id(&id.to_string()), Some(*id));
        }
    }

    #[test]
    fn accepts_canonical_v4_in_either_case() {
        let id = "3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c";
        assert_eq!(parse_session_id(id).map(|u| u.to_string()).as_deref(), Some(id));
        let upper = id.to_ascii_uppercase();
        assert_eq!(parse_session_id(&upper).map(|u| u.to_string()).as_deref(), Some(id));
    }

    #[test]
    fn refuses_every_non_canonical_form() {
        for bad in [
            "",
            "00000000-0000-0000-0000-000000000000",
            "{3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c}",
            "urn:uuid:3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c",
            "3f2b6c1e8a4d4e2f9b7c1d2e3f4a5b6c",
            " 3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c",
            "3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c ",
            "3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c0",
            "3f2b6c1e-8a4d-1e2f-9b7c-1d2e3f4a5b6c", // version 1
            "3f2b6c1e-8a4d-7e2f-9b7c-1d2e3f4a5b6c", // version 7
            "3f2b6c1e-8a4d-4e2f-cb7c-1d2e3f4a5b6c", // variant 110
            "3f2b6c1e-8a4d-4e2f-7b7c-1d2e3f4a5b6c", // variant 0
            "3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6g",
            "3f2b6c1e_8a4d-4e2f-9b7c-1d2e3f4a5b6c",
            "3f2b6c1e-8a4d-4e2f-9b7c1-d2e3f4a5b6c",
        ] {
            assert_eq!(parse_session_id(bad), None, "{bad:?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn every_generated_v4_round_trips(bytes in any::<[u8; 16]>()) {
            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
            let text = id.to_string();
            prop_assert_eq!(parse_session_id(&text), Some(id));
            prop_assert_eq!(parse_session_id(&text.to_ascii_uppercase()), Some(id));
        }

        #[test]
        fn accepted_strings_are_canonical(s in "\\PC{0,40}") {
            if let Some(id) = parse_session_id(&s) {
                prop_assert_eq!(id.to_string(), s.to_ascii_lowercase());
                prop_assert_eq!(id.get_version_num(), 4);
            }
        }

        #[test]
        fn other_versions_are_refused(bytes in any::<[u8; 16]>(), version in 0u8..16) {
            prop_assume!(version != 4);
            let mut b = bytes;
            b[6] = (b[6] & 0x0f) | (version << 4);
            b[8] = (b[8] & 0x3f) | 0x80;
            let text = Uuid::from_bytes(b).to_string();
            prop_assert_eq!(parse_session_id(&text), None);
        }

        #[test]
        fn near_misses_are_refused(bytes in any::<[u8; 16]>(), pos in 0usize..36, c in any::<char>()) {
            let text = uuid::Builder::from_random_bytes(bytes).into_uuid().to_string();
            let mut chars: Vec<char> = text.chars().collect();
            prop_assume!(chars[pos] != c && !(chars[pos].is_ascii_hexdigit() && c.is_ascii_hexdigit() && pos != 14 && pos != 19));
            chars[pos] = c;
            let mutated: String = chars.into_iter().collect();
            if let Some(id) = parse_session_id(&mutated) {
                // Only a same-meaning change (case, or another valid variant digit) may pass.
                prop_assert_eq!(id.to_string(), mutated.to_ascii_lowercase());
            }
        }
    }
}
