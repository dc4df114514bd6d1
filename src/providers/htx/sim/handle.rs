//! Shared simulator state and [`SimHandle`], the in-process equivalent of the `/_sim/` hooks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::auth::Tokens;
use super::config::{Quota, SimConfig, TokenSpec};
use super::error::SimError;
use super::faults::{Armed, FaultState, Faults};
use super::model::{Kind, Product, Record, parse_create};
use super::stats::{Recorder, Stats};
use super::store::{InsertError, Store};
use crate::sim::clock::now_ms;
use crate::sim::hold::Hold;

/// Everything the server and the hooks share. Locks are never held across an await.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub tokens: Tokens,
    pub rate_per_minute: AtomicU32,
    pub provision_ms: u64,
    pub backup_ms: u64,
    pub faults: FaultState,
    pub hold: Hold,
    pub stats: Recorder,
    /// Signalled after every change of the store (the state-file saver listens).
    pub changed: Notify,
}

impl Shared {
    pub fn new(config: &SimConfig) -> Result<Shared, SimError> {
        let tokens = Tokens::default();
        for spec in &config.tokens {
            tokens.add(spec.clone()).map_err(|e| match e {
                SimError::Conflict(_) => {
                    SimError::Invalid("the same token is configured twice".into())
                }
                e => e,
            })?;
        }
        let mut store = Store::default();
        store.quota = config.quota;
        Ok(Shared {
            store: Mutex::new(store),
            tokens,
            rate_per_minute: AtomicU32::new(config.rate_per_minute),
            provision_ms: config.provision_delay.as_millis() as u64,
            backup_ms: config.backup_delay.as_millis() as u64,
            faults: FaultState::default(),
            hold: Hold::default(),
            stats: Recorder::default(),
            changed: Notify::new(),
        })
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store with the asynchronous deletes due by now carried out (and counted).
    pub fn settled_store(&self, now_ms: u64) -> MutexGuard<'_, Store> {
        let mut store = self.store();
        let settled = store.settle(now_ms);
        for product in &settled.deleted {
            self.stats.deleted((*product).into());
        }
        self.stats.abandoned(settled.abandoned);
        if !settled.deleted.is_empty() || settled.abandoned > 0 {
            self.changed.notify_one();
        }
        store
    }

    /// Call after changing the store (outside the lock).
    pub fn touched(&self) {
        self.changed.notify_one();
    }
}

/// Sets `status` the way the hooks mean it: the ready status makes the record ready now, the
/// pending status restarts provisioning, anything else is pinned as is.
fn apply_status(rec: &mut Record, status: &str, now: u64, provision_ms: u64) {
    let product = rec.product();
    rec.status_override = None;
    if status == product.ready_status() {
        rec.ready_ms = rec.ready_ms.min(now);
    } else if status == product.pending_status() {
        rec.ready_ms = now + provision_ms;
    } else {
        rec.status_override = Some(status.to_owned());
    }
}

/// In-process access to the test hooks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
}

impl SimHandle {
    /// Request counters and effective creates/deletes.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// Resources of `kind` that the portal API created since the last stats reset.
    pub fn creates_count(&self, kind: Kind) -> u64 {
        self.stats().creates.get(kind)
    }

    /// Resources of `kind` that the portal API deleted since the last stats reset.
    pub fn deletes_count(&self, kind: Kind) -> u64 {
        self.stats().deletes.get(kind)
    }

    pub fn set_faults(&self, faults: Faults) -> Result<(), SimError> {
        self.shared.faults.set(faults).map_err(SimError::Invalid)
    }

    pub fn clear_faults(&self) {
        let _ = self.shared.faults.set(Faults::default());
    }

    /// Arms a fault for the next calls of one kind, after they took effect.
    pub fn arm(&self, armed: Armed) {
        self.shared.faults.arm(armed);
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults.get()
    }

    pub fn add_token(&self, spec: TokenSpec) -> Result<(), SimError> {
        self.shared.tokens.add(spec)
    }

    /// The token stops working at once.
    pub fn revoke_token(&self, token: &str) -> Result<(), SimError> {
        self.shared.tokens.revoke(token)
    }

    /// `old` stops working at once; `new` has its scope, allowlist and rate budget.
    pub fn rotate_token(&self, old: &str, new: &str) -> Result<(), SimError> {
        self.shared.tokens.rotate(old, new)
    }

