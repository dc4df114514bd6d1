//! Simulator configuration: API keys with their account and scopes, the rate limit, delays.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::assumed::{DEFAULT_BUCKET_LIMIT, DEFAULT_RATE_PER_MINUTE};
use super::deployments::Outcome;

/// Why a key spec or scope could not be parsed. Never contains a key value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Keys known at start; more can be added with the `/_sim/keys` hook.
    pub keys: Vec<KeySpec>,
    /// Requests per key in any sliding minute, for keys without a rate of their own; 0 means
    /// unlimited.
    pub rate_per_minute: u32,
    /// How long provisioning, stopping, starting, updating and deleting take.
    pub provision_delay: Duration,
    /// How long each deployment stage (queued, building, deploying) takes.
    pub deploy_stage_delay: Duration,
    /// Buckets per account.
    pub bucket_limit: u32,
    /// How new deployments end.
    pub deploy_outcome: Outcome,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            keys: Vec::new(),
            rate_per_minute: DEFAULT_RATE_PER_MINUTE,
            provision_delay: Duration::from_secs(2),
            deploy_stage_delay: Duration::from_secs(1),
            bucket_limit: DEFAULT_BUCKET_LIMIT,
            deploy_outcome: Outcome::Live,
        }
    }
}

/// The parts of the API a scope names (ASSUMPTION SCOPES), as in the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    Projects,
    WebServices,
    Databases,
    Redis,
    Storage,
}

impl Area {
    pub const ALL: [Area; 5] = [
        Area::Projects,
        Area::WebServices,
        Area::Databases,
        Area::Redis,
        Area::Storage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Projects => "projects",
            Area::WebServices => "web-services",
            Area::Databases => "databases",
            Area::Redis => "redis",
            Area::Storage => "storage",
        }
    }
}

/// `AREA:read` or `AREA:write` (write includes read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope {
    pub area: Area,
    pub write: bool,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = if self.write { "write" } else { "read" };
        write!(f, "{}:{access}", self.area.as_str())
    }
}

impl FromStr for Scope {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Scope, ParseError> {
        let invalid = || {
            let areas: Vec<&str> = Area::ALL.iter().map(|a| a.as_str()).collect();
            ParseError(format!(
                "invalid scope {s:?}: expected AREA:read or AREA:write, AREA one of {}",
                areas.join(", ")
            ))
        };
        let (area, access) = s.trim().split_once(':').ok_or_else(invalid)?;
        let area = *Area::ALL
            .iter()
            .find(|a| a.as_str() == area)
            .ok_or_else(invalid)?;
        let write = match access {
            "read" => false,
            "write" => true,
            _ => return Err(invalid()),
        };
        Ok(Scope { area, write })
    }
}

impl TryFrom<String> for Scope {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Scope, ParseError> {
        s.parse()
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

/// An API key the simulator accepts: its account, and its scopes (`None`: everything).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    pub key: String,
    pub account: String,
    #[serde(default)]
    pub scopes: Option<Vec<Scope>>,
    /// Its own requests per minute instead of the simulator's (0 = unlimited).
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
}

impl KeySpec {
    pub fn new(key: impl Into<String>, account: impl Into<String>) -> KeySpec {
        KeySpec {
            key: key.into(),
            account: account.into(),
            scopes: None,
            rate_per_minute: None,
        }
    }

    /// ASSUMPTION KEYS_ONLY: `ak_` and printable characters, no whitespace or ':'.
    pub fn validate(&self) -> Result<(), ParseError> {
        let key = &self.key;
        if !key.starts_with("ak_") || key.len() < 4 || key.len() > 256 {
            return Err(ParseError(
                "an API key is `ak_` followed by 1-253 characters".into(),
            ));
        }
        if key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        {
            return Err(ParseError(
                "an API key must not contain whitespace, control characters or ':'".into(),
            ));
        }
        let account_ok = !self.account.is_empty()
            && self.account.len() <= 64
            && self
                .account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !account_ok {
            return Err(ParseError(format!(
                "invalid account {:?}: 1-64 letters, digits, '-' or '_'",
                self.account
            )));
        }
        Ok(())
    }
}

/// The key value is never printed.
impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySpec")
            .field("key", &"<redacted>")
            .field("account", &self.account)
            .field("scopes", &self.scopes)
            .field("rate_per_minute", &self.rate_per_minute)
            .finish()
    }
}

/// `KEY:ACCOUNT` or `KEY:ACCOUNT:SCOPE[,SCOPE…]`.
impl FromStr for KeySpec {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<KeySpec, ParseError> {
        let mut parts = s.splitn(3, ':');
        let key = parts.next().unwrap_or_default();
        let Some(account) = parts.next() else {
            return Err(ParseError(
                "key spec must be KEY:ACCOUNT or KEY:ACCOUNT:SCOPE[,SCOPE...] (account missing)"
                    .into(),
            ));
        };
        let scopes = parts
            .next()
            .map(|list| {
                list.split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let spec = KeySpec {
            key: key.to_owned(),
            account: account.to_owned(),
            scopes,
            rate_per_minute: None,
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
        let k: KeySpec = "ak_live_1:acme".parse().unwrap();
        assert_eq!((k.account.as_str(), k.scopes), ("acme", None));
        let k: KeySpec = "ak_live_2:acme:databases:read,web-services:write"
            .parse()
            .unwrap();
        let scopes = k.scopes.unwrap();
        assert_eq!(
            scopes[0],
            Scope {
                area: Area::Databases,
                write: false
            }
        );
        assert_eq!(scopes[1].to_string(), "web-services:write");
    }

    #[test]
    fn key_spec_errors_are_clear_and_secret_free() {
        let err = |s: &str| s.parse::<KeySpec>().unwrap_err().0;
        let e = err("ak_secret");
        assert!(
            e.contains("account missing") && !e.contains("ak_secret"),
            "{e}"
        );
        let e = err("ak_secret:acme:databases:admin");
        assert!(
            e.contains("invalid scope") && !e.contains("ak_secret"),
            "{e}"
        );
        assert!(err("secret:acme").contains("`ak_`"));
        assert!(err("ak_x:ac me").contains("invalid account"));
        let spec: KeySpec = "ak_secret:acme".parse().unwrap();
        assert!(!format!("{spec:?}").contains("ak_secret"));
    }

    #[test]
    fn scopes_round_trip_through_json() {
        let scope: Scope = serde_json::from_str("\"storage:write\"").unwrap();
        assert_eq!(serde_json::to_string(&scope).unwrap(), "\"storage:write\"");
        assert!(serde_json::from_str::<Scope>("\"storage\"").is_err());
    }
}
