//! API keys: who a key belongs to, what it may do, and its rate window.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use axum::http::HeaderMap;

use super::config::{KeySpec, Permission};
use super::error::SimError;
use crate::sim::ratelimit::Window;

/// The header that carries the key.
pub(crate) const HEADER: &str = "x-api-key";

/// A live key.
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub customer: String,
    pub permissions: BTreeSet<Permission>,
    pub window: Mutex<Window>,
}

#[derive(Debug, Default)]
pub(crate) struct Keys {
    map: RwLock<HashMap<String, Arc<KeyEntry>>>,
}

impl Keys {
    pub fn lookup(&self, key: &str) -> Option<Arc<KeyEntry>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Adds a key, or gives an existing one a new customer and permissions (its rate window
    /// starts afresh).
    pub fn put(&self, spec: KeySpec) -> Result<(), SimError> {
        spec.validate().map_err(|e| SimError::Invalid(e.0))?;
        let entry = KeyEntry {
            customer: spec.customer,
            permissions: spec.permissions,
            window: Mutex::default(),
        };
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spec.key, Arc::new(entry));
        Ok(())
    }
}

/// The key of an `X-API-Key` header.
pub(crate) fn api_key(headers: &HeaderMap) -> Option<&str> {
    let key = headers.get(HEADER)?.to_str().ok()?.trim();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keys_are_put_and_found() {
        let keys = Keys::default();
        keys.put("k1:c1:read".parse().unwrap()).unwrap();
        assert_eq!(keys.lookup("k1").unwrap().customer, "c1");
        keys.put(KeySpec::full("k1", "c1")).unwrap();
        assert_eq!(keys.lookup("k1").unwrap().permissions.len(), 4);
        assert!(keys.lookup("k2").is_none());
        assert!(keys.put(KeySpec::full("k 2", "c1")).is_err());
    }

    #[test]
    fn the_header() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), None);
        h.insert(HEADER, HeaderValue::from_static(" k1 "));
        assert_eq!(api_key(&h), Some("k1"));
        h.insert(HEADER, HeaderValue::from_static(""));
        assert_eq!(api_key(&h), None);
    }
}
