//! The kinds of resources the simulator keeps, as the counters and the hooks name them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::SimError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Projects,
    ProjectSecrets,
    WebServices,
    Deployments,
    EnvVars,
    SecretBindings,
    Databases,
    Redis,
    Buckets,
    StorageKeys,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Projects,
        Kind::ProjectSecrets,
        Kind::WebServices,
        Kind::Deployments,
        Kind::EnvVars,
        Kind::SecretBindings,
        Kind::Databases,
        Kind::Redis,
        Kind::Buckets,
        Kind::StorageKeys,
    ];

    /// The name in the counters (`web_services`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Projects => "projects",
            Kind::ProjectSecrets => "project_secrets",
            Kind::WebServices => "web_services",
            Kind::Deployments => "deployments",
            Kind::EnvVars => "env_vars",
            Kind::SecretBindings => "secret_bindings",
            Kind::Databases => "databases",
            Kind::Redis => "redis",
            Kind::Buckets => "buckets",
            Kind::StorageKeys => "storage_keys",
        }
    }

    /// The name in hook paths (`web-services`).
    pub fn segment(self) -> &'static str {
        match self {
            Kind::ProjectSecrets => "project-secrets",
            Kind::WebServices => "web-services",
            Kind::EnvVars => "env-vars",
            Kind::SecretBindings => "secret-bindings",
            Kind::StorageKeys => "storage-keys",
            other => other.as_str(),
        }
    }

    /// One of it, in messages.
    pub(crate) fn singular(self) -> &'static str {
        match self {
            Kind::Projects => "project",
            Kind::ProjectSecrets => "project secret",
            Kind::WebServices => "web service",
            Kind::Deployments => "deployment",
            Kind::EnvVars => "env var",
            Kind::SecretBindings => "secret binding",
            Kind::Databases => "database",
            Kind::Redis => "redis",
            Kind::Buckets => "bucket",
            Kind::StorageKeys => "storage key",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = SimError;

    /// Either spelling: `web_services` or `web-services`.
    fn from_str(s: &str) -> Result<Kind, SimError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.segment() == s)
            .ok_or_else(|| SimError::NotFound(format!("unknown kind {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_parse() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
            assert_eq!(kind.segment().parse::<Kind>().unwrap(), kind);
        }
        assert!("webservices".parse::<Kind>().is_err());
    }
}
