//! HTX's counters: the kit's request counters, plus effective creates and deletes, create
//! attempts by name and armed faults fired.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::model::Kind;
use crate::sim::stats::{RequestCounts, Requests, Tally, fired_key};

pub use crate::sim::stats::{RequestCount, UNMATCHED_ROUTE};

/// What `GET /_sim/stats` returns. A `status` of 0 means the connection was dropped by a fault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: Vec<RequestCount>,
    /// Resources the portal API actually created (whatever became of the response).
    pub creates: KindCounts,
    /// Resources the portal API actually deleted.
    pub deletes: KindCounts,
    /// Every create that reached a handler with a name, whatever came of it (201, 409, 402 …),
    /// by `product/name`: "exactly once" counts attempts, not only successes.
    #[serde(default)]
    pub create_attempts: BTreeMap<String, u64>,
    /// Armed faults that fired, by `call:fault` (e.g. `create:lose_answer`).
    #[serde(default)]
    pub fired: BTreeMap<String, u64>,
    /// Asynchronous deletes the portal accepted and then abandoned.
    #[serde(default)]
    pub abandoned_deletes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    pub databases: u64,
    pub functions: u64,
    pub proxies: u64,
    pub backups: u64,
}

impl KindCounts {
    pub fn get(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Databases => self.databases,
            Kind::Functions => self.functions,
            Kind::Proxies => self.proxies,
            Kind::Backups => self.backups,
        }
    }
}

impl Stats {
    /// Requests with this method, route template and status.
    pub fn count(&self, method: &str, route: &str, status: u16) -> u64 {
        self.requests.count(method, route, status)
    }

    /// Requests answered with this status, any route.
    pub fn with_status(&self, status: u16) -> u64 {
        self.requests.with_status(status)
    }

    /// Requests with this method and route template, any status.
    pub fn route_total(&self, method: &str, route: &str) -> u64 {
        self.requests.route_total(method, route)
    }

    /// All counted portal requests.
    pub fn total(&self) -> u64 {
        self.requests.total()
    }

    /// The create attempts for one name of a product (`databases`, `functions`, `proxies`).
    pub fn attempts(&self, product: &str, name: &str) -> u64 {
        self.create_attempts
            .get(&format!("{product}/{name}"))
            .copied()
            .unwrap_or(0)
    }

    /// The names (`product/name`) a create was attempted for more than once.
    pub fn attempted_more_than_once(&self) -> Vec<&str> {
        self.create_attempts
            .iter()
            .filter(|(_, count)| **count > 1)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// How often the armed fault `fault` fired on `call` (e.g. `"create"`, `"lose_answer"`).
    pub fn fired(&self, call: &str, fault: &str) -> u64 {
        self.fired
            .get(&fired_key(call, fault))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    requests: Requests,
    creates: [AtomicU64; 4],
    deletes: [AtomicU64; 4],
    attempts: Tally,
    fired: Tally,
    abandoned: AtomicU64,
}

impl Recorder {
    pub fn request(&self, method: &Method, route: &'static str, status: u16) {
        self.requests.record(method, route, status);
    }

    /// The request counters, for the kit's answer delivery.
    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    pub fn created(&self, kind: Kind) {
        self.creates[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn deleted(&self, kind: Kind) {
        self.deletes[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn create_attempted(&self, product: &str, name: &str) {
        self.attempts.add(format!("{product}/{name}"));
    }

    pub fn fired(&self, call: &str, fault: &str) {
        self.fired.add(fired_key(call, fault));
    }

    pub fn abandoned(&self, count: usize) {
        self.abandoned.fetch_add(count as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let counts = |a: &[AtomicU64; 4]| KindCounts {
            databases: a[0].load(Ordering::Relaxed),
            functions: a[1].load(Ordering::Relaxed),
            proxies: a[2].load(Ordering::Relaxed),
            backups: a[3].load(Ordering::Relaxed),
        };
        Stats {
            requests: self.requests.snapshot(),
            creates: counts(&self.creates),
            deletes: counts(&self.deletes),
            create_attempts: self.attempts.snapshot(),
            fired: self.fired.snapshot(),
            abandoned_deletes: self.abandoned.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        self.requests.reset();
        for a in self.creates.iter().chain(&self.deletes) {
            a.store(0, Ordering::Relaxed);
        }
        self.attempts.reset();
        self.fired.reset();
        self.abandoned.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_template_and_status() {
        let r = Recorder::default();
        let route = "/api/portal/databases/{name}";
        r.request(&Method::GET, route, 200);
        r.request(&Method::GET, route, 200);
        r.request(&Method::GET, route, 404);
        r.request(&Method::DELETE, route, 200);
        r.created(Kind::Backups);
        r.create_attempted("databases", "a");
        r.create_attempted("databases", "a");
        r.create_attempted("databases", "b");
        r.fired("create", "lose_answer");
        let s = r.snapshot();
        assert_eq!(s.attempts("databases", "a"), 2);
        assert_eq!(s.attempted_more_than_once(), ["databases/a"]);
        assert_eq!(s.fired("create", "lose_answer"), 1);
        assert_eq!(s.count("GET", route, 200), 2);
        assert_eq!(s.route_total("GET", route), 3);
        assert_eq!(s.with_status(200), 3);
        assert_eq!(s.with_status(404), 1);
        assert_eq!(s.total(), 4);
        assert_eq!(s.creates.get(Kind::Backups), 1);
        r.reset();
        assert_eq!(r.snapshot(), Stats::default());
    }
}
