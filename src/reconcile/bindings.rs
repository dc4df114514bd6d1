//! One binding per portal resource (DESIGN §3): within the cluster, at most one object binds a
//! given portal resource, that is the same credentials, product and portal name (within the same
//! parent, for resources that live in a project), whatever its policy. A second one is
//! `AlreadyBound`: no portal write, no connection Secret, and no word of where the first one is.
//!
//! The index is built from the watches the controllers run anyway (every object of every managed
//! kind passes through them), so it costs no API call. When several objects claim one key, the one
//! whose status records a claim holds it (it may own the resource); among equals the oldest, then
//! the lowest uid: every replica and every restart picks the same one.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher;

use super::tokens::TokenLocation;

/// What one binding is of: these credentials, this product, this portal name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindingKey {
    pub credentials: TokenLocation,
    /// The product, in the word of its kind (`database`, `function` …).
    pub product: &'static str,
    pub name: String,
    /// Where the portal counts the name, for resources inside a parent: the parent's object, as
    /// `namespace/name` (one parent object binds one portal parent, so this names it).
    pub within: Option<String>,
}

/// One object's claim on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub key: BindingKey,
    pub uid: String,
    pub namespace: String,
    pub created: Option<Timestamp>,
    /// Its status records a claim (an intent, an ownership or an id).
    pub recorded: bool,
}

impl Claim {
    /// Who holds a key among its claimants: recorded first, then the oldest, then by uid.
    fn precedence(&self) -> (bool, Option<Timestamp>, &str) {
        (!self.recorded, self.created, &self.uid)
    }
}

/// The claims of every watched object, by key.
#[derive(Default)]
pub struct Bindings {
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    by_key: HashMap<BindingKey, Vec<Entry>>,
    key_of: HashMap<String, BindingKey>,
    /// Per watch stream, the number of its current (re)list: entries from an older one that the
    /// new list did not confirm are gone.
    epochs: HashMap<usize, u64>,
}

struct Entry {
    claim: Claim,
    stream: usize,
    epoch: u64,
}

impl Bindings {
    /// Follows one event of the watch stream `stream`; `claim_of` reads an object's claim.
    pub fn observe<K>(
        &self,
        stream: usize,
        event: &watcher::Event<K>,
        claim_of: impl Fn(&K) -> Option<Claim>,
    ) {
        let mut index = self.index.lock().expect("binding index");
        match event {
            watcher::Event::Init => *index.epochs.entry(stream).or_default() += 1,
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                if let Some(claim) = claim_of(object) {
                    let epoch = index.epochs.get(&stream).copied().unwrap_or_default();
                    index.put(claim, stream, epoch);
                }
            }
            watcher::Event::Delete(object) => {
                if let Some(claim) = claim_of(object) {
                    index.remove(&claim.uid);
                }
            }
            watcher::Event::InitDone => {
                let epoch = index.epochs.get(&stream).copied().unwrap_or_default();
                let stale: Vec<String> = index
                    .by_key
                    .values()
                    .flatten()
                    .filter(|entry| entry.stream == stream && entry.epoch < epoch)
                    .map(|entry| entry.claim.uid.clone())
                    .collect();
                for uid in stale {
                    index.remove(&uid);
                }
            }
        }
    }

    /// The claim holding `key`, if anyone claims it.
    pub fn holder(&self, key: &BindingKey) -> Option<Claim> {
        let index = self.index.lock().expect("binding index");
        index
            .by_key
            .get(key)?
            .iter()
            .map(|entry| &entry.claim)
            .min_by(|a, b| a.precedence().cmp(&b.precedence()))
            .cloned()
    }

    /// True when another object holds the key `claim` is for.
    pub fn taken_from(&self, claim: &Claim) -> bool {
        self.holder(&claim.key)
            .is_some_and(|holder| holder.uid != claim.uid)
    }
}

impl Index {
    fn put(&mut self, claim: Claim, stream: usize, epoch: u64) {
        self.remove(&claim.uid);
        self.key_of.insert(claim.uid.clone(), claim.key.clone());
        self.by_key
            .entry(claim.key.clone())
            .or_default()
            .push(Entry {
                claim,
                stream,
                epoch,
            });
    }

    fn remove(&mut self, uid: &str) {
        let Some(key) = self.key_of.remove(uid) else {
            return;
        };
        if let Some(entries) = self.by_key.get_mut(&key) {
            entries.retain(|entry| entry.claim.uid != uid);
            if entries.is_empty() {
                self.by_key.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> BindingKey {
        BindingKey {
            credentials: TokenLocation::parse("htx-system/portal-token").unwrap(),
            product: "database",
            name: name.to_owned(),
            within: None,
        }
    }

    fn claim(uid: &str, name: &str, created: i64, recorded: bool) -> Claim {
        Claim {
            key: key(name),
            uid: uid.to_owned(),
            namespace: format!("ns-{uid}"),
            created: Some(Timestamp::from_second(created).unwrap()),
            recorded,
        }
    }

    fn apply(bindings: &Bindings, stream: usize, claim: Claim) {
        let event = watcher::Event::Apply(claim.clone());
        bindings.observe(stream, &event, |c: &Claim| Some(c.clone()));
    }

    #[test]
    fn the_recorded_claim_holds_then_the_oldest() {
        let bindings = Bindings::default();
        apply(&bindings, 0, claim("b", "payments", 20, false));
        apply(&bindings, 0, claim("a", "payments", 10, false));
        assert_eq!(bindings.holder(&key("payments")).unwrap().uid, "a");
        // A newer object whose status already records the binding keeps it.
        apply(&bindings, 0, claim("b", "payments", 20, true));
        assert_eq!(bindings.holder(&key("payments")).unwrap().uid, "b");
        assert!(bindings.taken_from(&claim("a", "payments", 10, false)));
        assert!(!bindings.taken_from(&claim("b", "payments", 20, true)));
        assert!(bindings.holder(&key("other")).is_none());
    }

    #[test]
    fn a_deleted_or_renamed_object_lets_the_key_go() {
        let bindings = Bindings::default();
        apply(&bindings, 0, claim("a", "payments", 10, true));
        apply(&bindings, 0, claim("b", "payments", 20, false));
        apply(&bindings, 0, claim("a", "renamed", 10, false));
        assert_eq!(bindings.holder(&key("payments")).unwrap().uid, "b");
        let gone = watcher::Event::Delete(claim("b", "payments", 20, false));
        bindings.observe(0, &gone, |c: &Claim| Some(c.clone()));
        assert!(bindings.holder(&key("payments")).is_none());
    }

    #[test]
    fn a_relist_drops_what_it_no_longer_lists_of_its_own_stream() {
        let bindings = Bindings::default();
        apply(&bindings, 0, claim("a", "one", 10, true));
        apply(&bindings, 1, claim("z", "other-stream", 10, true));
        let relist = |event: watcher::Event<Claim>| {
            bindings.observe(0, &event, |c: &Claim| Some(c.clone()));
        };
        relist(watcher::Event::Init);
        relist(watcher::Event::InitApply(claim("b", "two", 10, true)));
        relist(watcher::Event::InitDone);
        assert!(
            bindings.holder(&key("one")).is_none(),
            "deleted while unwatched"
        );
        assert_eq!(bindings.holder(&key("two")).unwrap().uid, "b");
        assert_eq!(bindings.holder(&key("other-stream")).unwrap().uid, "z");
    }
}