    /// Creates a resource as if through the web UI: no quota, no counters, no hold. The body is
    /// the portal create body plus an optional `status` (default: ready at once).
    pub fn create_out_of_band(&self, product: Product, body: Value) -> Result<Value, SimError> {
        let (name, parsed) = parse_create(product, &body).map_err(SimError::Invalid)?;
        let status = match body.get("status") {
            None | Some(Value::Null) => product.ready_status(),
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            Some(_) => {
                return Err(SimError::Invalid(
                    "status must be a non-empty string".into(),
                ));
            }
        };
        let now = now_ms();
        let mut rec = Record::new(name, parsed, now, now);
        apply_status(&mut rec, status, now, self.shared.provision_ms);
        let inserted = self.shared.store().insert(rec, false);
        let rec = inserted.map_err(|e| match e {
            InsertError::Duplicate | InsertError::Quota(_) => SimError::Conflict(format!(
                "a {} named {:?} already exists",
                product.singular(),
                body["name"].as_str().unwrap_or_default()
            )),
        })?;
        self.shared.touched();
        Ok(serde_json::to_value(rec.view(now)).unwrap_or_default())
    }

    /// Deletes a resource as if through the web UI (a database takes its backups along).
    pub fn delete_out_of_band(&self, product: Product, name: &str) -> Result<(), SimError> {
        let removed = self.shared.store().remove(product, name);
        match removed {
            Some(_) => {
                self.shared.touched();
                Ok(())
            }
            None => Err(not_found(product, name)),
        }
    }

    /// Changes the status of an existing resource (see [`SimHandle::create_out_of_band`]).
    pub fn set_status(
        &self,
        product: Product,
        name: &str,
        status: &str,
    ) -> Result<Value, SimError> {
        if status.is_empty() {
            return Err(SimError::Invalid(
                "status must be a non-empty string".into(),
            ));
        }
        let now = now_ms();
        let rec = {
            let mut store = self.shared.store();
            let current = store
                .get(product, name)
                .ok_or_else(|| not_found(product, name))?;
            let mut rec = Record::clone(&current);
            apply_status(&mut rec, status, now, self.shared.provision_ms);
            store.replace(rec.clone());
            rec
        };
        self.shared.touched();
        Ok(serde_json::to_value(rec.view(now)).unwrap_or_default())
    }

    /// While on, successful portal creates (including backups) take effect but their response
    /// waits for [`SimHandle::release_creates`]. Turning it off releases everything held.
    pub fn hold_creates(&self, enabled: bool) {
        self.shared.hold.set_enabled(enabled);
    }

    /// Sends every held create response; returns how many were held.
    pub fn release_creates(&self) -> usize {
        self.shared.hold.release()
    }

    /// How many create responses are held right now.
    pub fn held(&self) -> usize {
        self.shared.hold.held()
    }

    /// Replaces the plan quota.
    pub fn set_quota(&self, quota: Quota) {
        self.shared.store().quota = quota;
    }

    pub fn quota(&self) -> Quota {
        self.shared.store().quota
    }

    /// Requests per token per sliding minute; 0 = unlimited. Applies at once.
    pub fn set_rate_per_minute(&self, per_minute: u32) {
        self.shared
            .rate_per_minute
            .store(per_minute, Ordering::Relaxed);
    }

    pub fn rate_per_minute(&self) -> u32 {
        self.shared.rate_per_minute.load(Ordering::Relaxed)
    }

    /// The resources of `product` as the portal lists them.
    pub fn resources(&self, product: Product) -> Vec<Value> {
        let now = now_ms();
        let list = self.shared.settled_store(now).list(product);
        list.iter()
            .map(|r| serde_json::to_value(r.view(now)).unwrap_or_default())
            .collect()
    }

    pub fn databases(&self) -> Vec<Value> {
        self.resources(Product::Databases)
    }

    pub fn functions(&self) -> Vec<Value> {
        self.resources(Product::Functions)
    }

    pub fn proxies(&self) -> Vec<Value> {
        self.resources(Product::Proxies)
    }

    /// The backups of one database, or `None` if there is no such database.
    pub fn backups(&self, database: &str) -> Option<Vec<Value>> {
        let list = self.shared.store().backups(database)?;
        let now = now_ms();
        Some(
            list.iter()
                .map(|b| serde_json::to_value(b.view(now)).unwrap_or_default())
                .collect(),
        )
    }

    /// Everything, as `GET /_sim/state` shows it.
    pub fn state(&self) -> Value {
        let snap = self.shared.store().snapshot();
        let quota = self.quota();
        let now = now_ms();
        let [d, f, p] = &snap.tables;
        let views = |list: &Vec<Arc<Record>>| -> Vec<Value> {
            list.iter()
                .map(|r| serde_json::to_value(r.view(now)).unwrap_or_default())
                .collect()
        };
        let backups: Vec<Value> = snap
            .backups
            .iter()
            .map(|b| serde_json::to_value(b.view(now)).unwrap_or_default())
            .collect();
        json!({
            "databases": views(d),
            "functions": views(f),
            "proxies": views(p),
            "backups": backups,
            "quota": quota,
            "rate_per_minute": self.rate_per_minute(),
            "tokens": self.shared.tokens.len(),
            "held": self.held(),
            "hold_creates": self.shared.hold.enabled(),
        })
    }
}

pub(crate) fn not_found(product: Product, name: &str) -> SimError {
    SimError::NotFound(format!("{} {name:?} not found", product.singular()))
}
