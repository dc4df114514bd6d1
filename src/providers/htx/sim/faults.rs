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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Armed {
    pub on: Call,
    pub fault: AfterEffect,
    /// How many calls it hits (default 1).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// Which calls an armed fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    Create,
    Delete,
}

/// What happens to a call's answer after the portal acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterEffect {
    /// The connection closes without an answer.
    LoseAnswer,
    /// A 503 instead of the answer.
    ServerError,
    /// No answer until the client gives up (the connection is then closed).
    Stall,
}

impl AfterEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoseAnswer => "lose_answer",
            Self::ServerError => "server_error",
            Self::Stall => "stall",
        }
    }
}

impl Faults {
    pub fn validate(&self) -> Result<(), SimError> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("partial_list_rate", self.partial_list_rate),
            ("abandon_delete_rate", self.abandon_delete_rate),
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
        if self.list_lag_ms > super::store::TOMBSTONE_MS {
            return Err(SimError::Invalid(format!(
                "list_lag_ms must be at most {}",
                super::store::TOMBSTONE_MS
            )));
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
    armed: Mutex<Vec<Armed>>,
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            active: AtomicBool::new(false),
            inner: Mutex::new((Faults::default(), StdRng::from_rng(&mut rand::rng()))),
            armed: Mutex::default(),
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

    /// Adds an armed fault (after those already armed for the same calls).
    pub fn arm(&self, armed: Armed) {
        if armed.count > 0 {
            self.armed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(armed);
        }
    }

    /// The armed fault for this call, if any, used up by one.
    pub fn take_armed(&self, call: Call) -> Option<AfterEffect> {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        let index = armed.iter().position(|a| a.on == call)?;
        let fault = armed[index].fault;
        armed[index].count -= 1;
        if armed[index].count == 0 {
            armed.remove(index);
        }
        Some(fault)
    }

    /// The list lag in effect.
    pub fn list_lag_ms(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .list_lag_ms
    }

    /// For each of `count` listed items, whether a partial list leaves it out.
    pub fn omissions(&self, count: usize) -> Vec<bool> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (f, rng) = &mut *inner;
        let rate = f.partial_list_rate;
        (0..count)
            .map(|_| rate > 0.0 && rng.random_bool(rate))
            .collect()
    }

    /// How a delete goes: `None` at once; `Some(abandon)` accepted and carried out later (or
    /// abandoned).
    pub fn delete_plan(&self) -> Option<bool> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (f, rng) = &mut *inner;
        if !f.async_deletes {
            return None;
        }
        let rate = f.abandon_delete_rate;
        Some(rate > 0.0 && rng.random_bool(rate))
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
