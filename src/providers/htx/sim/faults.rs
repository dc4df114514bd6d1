//! HTX's fault settings (503s, latency, dropped connections, unusual success codes, lagging
//! lists, asynchronous deletes …) and the calls faults can be armed on, over the kit's
//! [`FaultState`](crate::sim::faults::FaultState).

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::error::SimError;
use crate::sim::faults::{CallName, Chances, FaultSet, check_rates};

pub use crate::sim::faults::AfterEffect;

/// The body of `POST /_sim/faults`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share (0–1) of portal requests answered 503 before anything else happens.
    pub error_rate: f64,
    /// Delay added to every portal request.
    pub latency_ms: u64,
    /// Share (0–1) of portal requests whose connection is closed without a response.
    pub drop_rate: f64,
    /// Drop before the request takes effect; by default the effect happens and only the
    /// response is lost (the hard case for exactly-once clients).
    pub drop_before_effect: bool,
    /// Success status for creates instead of 201 (e.g. 200, 202, 204; 204 has no body).
    pub create_status: Option<u16>,
    /// Success status for deletes instead of 200 (e.g. 202, 204; 204 has no body).
    pub delete_status: Option<u16>,
    /// Seed for the random choices, for reproducible runs.
    pub seed: Option<u64>,
    /// Error texts repeat the token the request presented (`API token '…' is not valid`), as a
    /// careless portal might.
    pub echo_token: bool,
    /// Every portal request is answered `307 Temporary Redirect` to this base URL (plus the
    /// request's path), as a portal that moved might.
    pub redirect_to: Option<String>,
    /// Lists (of databases, functions, proxies and backups) show the portal as it was this long
    /// ago, at most 120 s: a resource created since is missing, one deleted since is still there.
    /// Looking a database up by name is current.
    pub list_lag_ms: u64,
    /// Share (0–1) of the items each list leaves out (a partial list).
    pub partial_list_rate: f64,
    /// Deletes answer `202 {}` and take the provision delay, the resource showing `deleting`
    /// meanwhile (a name being deleted is still taken).
    pub async_deletes: bool,
    /// Share (0–1) of the asynchronous deletes the portal accepts and later abandons: the
    /// resource comes back as it was.
    pub abandon_delete_rate: f64,
}

/// A fault for the next calls of one kind, after they took effect (`POST /_sim/faults/arm`):
/// makes the hard cases deterministic, and counted when they fire (`Stats::fired`).
pub type Armed = crate::sim::faults::Armed<Call>;

/// Which calls an armed fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    Create,
    Delete,
}

impl CallName for Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::Create => "create",
            Call::Delete => "delete",
        }
    }
}

impl Faults {
    pub fn validate(&self) -> Result<(), SimError> {
        self.check().map_err(SimError::Invalid)
    }

    fn check(&self) -> Result<(), String> {
        check_rates(&[
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("partial_list_rate", self.partial_list_rate),
            ("abandon_delete_rate", self.abandon_delete_rate),
        ])?;
        for (name, status) in [
            ("create_status", self.create_status),
            ("delete_status", self.delete_status),
        ] {
            if let Some(s) = status
                && !(200..=299).contains(&s)
            {
                return Err(format!("{name} must be a 2xx status"));
            }
        }
        if self.list_lag_ms > super::store::TOMBSTONE_MS {
            return Err(format!(
                "list_lag_ms must be at most {}",
                super::store::TOMBSTONE_MS
            ));
        }
        Ok(())
    }
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
        self.check()
    }
}

/// The fault settings in force, and the armed faults.
pub(crate) type FaultState = crate::sim::faults::FaultState<Faults, Call>;

/// The faults drawn for one request.
pub(crate) type Roll = crate::sim::faults::Roll<Faults>;

/// HTX's own random faults, on lists and deletes.
impl FaultState {
    /// The list lag in effect.
    pub fn list_lag_ms(&self) -> u64 {
        self.with(|f, _| f.list_lag_ms)
    }

    /// For each of `count` listed items, whether a partial list leaves it out.
    pub fn omissions(&self, count: usize) -> Vec<bool> {
        self.with(|f, rng| {
            let rate = f.partial_list_rate;
            (0..count)
                .map(|_| rate > 0.0 && rng.random_bool(rate))
                .collect()
        })
    }

    /// How a delete goes: `None` at once; `Some(abandon)` accepted and carried out later (or
    /// abandoned).
    pub fn delete_plan(&self) -> Option<bool> {
        self.with(|f, rng| {
            if !f.async_deletes {
                return None;
            }
            let rate = f.abandon_delete_rate;
            Some(rate > 0.0 && rng.random_bool(rate))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rolls_are_reproducible_and_near_the_rate() {
        let a = FaultState::default();
        let b = FaultState::default();
        let f = Faults {
            error_rate: 0.2,
            drop_rate: 0.1,
            seed: Some(7),
            ..Faults::default()
        };
        a.set(f.clone()).unwrap();
        b.set(f).unwrap();
        let ra: Vec<(bool, bool)> = (0..1000)
            .map(|_| a.roll())
            .map(|r| (r.error, r.drop))
            .collect();
        let rb: Vec<(bool, bool)> = (0..1000)
            .map(|_| b.roll())
            .map(|r| (r.error, r.drop))
            .collect();
        assert_eq!(ra, rb);
        let errors = ra.iter().filter(|r| r.0).count();
        assert!((150..250).contains(&errors), "{errors}");
    }

    #[test]
    fn validation() {
        let bad = |f: Faults| FaultState::default().set(f).is_err();
        assert!(bad(Faults {
            error_rate: 1.5,
            ..Faults::default()
        }));
        assert!(bad(Faults {
            create_status: Some(404),
            ..Faults::default()
        }));
        assert!(!bad(Faults {
            delete_status: Some(204),
            ..Faults::default()
        }));
        assert!(!FaultState::default().roll().error);
    }
}
