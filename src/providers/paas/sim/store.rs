//! The resource tables: plain synchronous data behind one mutex (every operation is short).
//! Each kind's operations live in its own module as `impl Store` blocks; this one holds the
//! tables and what they share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use super::datastores::Datastore;
use super::deployments::{Deployment, Outcome};
use super::env::{Binding, EnvVar};
use super::projects::{Project, ProjectSecret};
use super::services::WebService;
use super::storage::{Bucket, StorageKey};

/// A stored resource with its server UUID.
pub(crate) trait Row {
    fn id(&self) -> &str;
}

/// Rows by id, iterated in creation order.
#[derive(Debug)]
pub(crate) struct Table<T> {
    rows: BTreeMap<u64, T>,
    seq_of: HashMap<String, u64>,
    next: u64,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            seq_of: HashMap::new(),
            next: 0,
        }
    }
}

impl<T: Row> Table<T> {
    pub fn insert(&mut self, row: T) -> &T {
        let seq = self.next;
        self.next += 1;
        self.seq_of.insert(row.id().to_owned(), seq);
        self.rows.entry(seq).or_insert(row)
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.rows.get(self.seq_of.get(id)?)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.rows.get_mut(self.seq_of.get(id)?)
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        self.rows.remove(&self.seq_of.remove(id)?)
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.rows.values()
    }

    /// Removes the rows `keep` refuses; returns their ids.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) -> Vec<String> {
        let gone: Vec<String> = self
            .rows
            .values()
            .filter(|row| !keep(row))
            .map(|row| row.id().to_owned())
            .collect();
        for id in &gone {
            self.remove(id);
        }
        gone
    }
}

/// ASSUMPTION BULK_REPLACES: makes the rows of one set (`in_set`) exactly `entries`, by key:
/// a row whose key is named is updated in place (keeping its id), an entry without a row is
/// created, a row not named is removed. The keys of `entries` are distinct. Returns the ids
/// removed.
pub(crate) fn replace_set<T: Row, K: Eq + Hash, E>(
    table: &mut Table<T>,
    in_set: impl Fn(&T) -> bool,
    key: impl Fn(&T) -> K,
    entries: Vec<(K, E)>,
    update: impl Fn(&mut T, E),
    create: impl Fn(E) -> T,
) -> Vec<String> {
    let named: HashSet<&K> = entries.iter().map(|(k, _)| k).collect();
    let removed = table.retain(|row| !in_set(row) || named.contains(&key(row)));
    let mut existing: HashMap<K, String> = table
        .iter()
        .filter(|row| in_set(row))
        .map(|row| (key(row), row.id().to_owned()))
        .collect();
    for (k, entry) in entries {
        match existing.remove(&k).and_then(|id| table.get_mut(&id)) {
            Some(row) => update(row, entry),
            None => {
                table.insert(create(entry));
            }
        }
    }
    removed
}

/// The simulator's timing and limits, changeable by hooks.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Provisioning, stopping, starting, updating and deleting take this long.
    pub provision_ms: u64,
    /// Each deployment stage (queued, building, deploying) takes this long.
    pub stage_ms: u64,
    pub bucket_limit: u32,
    /// How new deployments end.
    pub outcome: Outcome,
}

#[derive(Debug)]
pub(crate) struct Store {
    pub projects: Table<Project>,
    pub secrets: Table<ProjectSecret>,
    pub services: Table<WebService>,
    pub deployments: Table<Deployment>,
    pub env: Table<EnvVar>,
    pub bindings: Table<Binding>,
    pub datastores: Table<Datastore>,
    pub buckets: Table<Bucket>,
    pub keys: Table<StorageKey>,
    pub settings: Settings,
}

impl Store {
    pub fn new(settings: Settings) -> Store {
        Store {
            projects: Table::default(),
            secrets: Table::default(),
            services: Table::default(),
            deployments: Table::default(),
            env: Table::default(),
            bindings: Table::default(),
            datastores: Table::default(),
            buckets: Table::default(),
            keys: Table::default(),
            settings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Item {
        id: String,
        set: u8,
        key: &'static str,
        value: u32,
    }

    impl Row for Item {
        fn id(&self) -> &str {
            &self.id
        }
    }

    fn item(id: &str, set: u8, key: &'static str, value: u32) -> Item {
        Item {
            id: id.into(),
            set,
            key,
            value,
        }
    }

    #[test]
    fn table_keeps_creation_order_and_finds_by_id() {
        let mut t = Table::default();
        for id in ["c", "a", "b"] {
            t.insert(item(id, 0, "k", 0));
        }
        let ids: Vec<&str> = t.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        t.get_mut("a").unwrap().value = 7;
        assert_eq!(t.get("a").unwrap().value, 7);
        assert_eq!(t.remove("a").unwrap().value, 7);
        assert!(t.get("a").is_none() && t.remove("a").is_none());
        assert_eq!(t.retain(|i| i.id != "b"), ["b"]);
        assert_eq!(t.iter().count(), 1);
    }

    #[test]
    fn replace_set_keeps_ids_of_named_keys_and_drops_the_rest() {
        let mut t = Table::default();
        t.insert(item("1", 0, "A", 1));
        t.insert(item("2", 0, "B", 2));
        t.insert(item("3", 1, "A", 3));
        let removed = replace_set(
            &mut t,
            |i: &Item| i.set == 0,
            |i| i.key,
            vec![("A", 10), ("C", 30)],
            |i, v| i.value = v,
            |v| item("new", 0, "C", v),
        );
        assert_eq!(removed, ["2"]);
        assert_eq!(
            t.get("1").unwrap().value,
            10,
            "kept its id, took the new value"
        );
        assert_eq!(t.get("new").unwrap().value, 30);
        assert_eq!(t.get("3").unwrap().value, 3, "another set is left alone");
    }
}
