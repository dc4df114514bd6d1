//! The resource tables. Plain synchronous data behind one mutex: every operation is short, and
//! reads hand out `Arc`s so rendering happens after the lock is released.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::Quota;
use super::model::{Backup, Deletion, Product, Record};

#[derive(Debug, Default)]
pub(crate) struct Store {
    tables: [BTreeMap<String, Arc<Record>>; 3],
    /// Records removed in the last [`TOMBSTONE_MS`], with when: a lagging list still shows them.
    removed: [Vec<(Arc<Record>, u64)>; 3],
    backups: HashMap<String, Vec<Arc<Backup>>>,
    pub quota: Quota,
    /// Bumped on every change; the state-file saver compares it with what it last wrote.
    version: u64,
}

/// How long removed records are remembered for lagging lists: the longest list lag served.
pub(crate) const TOMBSTONE_MS: u64 = 120_000;

/// What [`Store::settle`] finished: asynchronous deletes carried out and abandoned.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    pub deleted: Vec<Product>,
    pub abandoned: usize,
}

/// What a delete did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Deleted {
    Now,
    /// Accepted: carried out (or abandoned) later by [`Store::settle`].
    Accepted,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InsertError {
    Quota(u32),
    Duplicate,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BackupError {
    NoDatabase,
    NotReady(String),
}

/// The persisted form (`--state FILE`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub databases: Vec<Record>,
    pub functions: Vec<Record>,
    pub proxies: Vec<Record>,
    pub backups: Vec<Backup>,
}

/// A consistent copy of all tables, cheap to take (only `Arc` clones).
pub(crate) struct Snapshot {
    pub tables: [Vec<Arc<Record>>; 3],
    pub backups: Vec<Arc<Backup>>,
    pub version: u64,
}

fn limit(quota: &Quota, product: Product) -> Option<u32> {
    match product {
        Product::Databases => quota.databases,
        Product::Functions => quota.functions,
        Product::Proxies => quota.proxies,
    }
}

impl Store {
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn list(&self, product: Product) -> Vec<Arc<Record>> {
        self.tables[product.index()].values().cloned().collect()
    }

    /// The records a list served `lag_ms` behind the store shows at `now_ms`: those that existed
    /// then (created by then, not removed by then).
    pub fn list_as_of(&self, product: Product, now_ms: u64, lag_ms: u64) -> Vec<Arc<Record>> {
        if lag_ms == 0 {
            return self.list(product);
        }
        let then = now_ms.saturating_sub(lag_ms);
        let mut records: Vec<Arc<Record>> = self.tables[product.index()]
            .values()
            .chain(
                self.removed[product.index()]
                    .iter()
                    .filter(|(_, removed_ms)| *removed_ms > then)
                    .map(|(record, _)| record),
            )
            .filter(|record| record.created_ms <= then)
            .cloned()
            .collect();
        records.sort_by(|a, b| a.name.cmp(&b.name));
        records
    }

    /// Finishes the asynchronous deletes due by `now_ms`.
    pub fn settle(&mut self, now_ms: u64) -> Settled {
        let mut settled = Settled::default();
        for product in Product::ALL {
            let due: Vec<Arc<Record>> = self.tables[product.index()]
                .values()
                .filter(|record| record.deleting.is_some_and(|d| d.until_ms <= now_ms))
                .cloned()
                .collect();
            for record in due {
                if record.deleting.is_some_and(|d| d.abandoned) {
                    let mut back = Record::clone(&record);
                    back.deleting = None;
                    self.replace(back);
                    settled.abandoned += 1;
                } else {
                    self.remove_at(product, &record.name, now_ms);
                    settled.deleted.push(product);
                }
            }
            self.removed[product.index()]
                .retain(|(_, removed_ms)| removed_ms + TOMBSTONE_MS > now_ms);
        }
        settled
    }

    /// Deletes a record: at once, or, with `delay_ms`, as an accepted delete that shows
    /// `deleting` until then (and comes back if `abandon`). `None`: no such record.
    pub fn delete(
        &mut self,
        product: Product,
        name: &str,
        now_ms: u64,
        delay_ms: Option<u64>,
        abandon: bool,
    ) -> Option<Deleted> {
        let record = self.tables[product.index()].get(name)?.clone();
        let Some(delay_ms) = delay_ms else {
            self.remove_at(product, name, now_ms);
            return Some(Deleted::Now);
        };
        if record.deleting.is_none() {
            let mut deleting = Record::clone(&record);
            deleting.deleting = Some(Deletion {
                until_ms: now_ms + delay_ms,
                abandoned: abandon,
            });
            self.replace(deleting);
        }
        Some(Deleted::Accepted)
    }

