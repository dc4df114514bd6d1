//! Reading request bodies: each field with a 400 that names it. Fields the portal does not know
//! are ignored ([`assumed::UNKNOWN_FIELDS_IGNORED`](super::assumed::UNKNOWN_FIELDS_IGNORED)).

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::error::ApiError;

/// The integer query parameter `key` (`a=1&b=2`) within `range`, `default` when absent.
pub(crate) fn query_int(
    query: &str,
    key: &str,
    range: RangeInclusive<u64>,
    default: u64,
) -> Result<u64, ApiError> {
    let Some((_, value)) = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
    else {
        return Ok(default);
    };
    value
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            let allowed = match (range.start(), range.end()) {
                (0, &u64::MAX) => "a non-negative integer".to_owned(),
                (start, end) => format!("an integer from {start} to {end}"),
            };
            ApiError::bad_request(format!("query parameter {key} must be {allowed}"))
        })
}

/// The fields of a JSON object body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

/// Parses raw bytes into a JSON value, 400 when they are not JSON.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))
}

impl<'a> Fields<'a> {
    pub fn of(value: &'a Value) -> Result<Fields<'a>, ApiError> {
        value
            .as_object()
            .map(|obj| Fields { obj })
            .ok_or_else(|| ApiError::bad_request("request body must be a JSON object"))
    }

    fn present(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Result<&'a str, ApiError> {
        self.opt_str(key)?
            .ok_or_else(|| ApiError::bad_request(format!("field {key:?} is required")))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad_request(format!(
                "field {key:?} must be a string"
            ))),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad_request(format!(
                "field {key:?} must be true or false"
            ))),
        }
    }

    /// An integer within `range`, if present.
    pub fn opt_int(&self, key: &str, range: RangeInclusive<u32>) -> Result<Option<u32>, ApiError> {
        let Some(value) = self.present(key) else {
            return Ok(None);
        };
        value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "field {key:?} must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ))
            })
    }

    /// One of `allowed`, if present.
    pub fn opt_choice(&self, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
        match self.opt_str(key)? {
            Some(v) if !allowed.contains(&v) => Err(ApiError::bad_request(format!(
                "field {key:?} must be one of {}",
                allowed.join(", ")
            ))),
            v => Ok(v),
        }
    }

    /// An array of objects, required.
    pub fn objects(&self, key: &str) -> Result<Vec<Fields<'a>>, ApiError> {
        let items = match self.present(key) {
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "field {key:?} must be an array"
                )));
            }
            None => return Err(ApiError::bad_request(format!("field {key:?} is required"))),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Fields::of(item)
                    .map_err(|_| ApiError::bad_request(format!("{key}[{i}] must be a JSON object")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_name_what_is_wrong() {
        let v = json!({"name": "a", "port": 70000, "on": "yes", "list": [1], "nothing": null});
        let f = Fields::of(&v).unwrap();
        assert_eq!(f.str("name").unwrap(), "a");
        assert_eq!(f.opt_str("nothing").unwrap(), None);
        assert!(
            f.str("missing")
                .unwrap_err()
                .detail
                .contains("\"missing\" is required")
        );
        assert!(
            f.str("port")
                .unwrap_err()
                .detail
                .contains("must be a string")
        );
        let e = f.opt_int("port", 1..=65535).unwrap_err().detail;
        assert!(e.contains("from 1 to 65535"), "{e}");
        assert!(
            f.opt_bool("on")
                .unwrap_err()
                .detail
                .contains("true or false")
        );
        assert!(f.objects("list").unwrap_err().detail.contains("list[0]"));
        assert!(f.opt_choice("name", &["b", "c"]).is_err());
        assert_eq!(f.opt_choice("nothing", &["b"]).unwrap(), None);
        assert!(Fields::of(&json!([])).is_err());
        assert!(parse_json(b"  ").is_err());
        assert_eq!(query_int("a=1&limit=5", "limit", 1..=100, 10), Ok(5));
        assert_eq!(query_int("a=1", "limit", 1..=100, 10), Ok(10));
        let e = query_int("limit=0", "limit", 1..=100, 10)
            .unwrap_err()
            .detail;
        assert!(e.contains("limit must be an integer from 1 to 100"), "{e}");
        let e = query_int("offset=-1", "offset", 0..=u64::MAX, 0)
            .unwrap_err()
            .detail;
        assert!(e.contains("non-negative"), "{e}");
        assert!(
            parse_json(b"{")
                .unwrap_err()
                .detail
                .contains("not valid JSON")
        );
    }
}
