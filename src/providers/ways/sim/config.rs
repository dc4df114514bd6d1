//! Simulator configuration: API keys (customer and permissions), the rate limit and the quota.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::assumed;

/// Why a key spec or permission could not be parsed. Never contains a key value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Keys known at start; more can be added with the `/_sim/keys` hook.
    pub keys: Vec<KeySpec>,
    /// Requests per key in any sliding 60 s window; 0 means unlimited.
    pub rate_per_minute: u32,
    /// The most databases one customer may have at once.
    pub quota: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            keys: Vec::new(),
            rate_per_minute: assumed::RATE_PER_MINUTE,
            quota: assumed::DEFAULT_QUOTA,
        }
    }
}

/// What a key may do (`database:create|read|update|delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
}

impl Permission {
    pub const ALL: [Permission; 4] = [
        Permission::Create,
        Permission::Read,
        Permission::Update,
        Permission::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Create => "database:create",
            Permission::Read => "database:read",
            Permission::Update => "database:update",
            Permission::Delete => "database:delete",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `database:read` or just `read`.
impl FromStr for Permission {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s || p.as_str().strip_prefix("database:") == Some(s))
            .ok_or_else(|| {
                ParseError(format!(
                    "unknown permission {s:?}: expected database:create, database:read, database:update or database:delete"
                ))
            })
    }
}

impl TryFrom<String> for Permission {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.as_str().to_owned()
    }
}

/// An API key the simulator accepts: whose it is and what it may do.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    pub key: String,
    /// The customer id in the names of the databases it creates (`cust_<customer>_…`).
    pub customer: String,
    pub permissions: BTreeSet<Permission>,
}

impl KeySpec {
    /// A key with every permission.
    pub fn full(key: impl Into<String>, customer: impl Into<String>) -> Self {
        Self::new(key, customer, Permission::ALL)
    }

    pub fn new(
        key: impl Into<String>,
        customer: impl Into<String>,
        permissions: impl IntoIterator<Item = Permission>,
    ) -> Self {
        KeySpec {
            key: key.into(),
            customer: customer.into(),
            permissions: permissions.into_iter().collect(),
        }
    }

    /// Checks the key value and the customer id.
    pub fn validate(&self) -> Result<(), ParseError> {
        let key = &self.key;
        if key.is_empty() || key.len() > 256 {
            return Err(ParseError("key must be 1-256 characters".into()));
        }
        if key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        {
            return Err(ParseError(
                "key must not contain whitespace, control characters or ':'".into(),
            ));
        }
        assumed::validate_customer(&self.customer).map_err(ParseError)
    }
}

/// The key value is never printed.
impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySpec")
            .field("key", &"<redacted>")
            .field("customer", &self.customer)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// `KEY:CUSTOMER:PERMS`, PERMS a comma-separated list (`database:read,database:create`, or
/// `read,create`) or `all`.
impl FromStr for KeySpec {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (key, customer, perms) = match (parts.next(), parts.next(), parts.next()) {
            (Some(key), Some(customer), Some(perms)) => (key, customer, perms),
            _ => {
                return Err(ParseError(
                    "key spec must be KEY:CUSTOMER:PERMS (e.g. k1:6dd1d906:all)".into(),
                ));
            }
        };
        let permissions = if perms.trim() == "all" {
            Permission::ALL.into_iter().collect()
        } else {
            perms
                .split(',')
                .map(str::parse)
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(|e| ParseError(format!("key spec: {e}")))?
        };
        let spec = KeySpec {
            key: key.to_owned(),
            customer: customer.to_owned(),
            permissions,
        };
        spec.validate()
            .map_err(|e| ParseError(format!("key spec: {e}")))?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs() {
        let k: KeySpec = "k1:6dd1d906:all".parse().unwrap();
        assert_eq!(k.customer, "6dd1d906");
        assert_eq!(k.permissions.len(), 4);
        let k: KeySpec = "k2:c2:database:read,update".parse().unwrap();
        assert_eq!(
            k.permissions,
            BTreeSet::from([Permission::Read, Permission::Update])
        );
    }

    #[test]
    fn key_spec_errors_are_clear_and_secret_free() {
        let e = "secret_key:c1".parse::<KeySpec>().unwrap_err().0;
        assert!(e.contains("KEY:CUSTOMER:PERMS"), "{e}");
        assert!(!e.contains("secret_key"));
        let e = "secret_key:c1:database:drop"
            .parse::<KeySpec>()
            .unwrap_err()
            .0;
        assert!(e.contains("unknown permission \"database:drop\""), "{e}");
        assert!(!e.contains("secret_key"));
        let e = "secret_key:Cust_1:all".parse::<KeySpec>().unwrap_err().0;
        assert!(e.contains("customer id"), "{e}");
        let e = ":c1:all".parse::<KeySpec>().unwrap_err().0;
        assert!(e.contains("1-256"), "{e}");
        let spec: KeySpec = "secret_key:c1:read".parse().unwrap();
        assert!(!format!("{spec:?}").contains("secret_key"));
    }
}
