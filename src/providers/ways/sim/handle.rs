//! Shared simulator state and [`SimHandle`], the in-process equivalent of the `/_sim/` hooks:
//! keys, rate, quota, faults, counters, and changes made out of band (as through the web UI:
//! no quota, no counters).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::auth::Keys;
use super::bodies::{NAME_MAX, check_source, valid_name};
use super::config::{KeySpec, SimConfig};
use super::error::SimError;
use super::faults::{Armed, FaultState, Faults};
use super::model::{Database, DbType, Policy, Rule, Snapshot, db_name, new_password};
use super::stats::{Recorder, Stats};
use super::store::{Denied, Store};
use super::views::DatabaseState;
use crate::sim::clock::now_ms;
use crate::sim::ids::new_id;

/// Everything the server and the hooks share. Locks are never held across an await.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub keys: Keys,
    pub rate_per_minute: AtomicU32,
    pub faults: FaultState,
    pub stats: Recorder,
}

impl Shared {
    pub fn new(config: &SimConfig) -> Result<Shared, SimError> {
        let keys = Keys::default();
        for spec in &config.keys {
            keys.put(spec.clone())?;
        }
        Ok(Shared {
            store: Mutex::new(Store::new(config.quota)),
            keys,
            rate_per_minute: AtomicU32::new(config.rate_per_minute),
            faults: FaultState::default(),
            stats: Recorder::default(),
        })
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// In-process access to the test hooks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
}

impl SimHandle {
    /// Request counters, effective changes, create attempts and faults fired.
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

    /// Arms a fault for the next calls of one kind, after they took effect.
    pub fn arm(&self, armed: Armed) {
        self.shared.faults.arm(armed);
    }

    /// Adds a key, or gives an existing key a new customer and permissions.
    pub fn put_key(&self, spec: KeySpec) -> Result<(), SimError> {
        self.shared.keys.put(spec)
    }

    /// Requests per key per sliding minute; 0 = unlimited. Applies at once.
    pub fn set_rate_per_minute(&self, per_minute: u32) {
        self.shared
            .rate_per_minute
            .store(per_minute, Ordering::Relaxed);
    }

    pub fn rate_per_minute(&self) -> u32 {
        self.shared.rate_per_minute.load(Ordering::Relaxed)
    }

    /// The most databases one customer may have.
    pub fn set_quota(&self, limit: u32) {
        self.shared.store().quota = limit;
    }

    pub fn quota(&self) -> u32 {
        self.shared.store().quota
    }

    /// Creates `cust_<customer>_<token>_<requested>` out of band.
    pub fn create_database(
        &self,
        customer: &str,
        db_type: DbType,
        requested: &str,
    ) -> Result<DatabaseState, SimError> {
        super::assumed::validate_customer(customer).map_err(SimError::Invalid)?;
        if requested.is_empty() || requested.len() > NAME_MAX || !valid_name(requested) {
            return Err(SimError::Invalid(format!(
                "requested name {requested:?} must be 1-30 of a-z, 0-9 and _"
            )));
        }
        let name = db_name(customer, db_type, requested);
        let db = Database::new(db_type, name, customer, now_ms());
        let mut store = self.shared.store();
        let db = store
            .add(db)
            .map_err(|denied| refused(denied, db_type, ""))?;
        Ok(DatabaseState::from(db))
    }

    /// Deletes a database out of band.
    pub fn delete_database(&self, db_type: DbType, name: &str) -> Result<(), SimError> {
        let removed = self.shared.store().remove(db_type, name, now_ms());
        removed
            .map(drop)
            .ok_or_else(|| refused(Denied::NotFound, db_type, name))
    }

    /// Everything about one database, password and data generation included.
    pub fn database(&self, db_type: DbType, name: &str) -> Option<DatabaseState> {
        self.shared
            .store()
            .get(db_type, name)
            .map(DatabaseState::from)
    }

