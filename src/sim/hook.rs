//! The body of a test hook's request (`/_sim/…`), read alike by every simulator.

use serde::de::DeserializeOwned;

/// Parses a hook's JSON body; an empty body counts as `{}`. The error is the text for the
/// simulator's own "invalid" answer.
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| format!("invalid hook body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_is_an_empty_object_and_bad_json_is_said() {
        let empty: serde_json::Map<String, serde_json::Value> = body(b" \n").unwrap();
        assert!(empty.is_empty());
        let bad = body::<serde_json::Value>(b"{").unwrap_err();
        assert!(bad.starts_with("invalid hook body: "), "{bad}");
    }
}
