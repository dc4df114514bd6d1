//! The PaaS simulator's fault settings (server errors, latency, dropped connections) and the
//! calls faults can be armed on, over the kit's [`FaultState`](crate::sim::faults::FaultState).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sim::faults::{CallName, Chances, FaultSet, check_rates};

pub use crate::sim::faults::AfterEffect;

/// The body of `POST /_sim/faults`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share (0–1) of API requests answered 503 before anything else happens.
    pub error_rate: f64,
    /// Delay added to every API request.
    pub latency_ms: u64,
    /// Share (0–1) of API requests whose connection closes without an answer.
    pub drop_rate: f64,
    /// Drop before the request takes effect; by default it takes effect and only the answer
    /// is lost.
    pub drop_before_effect: bool,
    /// Seed for the random choices, for reproducible runs.
    pub seed: Option<u64>,
}

impl FaultSet for Faults {
    fn chances(&self) -> Chances {
        Chances {
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            drop_before_effect: self.drop_before_effect,
            latency: Duration::from_millis(self.latency_ms),
        }
    }

    fn seed(&self) -> Option<u64> {
        self.seed
    }

    fn validate(&self) -> Result<(), String> {
        check_rates(&[
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
        ])
    }
}

/// A fault on the next calls of one kind, after they took effect (`POST /_sim/faults/arm`).
pub type Armed = crate::sim::faults::Armed<Call>;

/// The calls an armed fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    CreateProject,
    CreateProjectSecret,
    CreateWebService,
    CreateSecretBinding,
    CreateDatabase,
    CreateRedis,
    CreateBucket,
    CreateStorageKey,
    /// `POST /api/web-services/{id}/deployments`.
    Deploy,
    /// Any write of a service's env: POST, PATCH, bulk PUT or DELETE of a variable.
    EnvUpdate,
    /// A PATCH of any resource, a bulk PUT of project secrets or bindings, a deployment's
    /// cancel.
    Update,
    /// A DELETE of any resource but an env var.
    Delete,
    /// A start, stop or restart.
    StartStop,
}

impl CallName for Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::CreateProject => "create_project",
            Call::CreateProjectSecret => "create_project_secret",
            Call::CreateWebService => "create_web_service",
            Call::CreateSecretBinding => "create_secret_binding",
            Call::CreateDatabase => "create_database",
            Call::CreateRedis => "create_redis",
            Call::CreateBucket => "create_bucket",
            Call::CreateStorageKey => "create_storage_key",
            Call::Deploy => "deploy",
            Call::EnvUpdate => "env_update",
            Call::Update => "update",
            Call::Delete => "delete",
            Call::StartStop => "start_stop",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_hook_bodies() {
        for call in [Call::CreateWebService, Call::EnvUpdate, Call::StartStop] {
            let json = serde_json::to_string(&call).unwrap();
            assert_eq!(json, format!("\"{}\"", call.as_str()));
        }
        let armed: Armed =
            serde_json::from_str(r#"{"on":"deploy","fault":"server_error","count":2}"#).unwrap();
        assert_eq!((armed.on, armed.count), (Call::Deploy, 2));
        assert!(
            Faults {
                error_rate: 2.0,
                ..Faults::default()
            }
            .validate()
            .is_err()
        );
    }
}
