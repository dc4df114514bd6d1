//! What the portal did, counted: requests by route template and status (the kit's counters),
//! and the effects of successful writes by kind, whatever became of their answers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::faults::Call;
use super::model::Kind;
use crate::sim::stats::{RequestCount, RequestCounts, Requests, Tally, fired_key};

/// What a successful write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Create(Kind),
    Update(Kind),
    Delete(Kind),
    /// Start, stop or restart.
    Action(Kind),
    Deploy,
    Rollback,
    EnvUpdate,
}

impl Effect {
    /// The call an armed fault names to hit it.
    pub fn call(self) -> Option<Call> {
        Some(match self {
            Effect::Create(kind) => match kind {
                Kind::Projects => Call::CreateProject,
                Kind::ProjectSecrets => Call::CreateProjectSecret,
                Kind::WebServices => Call::CreateWebService,
                Kind::SecretBindings => Call::CreateSecretBinding,
                Kind::Databases => Call::CreateDatabase,
                Kind::Redis => Call::CreateRedis,
                Kind::Buckets => Call::CreateBucket,
                Kind::StorageKeys => Call::CreateStorageKey,
                Kind::Deployments | Kind::EnvVars => return None,
            },
            Effect::Update(_) => Call::Update,
            Effect::Delete(_) => Call::Delete,
            Effect::Action(_) => Call::StartStop,
            Effect::Deploy => Call::Deploy,
            Effect::EnvUpdate => Call::EnvUpdate,
            Effect::Rollback => return None,
        })
    }
}

/// What `GET /_sim/stats` answers. Maps are keyed by kind (`web_services` …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// By method, route template (as the document writes it) and status; 0 is a dropped answer.
    pub requests: Vec<RequestCount>,
    /// Resources the API created (not the hooks).
    pub creates: BTreeMap<String, u64>,
    /// Successful PATCHes and bulk PUTs (of secrets, bindings), cancels of deployments.
    pub updates: BTreeMap<String, u64>,
    /// Deletes the API accepted.
    pub deletes: BTreeMap<String, u64>,
    /// Starts, stops and restarts.
    pub actions: BTreeMap<String, u64>,
    /// Deployments made by `POST …/deployments` (not those a create or rollback made).
    pub deployments: u64,
    pub rollbacks: u64,
    /// Successful writes of env vars (POST, PATCH, bulk PUT, DELETE).
    pub env_updates: u64,
    /// Every create that reached the portal with a name (`key` for secrets), by `kind/name`,
    /// whatever came of it: "exactly once" counts attempts.
    pub create_attempts: BTreeMap<String, u64>,
    /// Armed faults that fired, by `call:fault`.
    pub fired: BTreeMap<String, u64>,
}

impl Stats {
    pub fn count(&self, method: &str, route: &str, status: u16) -> u64 {
        self.requests.count(method, route, status)
    }

    pub fn route_total(&self, method: &str, route: &str) -> u64 {
        self.requests.route_total(method, route)
    }

    pub fn with_status(&self, status: u16) -> u64 {
        self.requests.with_status(status)
    }

    pub fn created(&self, kind: Kind) -> u64 {
        get(&self.creates, kind.as_str())
    }

    pub fn updated(&self, kind: Kind) -> u64 {
        get(&self.updates, kind.as_str())
    }

    pub fn deleted(&self, kind: Kind) -> u64 {
        get(&self.deletes, kind.as_str())
    }

    pub fn acted(&self, kind: Kind) -> u64 {
        get(&self.actions, kind.as_str())
    }

    pub fn attempts(&self, kind: Kind, name: &str) -> u64 {
        get(&self.create_attempts, &attempt_key(kind, name))
    }

    /// How often the armed fault `fault` fired on `call` (`"create_web_service"`, `"lose_answer"`).
    pub fn fired(&self, call: &str, fault: &str) -> u64 {
        get(&self.fired, &fired_key(call, fault))
    }
}

fn get(map: &BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

fn attempt_key(kind: Kind, name: &str) -> String {
    format!("{kind}/{name}")
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    requests: Requests,
    creates: Tally,
    updates: Tally,
    deletes: Tally,
    actions: Tally,
    attempts: Tally,
    fired: Tally,
    deployments: AtomicU64,
    rollbacks: AtomicU64,
    env_updates: AtomicU64,
}

impl Recorder {
    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    pub fn effect(&self, effect: Effect) {
        let kind = |k: Kind| k.as_str().to_owned();
        match effect {
            Effect::Create(k) => self.creates.add(kind(k)),
            Effect::Update(k) => self.updates.add(kind(k)),
            Effect::Delete(k) => self.deletes.add(kind(k)),
            Effect::Action(k) => self.actions.add(kind(k)),
            Effect::Deploy => _ = self.deployments.fetch_add(1, Ordering::Relaxed),
            Effect::Rollback => _ = self.rollbacks.fetch_add(1, Ordering::Relaxed),
            Effect::EnvUpdate => _ = self.env_updates.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn create_attempted(&self, kind: Kind, name: &str) {
        self.attempts.add(attempt_key(kind, name));
    }

    pub fn fired(&self, call: &str, fault: &str) {
        self.fired.add(fired_key(call, fault));
    }

    pub fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.snapshot(),
            creates: self.creates.snapshot(),
            updates: self.updates.snapshot(),
            deletes: self.deletes.snapshot(),
            actions: self.actions.snapshot(),
            deployments: self.deployments.load(Ordering::Relaxed),
            rollbacks: self.rollbacks.load(Ordering::Relaxed),
            env_updates: self.env_updates.load(Ordering::Relaxed),
            create_attempts: self.attempts.snapshot(),
            fired: self.fired.snapshot(),
        }
    }

    pub fn reset(&self) {
        self.requests.reset();
        for tally in [
            &self.creates,
            &self.updates,
            &self.deletes,
            &self.actions,
            &self.attempts,
            &self.fired,
        ] {
            tally.reset();
        }
        for counter in [&self.deployments, &self.rollbacks, &self.env_updates] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn effects_are_counted_by_kind_and_reset() {
        let r = Recorder::default();
        r.effect(Effect::Create(Kind::WebServices));
        r.effect(Effect::Create(Kind::WebServices));
        r.effect(Effect::Update(Kind::Databases));
        r.effect(Effect::Deploy);
        r.effect(Effect::EnvUpdate);
        r.create_attempted(Kind::WebServices, "api");
        r.fired("deploy", "lose_answer");
        r.requests().record(&Method::GET, "/api/projects", 200);
        let s = r.snapshot();
        assert_eq!(s.created(Kind::WebServices), 2);
        assert_eq!(s.updated(Kind::Databases), 1);
        assert_eq!(s.deleted(Kind::Databases), 0);
        assert_eq!((s.deployments, s.env_updates, s.rollbacks), (1, 1, 0));
        assert_eq!(s.attempts(Kind::WebServices, "api"), 1);
        assert_eq!(s.fired("deploy", "lose_answer"), 1);
        assert_eq!(s.count("GET", "/api/projects", 200), 1);
        r.reset();
        assert_eq!(r.snapshot(), Stats::default());
    }

    #[test]
    fn every_create_but_env_and_deployments_can_be_armed() {
        for kind in Kind::ALL {
            let armable = Effect::Create(kind).call().is_some();
            assert_eq!(
                armable,
                !matches!(kind, Kind::Deployments | Kind::EnvVars),
                "{kind}"
            );
        }
        assert_eq!(Effect::Rollback.call(), None);
    }
}