    /// Every database, by type and name.
    pub fn databases(&self) -> Vec<DatabaseState> {
        self.shared.store().all().map(DatabaseState::from).collect()
    }

    /// The database's current password.
    pub fn password(&self, db_type: DbType, name: &str) -> Option<String> {
        self.database(db_type, name).map(|db| db.password)
    }

    /// How many restores the database's data went through.
    pub fn generation(&self, db_type: DbType, name: &str) -> Option<u64> {
        self.database(db_type, name).map(|db| db.generation)
    }

    /// Changes the connection limit out of band (10-1000).
    pub fn set_connection_limit(
        &self,
        db_type: DbType,
        name: &str,
        limit: u32,
    ) -> Result<(), SimError> {
        if !(10..=1000).contains(&limit) {
            return Err(SimError::Invalid("connection limit must be 10-1000".into()));
        }
        self.change(db_type, name, |db| db.connection_limit = limit)
    }

    /// Adds a firewall rule out of band; returns its id.
    pub fn add_firewall_rule(
        &self,
        db_type: DbType,
        name: &str,
        ip_address: &str,
        description: Option<&str>,
    ) -> Result<String, SimError> {
        check_source(ip_address).map_err(SimError::Invalid)?;
        let rule = Rule {
            id: new_id(),
            ip_address: ip_address.to_owned(),
            description: description.map(str::to_owned),
            created_ms: now_ms(),
        };
        let id = rule.id.clone();
        self.change(db_type, name, |db| db.firewall.push(rule))?;
        Ok(id)
    }

    /// Removes a firewall rule out of band.
    pub fn remove_firewall_rule(
        &self,
        db_type: DbType,
        name: &str,
        rule_id: &str,
    ) -> Result<(), SimError> {
        let mut found = false;
        self.change(db_type, name, |db| {
            let before = db.firewall.len();
            db.firewall.retain(|r| r.id != rule_id);
            found = db.firewall.len() < before;
        })?;
        found
            .then_some(())
            .ok_or_else(|| SimError::NotFound(format!("firewall rule {rule_id:?} not found")))
    }

    /// Replaces the backup policy out of band.
    pub fn set_backup_policy(
        &self,
        db_type: DbType,
        name: &str,
        policy: Policy,
    ) -> Result<(), SimError> {
        self.change(db_type, name, |db| db.policy = policy)
    }

    /// Rotates the password out of band (the old one stops working); returns the new one.
    pub fn rotate_password(&self, db_type: DbType, name: &str) -> Result<String, SimError> {
        let password = new_password();
        self.change(db_type, name, |db| db.password = password.clone())?;
        Ok(password)
    }

    /// A snapshot as the backup policy takes them (marked automated); returns its id.
    pub fn take_policy_snapshot(&self, db_type: DbType, name: &str) -> Result<String, SimError> {
        let now = now_ms();
        let mut id = String::new();
        self.change(db_type, name, |db| {
            let description = super::assumed::policy_description(db.policy.frequency.as_str());
            let snapshot = Snapshot::new(Some(description), db.size_mb, now, true);
            id = snapshot.id.clone();
            db.snapshots.push(snapshot);
            db.last_backup_ms = Some(now);
        })?;
        Ok(id)
    }

    fn change(
        &self,
        db_type: DbType,
        name: &str,
        change: impl FnOnce(&mut Database),
    ) -> Result<(), SimError> {
        let mut store = self.shared.store();
        let db = store
            .get_mut(db_type, name)
            .ok_or_else(|| refused(Denied::NotFound, db_type, name))?;
        change(db);
        Ok(())
    }
}

fn refused(denied: Denied, db_type: DbType, name: &str) -> SimError {
    match denied {
        Denied::Exists(name) => SimError::Conflict(format!("database {name:?} already exists")),
        _ => SimError::NotFound(format!("{db_type} database {name:?} not found")),
    }
}