    pub fn get(&self, product: Product, name: &str) -> Option<Arc<Record>> {
        self.tables[product.index()].get(name).cloned()
    }

    /// Adds a record; with `enforce_quota` the plan quota applies (checked before duplicates).
    pub fn insert(
        &mut self,
        record: Record,
        enforce_quota: bool,
    ) -> Result<Arc<Record>, InsertError> {
        let product = record.product();
        let table = &mut self.tables[product.index()];
        if enforce_quota
            && let Some(max) = limit(&self.quota, product)
            && table
                .values()
                .filter(|held| held.account == record.account)
                .count()
                >= max as usize
        {
            return Err(InsertError::Quota(max));
        }
        if table.contains_key(&record.name) {
            return Err(InsertError::Duplicate);
        }
        let record = Arc::new(record);
        table.insert(record.name.clone(), record.clone());
        self.version += 1;
        Ok(record)
    }

    /// Removes a record; a database takes its backups with it.
    pub fn remove(&mut self, product: Product, name: &str) -> Option<Arc<Record>> {
        self.remove_at(product, name, crate::sim::clock::now_ms())
    }

    fn remove_at(&mut self, product: Product, name: &str, now_ms: u64) -> Option<Arc<Record>> {
        let removed = self.tables[product.index()].remove(name)?;
        if product == Product::Databases {
            self.backups.remove(name);
        }
        self.removed[product.index()].push((removed.clone(), now_ms));
        self.version += 1;
        Some(removed)
    }

    /// Replaces a record (status changes from hooks).
    pub fn replace(&mut self, record: Record) {
        let table = &mut self.tables[record.product().index()];
        table.insert(record.name.clone(), Arc::new(record));
        self.version += 1;
    }

    pub fn backups(&self, database: &str) -> Option<Vec<Arc<Backup>>> {
        self.tables[Product::Databases.index()].get(database)?;
        Some(self.backups.get(database).cloned().unwrap_or_default())
    }

    /// Starts a backup of an online database.
    pub fn add_backup(
        &mut self,
        database: &str,
        now_ms: u64,
        delay_ms: u64,
    ) -> Result<Arc<Backup>, BackupError> {
        let db = self.tables[Product::Databases.index()]
            .get(database)
            .ok_or(BackupError::NoDatabase)?;
        let status = db.status(now_ms);
        if status != Product::Databases.ready_status() {
            return Err(BackupError::NotReady(status.to_owned()));
        }
        let backup = Arc::new(Backup::new(database, now_ms, now_ms + delay_ms));
        self.backups
            .entry(database.to_owned())
            .or_default()
            .push(backup.clone());
        self.version += 1;
        Ok(backup)
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut backups: Vec<Arc<Backup>> = self.backups.values().flatten().cloned().collect();
        backups.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Snapshot {
            tables: Product::ALL.map(|p| self.list(p)),
            backups,
            version: self.version,
        }
    }

    pub fn load(&mut self, state: StateFile) {
        for rec in [state.databases, state.functions, state.proxies]
            .into_iter()
            .flatten()
        {
            self.tables[rec.product().index()].insert(rec.name.clone(), Arc::new(rec));
        }
        let dbs = &self.tables[Product::Databases.index()];
        for b in state.backups {
            if dbs.contains_key(&b.database) {
                self.backups
                    .entry(b.database.clone())
                    .or_default()
                    .push(Arc::new(b));
            }
        }
        for list in self.backups.values_mut() {
            list.sort_by_key(|b| b.created_ms);
        }
    }
}

