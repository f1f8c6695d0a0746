//! The JSON request body: never a panic, and an accepted object serializes and parses back to
//! itself (what `generate` measures against the 2 KiB `user_info` limit is what is stored).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessiond_fuzz::json_body::{JsonBodyError, parse_object};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let has_content_type = flags & 1 == 1;
    let required = flags & 2 == 2;
    match parse_object(body, has_content_type, required) {
        Ok(Some(map)) => {
            assert!(has_content_type);
            let text = serde_json::to_vec(&map).expect("an object serializes");
            let again: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&text).expect("and parses back");
            assert_eq!(again, map);
            if let Some(info) = map.get("user_info") {
                let _ = serde_json::to_vec(info).map(|b| b.len());
            }
        }
        Ok(None) => assert!(!required && body.iter().all(u8::is_ascii_whitespace)),
        Err(JsonBodyError::Empty) => assert!(required),
        Err(JsonBodyError::NoContentType) => assert!(!has_content_type),
        Err(JsonBodyError::NotAnObject | JsonBodyError::Invalid(_)) => {}
    }
});
