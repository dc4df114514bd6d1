//! Shared simulator state and [`SimHandle`], the in-process equivalent of the `/_sim/` hooks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::auth::Keys;
use super::config::{KeySpec, SimConfig};
use super::deployments::Outcome;
use super::error::SimError;
use super::faults::{Armed, Call, Faults};
use super::model::Kind;
use super::stats::{Recorder, Stats};
use super::store::{Settings, Store};
use crate::sim::clock::now_ms;
use crate::sim::faults::FaultState;

/// Everything the server and the hooks share. The store's lock is never held across an await.
#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    pub keys: Keys,
    pub rate_per_minute: AtomicU32,
    pub faults: FaultState<Faults, Call>,
    pub stats: Recorder,
}

impl Shared {
    pub fn new(config: &SimConfig) -> Result<Shared, SimError> {
        let keys = Keys::default();
        for spec in &config.keys {
            keys.add(spec.clone()).map_err(|e| match e {
                SimError::Conflict(_) => {
                    SimError::Invalid("the same key is configured twice".into())
                }
                e => e,
            })?;
        }
        let settings = Settings {
            provision_ms: config.provision_delay.as_millis() as u64,
            stage_ms: config.deploy_stage_delay.as_millis() as u64,
            bucket_limit: config.bucket_limit,
            outcome: config.deploy_outcome,
        };
        Ok(Shared {
            store: Mutex::new(Store::new(settings)),
            keys,
            rate_per_minute: AtomicU32::new(config.rate_per_minute),
            faults: FaultState::default(),
            stats: Recorder::default(),
        })
    }

    /// Runs `f` on the store, settled to now, with the time.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store, u64) -> R) -> R {
        let now = now_ms();
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        store.settle(now);
        f(&mut store, now)
    }
}

/// In-process access to the test hooks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
}

impl SimHandle {
    /// Request counters and the effects of writes.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), SimError> {
        self.shared.faults.set(faults).map_err(SimError::Invalid)
    }

    pub fn clear_faults(&self) {
        let _ = self.shared.faults.set(Faults::default());
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.get()
    }

    /// Arms a fault on the next calls of one kind, after they took effect.
    pub fn arm(&self, armed: Armed) {
        self.shared.faults.arm(armed);
    }

    pub fn add_key(&self, spec: KeySpec) -> Result<(), SimError> {
        self.shared.keys.add(spec)
    }

    /// The key stops working at once (as an expired one).
    pub fn revoke_key(&self, key: &str) -> Result<(), SimError> {
        self.shared.keys.revoke(key)
    }

    /// Requests per sliding minute for one key (`None`: the simulator's; 0: unlimited).
    pub fn set_key_rate(&self, key: &str, per_minute: Option<u32>) -> Result<(), SimError> {
        self.shared.keys.set_rate(key, per_minute)
    }

    /// Requests per sliding minute for keys without a rate of their own; 0 = unlimited.
    pub fn set_rate_per_minute(&self, per_minute: u32) {
        self.shared
            .rate_per_minute
            .store(per_minute, Ordering::Relaxed);
    }

    pub fn rate_per_minute(&self) -> u32 {
        self.shared.rate_per_minute.load(Ordering::Relaxed)
    }

    /// How deployments made from now on end.
    pub fn set_deploy_outcome(&self, outcome: Outcome) {
        self.shared
            .with_store(|store, _| store.settings.outcome = outcome);
    }

    /// Creates a resource as the web UI would: the API's rules, no counters, no faults. The
    /// body is the API's create body plus `account` (projects, buckets, storage keys),
    /// `project_id` (project secrets) or `web_service_id` (deployments, env vars, bindings).
    pub fn create_out_of_band(&self, kind: Kind, body: Value) -> Result<Value, SimError> {
        self.shared
            .with_store(|store, now| store.create_oob(kind, &body, now))
    }

    /// Deletes a resource (and what belongs to it) at once, a project too.
    pub fn delete_out_of_band(&self, kind: Kind, id: &str) -> Result<(), SimError> {
        self.shared
            .with_store(|store, _| store.delete_oob(kind, id))
    }

    /// Changes a resource: its API fields, a pinned `status`, a deployment's `outcome`.
    pub fn modify_out_of_band(&self, kind: Kind, id: &str, body: Value) -> Result<Value, SimError> {
        self.shared
            .with_store(|store, now| store.modify_oob(kind, id, &body, now))
    }

    /// Everything, secret values in clear (as `GET /_sim/state`).
    pub fn state(&self) -> Value {
        self.shared.with_store(|store, now| store.state(now))
    }

    /// A web service's env in clear, by key; `None` if there is no such service.
    pub fn env(&self, web_service_id: &str) -> Option<BTreeMap<String, String>> {
        self.shared.with_store(|store, _| {
            store.services.get(web_service_id)?;
            Some(
                store
                    .env
                    .iter()
                    .filter(|v| v.service_id == web_service_id)
                    .map(|v| (v.key.clone(), v.value.clone()))
                    .collect(),
            )
        })
    }

    /// A project secret's value in clear.
    pub fn secret_value(&self, secret_id: &str) -> Option<String> {
        self.shared
            .with_store(|store, _| store.secrets.get(secret_id).map(|s| s.value.clone()))
    }

    /// The resources of `kind` (as the state shows them).
    pub fn resources(&self, kind: Kind) -> Vec<Value> {
        match self.state().get_mut(kind.as_str()).map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        }
    }

    pub fn keys(&self) -> usize {
        self.shared.keys.len()
    }
}
