//! Request counters by method, route template and status, and named tallies (armed faults
//! fired, attempts by name …).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// Route name used for requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// Requests with one method, route template and status. A `status` of 0 means the connection
/// was dropped by a fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    pub method: String,
    pub route: String,
    pub status: u16,
    pub count: u64,
}

/// Questions about a list of request counts.
pub trait RequestCounts {
    /// Requests with this method, route template and status.
    fn count(&self, method: &str, route: &str, status: u16) -> u64;
    /// Requests answered with this status, any route.
    fn with_status(&self, status: u16) -> u64;
    /// Requests with this method and route template, any status.
    fn route_total(&self, method: &str, route: &str) -> u64;
    /// All counted requests.
    fn total(&self) -> u64;
}

impl RequestCounts for [RequestCount] {
    fn count(&self, method: &str, route: &str, status: u16) -> u64 {
        sum(self, |r| {
            r.method == method && r.route == route && r.status == status
        })
    }

    fn with_status(&self, status: u16) -> u64 {
        sum(self, |r| r.status == status)
    }

    fn route_total(&self, method: &str, route: &str) -> u64 {
        sum(self, |r| r.method == method && r.route == route)
    }

    fn total(&self) -> u64 {
        sum(self, |_| true)
    }
}

fn sum(counts: &[RequestCount], matches: impl Fn(&RequestCount) -> bool) -> u64 {
    counts.iter().filter(|r| matches(r)).map(|r| r.count).sum()
}

/// Counts requests as they are answered.
#[derive(Debug, Default)]
pub struct Requests {
    counts: Mutex<HashMap<(Method, &'static str, u16), u64>>,
}

impl Requests {
    pub fn record(&self, method: &Method, route: &'static str, status: u16) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((method.clone(), route, status)).or_insert(0) += 1;
    }

    /// The counts, by route, method and status.
    pub fn snapshot(&self) -> Vec<RequestCount> {
        let mut requests: Vec<RequestCount> = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((m, r, s), n)| RequestCount {
                method: m.to_string(),
                route: (*r).to_owned(),
                status: *s,
                count: *n,
            })
            .collect();
        requests
            .sort_by(|a, b| (&a.route, &a.method, a.status).cmp(&(&b.route, &b.method, b.status)));
        requests
    }

    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Counts by name.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub fn add(&self, key: String) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(key).or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// The key of an armed fault that fired in a [`Tally`]: `call:fault`.
pub fn fired_key(call: &str, fault: &str) -> String {
    format!("{call}:{fault}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_template_and_status() {
        let r = Requests::default();
        let route = "/v1/things/{name}";
        r.record(&Method::GET, route, 200);
        r.record(&Method::GET, route, 200);
        r.record(&Method::GET, route, 404);
        r.record(&Method::DELETE, route, 200);
        let s = r.snapshot();
        assert_eq!(s.count("GET", route, 200), 2);
        assert_eq!(s.route_total("GET", route), 3);
        assert_eq!(s.with_status(200), 3);
        assert_eq!(s.with_status(404), 1);
        assert_eq!(s.total(), 4);
        assert_eq!(s[0].method, "DELETE");
        r.reset();
        assert!(r.snapshot().is_empty());
    }

    #[test]
    fn tallies_by_name() {
        let t = Tally::default();
        t.add(fired_key("create", "lose_answer"));
        t.add(fired_key("create", "lose_answer"));
        t.add("b".into());
        assert_eq!(t.snapshot().get("create:lose_answer"), Some(&2));
        assert_eq!(t.snapshot().len(), 2);
        t.reset();
        assert!(t.snapshot().is_empty());
    }
}
