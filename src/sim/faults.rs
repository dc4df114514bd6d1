//! Injected faults: 503s, latency, dropped connections and unusual success codes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::error::SimError;

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
}

impl Faults {
    pub fn validate(&self) -> Result<(), SimError> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::Invalid(format!("{name} must be between 0 and 1")));
            }
        }
        for (name, status) in [
            ("create_status", self.create_status),
            ("delete_status", self.delete_status),
        ] {
            if let Some(s) = status
                && !(200..=299).contains(&s)
            {
                return Err(SimError::Invalid(format!("{name} must be a 2xx status")));
            }
        }
        Ok(())
    }

    fn is_active(&self) -> bool {
        *self != Faults::default()
    }
}

/// The faults drawn for one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Roll {
    pub error: bool,
    pub drop: bool,
    pub drop_before_effect: bool,
    pub latency: Duration,
    pub create_status: Option<u16>,
    pub delete_status: Option<u16>,
    pub echo_token: bool,
    pub redirect_to: Option<String>,
}

#[derive(Debug)]
pub(crate) struct FaultState {
    active: AtomicBool,
    inner: Mutex<(Faults, StdRng)>,
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            active: AtomicBool::new(false),
            inner: Mutex::new((Faults::default(), StdRng::from_rng(&mut rand::rng()))),
        }
    }
}

impl FaultState {
    pub fn set(&self, faults: Faults) -> Result<(), SimError> {
        faults.validate()?;
        let rng = match faults.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.active.store(faults.is_active(), Ordering::Release);
        *inner = (faults, rng);
        Ok(())
    }

    pub fn get(&self) -> Faults {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    pub fn roll(&self) -> Roll {
        if !self.active.load(Ordering::Acquire) {
            return Roll::default();
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (f, rng) = &mut *inner;
        let error = f.error_rate > 0.0 && rng.random_bool(f.error_rate);
        let drop = !error && f.drop_rate > 0.0 && rng.random_bool(f.drop_rate);
        Roll {
            error,
            drop,
            drop_before_effect: f.drop_before_effect,
            latency: Duration::from_millis(f.latency_ms),
            create_status: f.create_status,
            delete_status: f.delete_status,
            echo_token: f.echo_token,
            redirect_to: f.redirect_to.clone(),
        }
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