impl Snapshot {
    /// The persisted form, borrowing from the snapshot.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Out<'a> {
            databases: Vec<&'a Record>,
            functions: Vec<&'a Record>,
            proxies: Vec<&'a Record>,
            backups: Vec<&'a Backup>,
        }
        let [d, f, p] = &self.tables;
        let out = Out {
            databases: d.iter().map(|r| &**r).collect(),
            functions: f.iter().map(|r| &**r).collect(),
            proxies: p.iter().map(|r| &**r).collect(),
            backups: self.backups.iter().map(|b| &**b).collect(),
        };
        serde_json::to_vec(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::htx::sim::model::parse_create;
    use serde_json::json;

    fn db(name: &str, ready_ms: u64) -> Record {
        let (name, body) = parse_create(
            Product::Databases,
            &json!({"name": name, "engine": "mysql", "sku": "db-s-1vcpu-1gb"}),
        )
        .unwrap();
        Record::new(name, body, 0, ready_ms)
    }

    #[test]
    fn quota_then_duplicate() {
        let mut s = Store::default();
        s.quota.databases = Some(2);
        s.insert(db("aaa", 0), true).unwrap();
        assert_eq!(
            s.insert(db("aaa", 0), true).unwrap_err(),
            InsertError::Duplicate
        );
        s.insert(db("bbb", 0), true).unwrap();
        assert_eq!(
            s.insert(db("ccc", 0), true).unwrap_err(),
            InsertError::Quota(2)
        );
        assert_eq!(
            s.insert(db("aaa", 0), true).unwrap_err(),
            InsertError::Quota(2)
        );
        // Out-of-band inserts ignore the quota.
        s.insert(db("ccc", 0), false).unwrap();
        assert_eq!(s.list(Product::Databases).len(), 3);
    }

    #[test]
    fn backups_need_online_database_and_go_with_it() {
        let mut s = Store::default();
        s.insert(db("slow", 1_000), true).unwrap();
        assert_eq!(
            s.add_backup("slow", 10, 5).unwrap_err(),
            BackupError::NotReady("creating".into())
        );
        assert_eq!(
            s.add_backup("none", 10, 5).unwrap_err(),
            BackupError::NoDatabase
        );
        assert!(s.backups("none").is_none());
        s.add_backup("slow", 1_000, 5).unwrap();
        assert_eq!(s.backups("slow").unwrap().len(), 1);
        s.remove(Product::Databases, "slow").unwrap();
        assert!(s.backups("slow").is_none());
        s.insert(db("slow", 0), true).unwrap();
        assert_eq!(s.backups("slow").unwrap().len(), 0);
    }

    #[test]
    fn a_lagging_list_shows_the_store_as_it_was() {
        let mut s = Store::default();
        let mut old = db("old", 0);
        old.created_ms = 1_000;
        let mut new = db("new", 0);
        new.created_ms = 9_000;
        s.insert(old, true).unwrap();
        s.insert(new, true).unwrap();
        s.remove_at(Product::Databases, "old", 9_500);
        let names = |records: Vec<Arc<Record>>| -> Vec<String> {
            records.iter().map(|r| r.name.clone()).collect()
        };
        assert_eq!(names(s.list_as_of(Product::Databases, 10_000, 0)), ["new"]);
        assert_eq!(
            names(s.list_as_of(Product::Databases, 10_000, 2_000)),
            ["old"],
            "created too recently to be listed, removed too recently to be gone"
        );
    }

    #[test]
    fn async_deletes_finish_or_come_back() {
        let mut s = Store::default();
        s.insert(db("goes", 0), true).unwrap();
        s.insert(db("stays", 0), true).unwrap();
        let p = Product::Databases;
        assert_eq!(
            s.delete(p, "goes", 100, Some(50), false),
            Some(Deleted::Accepted)
        );
        assert_eq!(
            s.delete(p, "stays", 100, Some(50), true),
            Some(Deleted::Accepted)
        );
        assert_eq!(s.delete(p, "none", 100, Some(50), false), None);
        assert_eq!(s.get(p, "goes").unwrap().status(120), "deleting");
        assert_eq!(s.settle(120), Settled::default());
        let settled = s.settle(150);
        assert_eq!(settled.deleted, [p]);
        assert_eq!(settled.abandoned, 1);
        assert!(s.get(p, "goes").is_none());
        assert_eq!(s.get(p, "stays").unwrap().status(200), "online");
    }

    #[test]
    fn snapshot_round_trips() {
        let mut s = Store::default();
        s.insert(db("one", 0), true).unwrap();
        s.add_backup("one", 5, 5).unwrap();
        let bytes = s.snapshot().to_json().unwrap();
        let state: StateFile = serde_json::from_slice(&bytes).unwrap();
        let mut t = Store::default();
        t.load(state);
        assert_eq!(
            t.list(Product::Databases)[0].id,
            s.list(Product::Databases)[0].id
        );
        assert_eq!(t.backups("one").unwrap().len(), 1);
    }
}
