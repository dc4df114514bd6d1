//! Injected faults: random ones drawn per request (errors, latency, dropped connections) from a
//! provider's own settings, and armed ones that hit the next calls of one kind after the portal
//! acted on them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A provider's fault settings (the body of its `POST /_sim/faults`): its own fields, of which
/// the kit draws the random ones every request.
pub trait FaultSet: Clone + Default + PartialEq + Send + 'static {
    /// The random faults these settings ask for.
    fn chances(&self) -> Chances;
    /// Seed for the random choices, for reproducible runs.
    fn seed(&self) -> Option<u64>;
    /// Why these settings are unusable, if they are.
    fn validate(&self) -> Result<(), String>;
}

/// The random faults drawn for every request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Chances {
    /// Share (0–1) of requests answered with a server error before anything else happens.
    pub error_rate: f64,
    /// Share (0–1) of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Drop before the request takes effect (by default the effect happens and only the answer
    /// is lost).
    pub drop_before_effect: bool,
    /// Delay added to every request.
    pub latency: Duration,
}

/// Checks that each named rate is a share between 0 and 1.
pub fn check_rates(rates: &[(&str, f64)]) -> Result<(), String> {
    match rates.iter().find(|(_, rate)| !(0.0..=1.0).contains(rate)) {
        Some((name, _)) => Err(format!("{name} must be between 0 and 1")),
        None => Ok(()),
    }
}

/// What was drawn for one request, with the settings it was drawn from.
#[derive(Debug, Clone, Default)]
pub struct Roll<F> {
    pub error: bool,
    pub drop: bool,
    pub drop_before_effect: bool,
    pub latency: Duration,
    pub settings: F,
}

/// A fault for the next calls of one kind, after they took effect (`POST /_sim/faults/arm`):
/// makes the hard cases deterministic, and counted when they fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Armed<C> {
    pub on: C,
    pub fault: AfterEffect,
    /// How many calls it hits (default 1).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// The calls of a provider that faults can be armed on.
pub trait CallName: Copy + Eq + Send + 'static {
    /// Its name in counters and hook bodies (`create`, `rotate` …).
    fn as_str(self) -> &'static str;
}

/// What happens to a call's answer after the portal acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterEffect {
    /// The connection closes without an answer.
    LoseAnswer,
    /// A server error instead of the answer.
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

/// The fault settings in force, their random source, and the armed faults.
#[derive(Debug)]
pub struct FaultState<F, C> {
    active: AtomicBool,
    inner: Mutex<(F, StdRng)>,
    armed: Mutex<Vec<Armed<C>>>,
}

impl<F: FaultSet, C> Default for FaultState<F, C> {
    fn default() -> Self {
        FaultState {
            active: AtomicBool::new(false),
            inner: Mutex::new((F::default(), StdRng::from_rng(&mut rand::rng()))),
            armed: Mutex::default(),
        }
    }
}

impl<F: FaultSet, C: CallName> FaultState<F, C> {
    pub fn set(&self, faults: F) -> Result<(), String> {
        faults.validate()?;
        let rng = match faults.seed() {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.active.store(faults != F::default(), Ordering::Release);
        *inner = (faults, rng);
        Ok(())
    }

    pub fn get(&self) -> F {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Runs `f` on the settings and the random source (for a provider's own random faults).
    pub fn with<R>(&self, f: impl FnOnce(&F, &mut StdRng) -> R) -> R {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (faults, rng) = &mut *inner;
        f(faults, rng)
    }

    /// Draws the random faults for one request.
    pub fn roll(&self) -> Roll<F> {
        if !self.active.load(Ordering::Acquire) {
            return Roll::default();
        }
        self.with(|faults, rng| {
            let chances = faults.chances();
            let error = chances.error_rate > 0.0 && rng.random_bool(chances.error_rate);
            let drop = !error && chances.drop_rate > 0.0 && rng.random_bool(chances.drop_rate);
            Roll {
                error,
                drop,
                drop_before_effect: chances.drop_before_effect,
                latency: chances.latency,
                settings: faults.clone(),
            }
        })
    }

    /// Adds an armed fault (after those already armed for the same calls).
    pub fn arm(&self, armed: Armed<C>) {
        if armed.count > 0 {
            self.armed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(armed);
        }
    }

    /// The armed fault for this call, if any, used up by one.
    pub fn take_armed(&self, call: C) -> Option<AfterEffect> {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        let index = armed.iter().position(|a| a.on == call)?;
        let fault = armed[index].fault;
        armed[index].count -= 1;
        if armed[index].count == 0 {
            armed.remove(index);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq)]
    struct Rates(f64);

    impl FaultSet for Rates {
        fn chances(&self) -> Chances {
            Chances {
                error_rate: self.0,
                ..Chances::default()
            }
        }
        fn seed(&self) -> Option<u64> {
            None
        }
        fn validate(&self) -> Result<(), String> {
            check_rates(&[("error_rate", self.0)])
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        Create,
        Rotate,
    }

    impl CallName for Op {
        fn as_str(self) -> &'static str {
            match self {
                Op::Create => "create",
                Op::Rotate => "rotate",
            }
        }
    }

    #[test]
    fn armed_faults_hit_their_calls_in_order_and_run_out() {
        let state = FaultState::<Rates, Op>::default();
        let armed = |on, fault, count| Armed { on, fault, count };
        state.arm(armed(Op::Create, AfterEffect::LoseAnswer, 2));
        state.arm(armed(Op::Create, AfterEffect::Stall, 1));
        state.arm(armed(Op::Rotate, AfterEffect::ServerError, 0));
        assert_eq!(state.take_armed(Op::Rotate), None);
        assert_eq!(state.take_armed(Op::Create), Some(AfterEffect::LoseAnswer));
        assert_eq!(state.take_armed(Op::Create), Some(AfterEffect::LoseAnswer));
        assert_eq!(state.take_armed(Op::Create), Some(AfterEffect::Stall));
        assert_eq!(state.take_armed(Op::Create), None);
    }

    #[test]
    fn settings_are_validated_and_always_on_when_the_rate_is_one() {
        let state = FaultState::<Rates, Op>::default();
        assert_eq!(
            state.set(Rates(1.5)),
            Err("error_rate must be between 0 and 1".to_owned())
        );
        assert!(!state.roll().error);
        state.set(Rates(1.0)).unwrap();
        assert!((0..100).all(|_| state.roll().error));
        assert_eq!(state.get(), Rates(1.0));
    }

    #[test]
    fn armed_bodies_read_like_the_hook_documents() {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum On {
            Create,
        }
        let armed: Armed<On> =
            serde_json::from_str(r#"{"on":"create","fault":"lose_answer"}"#).unwrap();
        assert_eq!(armed.count, 1);
        assert_eq!(armed.fault, AfterEffect::LoseAnswer);
        assert!(serde_json::from_str::<Armed<On>>(r#"{"on":"create","fault":"x"}"#).is_err());
    }
}
