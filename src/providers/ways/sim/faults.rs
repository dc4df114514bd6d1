//! The faults the WaysCloud simulator injects: random server errors, latency and dropped
//! connections, and faults armed on the next calls of one kind of write.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sim::faults::{CallName, Chances, FaultSet, check_rates};

pub use crate::sim::faults::AfterEffect;

/// The body of `POST /_sim/faults`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share (0–1) of portal requests answered `500 Internal Server Error` before anything else.
    pub error_rate: f64,
    /// Delay added to every portal request.
    pub latency_ms: u64,
    /// Share (0–1) of portal requests whose connection closes without an answer, after the
    /// request took effect.
    pub drop_rate: f64,
    /// Seed for the random choices, for reproducible runs.
    pub seed: Option<u64>,
}

impl FaultSet for Faults {
    fn chances(&self) -> Chances {
        Chances {
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            drop_before_effect: false,
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

/// The writes: what faults can be armed on, and what the effective-change counters count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    Create,
    Delete,
    Patch,
    Rotate,
    Restart,
    FirewallAdd,
    FirewallDelete,
    PolicyPut,
    Snapshot,
    SnapshotDelete,
    Restore,
}

impl CallName for Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::Create => "create",
            Call::Delete => "delete",
            Call::Patch => "patch",
            Call::Rotate => "rotate",
            Call::Restart => "restart",
            Call::FirewallAdd => "firewall_add",
            Call::FirewallDelete => "firewall_delete",
            Call::PolicyPut => "policy_put",
            Call::Snapshot => "snapshot",
            Call::SnapshotDelete => "snapshot_delete",
            Call::Restore => "restore",
        }
    }
}

/// A fault for the next calls of one kind, after they took effect (`POST /_sim/faults/arm`).
pub type Armed = crate::sim::faults::Armed<Call>;

pub(crate) type FaultState = crate::sim::faults::FaultState<Faults, Call>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_names_match_their_serde_names() {
        for call in [
            Call::Create,
            Call::FirewallAdd,
            Call::SnapshotDelete,
            Call::PolicyPut,
        ] {
            assert_eq!(serde_json::to_value(call).unwrap(), call.as_str());
        }
    }
}
