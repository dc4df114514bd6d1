//! The databases and their history, behind one mutex: every operation is short. Ownership and
//! the quota are checked here, for the routes and the hooks alike.

use std::collections::BTreeMap;

use super::model::{Database, DbType, Snapshot, db_name};

/// Why the store refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No such database.
    NotFound,
    /// Another customer's database.
    NotOwner,
    /// The customer has `used` of `limit` databases.
    Quota { used: usize, limit: u32 },
    /// A database of that name exists.
    Exists(String),
}

/// A database ever created, for `GET /v1/databases/history`.
#[derive(Debug, Clone)]
pub(crate) struct HistoryEntry {
    pub db_type: DbType,
    pub name: String,
    pub customer: String,
    pub created_ms: u64,
    pub deleted_ms: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct Store {
    databases: BTreeMap<(DbType, String), Database>,
    history: Vec<HistoryEntry>,
    /// Databases one customer may have at once.
    pub quota: u32,
}

impl Store {
    pub fn new(quota: u32) -> Store {
        Store {
            databases: BTreeMap::new(),
            history: Vec::new(),
            quota,
        }
    }

    /// The database, if it exists (whoever owns it).
    pub fn get(&self, db_type: DbType, name: &str) -> Option<&Database> {
        self.databases.get(&(db_type, name.to_owned()))
    }

    pub fn get_mut(&mut self, db_type: DbType, name: &str) -> Option<&mut Database> {
        self.databases.get_mut(&(db_type, name.to_owned()))
    }

    /// The database if `customer` owns it.
    pub fn owned(&self, customer: &str, db_type: DbType, name: &str) -> Result<&Database, Denied> {
        let db = self.get(db_type, name).ok_or(Denied::NotFound)?;
        if db.customer == customer {
            Ok(db)
        } else {
            Err(Denied::NotOwner)
        }
    }

    pub fn owned_mut(
        &mut self,
        customer: &str,
        db_type: DbType,
        name: &str,
    ) -> Result<&mut Database, Denied> {
        self.owned(customer, db_type, name)?;
        Ok(self.get_mut(db_type, name).expect("checked above"))
    }

    /// How many databases `customer` has.
    pub fn used(&self, customer: &str) -> usize {
        self.databases
            .values()
            .filter(|db| db.customer == customer)
            .count()
    }

    fn within_quota(&self, customer: &str) -> Result<(), Denied> {
        let used = self.used(customer);
        if used >= self.quota as usize {
            return Err(Denied::Quota {
                used,
                limit: self.quota,
            });
        }
        Ok(())
    }

    /// A create through the API: the quota first, then the name (ASSUMPTION, `assumed`:
    /// quota). Returns the database and whether it is new.
    pub fn create(
        &mut self,
        customer: &str,
        db_type: DbType,
        suffix: &str,
        now_ms: u64,
    ) -> Result<(&Database, bool), Denied> {
        self.within_quota(customer)?;
        let name = db_name(customer, db_type, suffix);
        let is_new = self.get(db_type, &name).is_none();
        if is_new {
            self.insert(Database::new(db_type, name.clone(), customer, now_ms));
        }
        Ok((self.get(db_type, &name).expect("present"), is_new))
    }

    /// Adds a database (no quota); `Exists` if the name is taken.
    pub fn add(&mut self, db: Database) -> Result<&Database, Denied> {
        if self.get(db.db_type, &db.name).is_some() {
            return Err(Denied::Exists(db.name));
        }
        let key = (db.db_type, db.name.clone());
        self.insert(db);
        Ok(&self.databases[&key])
    }

    fn insert(&mut self, db: Database) {
        self.history.push(HistoryEntry {
            db_type: db.db_type,
            name: db.name.clone(),
            customer: db.customer.clone(),
            created_ms: db.created_ms,
            deleted_ms: None,
        });
        self.databases.insert((db.db_type, db.name.clone()), db);
    }

    /// Removes a database (and its snapshots).
    pub fn remove(&mut self, db_type: DbType, name: &str, now_ms: u64) -> Option<Database> {
        let db = self.databases.remove(&(db_type, name.to_owned()))?;
        if let Some(entry) = self
            .history
            .iter_mut()
            .rev()
            .find(|e| e.db_type == db_type && e.name == name && e.deleted_ms.is_none())
        {
            entry.deleted_ms = Some(now_ms);
        }
        Some(db)
    }

    /// Restores `snapshot` into a new database of `customer` named for `target`: the quota,
    /// then the name (taken: `Exists`).
    pub fn restore_into_new(
        &mut self,
        customer: &str,
        db_type: DbType,
        snapshot: &Snapshot,
        target: &str,
        now_ms: u64,
    ) -> Result<&Database, Denied> {
        self.within_quota(customer)?;
        let name = db_name(customer, db_type, target);
        let mut db = Database::new(db_type, name, customer, now_ms);
        db.size_mb = snapshot.size_mb;
        db.generation = 1;
        db.restored_from = Some(snapshot.id.clone());
        self.add(db)
    }

    /// The databases of one type, by name.
    pub fn of_type(&self, db_type: DbType) -> impl Iterator<Item = &Database> {
        self.databases
            .range((db_type, String::new())..)
            .take_while(move |((t, _), _)| *t == db_type)
            .map(|(_, db)| db)
    }

    /// Every database, by type and name.
    pub fn all(&self) -> impl Iterator<Item = &Database> {
        self.databases.values()
    }

    /// The history of one customer, oldest first.
    pub fn history(&self, customer: &str) -> impl Iterator<Item = &HistoryEntry> {
        self.history.iter().filter(move |e| e.customer == customer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_comes_before_the_name() {
        let mut store = Store::new(1);
        let (db, is_new) = store.create("c1", DbType::Postgresql, "a", 0).unwrap();
        assert_eq!(db.name, "cust_c1_pg_a");
        assert!(is_new);
        assert_eq!(
            store.create("c1", DbType::Postgresql, "a", 0).unwrap_err(),
            Denied::Quota { used: 1, limit: 1 }
        );
        store.quota = 2;
        let (_, is_new) = store.create("c1", DbType::Postgresql, "a", 0).unwrap();
        assert!(!is_new);
        assert_eq!(store.used("c1"), 1);
        assert!(store.create("c2", DbType::Postgresql, "a", 0).unwrap().1);
    }

    #[test]
    fn ownership_and_history() {
        let mut store = Store::new(10);
        store.create("c1", DbType::Mariadb, "a", 5).unwrap();
        store.create("c1", DbType::Postgresql, "b", 6).unwrap();
        assert!(store.owned("c1", DbType::Mariadb, "cust_c1_mdb_a").is_ok());
        assert_eq!(
            store
                .owned("c2", DbType::Mariadb, "cust_c1_mdb_a")
                .unwrap_err(),
            Denied::NotOwner
        );
        assert_eq!(
            store
                .owned("c1", DbType::Postgresql, "cust_c1_mdb_a")
                .unwrap_err(),
            Denied::NotFound
        );
        let pg: Vec<&str> = store
            .of_type(DbType::Postgresql)
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(pg, ["cust_c1_pg_b"]);
        store.remove(DbType::Mariadb, "cust_c1_mdb_a", 9).unwrap();
        let history: Vec<Option<u64>> = store.history("c1").map(|e| e.deleted_ms).collect();
        assert_eq!(history, [Some(9), None]);
        assert!(store.history("c2").next().is_none());
    }
}
