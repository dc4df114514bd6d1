//! Tokens: lookup, IP allowlist, scopes, revocation and rotation.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use super::config::{Cidr, Scope, TokenSpec};
use super::error::SimError;
use super::model::Kind;
use crate::sim::ratelimit::Window;

/// What a request does, for scope checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Read,
    Create,
    Delete,
}

/// A live token. Rotation moves the entry to a new value, so scope, allowlist, account and rate
/// budget carry over.
#[derive(Debug)]
pub(crate) struct TokenEntry {
    pub scope: Scope,
    pub allow: Vec<Cidr>,
    pub account: Account,
    pub window: Mutex<Window>,
}

/// The portal account a request acts in: it sees and changes only that account's resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Account(pub Arc<str>);

impl Account {
    pub fn owns(&self, record: &super::model::Record) -> bool {
        *self.0 == *record.account
    }
}

impl TokenEntry {
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|c| c.contains(ip))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tokens {
    map: RwLock<HashMap<String, Arc<TokenEntry>>>,
}

impl Tokens {
    pub fn lookup(&self, token: &str) -> Option<Arc<TokenEntry>> {
        read(&self.map).get(token).cloned()
    }

    pub fn add(&self, spec: TokenSpec) -> Result<(), SimError> {
        TokenSpec::validate_token(&spec.token).map_err(|e| SimError::Invalid(e.0))?;
        let mut map = write(&self.map);
        if map.contains_key(&spec.token) {
            return Err(SimError::Conflict("token already exists".into()));
        }
        let entry = TokenEntry {
            scope: spec.scope,
            allow: spec.allow,
            account: Account(spec.account.into()),
            window: Mutex::default(),
        };
        map.insert(spec.token, Arc::new(entry));
        Ok(())
    }

    pub fn revoke(&self, token: &str) -> Result<(), SimError> {
        write(&self.map)
            .remove(token)
            .map(drop)
            .ok_or_else(|| SimError::NotFound("no such token".into()))
    }

    pub fn rotate(&self, old: &str, new: &str) -> Result<(), SimError> {
        TokenSpec::validate_token(new).map_err(|e| SimError::Invalid(format!("new {}", e.0)))?;
        let mut map = write(&self.map);
        if !map.contains_key(old) {
            return Err(SimError::NotFound("no such token".into()));
        }
        if map.contains_key(new) {
            return Err(SimError::Conflict("new token already exists".into()));
        }
        let entry = map.remove(old).expect("checked above");
        map.insert(new.to_owned(), entry);
        Ok(())
    }

    pub fn len(&self) -> usize {
        read(&self.map).len()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Every scope reads everything; `read` writes nothing; a product scope writes its own product
/// (backups belong to databases).
pub(crate) fn permits(scope: Scope, action: Action, kind: Kind) -> bool {
    if action == Action::Read {
        return true;
    }
    match scope {
        Scope::Full => true,
        Scope::Read => false,
        Scope::Databases => matches!(kind, Kind::Databases | Kind::Backups),
        Scope::Functions => kind == Kind::Functions,
        Scope::Proxies => kind == Kind::Proxies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        use Action::*;
        use Kind::*;
        for kind in [Databases, Functions, Proxies, Backups] {
            for scope in [
                Scope::Full,
                Scope::Read,
                Scope::Databases,
                Scope::Functions,
                Scope::Proxies,
            ] {
                assert!(permits(scope, Read, kind));
            }
            assert!(permits(Scope::Full, Create, kind));
            assert!(!permits(Scope::Read, Create, kind));
            assert!(!permits(Scope::Read, Delete, kind));
        }
        assert!(permits(Scope::Databases, Create, Backups));
        assert!(permits(Scope::Databases, Delete, Databases));
        assert!(!permits(Scope::Databases, Create, Functions));
        assert!(permits(Scope::Functions, Delete, Functions));
        assert!(!permits(Scope::Functions, Create, Backups));
        assert!(permits(Scope::Proxies, Create, Proxies));
        assert!(!permits(Scope::Proxies, Delete, Databases));
    }

    #[test]
    fn rotate_and_revoke() {
        let t = Tokens::default();
        t.add("a1:databases:10.0.0.0/8".parse().unwrap()).unwrap();
        assert!(matches!(
            t.add("a1:full".parse().unwrap()),
            Err(SimError::Conflict(_))
        ));
        t.rotate("a1", "a2").unwrap();
        assert!(t.lookup("a1").is_none());
        let e = t.lookup("a2").unwrap();
        assert_eq!(e.scope, Scope::Databases);
        assert!(e.allows("10.1.1.1".parse().unwrap()));
        assert!(!e.allows("127.0.0.1".parse().unwrap()));
        assert!(matches!(t.rotate("a1", "a3"), Err(SimError::NotFound(_))));
        t.revoke("a2").unwrap();
        assert!(t.lookup("a2").is_none());
        assert!(matches!(t.revoke("a2"), Err(SimError::NotFound(_))));
    }
}
