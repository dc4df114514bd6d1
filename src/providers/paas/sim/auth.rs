//! API keys: lookup, account, scopes, a rate window each, revocation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::config::{Area, KeySpec, Scope};
use super::error::SimError;
use crate::sim::ratelimit::Window;

/// What a request does, for scope checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
    /// A value in clear: ASSUMPTION REVEAL_NEEDS_WRITE.
    Reveal,
}

/// A live key.
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub account: String,
    pub scopes: Option<Vec<Scope>>,
    pub rate_per_minute: Mutex<Option<u32>>,
    pub window: Mutex<Window>,
}

impl KeyEntry {
    /// ASSUMPTION SCOPES: no scopes is everything; write includes read.
    pub fn permits(&self, area: Area, access: Access) -> bool {
        let Some(scopes) = &self.scopes else {
            return true;
        };
        scopes
            .iter()
            .any(|s| s.area == area && (s.write || access == Access::Read))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Keys {
    map: RwLock<HashMap<String, Arc<KeyEntry>>>,
}

impl Keys {
    pub fn lookup(&self, key: &str) -> Option<Arc<KeyEntry>> {
        self.read().get(key).cloned()
    }

    pub fn add(&self, spec: KeySpec) -> Result<(), SimError> {
        spec.validate().map_err(|e| SimError::Invalid(e.0))?;
        let mut map = self.write();
        if map.contains_key(&spec.key) {
            return Err(SimError::Conflict("key already exists".into()));
        }
        let entry = KeyEntry {
            account: spec.account,
            scopes: spec.scopes,
            rate_per_minute: Mutex::new(spec.rate_per_minute),
            window: Mutex::default(),
        };
        map.insert(spec.key, Arc::new(entry));
        Ok(())
    }

    /// The key stops working at once (revoked or expired: both are 401).
    pub fn revoke(&self, key: &str) -> Result<(), SimError> {
        self.write().remove(key).map(drop).ok_or_else(no_such_key)
    }

    /// Gives the key a rate of its own (`None`: the simulator's).
    pub fn set_rate(&self, key: &str, per_minute: Option<u32>) -> Result<(), SimError> {
        let entry = self.lookup(key).ok_or_else(no_such_key)?;
        *entry
            .rate_per_minute
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = per_minute;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Arc<KeyEntry>>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Arc<KeyEntry>>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn no_such_key() -> SimError {
    SimError::NotFound("no such key".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_limit_areas_and_writes() {
        let keys = Keys::default();
        keys.add("ak_all:acme".parse().unwrap()).unwrap();
        keys.add("ak_some:acme:databases:read,storage:write".parse().unwrap())
            .unwrap();
        let all = keys.lookup("ak_all").unwrap();
        let some = keys.lookup("ak_some").unwrap();
        for access in [Access::Read, Access::Write, Access::Reveal] {
            assert!(all.permits(Area::Projects, access));
            assert!(some.permits(Area::Storage, access));
            assert!(!some.permits(Area::Projects, access));
        }
        assert!(some.permits(Area::Databases, Access::Read));
        assert!(!some.permits(Area::Databases, Access::Write));
        assert!(!some.permits(Area::Databases, Access::Reveal));
    }

    #[test]
    fn add_revoke_and_rate() {
        let keys = Keys::default();
        keys.add("ak_1:acme".parse().unwrap()).unwrap();
        assert!(matches!(
            keys.add("ak_1:other".parse().unwrap()),
            Err(SimError::Conflict(_))
        ));
        assert!(matches!(
            keys.add(KeySpec::new("nope", "acme")),
            Err(SimError::Invalid(_))
        ));
        keys.set_rate("ak_1", Some(5)).unwrap();
        let entry = keys.lookup("ak_1").unwrap();
        assert_eq!(*entry.rate_per_minute.lock().unwrap(), Some(5));
        keys.revoke("ak_1").unwrap();
        assert!(keys.lookup("ak_1").is_none());
        assert!(matches!(keys.revoke("ak_1"), Err(SimError::NotFound(_))));
        assert!(matches!(
            keys.set_rate("ak_1", None),
            Err(SimError::NotFound(_))
        ));
        assert_eq!(keys.len(), 0);
    }
}
