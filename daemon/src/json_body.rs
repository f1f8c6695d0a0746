//! The JSON request body, once its bytes are in: empty, an object, or a refusal. The size
//! limit and the content type are checked by `handlers::read_json` before the bytes are read.
//!
//! This module uses nothing from the crate, so the fuzz targets (`fuzz/`) compile it as it is.

use serde_json::{Map, Value};

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonBodyError {
    /// Nothing (or only whitespace) where a body is required.
    Empty,
    /// A body without a `Content-Type`.
    NoContentType,
    /// JSON, but not an object.
    NotAnObject,
    /// Not JSON; the parser's message.
    Invalid(String),
}

/// Parse `bytes` as the request's JSON object. `Ok(None)` for an empty (or all-whitespace)
/// body when `required` is false. `has_content_type`: the request named one (already checked to
/// be JSON); a body sent without one is refused, an empty body is not.
pub fn parse_object(
    bytes: &[u8],
    has_content_type: bool,
    required: bool,
) -> Result<Option<Map<String, Value>>, JsonBodyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if required { Err(JsonBodyError::Empty) } else { Ok(None) };
    }
    if !has_content_type {
        return Err(JsonBodyError::NoContentType);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(JsonBodyError::NotAnObject),
        Err(e) => Err(JsonBodyError::Invalid(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_and_refusals() {
        assert_eq!(parse_object(b" \r\n", false, false), Ok(None));
        assert_eq!(parse_object(b"", true, true), Err(JsonBodyError::Empty));
        assert_eq!(parse_object(b"{}", false, false), Err(JsonBodyError::NoContentType));
        assert_eq!(parse_object(b"[1]", true, false), Err(JsonBodyError::NotAnObject));
        assert!(matches!(
            parse_object(b"{", true, false),
            Err(JsonBodyError::Invalid(_))
        ));
        let map = parse_object(br#" {"a": 1} "#, true, true)
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(map.get("a"), Some(&Value::from(1)));
    }

    /// Found by the `json_body` fuzz target: without serde_json's `float_roundtrip` a long
    /// number parsed to a float that printed and parsed back as another, so the `user_info`
    /// stored (and measured) was not the one parsed.
    #[test]
    fn numbers_round_trip() {
        for text in [
            r#"{"":21110100100000000000000000000000000000000000000000000000000016397105843297379214}"#,
            r#"{"a":0.30000000000000004,"b":1e-320,"c":-1.7976931348623157e308,"d":123456789.98765432}"#,
        ] {
            let map = parse_object(text.as_bytes(), true, true)
                .ok()
                .flatten()
                .unwrap_or_default();
            let printed = serde_json::to_vec(&map).unwrap_or_default();
            let again = parse_object(&printed, true, true).ok().flatten().unwrap_or_default();
            assert!(!map.is_empty());
            assert_eq!(again, map, "{text}");
        }
    }
}
