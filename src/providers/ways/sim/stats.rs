//! The WaysCloud simulator's counters: requests (the kit's), the changes the portal actually
//! made, create attempts by name and armed faults fired.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::faults::Call;
use crate::sim::faults::CallName;
use crate::sim::stats::{RequestCount, Requests, Tally, fired_key};

/// What `GET /_sim/stats` returns. Ask the request counts with
/// [`RequestCounts`](crate::sim::stats::RequestCounts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: Vec<RequestCount>,
    /// Changes the portal API actually made, by call (whatever became of the answer).
    pub effective: BTreeMap<Call, u64>,
    /// Every valid create, whatever came of it (201, 200 idempotent, 403 quota), by
    /// `db_type/db_name`: "exactly once" counts attempts, not only successes.
    pub create_attempts: BTreeMap<String, u64>,
    /// Armed faults that fired, by `call:fault` (e.g. `rotate:lose_answer`).
    pub fired: BTreeMap<String, u64>,
}

impl Stats {
    /// Changes of this kind the portal made.
    pub fn effective(&self, call: Call) -> u64 {
        self.effective.get(&call).copied().unwrap_or(0)
    }

    /// Create attempts for one database name.
    pub fn attempts(&self, db_type: &str, db_name: &str) -> u64 {
        let key = format!("{db_type}/{db_name}");
        self.create_attempts.get(&key).copied().unwrap_or(0)
    }

    /// How often the armed fault `fault` fired on `call`.
    pub fn fired(&self, call: Call, fault: &str) -> u64 {
        let key = fired_key(call.as_str(), fault);
        self.fired.get(&key).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    requests: Requests,
    effective: Mutex<BTreeMap<Call, u64>>,
    attempts: Tally,
    fired: Tally,
}

impl Recorder {
    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    pub fn request(&self, method: &Method, route: &'static str, status: u16) {
        self.requests.record(method, route, status);
    }

    pub fn effective(&self, call: Call) {
        let mut effective = self.effective.lock().unwrap_or_else(|e| e.into_inner());
        *effective.entry(call).or_insert(0) += 1;
    }

    pub fn create_attempted(&self, db_type: &str, db_name: &str) {
        self.attempts.add(format!("{db_type}/{db_name}"));
    }

    pub fn fired(&self, call: Call, fault: &str) {
        self.fired.add(fired_key(call.as_str(), fault));
    }

    pub fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.snapshot(),
            effective: self
                .effective
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            create_attempts: self.attempts.snapshot(),
            fired: self.fired.snapshot(),
        }
    }

    pub fn reset(&self) {
        self.requests.reset();
        self.effective
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.attempts.reset();
        self.fired.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_changes_attempts_and_faults() {
        let r = Recorder::default();
        r.effective(Call::Rotate);
        r.effective(Call::Rotate);
        r.create_attempted("postgresql", "cust_c_pg_a");
        r.fired(Call::Snapshot, "lose_answer");
        let s = r.snapshot();
        assert_eq!(s.effective(Call::Rotate), 2);
        assert_eq!(s.effective(Call::Create), 0);
        assert_eq!(s.attempts("postgresql", "cust_c_pg_a"), 1);
        assert_eq!(s.fired(Call::Snapshot, "lose_answer"), 1);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["effective"]["rotate"], 2);
        r.reset();
        assert_eq!(r.snapshot(), Stats::default());
    }
}
